/**
 * transaction-processor: SQS (batch 10, ReportBatchItemFailures) -> each payment posted exactly
 * once in the Aurora ledger, then its DynamoDB item moved out of RECEIVED as a projection of the
 * ledger, a notification message, and one JSON-lines S3 log object per batch.
 *
 * Exactly once, in either region: the whole batch is posted in one ledger transaction whose
 * unique transaction_id is the guard (lambdas/shared/ledger). A duplicate delivery, a redelivery
 * after a crash, or the same payment processed in the other region posts nothing new and still
 * completes the projection. The item's status is written only after the ledger holds the entry,
 * from the ledger's outcome (POSTED -> PROCESSED, REJECTED -> FAILED), so what a client reads
 * never contradicts the ledger. While the ledger cannot take writes (no writer reachable, a
 * read-only cluster before promotion), every record of the batch is reported as a failure and
 * waits in the queue: nothing is marked FAILED for it.
 *
 * The ledger decides conflicts. A message only points at its item; the entry is built from the
 * item as stored. When one Idempotency-Key was accepted with two bodies (two regions within the
 * replication delay), the ledger holds whichever was posted first: the item converges to the
 * ledger's values, the other body is recorded on it as `conflict` (GET shows it), and
 * PaymentsConflicted is counted (alarmed). Nothing of it waits in a DLQ.
 *
 * Side effects (notification, log line) are tracked on the item (`notified`, `logged`) and
 * guarded by a short lease (`lease_until`/`lease_owner`): the invocation that made the
 * transition owns the lease; a duplicate delivery only redoes a missing side effect if it can
 * take the lease (expired or released), otherwise it fails the record so SQS retries later.
 * Side effects are batched: SendMessageBatch calls of 10, one S3 object, then one UpdateItem per
 * record marking what was done and releasing the lease.
 */
import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { ENV } from "../../src/contracts/functions";
import { batchGetTransactions } from "../shared/batch-get";
import { documentClient, s3, sqs } from "../shared/clients";
import { intEnv, once, requireEnv } from "../shared/env";
import {
  type EntryOutcome,
  type LedgerEntryInput,
  type LedgerStats,
  LedgerUnavailableError,
  ledgerConnection,
  type PostResult,
  postBatch,
} from "../shared/ledger";
import { ledgerConfigFromEnv } from "../shared/ledger-config";
import { countPayments, instrumented, logger } from "../shared/runtime";
import { type NotificationMessage, parseRecord, type TransactionMessage, transactionMessageSchema } from "../shared/schemas";
import { CONFLICTED_REQUEST_HASH, type KeyConflict, publicView, type TransactionItem } from "../shared/transactions";

const config = once(() => ({
  transactionsTable: requireEnv(ENV.transactionsTable),
  notificationQueueUrl: requireEnv(ENV.notificationQueueUrl),
  logBucket: requireEnv(ENV.transactionLogBucket),
  riskLimitMinor: intEnv(ENV.riskLimitMinor, 5_000_000),
  /** Must be >= the function timeout and <= the queue's visibility timeout. */
  leaseSeconds: intEnv(ENV.sideEffectLeaseSeconds, 60),
  region: process.env.AWS_REGION ?? "local",
}));

/** One connection to the ledger writer per container, reused across invocations. */
const ledger = once(() => ledgerConnection(ledgerConfigFromEnv()));

/** Round trips and connections of this container's ledger connection (benchmarks count them). */
export const ledgerStats = (): LedgerStats => ledger().stats;

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
  /**
   * Records that found a key conflict on their first delivery: reported as failures once, so that
   * they come back after the visibility timeout, when replication has settled, and record the
   * conflict again if the other region's concurrent write of the item (last writer wins) erased it.
   */
  recheck: Set<string>;
}

/**
 * The ledger entry for an accepted transaction, from its stored item (never from the message
 * alone): POSTED, or REJECTED with its reason when over the risk limit.
 */
export function entryFor(
  item: Pick<TransactionItem, "transaction_id" | "merchant_id" | "amount" | "currency">,
  riskLimitMinor: number,
): LedgerEntryInput {
  const base = { transactionId: item.transaction_id, merchantId: item.merchant_id, amount: item.amount, currency: item.currency };
  if (item.amount > riskLimitMinor) {
    return { ...base, outcome: "REJECTED", reason: `RISK_LIMIT_EXCEEDED: amount ${item.amount} is over the limit of ${riskLimitMinor}` };
  }
  return { ...base, outcome: "POSTED" };
}

