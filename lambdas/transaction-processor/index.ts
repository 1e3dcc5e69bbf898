/**
 * transaction-processor: SQS (batch 10, ReportBatchItemFailures) -> RECEIVED to PROCESSED or
 * FAILED exactly once, a notification message, and one JSON-lines S3 log object per batch.
 *
 * Exactly once: the state change is a conditional UpdateItem on status = RECEIVED. A duplicate
 * delivery fails that condition and is treated as success without a second state change.
 *
 * Side effects (notification, log line) are tracked on the item (`notified`, `logged`) and
 * guarded by a short lease (`lease_until`/`lease_owner`): the invocation that made the
 * transition owns the lease; a duplicate delivery only redoes a missing side effect if it can
 * take the lease (expired or released), otherwise it fails the record so SQS retries later.
 * So a duplicate delivery does not produce a second notification, and a crash between the
 * transition and a side effect is repaired by the SQS retry (at-least-once).
 *
 * Log ordering: the S3 object is written after the batch; if that fails, the records whose
 * transitions it held are reported as failures (their lease released), so SQS redelivers them
 * and the duplicate path writes their log lines.
 */
import { randomUUID } from "node:crypto";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { documentClient, s3, sqs } from "../shared/clients";
import { intEnv, once, requireEnv } from "../shared/env";
import { logger } from "../shared/logger";
import {
  transactionMessageSchema,
  type NotificationMessage,
  type TransactionMessage,
} from "../shared/schemas";
import { publicView, type TransactionItem } from "../shared/transactions";

const config = once(() => ({
  transactionsTable: requireEnv("TRANSACTIONS_TABLE"),
  notificationQueueUrl: requireEnv("NOTIFICATION_QUEUE_URL"),
  logBucket: requireEnv("TRANSACTION_LOG_BUCKET"),
  riskLimitMinor: intEnv("RISK_LIMIT_MINOR", 5_000_000),
  /** Must be >= the function timeout and <= the queue's visibility timeout. */
  leaseSeconds: intEnv("SIDE_EFFECT_LEASE_SECONDS", 60),
}));

export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PoisonMessageError";
  }
}

export class SideEffectsPendingError extends Error {
  constructor(transactionId: string) {
    super(`Side effects of ${transactionId} are being completed by another invocation; retry later`);
    this.name = "SideEffectsPendingError";
  }
}

interface PendingLog {
  messageId: string;
  item: TransactionItem;
}

interface BatchState {
  /** Identifies this invocation as lease owner. */
  token: string;
  toLog: PendingLog[];
}

export function decide(message: TransactionMessage, riskLimitMinor: number): { status: "PROCESSED" | "FAILED"; failureReason?: string } {
  if (message.amount > riskLimitMinor) {
    return { status: "FAILED", failureReason: `RISK_LIMIT_EXCEEDED: amount ${message.amount} is over the limit of ${riskLimitMinor}` };
  }
  return { status: "PROCESSED" };
}

function parseMessage(record: SQSRecord): TransactionMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(record.body);
  } catch {
    throw new PoisonMessageError(`message ${record.messageId} is not JSON`);
  }
  const parsed = transactionMessageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PoisonMessageError(`message ${record.messageId} is invalid: ${issue?.path.join(".")} ${issue?.message}`);
  }
  return parsed.data;
}

async function releaseLease(transactionId: string, token: string): Promise<void> {
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config().transactionsTable,
        Key: { transaction_id: transactionId },
        UpdateExpression: "REMOVE lease_until, lease_owner",
        ConditionExpression: "lease_owner = :token",
        ExpressionAttributeValues: { ":token": token },
      }),
    );
  } catch (err) {
    logger.warn("could not release the side-effect lease", { transaction_id: transactionId, error: err as Error });
  }
}

async function sendNotification(item: TransactionItem): Promise<void> {
  const cfg = config();
  const notification: NotificationMessage = {
    type: "transaction.status_changed",
    transaction_id: item.transaction_id,
    merchant_id: item.merchant_id,
    customer_id: item.customer_id,
    status: item.status as "PROCESSED" | "FAILED",
    amount: item.amount,
    currency: item.currency,
    ...(item.failure_reason !== undefined ? { failure_reason: item.failure_reason } : {}),
    occurred_at: item.processed_at ?? item.updated_at,
  };
  await sqs().send(
    new SendMessageCommand({
      QueueUrl: cfg.notificationQueueUrl,
      MessageBody: JSON.stringify(notification),
      MessageAttributes: {
        transaction_id: { DataType: "String", StringValue: item.transaction_id },
        status: { DataType: "String", StringValue: item.status },
      },
    }),
  );
  await documentClient().send(
    new UpdateCommand({
      TableName: cfg.transactionsTable,
      Key: { transaction_id: item.transaction_id },
      UpdateExpression: "SET notified = :true, notified_at = :now",
      ExpressionAttributeValues: { ":true": true, ":now": new Date().toISOString() },
    }),
  );
}

