/**
 * payment-gateway: POST /transactions and GET /transactions/{id}, behind API Gateway HTTP API
 * (payload 2.0) and an ALB.
 *
 * POST: validate -> idempotency (Powertools, DynamoDB) -> record RECEIVED -> enqueue -> 202.
 * Nothing is answered 202 unless the SendMessage succeeded; any DynamoDB/SQS failure is a 503
 * and the Powertools in-progress record is removed, so a retry with the same key completes the
 * same (deterministic) transaction id.
 */

import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { DeleteCommand, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "aws-lambda";
import { resolveRoute } from "../../src/contracts/api";
import { ENV, FUNCTIONS } from "../../src/contracts/functions";
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
import { countPayments, instrumented, logger } from "../shared/runtime";
import {
  firstIssue,
  IDEMPOTENCY_KEY_PATTERN,
  type PaymentRequest,
  paymentRequestSchema,
  TRANSACTION_ID_PATTERN,
  type TransactionMessage,
} from "../shared/schemas";

const config = once(() => ({
  transactionsTable: requireEnv(ENV.transactionsTable),
  idempotencyTable: requireEnv(ENV.idempotencyTable),
  queueUrl: requireEnv(ENV.transactionQueueUrl),
  maxAmountMinor: intEnv(ENV.maxAmountMinor, 100_000_000),
  maxBodyBytes: intEnv(ENV.maxBodyBytes, 16_384),
  currencies: currenciesEnv(ENV.allowedCurrencies),
  corsAllowOrigin: optionalEnv(ENV.corsAllowOrigin),
  idempotencyTtlSeconds: intEnv(ENV.idempotencyTtlSeconds, 86_400),
}));

const schema = once(() => paymentRequestSchema({ maxAmountMinor: config().maxAmountMinor, currencies: config().currencies }));

export interface AcceptInput {
  merchant_id: string;
  idempotency_key: string;
  request: PaymentRequest;
}

export interface Accepted {
  transaction_id: string;
  status: string;
}

/** Records the transaction (RECEIVED) and enqueues it. Runs inside the idempotency wrapper. */
async function acceptPayment(input: AcceptInput): Promise<Accepted> {
  const cfg = config();
  const { request, idempotency_key } = input;
  const transactionId = transactionIdFor(request.merchant_id, idempotency_key);
  const hash = requestHash(request);
  logger.appendKeys({ transaction_id: transactionId });
  const now = new Date().toISOString();

  let createdAt = now;
  try {
    const out = await documentClient().send(
      new UpdateCommand({
        TableName: cfg.transactionsTable,
        Key: { transaction_id: transactionId },
        UpdateExpression:
          "SET idempotency_key = :key, merchant_id = :merchant, customer_id = :customer, session_id = :session, " +
          "amount = :amount, currency = :currency, metadata = :metadata, #status = :received, request_hash = :hash, " +
          "created_at = if_not_exists(created_at, :now), updated_at = :now",
        ConditionExpression:
          "attribute_not_exists(transaction_id) OR (#status = :received AND idempotency_key = :key AND request_hash = :hash)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":key": idempotency_key,
          ":merchant": request.merchant_id,
          ":customer": request.customer_id,
          ":session": request.session_id,
          ":amount": request.amount,
          ":currency": request.currency,
          ":metadata": request.metadata ?? {},
          ":received": "RECEIVED",
          ":hash": hash,
          ":now": now,
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    createdAt = String(out.Attributes?.created_at ?? now);
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    // The transaction exists and moved on (or the key was reused with another body) - this
    // happens when the idempotency record expired before the client retried.
    const existing = await documentClient().send(
      new GetCommand({ TableName: cfg.transactionsTable, Key: { transaction_id: transactionId }, ConsistentRead: true }),
    );
    if (!existing.Item || existing.Item.request_hash !== hash) {
      throw new HttpError(422, "IdempotencyKeyReused", "This Idempotency-Key was already used with a different request body");
    }
    logger.info("transaction already exists; not enqueued again", { status: existing.Item.status });
    return { transaction_id: transactionId, status: String(existing.Item.status) };
  }

  const message: TransactionMessage = {
    transaction_id: transactionId,
    idempotency_key,
    merchant_id: request.merchant_id,
    customer_id: request.customer_id,
    session_id: request.session_id,
    amount: request.amount,
    currency: request.currency,
    ...(request.metadata ? { metadata: request.metadata } : {}),
    status: "RECEIVED",
    created_at: createdAt,
  };
  try {
    await sqs().send(
      new SendMessageCommand({
        QueueUrl: cfg.queueUrl,
        MessageBody: JSON.stringify(message),
        MessageAttributes: {
          transaction_id: { DataType: "String", StringValue: transactionId },
          merchant_id: { DataType: "String", StringValue: request.merchant_id },
        },
      }),
    );
  } catch (err) {
    // Not queued, so not accepted: take the RECEIVED record back (best effort) so that GET does
    // not show a transaction the client was told failed. A retry with the same key recreates it.
    await documentClient()
      .send(
        new DeleteCommand({
          TableName: cfg.transactionsTable,
          Key: { transaction_id: transactionId },
          ConditionExpression: "#status = :received AND request_hash = :hash",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":received": "RECEIVED", ":hash": hash },
        }),
      )
      .catch((cleanupError: unknown) => logger.warn("could not remove the unqueued transaction", { error: cleanupError as Error }));
    throw err;
  }
  logger.info("transaction accepted", { amount: request.amount, currency: request.currency });
  countPayments("accepted");
  return { transaction_id: transactionId, status: "RECEIVED" };
}

const idempotency = once(() => {
  const cfg = config();
  const idempotencyConfig = new IdempotencyConfig({
    // The key is the client's Idempotency-Key scoped by merchant.
    eventKeyJmesPath: "[merchant_id, idempotency_key]",
    // Same key, different body -> IdempotencyValidationError (422).
    payloadValidationJmesPath: "request",
    expiresAfterSeconds: cfg.idempotencyTtlSeconds,
    throwOnNoIdempotencyKey: true,
  });
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: cfg.idempotencyTable,
    awsSdkV3Client: dynamodb(),
  });
  return {
    idempotencyConfig,
    accept: makeIdempotent(acceptPayment, { persistenceStore, config: idempotencyConfig }),
  };
});

function header(req: HttpRequest, name: string): string | undefined {
  return req.headers[name.toLowerCase()];
}

async function postTransaction(req: HttpRequest, context: Context): Promise<HttpResult> {
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
    parsed = JSON.parse(req.body.toString("utf8"));
  } catch {
    throw badRequest("InvalidJson", "The request body is not valid JSON");
  }
  const result = schema().safeParse(parsed);
  if (!result.success) {
    const { field, message } = firstIssue(result.error, parsed);
    throw badRequest("ValidationError", message, field);
  }

  const { accept, idempotencyConfig } = idempotency();
  idempotencyConfig.registerLambdaContext(context);
  let accepted: Accepted;
  try {
    accepted = await accept({ merchant_id: result.data.merchant_id, idempotency_key: key, request: result.data });
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (err instanceof IdempotencyValidationError) {
      throw new HttpError(422, "IdempotencyKeyReused", "This Idempotency-Key was already used with a different request body");
    }
    if (err instanceof IdempotencyAlreadyInProgressError) {
      throw new HttpError(
        409,
        "RequestInProgress",
        "A request with this Idempotency-Key is still being processed; retry shortly",
        undefined,
        { "retry-after": "1" },
      );
    }
    logger.error("transaction not accepted: dependency failure", { error: err as Error });
    throw serviceUnavailable();
  }
  return jsonResponse(req, 202, accepted, { ...corsHeaders(cfg.corsAllowOrigin), location: `/transactions/${accepted.transaction_id}` });
}

