/**
 * Finding and re-enqueueing payments left RECEIVED: the sweeper's work every minute, and the
 * operator's `reconcile` (src/ops/dr). Pure logic over injected SDK clients and no Powertools,
 * so that the CLI runs the same code against a region of its choice.
 *
 * Finding reads only the sparse pending index (src/contracts/tables.ts), shard by shard, oldest
 * first: never the table. Re-enqueueing marks each item with a conditional UpdateItem (still
 * RECEIVED, and not swept within the guard time) whose ALL_NEW answer is the whole item the
 * message is built from (the index holds only keys and accepted_region), then sends the
 * messages 10 per SendMessageBatch. A message that could not be sent has its mark taken back, so
 * the next run tries again. Each run writes its own random sweep_token with its marks: when the
 * SDK retries a mark whose first answer was lost, the condition lets the run's own earlier mark
 * through, so the payment is sent now, not skipped until the re-sweep guard expires.
 */
import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandOutput, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { PENDING_INDEX } from "../../src/contracts/tables";
import { messageAttributesOf, messageOf, type TransactionItem } from "./transactions";

/** What the pending index says of one payment. */
export interface PendingRef {
  readonly transactionId: string;
  readonly shard: string;
  /** When the gateway wrote it (ISO 8601). */
  readonly pendingSince: string;
  /** Region whose gateway accepted it; undefined on an item written before the attribute existed. */
  readonly acceptedRegion?: string;
}

export interface FindPendingOptions {
  readonly table: string;
  /** Payments pending at least this long are counted (and listed when eligible). */
  readonly olderThanSeconds: number;
  /** Which of those to list; the others are only counted. @default all */
  readonly eligible?: (ref: PendingRef, ageSeconds: number) => boolean;
  /** Most refs listed, oldest first. @default no limit */
  readonly limit?: number;
  /**
   * Most index pages (of 500 entries) read per shard to list; the rest of the shard is only
   * counted. Bounds a run when many entries are not eligible (the other region's, younger than the
   * adoption age, right after a failover). @default no bound
   */
  readonly maxListPages?: number;
  /** Index entries per Query page while listing. @default 500 */
  readonly pageSize?: number;
  /** @default Date.now() */
  readonly now?: number;
}

export interface PendingReport {
  /** Payments pending at least olderThanSeconds, every shard, eligible or not. */
  readonly total: number;
  /** True when a huge backlog was counted only up to a bound: `total` is then a lower bound. */
  readonly totalIsLowerBound: boolean;
  /** The eligible ones, oldest first, at most `limit`. */
  readonly refs: readonly PendingRef[];
}

/** Index items per Query page while listing. */
const LIST_PAGE = 500;
/** COUNT pages per shard (each reads up to 1 MB of index, ~10,000 entries) before the count is a bound. */
const MAX_COUNT_PAGES = 20;

const shards = (): string[] => Array.from({ length: PENDING_INDEX.shards }, (_, i) => String(i));

/** Age in whole seconds of a pending entry. */
export const ageSeconds = (pendingSince: string, now: number): number => Math.floor((now - Date.parse(pendingSince)) / 1000);

/**
 * The payments pending at least `olderThanSeconds`: counted in every shard, and the eligible
 * ones listed oldest first. Each shard is read only as far as the limit needs; the rest of it is
 * counted server-side (Select COUNT), so the work is bounded whatever the backlog.
 */
export async function findPending(doc: DynamoDBDocumentClient, options: FindPendingOptions): Promise<PendingReport> {
  const now = options.now ?? Date.now();
  const cutoff = new Date(now - options.olderThanSeconds * 1000).toISOString();
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const eligible = options.eligible ?? (() => true);
  const maxListPages = options.maxListPages ?? Number.POSITIVE_INFINITY;
  const query = (shard: string, start: Record<string, unknown> | undefined, count: boolean) =>
    doc.send(
      new QueryCommand({
        TableName: options.table,
        IndexName: PENDING_INDEX.name,
        KeyConditionExpression: "#shard = :shard AND #since <= :cutoff",
        ExpressionAttributeNames: { "#shard": PENDING_INDEX.hashKey, "#since": PENDING_INDEX.rangeKey },
        ExpressionAttributeValues: { ":shard": shard, ":cutoff": cutoff },
        ScanIndexForward: true,
        ExclusiveStartKey: start,
        ...(count ? { Select: "COUNT" as const } : { Limit: Math.min(options.pageSize ?? LIST_PAGE, limit) }),
      }),
    );

  const perShard = await Promise.all(
    shards().map(async (shard) => {
      const refs: PendingRef[] = [];
      let seen = 0;
      let listed = 0;
      let start: Record<string, unknown> | undefined;
      do {
        const page: QueryCommandOutput = await query(shard, start, false);
        for (const item of page.Items ?? []) {
          seen++;
          const ref: PendingRef = {
            transactionId: String(item.transaction_id),
            shard,
            pendingSince: String(item[PENDING_INDEX.rangeKey]),
            acceptedRegion: item[PENDING_INDEX.regionAttribute] as string | undefined,
          };
          if (refs.length < limit && eligible(ref, ageSeconds(ref.pendingSince, now))) refs.push(ref);
        }
        start = page.LastEvaluatedKey;
        listed++;
      } while (start && refs.length < limit && listed < maxListPages);
      // Listed enough: count the rest of the shard without reading it back.
      let pages = 0;
      while (start && pages < MAX_COUNT_PAGES) {
        const page = await query(shard, start, true);
        seen += page.Count ?? 0;
        start = page.LastEvaluatedKey;
        pages++;
      }
      return { refs, seen, bounded: start !== undefined };
    }),
  );
  const refs = perShard
    .flatMap((s) => s.refs)
    .sort((a, b) => a.pendingSince.localeCompare(b.pendingSince) || a.transactionId.localeCompare(b.transactionId));
  return {
    total: perShard.reduce((n, s) => n + s.seen, 0),
    totalIsLowerBound: perShard.some((s) => s.bounded),
    refs: refs.slice(0, limit),
  };
}