async function processRecord(record: SQSRecord, batch: BatchState): Promise<void> {
  const cfg = config();
  const message = parseMessage(record);
  const id = message.transaction_id;
  const decision = decide(message, cfg.riskLimitMinor);
  const now = new Date().toISOString();
  const lease = Date.now() + cfg.leaseSeconds * 1000;

  let item: TransactionItem;
  try {
    const out = await documentClient().send(
      new UpdateCommand({
        TableName: cfg.transactionsTable,
        Key: { transaction_id: id },
        UpdateExpression:
          "SET #status = :status, updated_at = :now, processed_at = :now, lease_until = :lease, lease_owner = :token" +
          (decision.failureReason !== undefined ? ", failure_reason = :reason" : ""),
        ConditionExpression: "#status = :received AND amount = :amount AND currency = :currency",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":status": decision.status,
          ":received": "RECEIVED",
          ":amount": message.amount,
          ":currency": message.currency,
          ":now": now,
          ":lease": lease,
          ":token": batch.token,
          ...(decision.failureReason !== undefined ? { ":reason": decision.failureReason } : {}),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    item = out.Attributes as TransactionItem;
    logger.info("transaction transitioned", { transaction_id: id, status: item.status, failure_reason: item.failure_reason });
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    const existing = await documentClient().send(
      new GetCommand({ TableName: cfg.transactionsTable, Key: { transaction_id: id }, ConsistentRead: true }),
    );
    const current = existing.Item as TransactionItem | undefined;
    if (!current) throw new Error(`transaction ${id} does not exist (yet); will retry`);
    if (current.status === "RECEIVED") {
      throw new PoisonMessageError(`message for ${id} does not match the stored transaction (amount/currency)`);
    }
    if (current.notified === true && current.logged === true) {
      logger.info("duplicate delivery of a completed transaction; no change", { transaction_id: id, status: current.status });
      return;
    }
    // Transitioned earlier but a side effect is missing: take the lease, then repair.
    try {
      await documentClient().send(
        new UpdateCommand({
          TableName: cfg.transactionsTable,
          Key: { transaction_id: id },
          UpdateExpression: "SET lease_until = :lease, lease_owner = :token",
          ConditionExpression: "attribute_not_exists(lease_until) OR lease_until < :nowMs",
          ExpressionAttributeValues: { ":lease": lease, ":token": batch.token, ":nowMs": Date.now() },
        }),
      );
    } catch (leaseErr) {
      if (leaseErr instanceof ConditionalCheckFailedException) throw new SideEffectsPendingError(id);
      throw leaseErr;
    }
    item = current;
    logger.info("duplicate delivery; completing missing side effects", {
      transaction_id: id,
      notified: current.notified === true,
      logged: current.logged === true,
    });
  }

  try {
    if (item.notified !== true) await sendNotification(item);
  } catch (err) {
    await releaseLease(id, batch.token);
    throw err;
  }
  if (item.logged !== true) batch.toLog.push({ messageId: record.messageId, item });
  else await releaseLease(id, batch.token);
}

function logKey(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `transactions/${date.getUTCFullYear()}/${p(date.getUTCMonth() + 1)}/${p(date.getUTCDate())}/${p(date.getUTCHours())}/${randomUUID()}.jsonl`;
}

/** Writes one JSON-lines object for the batch; returns the message ids to report as failed. */
async function writeLog(batch: BatchState): Promise<string[]> {
  if (batch.toLog.length === 0) return [];
  const cfg = config();
  const key = logKey(new Date());
  const body = batch.toLog.map(({ item }) => JSON.stringify(publicView(item))).join("\n") + "\n";
  try {
    await s3().send(
      new PutObjectCommand({
        Bucket: cfg.logBucket,
        Key: key,
        Body: body,
        ContentType: "application/x-ndjson",
        ServerSideEncryption: "aws:kms",
      }),
    );
  } catch (err) {
    logger.error("transaction log write failed; the batch's transitions will be retried", {
      error: err as Error,
      count: batch.toLog.length,
    });
    await Promise.all(batch.toLog.map(({ item }) => releaseLease(item.transaction_id, batch.token)));
    return batch.toLog.map((p) => p.messageId);
  }
  // Mark them logged (and free the lease). A failure here only risks a duplicate log line on a
  // later redelivery, never a missing one, so it does not fail the record.
  const marks = await Promise.allSettled(
    batch.toLog.map(({ item }) =>
      documentClient().send(
        new UpdateCommand({
          TableName: cfg.transactionsTable,
          Key: { transaction_id: item.transaction_id },
          UpdateExpression: "SET logged = :true, log_object = :key REMOVE lease_until, lease_owner",
          ExpressionAttributeValues: { ":true": true, ":key": key },
        }),
      ),
    ),
  );
  const unmarked = marks.filter((m) => m.status === "rejected").length;
  if (unmarked > 0) logger.warn("could not mark some transactions as logged", { unmarked });
  logger.info("transaction log written", { key, count: batch.toLog.length });
  return [];
}

const processor = new BatchProcessor(EventType.SQS);

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  const batch: BatchState = { token: randomUUID(), toLog: [] };
  const response = await processPartialResponse(event, (record: SQSRecord) => processRecord(record, batch), processor, {
    context,
    throwOnFullBatchFailure: false,
  });
  const logFailures = await writeLog(batch);
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  for (const id of logFailures) failed.add(id);
  if (failed.size > 0) logger.warn("batch items failed", { failed: [...failed] });
  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
};