async function getTransaction(req: HttpRequest, id: string): Promise<HttpResult> {
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
  if (!item) throw notFound(`Transaction ${id} not found`);
  const body: Record<string, unknown> = {
    transaction_id: item.transaction_id,
    status: item.status,
    amount: item.amount,
    currency: item.currency,
    created_at: item.created_at,
    updated_at: item.updated_at,
  };
  if (item.failure_reason !== undefined) body.failure_reason = item.failure_reason;
  return jsonResponse(req, 200, body, corsHeaders(cfg.corsAllowOrigin));
}

/** The ALB target group's health check path: a liveness answer; the deep check is the health function's. */
const LIVENESS = /^\/health\/?$/;

async function route(req: HttpRequest, event: HttpEvent, context: Context): Promise<HttpResult> {
  if (LIVENESS.test(req.path)) {
    if (req.method !== "GET") throw methodNotAllowed(["GET"]);
    return jsonResponse(req, 200, { status: "ok" }, {});
  }
  const resolved = resolveRoute(req.method, req.path, undefined, true);
  if (resolved.kind === "method-not-allowed") throw methodNotAllowed(resolved.allow);
  if (resolved.kind === "not-found" || resolved.route.handler !== FUNCTIONS.gateway.handler) {
    throw notFound(`No route for ${req.method} ${req.path}`);
  }
  if (resolved.route.method === "POST") return postTransaction(req, context);
  const fromParams = "pathParameters" in event ? event.pathParameters?.id : undefined;
  return getTransaction(req, fromParams ?? resolved.params.id ?? "");
}

export const handler = instrumented(async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  logger.resetKeys();
  const req = parseRequest(event);
  let cors: Record<string, string> = {};
  try {
    cors = corsHeaders(config().corsAllowOrigin);
    return await route(req, event, context);
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
