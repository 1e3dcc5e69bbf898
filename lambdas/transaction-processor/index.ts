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
 * Side effects are done per batch, not per record: the batch's notifications go out in
 * SendMessageBatch calls of 10, its log lines in one S3 object, and each record is then marked
 * (`notified`, `logged`, lease released) in a single UpdateItem. So a message costs two
 * DynamoDB writes plus a tenth of an SQS and an S3 call. A record whose notification or log
 * write failed is reported as a failure (lease released), SQS redelivers it, and the duplicate
 * path redoes only what is missing.
 */
import { randomUUID } from "node:crypto";
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { ENV } from "../../src/contracts/functions";
import { documentClient, s3, sqs } from "../shared/clients";
import { intEnv, once, requireEnv } from "../shared/env";
import { countPayments, instrumented, logger } from "../shared/runtime";
import { type NotificationMessage, parseRecord, type TransactionMessage, transactionMessageSchema } from "../shared/schemas";
import { publicView, type TransactionItem } from "../shared/transactions";

const config = once(() => ({
  transactionsTable: requireEnv(ENV.transactionsTable),
  notificationQueueUrl: requireEnv(ENV.notificationQueueUrl),
  logBucket: requireEnv(ENV.transactionLogBucket),
  riskLimitMinor: intEnv(ENV.riskLimitMinor, 5_000_000),
  /** Must be >= the function timeout and <= the queue's visibility timeout. */
  leaseSeconds: intEnv(ENV.sideEffectLeaseSeconds, 60),
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

/** A record whose transition is done and whose side effects are still to do in this batch. */
interface Pending {
  messageId: string;
  item: TransactionItem;
  notify: boolean;
  log: boolean;
}

interface BatchState {
  /** Identifies this invocation as lease owner. */
  token: string;
  pending: Pending[];
}

export function decide(message: TransactionMessage, riskLimitMinor: number): { status: "PROCESSED" | "FAILED"; failureReason?: string } {
  if (message.amount > riskLimitMinor) {
    return { status: "FAILED", failureReason: `RISK_LIMIT_EXCEEDED: amount ${message.amount} is over the limit of ${riskLimitMinor}` };
  }
  return { status: "PROCESSED" };
}

function parseMessage(record: SQSRecord): TransactionMessage {
  return parseRecord(record, transactionMessageSchema, "message", (message) => new PoisonMessageError(message));
}

function notificationOf(item: TransactionItem): NotificationMessage {
  return {
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
}

/** Sends the batch's notifications, 10 per call; returns the message ids whose send failed. */
async function sendNotifications(pending: Pending[]): Promise<Set<string>> {
  const failed = new Set<string>();
  const toSend = pending.filter((p) => p.notify);
  for (let i = 0; i < toSend.length; i += 10) {
    const chunk = toSend.slice(i, i + 10);
    try {
      const out = await sqs().send(
        new SendMessageBatchCommand({
          QueueUrl: config().notificationQueueUrl,
          Entries: chunk.map((p, n) => ({
            Id: String(n),
            MessageBody: JSON.stringify(notificationOf(p.item)),
            MessageAttributes: {
              transaction_id: { DataType: "String", StringValue: p.item.transaction_id },
              status: { DataType: "String", StringValue: p.item.status },
            },
          })),
        }),
      );
      for (const f of out.Failed ?? []) failed.add(chunk[Number(f.Id)]!.messageId);
    } catch (err) {
      logger.error("notification send failed; those records will be retried", { error: err as Error, count: chunk.length });
      for (const p of chunk) failed.add(p.messageId);
    }
  }
  return failed;
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
          (decision.failureReason !== undefined ? ", failure_reason = :reason" : "") +
          // Out of the sparse pending index (src/contracts/tables.ts): no longer RECEIVED.
          " REMOVE pending_shard, pending_since",
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
    countPayments(item.status === "PROCESSED" ? "processed" : "failed");
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

  batch.pending.push({ messageId: record.messageId, item, notify: item.notified !== true, log: item.logged !== true });
}

function logKey(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `transactions/${date.getUTCFullYear()}/${p(date.getUTCMonth() + 1)}/${p(date.getUTCDate())}/${p(date.getUTCHours())}/${randomUUID()}.jsonl`;
}

/** Writes one JSON-lines object for the records that need a log line; returns false if it failed. */
async function writeLog(toLog: Pending[], key: string): Promise<boolean> {
  if (toLog.length === 0) return true;
  const body = `${toLog.map(({ item }) => JSON.stringify(publicView(item))).join("\n")}\n`;
  try {
    await s3().send(
      new PutObjectCommand({
        Bucket: config().logBucket,
        Key: key,
        Body: body,
        ContentType: "application/x-ndjson",
        ServerSideEncryption: "aws:kms",
      }),
    );
    logger.info("transaction log written", { key, count: toLog.length });
    return true;
  } catch (err) {
    logger.error("transaction log write failed; the batch's transitions will be retried", { error: err as Error, count: toLog.length });
    return false;
  }
}

/**
 * Sends the batch's notifications, writes its log object, then records what was done on each
 * item in one write (and frees the lease). Returns the message ids to report as failed.
 */
async function completeSideEffects(batch: BatchState): Promise<string[]> {
  if (batch.pending.length === 0) return [];
  const cfg = config();
  const notifyFailed = await sendNotifications(batch.pending);
  const key = logKey(new Date());
  const logged = await writeLog(
    batch.pending.filter((p) => p.log),
    key,
  );
  const failed: string[] = [];
  await Promise.all(
    batch.pending.map(async (p) => {
      const notified = p.notify && !notifyFailed.has(p.messageId);
      const wroteLog = p.log && logged;
      if (notifyFailed.has(p.messageId) || (p.log && !logged)) failed.push(p.messageId);
      const sets = [
        ...(notified ? ["notified = :true", "notified_at = :now"] : []),
        ...(wroteLog ? ["logged = :true", "log_object = :key"] : []),
      ];
      try {
        await documentClient().send(
          new UpdateCommand({
            TableName: cfg.transactionsTable,
            Key: { transaction_id: p.item.transaction_id },
            UpdateExpression: `${sets.length ? `SET ${sets.join(", ")} ` : ""}REMOVE lease_until, lease_owner`,
            ConditionExpression: "lease_owner = :token",
            ExpressionAttributeValues: {
              ":token": batch.token,
              ...(notified ? { ":true": true, ":now": new Date().toISOString() } : {}),
              ...(wroteLog ? { ":true": true, ":key": key } : {}),
            },
          }),
        );
      } catch (err) {
        // The side effects happened; an unrecorded one only risks a repeat on a later
        // redelivery (at-least-once), never a missing one, so this does not fail the record.
        logger.warn("could not record completed side effects", { transaction_id: p.item.transaction_id, error: err as Error });
      }
    }),
  );
  return failed;
}

const processor = new BatchProcessor(EventType.SQS);

export const handler = instrumented(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const batch: BatchState = { token: randomUUID(), pending: [] };
  const response = await processPartialResponse(event, (record: SQSRecord) => processRecord(record, batch), processor, {
    context,
    throwOnFullBatchFailure: false,
  });
  const logFailures = await completeSideEffects(batch);
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  for (const id of logFailures) failed.add(id);
  if (failed.size > 0) logger.warn("batch items failed", { failed: [...failed] });
  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
});