/** The batch's items, read consistently in one BatchGetItem per 100 (what was accepted, as stored). */
async function loadItems(ids: readonly string[]): Promise<Map<string, TransactionItem>> {
  return batchGetTransactions<TransactionItem>(documentClient(), config().transactionsTable, ids, { consistentRead: true });
}

function parseMessage(record: SQSRecord): TransactionMessage {
  return parseRecord(record, transactionMessageSchema(), "message", (message) => new PoisonMessageError(message));
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

/** What the ledger holds for a transaction: the values the item must show. */
interface Held {
  merchant_id: string;
  amount: number;
  currency: string;
  outcome: EntryOutcome;
  postedAt: string;
  region: string;
}

type Money = Pick<TransactionItem, "merchant_id" | "amount" | "currency">;
const money = (v: Money): Money => ({ merchant_id: v.merchant_id, amount: v.amount, currency: v.currency });
const sameMoney = (a: Money, b: Money): boolean => a.merchant_id === b.merchant_id && a.amount === b.amount && a.currency === b.currency;

/** The ledger's entry for this transaction, as posted now or found there (the ledger decides conflicts). */
function heldBy(entry: LedgerEntryInput, result: Extract<PostResult, { status: "recorded" | "conflict" }>): Held {
  const values =
    result.status === "conflict"
      ? { merchant_id: result.existing.merchantId, amount: result.existing.amount, currency: result.existing.currency }
      : { merchant_id: entry.merchantId, amount: entry.amount, currency: entry.currency };
  return { ...values, outcome: result.outcome, postedAt: result.postedAt, region: result.region };
}

/**
 * A request with this key that asked for other values than the ledger holds: the item's own
 * (the ledger holds the other region's body) or the message's (the item was replaced by the other
 * region's body after this message was sent). Undefined when everything agrees.
 */
function conflictOf(held: Held, item: Money, message: Money): KeyConflict | undefined {
  const found = !sameMoney(item, held)
    ? { requested: item, found_by: "ledger" as const }
    : !sameMoney(message, held)
      ? { requested: message, found_by: "message" as const }
      : undefined;
  if (!found) return undefined;
  return {
    requested: money(found.requested),
    recorded: money(held),
    found_by: found.found_by,
    detected_at: new Date().toISOString(),
    detected_region: config().region,
  };
}

/** The item's status as a projection of what the ledger holds. */
function projection(entry: LedgerEntryInput, held: Held) {
  if (held.outcome === "POSTED") return { status: "PROCESSED" as const };
  // Posted earlier, perhaps under another risk limit or for the other body: the ledger's outcome stands.
  const ownEntry = sameMoney(held, { merchant_id: entry.merchantId, amount: entry.amount, currency: entry.currency });
  return { status: "FAILED" as const, failureReason: (ownEntry ? entry.reason : undefined) ?? "REJECTED by the ledger" };
}

/**
 * Counts and logs a conflict this delivery recorded on the item (whichever delivery finds it
 * first: one after a ledger outage is not the first), and has the message come back to check
 * that the record outlived replication. It comes back again only when it had to record it again
 * (the other region's write of the item erased it), so the recheck ends.
 */
function reportConflict(record: SQSRecord, id: string, conflict: KeyConflict, batch: BatchState): void {
  countPayments("conflicted");
  batch.recheck.add(record.messageId);
  logger.error("one Idempotency-Key was accepted with two bodies; the item follows the ledger", { transaction_id: id, conflict });
}

/**
 * Moves the item out of RECEIVED to what the ledger holds (its outcome, and its values when a
 * request with this key asked for others, recorded as `conflict`), taking the side-effect lease.
 * The condition is the item as loaded: when it changed meanwhile (the other region's copy
 * replicated over it), the transition is computed again from the current item.
 */
async function transition(
  item: TransactionItem,
  held: Held,
  decision: ReturnType<typeof projection>,
  conflict: KeyConflict | undefined,
  token: string,
) {
  const cfg = config();
  const now = new Date().toISOString();
  const out = await documentClient().send(
    new UpdateCommand({
      TableName: cfg.transactionsTable,
      Key: { transaction_id: item.transaction_id },
      UpdateExpression:
        "SET #status = :status, updated_at = :now, processed_at = :now, posted_at = :postedAt, posted_region = :postedRegion, " +
        "lease_until = :lease, lease_owner = :token" +
        (decision.failureReason !== undefined ? ", failure_reason = :reason" : "") +
        // The item follows the ledger: its values become what the ledger holds.
        (conflict
          ? ", merchant_id = :heldMerchant, amount = :heldAmount, currency = :heldCurrency, key_conflict = :conflict, request_hash = :conflicted"
          : "") +
        // No longer pending: out of the sparse index the sweeper reads.
        " REMOVE pending_shard, pending_since",
      ConditionExpression: "#status = :received AND merchant_id = :merchant AND amount = :amount AND currency = :currency",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: {
        ":status": decision.status,
        ":received": "RECEIVED",
        ":merchant": item.merchant_id,
        ":amount": item.amount,
        ":currency": item.currency,
        ":now": now,
        ":lease": Date.now() + cfg.leaseSeconds * 1000,
        ":token": token,
        ":postedAt": held.postedAt,
        ":postedRegion": held.region,
        ...(decision.failureReason !== undefined ? { ":reason": decision.failureReason } : {}),
        ...(conflict
          ? {
              ":heldMerchant": held.merchant_id,
              ":heldAmount": held.amount,
              ":heldCurrency": held.currency,
              ":conflict": conflict,
              ":conflicted": CONFLICTED_REQUEST_HASH,
            }
          : {}),
      },
      ReturnValues: "ALL_NEW",
    }),
  );
  return out.Attributes as TransactionItem;
}

/**
 * Moves the item out of RECEIVED to the ledger's outcome (taking the side-effect lease), or, when
 * an earlier delivery or the other region did that already, takes the lease to redo a missing
 * side effect. Queues the record's side effects on the batch.
 */
async function project(
  record: SQSRecord,
  message: TransactionMessage,
  loaded: TransactionItem,
  entry: LedgerEntryInput,
  result: Extract<PostResult, { status: "recorded" | "conflict" }>,
  batch: BatchState,
): Promise<void> {
  const cfg = config();
  const id = message.transaction_id;
  const held = heldBy(entry, result);
  const decision = projection(entry, held);

  let item: TransactionItem | undefined;
  let current: TransactionItem | undefined = loaded;
  // At most twice: as loaded, then once more if the other region's copy replaced it meanwhile.
  for (let attempt = 0; attempt < 2 && current?.status === "RECEIVED" && !item; attempt++) {
    const conflict = conflictOf(held, current, message);
    try {
      item = await transition(current, held, decision, conflict, batch.token);
      if (conflict) reportConflict(record, id, conflict, batch);
      logger.info("transaction projected from the ledger", {
        transaction_id: id,
        status: item.status,
        posted_now: result.posted,
        failure_reason: item.failure_reason,
      });
      if (result.posted) countPayments(item.status === "PROCESSED" ? "processed" : "failed");
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const existing = await documentClient().send(
        new GetCommand({ TableName: cfg.transactionsTable, Key: { transaction_id: id }, ConsistentRead: true }),
      );
      current = existing.Item as TransactionItem | undefined;
    }
  }
  if (!item) {
    if (!current) throw new Error(`transaction ${id} does not exist (yet); will retry`);
    if (current.status === "RECEIVED") throw new Error(`transaction ${id} keeps changing under its projection; will retry`);
    item = await completeExisting(record, current, held, message, batch);
    if (!item) return;
  }
  batch.pending.push({ messageId: record.messageId, item, notify: item.notified !== true, log: item.logged !== true });
}

/**
 * An item that an earlier delivery or the other region already projected: records a message's
 * conflict it does not know yet, then, when a side effect is missing, takes the lease to redo it.
 * Returns the item to complete, or undefined when nothing is left to do.
 */
async function completeExisting(
  record: SQSRecord,
  current: TransactionItem,
  held: Held,
  message: TransactionMessage,
  batch: BatchState,
): Promise<TransactionItem | undefined> {
  const cfg = config();
  const id = current.transaction_id;
  const conflict = current.key_conflict === undefined ? conflictOf(held, current, message) : undefined;
  if (conflict) {
    try {
      await documentClient().send(
        new UpdateCommand({
          TableName: cfg.transactionsTable,
          Key: { transaction_id: id },
          UpdateExpression: "SET key_conflict = :conflict, request_hash = :conflicted",
          ConditionExpression: "attribute_not_exists(key_conflict)",
          ExpressionAttributeValues: { ":conflict": conflict, ":conflicted": CONFLICTED_REQUEST_HASH },
        }),
      );
      reportConflict(record, id, conflict, batch);
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
  if (current.notified === true && current.logged === true) {
    logger.info("duplicate delivery of a completed transaction; no change", { transaction_id: id, status: current.status });
    return undefined;
  }
  // Transitioned earlier but a side effect is missing: take the lease, then repair.
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: cfg.transactionsTable,
        Key: { transaction_id: id },
        UpdateExpression: "SET lease_until = :lease, lease_owner = :token",
        ConditionExpression: "attribute_not_exists(lease_until) OR lease_until < :nowMs",
        ExpressionAttributeValues: { ":lease": Date.now() + cfg.leaseSeconds * 1000, ":token": batch.token, ":nowMs": Date.now() },
      }),
    );
  } catch (leaseErr) {
    if (leaseErr instanceof ConditionalCheckFailedException) throw new SideEffectsPendingError(id);
    throw leaseErr;
  }
  logger.info("duplicate delivery; completing missing side effects", {
    transaction_id: id,
    notified: current.notified === true,
    logged: current.logged === true,
  });
  return current;
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