export interface EnqueueOptions {
  readonly table: string;
  readonly queueUrl: string;
  /** The region doing it, recorded on the item as swept_region. */
  readonly region: string;
  /**
   * A payment swept within this many seconds is left alone (its message may still be waiting in
   * a queue). Undefined: no guard, as for the operator's adopt after a declared failover.
   */
  readonly resweepSeconds?: number;
  /** Marks in flight at once. @default 16 */
  readonly concurrency?: number;
  /** @default Date.now() */
  readonly now?: number;
}

export interface EnqueueResult {
  /** Marked and sent, as stored when marked. */
  readonly enqueued: readonly TransactionItem[];
  /** No longer RECEIVED (processed meanwhile), or swept within the guard time: nothing sent. */
  readonly skipped: readonly string[];
  /** Not sent: the mark failed, or the send did (and the mark was taken back when possible). */
  readonly failed: ReadonlyArray<{ readonly transactionId: string; readonly error: string }>;
}

/** Runs `work` over `items`, at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/**
 * Re-enqueues these payments into `queueUrl`: each one marked (swept_at, swept_region) by a
 * conditional UpdateItem that returns the whole item, then sent 10 per SendMessageBatch. Safe to
 * repeat and to race: the ledger's unique transaction_id posts a payment once whatever number of
 * messages it gets, and the processor completes the projection of one it already posted.
 */
export async function enqueuePending(
  doc: DynamoDBDocumentClient,
  sqs: SQSClient,
  refs: readonly Pick<PendingRef, "transactionId">[],
  options: EnqueueOptions,
): Promise<EnqueueResult> {
  const now = options.now ?? Date.now();
  const sweptAt = new Date(now).toISOString();
  const token = randomUUID();
  const guard = options.resweepSeconds === undefined ? undefined : new Date(now - options.resweepSeconds * 1000).toISOString();
  const marked: TransactionItem[] = [];
  const skipped: string[] = [];
  const failed: Array<{ transactionId: string; error: string }> = [];

  await pool(refs, options.concurrency ?? 16, async ({ transactionId }) => {
    try {
      const out = await doc.send(
        new UpdateCommand({
          TableName: options.table,
          Key: { transaction_id: transactionId },
          UpdateExpression: "SET swept_at = :sweptAt, swept_region = :region, sweep_token = :token",
          // Our own earlier mark (an SDK retry after a lost answer) passes the guard.
          ConditionExpression: `#status = :received${guard ? " AND (attribute_not_exists(swept_at) OR swept_at < :guard OR sweep_token = :token)" : ""}`,
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":sweptAt": sweptAt,
            ":region": options.region,
            ":token": token,
            ":received": "RECEIVED",
            ...(guard ? { ":guard": guard } : {}),
          },
          ReturnValues: "ALL_NEW",
        }),
      );
      marked.push(out.Attributes as TransactionItem);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) skipped.push(transactionId);
      else failed.push({ transactionId, error: errorText(err) });
    }
  });

  const unsent: Array<{ item: TransactionItem; error: string }> = [];
  const enqueued: TransactionItem[] = [];
  for (let i = 0; i < marked.length; i += 10) {
    const chunk = marked.slice(i, i + 10);
    try {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: chunk.map((item, n) => ({
            Id: String(n),
            MessageBody: JSON.stringify(messageOf(item)),
            MessageAttributes: messageAttributesOf(item),
          })),
        }),
      );
      const refused = new Map((out.Failed ?? []).map((f) => [Number(f.Id), `${f.Code ?? "Failed"}: ${f.Message ?? ""}`]));
      chunk.forEach((item, n) => {
        const reason = refused.get(n);
        if (reason === undefined) enqueued.push(item);
        else unsent.push({ item, error: reason });
      });
    } catch (err) {
      for (const item of chunk) unsent.push({ item, error: errorText(err) });
    }
  }

  // Not sent: take the mark back (only ours), so that the next run does not wait out the guard.
  await pool(unsent, options.concurrency ?? 16, async ({ item, error }) => {
    failed.push({ transactionId: item.transaction_id, error });
    await doc
      .send(
        new UpdateCommand({
          TableName: options.table,
          Key: { transaction_id: item.transaction_id },
          UpdateExpression: "REMOVE swept_at, swept_region, sweep_token",
          ConditionExpression: "sweep_token = :token",
          ExpressionAttributeValues: { ":token": token },
        }),
      )
      .catch(() => undefined);
  });
  return { enqueued, skipped, failed };
}
