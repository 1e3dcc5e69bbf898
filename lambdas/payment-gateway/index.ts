/**
 * payment-gateway: POST /transactions and GET /transactions/{id}, behind API Gateway HTTP API
 * (payload 2.0) and an ALB, and every unknown route of both (so both answer 404/405 alike).
 *
 * Every /transactions request is authenticated here, the same way for both front doors: the
 * merchant is the owner of the API key (`Authorization: Bearer`), never the body's claim.
 *
 * POST makes two AWS calls when it accepts a payment: one conditional PutItem that is also the
 * idempotency record (the transaction id is derived from the merchant and the Idempotency-Key),
 * then one SendMessage. **The PutItem is the commit point** (a transactional outbox whose relay
 * is the pending-sweeper): once it succeeded the payment is accepted and answered 202, whatever
 * the SendMessage answers; a failed or unanswered send only leaves the item RECEIVED for the
 * sweeper, which enqueues it once it is sweeperAgeSeconds old. No code path deletes an accepted
 * item (a delete would race the other region's copy, and a "failed" send may have been taken).
 *
 * Each request writes its own random accept_token with the item: when the SDK retries a PutItem
 * whose first answer was lost, the retry's failed condition returns our own token, and that is
 * our commit, not a duplicate. A duplicate (same key and body) costs only the PutItem and answers
 * 202 with the stored status; another body with the same key answers 422.
 */

import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "aws-lambda";
import { resolveRoute } from "../../src/contracts/api";
import { ENV, FUNCTIONS, GATEWAY_SEND_TIMEOUT_MS } from "../../src/contracts/functions";
import { authenticate, type Merchant } from "../shared/auth";
import { documentClient, dynamodb, sqs } from "../shared/clients";
import { currenciesEnv, intEnv, once, optionalEnv, requireEnv } from "../shared/env";
import { badRequest, HttpError, methodNotAllowed, notFound, serviceUnavailable } from "../shared/errors";
import {
  corsHeaders,
  errorResponse,
  type HttpEvent,
  type HttpRequest,
  type HttpResult,
  isJsonContentType,
  jsonResponse,
  parseRequest,
} from "../shared/http";
import { requestHash, transactionIdFor } from "../shared/ids";
import { JsonNumberError, parseStrictJson, StrictJsonError } from "../shared/json";
import { countPayments, instrumented, logger } from "../shared/runtime";
import { firstIssue, IDEMPOTENCY_KEY_PATTERN, type PaymentRequest, paymentRequestSchema, TRANSACTION_ID_PATTERN } from "../shared/schemas";
import {
  itemAttributes,
  type KeyConflict,
  messageAttributesOf,
  messageOf,
  pendingShard,
  type TransactionItem,
} from "../shared/transactions";

const config = once(() => ({
  transactionsTable: requireEnv(ENV.transactionsTable),
  queueUrl: requireEnv(ENV.transactionQueueUrl),
  maxAmountMinor: intEnv(ENV.maxAmountMinor, 100_000_000),
  maxBodyBytes: intEnv(ENV.maxBodyBytes, 16_384),
  currencies: currenciesEnv(ENV.allowedCurrencies),
  corsAllowOrigin: optionalEnv(ENV.corsAllowOrigin),
  region: optionalEnv("AWS_REGION") ?? "unknown",
}));

const schema = once(() => paymentRequestSchema({ maxAmountMinor: config().maxAmountMinor, currencies: config().currencies }));

export interface Accepted {
  transaction_id: string;
  status: string;
}

const keyReused = () => new HttpError(422, "IdempotencyKeyReused", "This Idempotency-Key was already used with a different request body");

type Stored = Pick<TransactionItem, "request_hash" | "status" | "accept_token">;

/** The stored transaction a failed condition returned (marshalled), or undefined. */
function storedFrom(err: ConditionalCheckFailedException): Stored | undefined {
  const item = err.Item;
  if (!item) return undefined;
  return {
    request_hash: item.request_hash?.S,
    status: item.status?.S as TransactionItem["status"],
    accept_token: item.accept_token?.S,
  };
}

/**
 * Writes the transaction (RECEIVED, conditional on a new id): the commit point. Returns the
 * stored status when this request's write is not the one that committed (a duplicate).
 */