export const handler = instrumented(async (event: SQSEvent, _context: Context): Promise<SQSBatchResponse> => {
  const cfg = config();
  const batch: BatchState = { token: randomUUID(), pending: [], recheck: new Set() };
  const failed = new Set<string>();
  const fail = (record: SQSRecord, reason: string | Error, details: Record<string, unknown> = {}) => {
    logger.error("record failed", {
      message_id: record.messageId,
      ...details,
      error: reason instanceof Error ? reason : new Error(reason),
    });
    failed.add(record.messageId);
  };
  const response = (): SQSBatchResponse => {
    if (failed.size > 0) logger.warn("batch items failed", { failed: [...failed] });
    return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
  };

  const messages: Array<{ record: SQSRecord; message: TransactionMessage }> = [];
  for (const record of event.Records) {
    try {
      messages.push({ record, message: parseMessage(record) });
    } catch (err) {
      fail(record, err as Error);
    }
  }
  if (messages.length === 0) return response();

  // Post what was accepted, as stored: a message is only a pointer to its item.
  let items: Map<string, TransactionItem>;
  try {
    items = await loadItems(messages.map((m) => m.message.transaction_id));
  } catch (err) {
    for (const { record } of messages) fail(record, err as Error);
    return response();
  }
  const postable: Array<{ record: SQSRecord; message: TransactionMessage; item: TransactionItem; entry: LedgerEntryInput }> = [];
  for (const { record, message } of messages) {
    const item = items.get(message.transaction_id);
    if (!item) fail(record, `transaction ${message.transaction_id} does not exist (yet); will retry`);
    else postable.push({ record, message, item, entry: entryFor(item, cfg.riskLimitMinor) });
  }

  let results: Map<string, PostResult>;
  try {
    results =
      postable.length > 0
        ? await postBatch(
            ledger(),
            postable.map((p) => p.entry),
            { region: cfg.region },
          )
        : new Map();
  } catch (err) {
    // Nothing was committed: the whole batch waits in the queue (never marked FAILED).
    if (err instanceof LedgerUnavailableError) logger.warn("ledger unavailable; the batch waits in the queue", { error: err.message });
    else logger.error("ledger refused the batch", { error: err as Error });
    for (const { record } of postable) failed.add(record.messageId);
    return response();
  }

  await Promise.all(
    postable.map(async ({ record, message, item, entry }) => {
      const result = results.get(message.transaction_id);
      // A conflict is an answer too: the ledger holds this id with other values, and the item follows it.
      if (result?.status !== "recorded" && result?.status !== "conflict") {
        fail(record, `the ledger did not record ${message.transaction_id}: ${result?.status ?? "no result"}`, { result });
        return;
      }
      try {
        await project(record, message, item, entry, result, batch);
      } catch (err) {
        fail(record, err as Error, { transaction_id: message.transaction_id });
      }
    }),
  );
  for (const id of await completeSideEffects(batch)) failed.add(id);
  if (batch.recheck.size > 0) {
    logger.info("key conflicts recorded; their messages return once to check the record outlived replication", {
      recheck: [...batch.recheck],
    });
    for (const id of batch.recheck) failed.add(id);
  }
  return response();
});
