/**
 * STAND-IN until feature/sweeper lands (the `payment-sweeper` Lambda, its timer in the local
 * runtime, and `npm run ops -- reconcile`): re-enqueues a region's pending payments from the
 * sparse pending index (src/contracts/tables.ts PENDING_INDEX), its own when older than
 * `ownAgeMs`, the other region's (adoption) when older than `adoptAgeMs`. The drill uses it as
 * the sweeper on its timer in each region (region-child.ts) and as the runbook's
 * `reconcile --adopt` (runbook.ts); both switch to the real thing in sweeper-hooks.ts.
 *
 * A re-enqueued payment that was posted meanwhile posts nothing: the ledger's unique
 * transaction_id is the fence. Unlike the real sweeper it marks nothing on the item (no
 * swept_at): it remembers in memory what it enqueued and does not enqueue it again within
 * `resweepMs`.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { BatchGetCommand, DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { TransactionMessage } from "../../../lambdas/shared/schemas";
import type { TransactionItem } from "../../../lambdas/shared/transactions";
import { PENDING_INDEX } from "../../contracts/tables";

export interface SweepTarget {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly table: string;
  readonly queueUrl: string;
  /** The region swept (its AWS_REGION): its own payments are re-enqueued, the other's adopted. */
  readonly region: string;
}

export interface SweepRules {
  readonly ownAgeMs: number;
  /** undefined: never adopt the other region's payments. */
  readonly adoptAgeMs?: number;
  readonly now?: number;
}

export interface SweepResult {
  /** Pending payments old enough, by region that accepted them. */
  readonly found: Readonly<Record<string, number>>;
  readonly enqueued: readonly string[];
}

interface PendingKey {
  transaction_id: string;
  pending_since: string;
  accepted_region?: string;
}

/** One pass over the pending index; returns what it found and enqueued. */
export async function sweepPending(
  target: SweepTarget,
  rules: SweepRules,
  skip: (id: string) => boolean = () => false,
): Promise<SweepResult> {
  const doc = DynamoDBDocumentClient.from(target.dynamodb);
  const now = rules.now ?? Date.now();
  const youngest = Math.min(rules.ownAgeMs, rules.adoptAgeMs ?? Number.POSITIVE_INFINITY);
  const cutoff = new Date(now - youngest).toISOString();
  const due: PendingKey[] = [];
  const found: Record<string, number> = {};
  for (let shard = 0; shard < PENDING_INDEX.shards; shard++) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(
        new QueryCommand({
          TableName: target.table,
          IndexName: PENDING_INDEX.name,
          KeyConditionExpression: "#shard = :shard AND #since < :cutoff",
          ExpressionAttributeNames: { "#shard": PENDING_INDEX.hashKey, "#since": PENDING_INDEX.rangeKey },
          ExpressionAttributeValues: { ":shard": String(shard), ":cutoff": cutoff },
          ExclusiveStartKey: start,
        }),
      );
      for (const key of (page.Items ?? []) as PendingKey[]) {
        const own = (key.accepted_region ?? target.region) === target.region;
        const age = own ? rules.ownAgeMs : rules.adoptAgeMs;
        if (age === undefined || Date.parse(key.pending_since) > now - age) continue;
        const from = key.accepted_region ?? target.region;
        found[from] = (found[from] ?? 0) + 1;
        if (!skip(key.transaction_id)) due.push(key);
      }
      start = page.LastEvaluatedKey;
    } while (start);
  }
  const enqueued: string[] = [];
  // The index projects keys only: the message is built from the item, read consistently.
  for (let i = 0; i < due.length; i += 100) {
    const keys = due.slice(i, i + 100).map((k) => ({ transaction_id: k.transaction_id }));
    const out = await doc.send(new BatchGetCommand({ RequestItems: { [target.table]: { Keys: keys, ConsistentRead: true } } }));
    const items = ((out.Responses?.[target.table] ?? []) as TransactionItem[]).filter((item) => item.status === "RECEIVED");
    for (let j = 0; j < items.length; j += 10) {
      const chunk = items.slice(j, j + 10);
      const sent = await target.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: target.queueUrl,
          Entries: chunk.map((item, n) => ({ Id: String(n), MessageBody: JSON.stringify(messageOf(item)) })),
        }),
      );
      const failed = new Set((sent.Failed ?? []).map((f) => Number(f.Id)));
      chunk.forEach((item, n) => {
        if (!failed.has(n)) enqueued.push(item.transaction_id);
      });
    }
  }
  return { found, enqueued };
}

/** The queue message the gateway would have sent for this item. */
function messageOf(item: TransactionItem): TransactionMessage {
  return {
    transaction_id: item.transaction_id,
    idempotency_key: item.idempotency_key,
    merchant_id: item.merchant_id,
    customer_id: item.customer_id,
    session_id: item.session_id,
    amount: item.amount,
    currency: item.currency,
    ...(item.metadata !== undefined ? { metadata: item.metadata } : {}),
    status: "RECEIVED",
    created_at: item.created_at,
  };
}

export interface SweeperTimer {
  readonly stats: { passes: number; enqueued: number; errors: number };
  stop(): Promise<void>;
}

/** The sweeper on its timer (stand-in): a pass every `intervalMs`, one at a time. */
export function startSweeperTimer(
  target: SweepTarget,
  rules: Omit<SweepRules, "now"> & { intervalMs: number; resweepMs: number },
  log: (line: string) => void,
): SweeperTimer {
  const stats = { passes: 0, enqueued: 0, errors: 0 };
  const lastSent = new Map<string, number>();
  let running: Promise<void> | undefined;
  const pass = async () => {
    const now = Date.now();
    try {
      const result = await sweepPending(target, { ...rules, now }, (id) => now - (lastSent.get(id) ?? 0) < rules.resweepMs);
      for (const id of result.enqueued) lastSent.set(id, now);
      stats.passes++;
      stats.enqueued += result.enqueued.length;
      if (result.enqueued.length > 0)
        log(`[sweeper stand-in] re-enqueued ${result.enqueued.length} pending payment(s): ${JSON.stringify(result.found)}`);
    } catch (err) {
      stats.errors++;
      log(`[sweeper stand-in] pass failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  // A pass that outlasts the interval is not stacked up behind: the next tick skips.
  const timer = setInterval(() => {
    running ??= pass().finally(() => (running = undefined));
  }, rules.intervalMs);
  return {
    stats,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