async function record(item: TransactionItem): Promise<{ duplicateOf?: Stored }> {
  const cfg = config();
  try {
    // The low-level client: the document client's second command and middleware stack on every
    // accepted payment cost the gateway a few percent of its throughput (npm run bench).
    await dynamodb().send(
      new PutItemCommand({
        TableName: cfg.transactionsTable,
        Item: itemAttributes(item),
        ConditionExpression: "attribute_not_exists(transaction_id)",
        // A duplicate learns what is stored from this one call.
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    return {};
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    // An endpoint that does not return the old item: read it (never the case in DynamoDB).
    const stored =
      storedFrom(err) ??
      ((
        await documentClient().send(
          new GetCommand({ TableName: cfg.transactionsTable, Key: { transaction_id: item.transaction_id }, ConsistentRead: true }),
        )
      ).Item as Stored | undefined);
    // Nothing deletes an accepted item: a failed condition with nothing stored is a broken dependency.
    if (!stored) throw new Error(`conditional write of ${item.transaction_id} failed, but no item is stored`);
    // The SDK retried a PutItem whose first answer was lost: the write that committed is ours.
    if (stored.accept_token === item.accept_token) {
      logger.info("our own earlier attempt committed the transaction (SDK retry)");
      return {};
    }
    return { duplicateOf: stored };
  }
}

/** Records the transaction and enqueues it; accepted once recorded, whatever the send answers. */
async function acceptPayment(merchant: Merchant, idempotencyKey: string, request: PaymentRequest): Promise<Accepted> {
  const cfg = config();
  const transactionId = transactionIdFor(merchant.merchantId, idempotencyKey);
  const hash = requestHash(request);
  logger.appendKeys({ transaction_id: transactionId });
  const now = new Date().toISOString();
  const item: TransactionItem = {
    transaction_id: transactionId,
    idempotency_key: idempotencyKey,
    merchant_id: merchant.merchantId,
    customer_id: request.customer_id,
    session_id: request.session_id,
    amount: request.amount,
    currency: request.currency,
    ...(request.metadata !== undefined ? { metadata: request.metadata } : {}),
    status: "RECEIVED",
    request_hash: hash,
    accept_token: randomUUID(),
    api_key_id: merchant.keyId,
    created_at: now,
    updated_at: now,
    accepted_region: cfg.region,
    pending_shard: pendingShard(transactionId),
    pending_since: now,
  };

  const { duplicateOf } = await record(item);
  if (duplicateOf) {
    if (duplicateOf.request_hash !== hash) throw keyReused();
    logger.info("transaction already exists; not enqueued again", { status: duplicateOf.status });
    return { transaction_id: transactionId, status: String(duplicateOf.status) };
  }

  // A hung queue must not turn an accepted payment into a timed-out request: the send is aborted
  // after GATEWAY_SEND_TIMEOUT_MS. A timer cleared on the answer, not AbortSignal.timeout: that
  // one costs about 10 us of CPU a payment and keeps its timer and weak references for the whole
  // timeout, thousands of them at a few hundred payments a second (npm run bench, gateway rows).
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException("The queue did not answer in time", "TimeoutError")),
    GATEWAY_SEND_TIMEOUT_MS,
  );
  const sending = sqs().send(
    new SendMessageCommand({
      QueueUrl: cfg.queueUrl,
      // The same message the sweeper would build from the stored item.
      MessageBody: JSON.stringify(messageOf(item)),
      MessageAttributes: messageAttributesOf(item),
    }),
    { abortSignal: timeout.signal },
  );
  try {
    // Accepted from the write on, whatever the send answers: counted and logged while it is in flight.
    countPayments("accepted");
    logger.info("transaction accepted", { amount: request.amount, currency: request.currency });
    await sending;
  } catch (err) {
    // Accepted all the same: the item is the outbox, and the sweeper relays it (sweeperAgeSeconds).
    logger.warn("transaction accepted; its message is left to the pending-sweeper", { error: err as Error });
    countPayments("deferred");
  } finally {
    clearTimeout(timer);
  }
  return { transaction_id: transactionId, status: "RECEIVED" };
}

function header(req: HttpRequest, name: string): string | undefined {
  return req.headers[name.toLowerCase()];
}

async function postTransaction(req: HttpRequest, merchant: Merchant): Promise<HttpResult> {
  const cfg = config();
  if (!isJsonContentType(header(req, "content-type"))) {
    throw new HttpError(415, "UnsupportedMediaType", "Content-Type must be application/json", "Content-Type");
  }
  if (req.body.length > cfg.maxBodyBytes) {
    throw new HttpError(413, "PayloadTooLarge", `Request body must be at most ${cfg.maxBodyBytes} bytes`);
  }
  const key = header(req, "idempotency-key");
  if (key === undefined || key.trim() === "") {
    throw badRequest("MissingIdempotencyKey", "The Idempotency-Key header is required", "Idempotency-Key");
  }
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw badRequest("InvalidIdempotencyKey", "Idempotency-Key must be 8-128 characters of letters, digits, _ and -", "Idempotency-Key");
  }
  let parsed: unknown;
  try {
    parsed = parseStrictJson(req.body);
  } catch (err) {
    // A number written as other than the integer it parses to is the field's error, not the syntax's.
    if (err instanceof JsonNumberError) throw badRequest("ValidationError", err.message, err.field);
    if (err instanceof StrictJsonError) throw badRequest("InvalidJson", err.message);
    throw err;
  }
  const result = schema().safeParse(parsed);
  if (!result.success) {
    const { field, message } = firstIssue(result.error, parsed);
    throw badRequest("ValidationError", message, field);
  }
  // The key decides the merchant; a body that names another one is refused, not corrected.
  if (result.data.merchant_id !== undefined && result.data.merchant_id !== merchant.merchantId) {
    throw new HttpError(403, "Forbidden", "merchant_id does not match the merchant of the API key", "merchant_id");
  }
  const request: PaymentRequest = { ...result.data, merchant_id: merchant.merchantId };

  let accepted: Accepted;
  try {
    accepted = await acceptPayment(merchant, key, request);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // Not recorded, or not known to be: a retry with the same key learns the outcome.
    logger.error("transaction not accepted: dependency failure", { error: err as Error });
    throw serviceUnavailable("A dependency is unavailable; the payment is not known to be accepted: retry with the same Idempotency-Key");
  }
  return jsonResponse(req, 202, accepted, { ...corsHeaders(cfg.corsAllowOrigin), location: `/transactions/${accepted.transaction_id}` });
}

