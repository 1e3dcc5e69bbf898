/**
 * payment-balances: GET /balances, the authenticated merchant's balance per currency, from the
 * ledger's postings. Reads the region's own Aurora cluster through its reader endpoint (about a
 * second behind the writer; available in the DR region while the primary is gone), as a database
 * user that may only SELECT. Same authentication and answers as the gateway, on both front doors.
 */
import type { Context } from "aws-lambda";
import { BALANCES_PATH } from "../../src/contracts/api";
import { ENV } from "../../src/contracts/functions";
import { authenticate } from "../shared/auth";
import { once, optionalEnv } from "../shared/env";
import { HttpError, methodNotAllowed, notFound, serviceUnavailable } from "../shared/errors";
import { corsHeaders, errorResponse, type HttpEvent, type HttpResult, jsonResponse, parseRequest } from "../shared/http";
import { balances, LedgerError, ledgerConnection } from "../shared/ledger";
import { ledgerConfigFromEnv } from "../shared/ledger-config";
import { instrumented, logger } from "../shared/runtime";

const cors = once(() => corsHeaders(optionalEnv(ENV.corsAllowOrigin)));

/** One reader connection per container, reused across invocations. */
const ledger = once(() => ledgerConnection(ledgerConfigFromEnv(ENV.dbReaderEndpoint)));

export const handler = instrumented(async (event: HttpEvent, _context: Context): Promise<HttpResult> => {
  logger.resetKeys();
  const req = parseRequest(event);
  try {
    const path = req.path.length > 1 && req.path.endsWith("/") ? req.path.slice(0, -1) : req.path;
    if (path !== BALANCES_PATH) throw notFound(`No route for ${req.method} ${req.path}`);
    if (req.method !== "GET") throw methodNotAllowed(["GET"]);
    const merchant = await authenticate(req);
    let rows: Awaited<ReturnType<typeof balances>>;
    try {
      rows = await balances(ledger(), merchant.merchantId);
    } catch (err) {
      if (!(err instanceof LedgerError)) throw err;
      logger.warn("ledger read failed", { error: err.message, retryable: err.retryable });
      throw serviceUnavailable("The ledger is unavailable; retry later");
    }
    return jsonResponse(
      req,
      200,
      { merchant_id: merchant.merchantId, balances: rows.map((b) => ({ currency: b.currency, balance: b.balance, postings: b.postings })) },
      cors(),
    );
  } catch (err) {
    if (err instanceof HttpError) return errorResponse(req, err, cors());
    logger.error("unhandled error", { error: err as Error });
    return errorResponse(req, new HttpError(500, "InternalError", "Internal error"), cors());
  }
});