async function getTransaction(req: HttpRequest, merchant: Merchant, id: string): Promise<HttpResult> {
  const cfg = config();
  if (!TRANSACTION_ID_PATTERN.test(id)) {
    throw badRequest("ValidationError", "id must be a transaction id (lowercase UUID)", "id");
  }
  logger.appendKeys({ transaction_id: id });
  let item: Record<string, unknown> | undefined;
  try {
    const out = await documentClient().send(
      new GetCommand({ TableName: cfg.transactionsTable, Key: { transaction_id: id }, ConsistentRead: true }),
    );
    item = out.Item;
  } catch (err) {
    logger.error("transaction lookup failed", { error: err as Error });
    throw serviceUnavailable("A dependency is unavailable; retry later");
  }
  // Another merchant's transaction answers exactly as an unknown id: ids cannot be probed.
  if (!item || item.merchant_id !== merchant.merchantId) throw notFound(`Transaction ${id} not found`);
  const body: Record<string, unknown> = {
    transaction_id: item.transaction_id,
    status: item.status,
    amount: item.amount,
    currency: item.currency,
    created_at: item.created_at,
    updated_at: item.updated_at,
  };
  if (item.failure_reason !== undefined) body.failure_reason = item.failure_reason;
  // The item is the ledger's projection: posted_at is written only once the ledger holds the entry.
  body.posted = item.status === "PROCESSED" && item.posted_at !== undefined;
  if (item.posted_at !== undefined) body.posted_at = item.posted_at;
  const conflict = item.key_conflict as KeyConflict | undefined;
  if (conflict !== undefined) {
    // The merchant's own two requests: what the other asked for, and what the ledger holds.
    body.conflict = {
      message: "This Idempotency-Key was accepted with two different bodies; the ledger holds one of them, and this payment shows it",
      requested: { amount: conflict.requested.amount, currency: conflict.requested.currency },
      recorded: { amount: conflict.recorded.amount, currency: conflict.recorded.currency },
      detected_at: conflict.detected_at,
    };
  }
  return jsonResponse(req, 200, body, corsHeaders(cfg.corsAllowOrigin));
}

/** The ALB target group's health check path: a liveness answer; the deep check is the health function's. */
const LIVENESS = /^\/health\/?$/;
const LIVENESS_METHODS = ["GET", "HEAD"];

async function route(req: HttpRequest, event: HttpEvent): Promise<HttpResult> {
  if (LIVENESS.test(req.path)) {
    if (!LIVENESS_METHODS.includes(req.method)) throw methodNotAllowed(LIVENESS_METHODS);
    return jsonResponse(req, 200, { status: "ok" }, {});
  }
  // Routing answers first, without authentication: both front doors give unknown routes the same 404/405.
  const resolved = resolveRoute(req.method, req.path, undefined, true);
  if (resolved.kind === "method-not-allowed") throw methodNotAllowed(resolved.allow);
  if (resolved.kind === "not-found" || resolved.route.handler !== FUNCTIONS.gateway.handler) {
    throw notFound(`No route for ${req.method} ${req.path}`);
  }
  const merchant = await authenticate(req);
  if (resolved.route.method === "POST") return postTransaction(req, merchant);
  const fromParams = "pathParameters" in event ? event.pathParameters?.id : undefined;
  return getTransaction(req, merchant, fromParams ?? resolved.params.id ?? "");
}

export const handler = instrumented(async (event: HttpEvent, _context: Context): Promise<HttpResult> => {
  logger.resetKeys();
  const req = parseRequest(event);
  let cors: Record<string, string> = {};
  try {
    cors = corsHeaders(config().corsAllowOrigin);
    return await route(req, event);
  } catch (err) {
    if (err instanceof HttpError) {
      if (err.statusCode >= 500) logger.warn("request failed", { status: err.statusCode, code: err.code });
      else logger.info("request rejected", { status: err.statusCode, code: err.code, field: err.field });
      if (req.method === "POST" && err.statusCode < 500) countPayments("refused");
      return errorResponse(req, err, cors);
    }
    logger.error("unhandled error", { error: err as Error });
    return errorResponse(req, new HttpError(500, "InternalError", "Internal error"), cors);
  }
});
