/**
 * `reconcile` and `redrive`: the payments side of a failover, against ONE region's table and
 * queues (the clients are built for that region only, so both work while the other is down).
 * Pure logic over injected SDK clients: the tests run it against dynalite and fauxqs.
 *
 * Operators cannot reach the private Aurora ledger, so "posted in the ledger" is read from the
 * DynamoDB projection: `posted_at`, which the processor writes only after the ledger holds the
 * entry. Adopting a payment that the ledger already holds posts nothing: the processor finds the
 * entry and only completes the projection (status, notification, log line).
 */
import { type AttributeValue, type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { batchGetTransactions } from "../../../lambdas/shared/batch-get";
import { ageSeconds, enqueuePending, findPending, type PendingRef } from "../../../lambdas/shared/sweep";
import type { DeploymentConfig, RegionRole } from "../../contracts/config";
import type { QueueId } from "../../contracts/functions";
import { Naming } from "../../contracts/names";
import type { OperationResult } from "../command-line";
import { table } from "./operations";

/** `reconcile` counts payments accepted in the last day unless --since says otherwise. */
export const DEFAULT_SINCE_HOURS = 24;
export const DEFAULT_REDRIVE_MAX = 1000;

export interface PaymentsContext {
  readonly config: DeploymentConfig;
  readonly role: RegionRole;
  /** The AWS region of `role`: where every call goes. */
  readonly region: string;
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly now?: () => number;
}

const where = (ctx: PaymentsContext) => `${ctx.role} region ${ctx.region}`;

/** "45 s", "12 min", "3 h 05 min", "2 d 04 h". */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${String(hours % 24).padStart(2, "0")} h`;
}

// ---------------------------------------------------------------------------------------------
// reconcile

export interface ReconcileOptions {
  /** @default config.sweeperAgeSeconds */
  readonly olderThanSeconds?: number;
  /** @default DEFAULT_SINCE_HOURS ago */
  readonly since?: Date;
  readonly adopt: boolean;
  readonly yes: boolean;
}

export interface WindowCounts {
  /** Items created since the window's start. */
  readonly accepted: number;
  /** Of those, with posted_at: the ledger holds their entry. */
  readonly posted: number;
  readonly notified: number;
}

export interface StrandedPayment {
  readonly transactionId: string;
  readonly merchantId?: string;
  readonly amount?: number;
  readonly currency?: string;
  readonly acceptedRegion?: string;
  readonly pendingSince: string;
  readonly ageSeconds: number;
  /** Region of the last sweep (or adopt) that enqueued it, and when. */
  readonly sweptRegion?: string;
  readonly sweptAt?: string;
}

/** Accepted, posted and notified payments created since `since`: one projected Scan of the table. */
async function windowCounts(ctx: PaymentsContext, tableName: string, since: Date): Promise<WindowCounts> {
  let accepted = 0;
  let posted = 0;
  let notified = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await ctx.dynamodb.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: "posted_at, notified",
        FilterExpression: "created_at >= :since",
        ExpressionAttributeValues: { ":since": { S: since.toISOString() } },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      accepted++;
      if (item.posted_at?.S) posted++;
      if (item.notified?.BOOL === true) notified++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { accepted, posted, notified };
}

/** The stranded payments' details (the index holds only keys and accepted_region): BatchGetItem, 100 a call. */
async function details(
  doc: DynamoDBDocumentClient,
  tableName: string,
  refs: readonly PendingRef[],
  now: number,
): Promise<StrandedPayment[]> {
  const found = await batchGetTransactions(
    doc,
    tableName,
    refs.map((r) => r.transactionId),
    { projection: { ProjectionExpression: "transaction_id, merchant_id, amount, currency, swept_at, swept_region" } },
  );
  return refs.map((r) => {
    const item = found.get(r.transactionId) ?? {};
    return {
      transactionId: r.transactionId,
      merchantId: item.merchant_id as string | undefined,
      amount: item.amount as number | undefined,
      currency: item.currency as string | undefined,
      acceptedRegion: r.acceptedRegion,
      pendingSince: r.pendingSince,
      ageSeconds: ageSeconds(r.pendingSince, now),
      sweptRegion: item.swept_region as string | undefined,
      sweptAt: item.swept_at as string | undefined,
    };
  });
}

function strandedTable(rows: readonly StrandedPayment[]): string[] {
  return table([
    ["transaction_id", "merchant", "amount", "currency", "accepted_region", "age", "last swept"],
    ...rows.map((p) => [
      p.transactionId,
      p.merchantId ?? "?",
      p.amount === undefined ? "?" : String(p.amount),
      p.currency ?? "?",
      p.acceptedRegion ?? "?",
      formatAge(p.ageSeconds),
      p.sweptAt ? `${p.sweptAt} by ${p.sweptRegion ?? "?"}` : "-",
    ]),
  ]).map((l) => `  ${l}`);
}

/**
 * Payments of one region: accepted, posted and notified since --since, and the missing-
 * transaction report (RECEIVED for longer than --older-than, any region's, from the pending
 * index). With --adopt --yes, re-enqueues those into this region's transaction queue.
 */
export async function reconcile(ctx: PaymentsContext, options: ReconcileOptions): Promise<OperationResult> {
  const now = ctx.now?.() ?? Date.now();
  const naming = new Naming(ctx.config.environmentSuffix);
  const tableName = naming.table("transactions");
  const olderThan = options.olderThanSeconds ?? ctx.config.sweeperAgeSeconds;
  const since = options.since ?? new Date(now - DEFAULT_SINCE_HOURS * 3_600_000);
  const doc = DynamoDBDocumentClient.from(ctx.dynamodb);

  const [counts, pending] = await Promise.all([
    windowCounts(ctx, tableName, since),
    findPending(doc, { table: tableName, olderThanSeconds: olderThan, now }),
  ]);
  const stranded = await details(doc, tableName, pending.refs, now);
  const lines = [
    `Payments in ${tableName} (${where(ctx)}) at ${new Date(now).toISOString()}:`,
    ...table([
      [`accepted since ${since.toISOString()}`, String(counts.accepted)],
      ["posted in the ledger (posted_at set)", String(counts.posted)],
      ["notified", String(counts.notified)],
      [`not posted yet`, String(counts.accepted - counts.posted)],
      [`stranded: RECEIVED for more than ${olderThan} s (any age)`, String(stranded.length)],
    ]).map((l) => `  ${l}`),
  ];
  if (stranded.length > 0) {
    const byRegion = new Map<string, number>();
    for (const p of stranded) byRegion.set(p.acceptedRegion ?? "unknown", (byRegion.get(p.acceptedRegion ?? "unknown") ?? 0) + 1);
    lines.push(
      `Missing-transaction report: accepted but not posted after ${olderThan} s, oldest first (${[...byRegion]
        .map(([r, n]) => `${n} accepted in ${r}`)
        .join(", ")}):`,
      ...strandedTable(stranded),
    );
  }
  if (!options.adopt) return { exitCode: stranded.length > 0 ? 2 : 0, lines };
  if (stranded.length === 0) return { exitCode: 0, lines: [...lines, "Nothing to adopt."] };

  const queueName = naming.queue("transaction");
  if (!options.yes) {
    return {
      exitCode: 1,
      lines: [
        ...lines,
        `Dry run: would enqueue these ${stranded.length} payment(s) into ${queueName} (${where(ctx)}), one message each built from the stored item:`,
        ...stranded.map((p) => `  ${p.transactionId}`),
        "whatever their accepted region and age, and even if a sweep enqueued them elsewhere. A payment the ledger already holds posts nothing: its projection is completed.",
        "Run again with --yes to enqueue them.",
      ],
    };
  }
  const { QueueUrl } = await ctx.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
  // No guard time: after a declared failover an earlier sweep may have sent them to the lost region.
  const result = await enqueuePending(doc, ctx.sqs, pending.refs, { table: tableName, queueUrl: QueueUrl!, region: ctx.region, now });
  const adopted = result.enqueued.filter((i) => i.accepted_region !== ctx.region).length;
  lines.push(
    `Enqueued ${result.enqueued.length} payment(s) into ${queueName} (${adopted} accepted in another region); skipped ${result.skipped.length} (no longer RECEIVED); failed ${result.failed.length}.`,
    ...result.failed.map((f) => `  FAILED ${f.transactionId}: ${f.error}`),
    `Check: reconcile --region ${ctx.role} again once the queue has drained: stranded should be 0 and posted higher.`,
  );
  return {
    exitCode: result.failed.length > 0 ? 1 : 0,
    lines,
    ...(result.failed.length > 0 ? { error: `${result.failed.length} payment(s) could not be enqueued; run again` } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// redrive

export interface RedriveOptions {
  readonly queue: QueueId;
  readonly max: number;
  readonly yes: boolean;
}

/** A received message attribute as SendMessage takes it back (the list fields are reserved by SQS). */
function resendable(attributes: Record<string, MessageAttributeValue> | undefined): Record<string, MessageAttributeValue> | undefined {
  if (!attributes || Object.keys(attributes).length === 0) return undefined;
  return Object.fromEntries(
    Object.entries(attributes).map(([name, a]) => [
      name,
      {
        DataType: a.DataType,
        ...(a.StringValue !== undefined ? { StringValue: a.StringValue } : {}),
        ...(a.BinaryValue !== undefined ? { BinaryValue: a.BinaryValue } : {}),
      },
    ]),
  );
}

/** The transaction a message is about: its attribute, else its JSON body's field. */
function transactionOf(m: Message): string {
  const attribute = m.MessageAttributes?.transaction_id?.StringValue;
  if (attribute) return attribute;
  try {
    const id = (JSON.parse(m.Body ?? "") as { transaction_id?: unknown }).transaction_id;
    if (typeof id === "string") return id;
  } catch {
    // Not JSON: shown by its start below.
  }
  return `(body: ${JSON.stringify((m.Body ?? "").slice(0, 60))})`;
}

async function depth(ctx: PaymentsContext, url: string): Promise<{ visible: number; inFlight: number }> {
  const out = await ctx.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** While a moved batch is being sent and deleted, the DLQ hides it for this long. */
const MOVE_VISIBILITY_SECONDS = 60;

/**
 * Moves messages from a queue's DLQ back to the queue (ReceiveMessage from the DLQ,
 * SendMessageBatch to the queue, DeleteMessageBatch from the DLQ for those sent), up to `max`.
 * A message whose send failed stays in the DLQ and comes back after 60 s. Without --yes it only
 * counts and shows the first messages (received with a visibility timeout of 0, so they stay).
 */
export async function redrive(ctx: PaymentsContext, options: RedriveOptions): Promise<OperationResult> {
  const naming = new Naming(ctx.config.environmentSuffix);
  const dlqName = naming.deadLetterQueue(options.queue);
  const queueName = naming.queue(options.queue);
  const [{ QueueUrl: dlqUrl }, { QueueUrl: queueUrl }] = await Promise.all([
    ctx.sqs.send(new GetQueueUrlCommand({ QueueName: dlqName })),
    ctx.sqs.send(new GetQueueUrlCommand({ QueueName: queueName })),
  ]);
  const before = await depth(ctx, dlqUrl!);
  const lines = [`${dlqName} (${where(ctx)}): about ${before.visible} message(s) waiting, ${before.inFlight} in flight.`];
  if (before.visible === 0 && before.inFlight === 0) return { exitCode: 0, lines: [...lines, "Nothing to redrive."] };

  if (!options.yes) {
    const peek = await ctx.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, options.max),
        VisibilityTimeout: 0,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
      }),
    );
    const shown = peek.Messages ?? [];
    return {
      exitCode: 1,
      lines: [
        ...lines,
        ...(shown.length > 0
          ? [
              "First messages:",
              ...table([
                ["message_id", "transaction", "first sent"],
                ...shown.map((m) => [
                  m.MessageId ?? "?",
                  transactionOf(m),
                  m.Attributes?.SentTimestamp ? new Date(Number(m.Attributes.SentTimestamp)).toISOString() : "?",
                ]),
              ]).map((l) => `  ${l}`),
            ]
          : []),
        `Dry run: would move up to ${options.max} message(s) from ${dlqName} back to ${queueName}. Fix what sent them there first, then run again with --yes.`,
      ],
    };
  }

  let moved = 0;
  const failures: string[] = [];
  while (moved + failures.length < options.max) {
    const received = await ctx.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, options.max - moved - failures.length),
        VisibilityTimeout: MOVE_VISIBILITY_SECONDS,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ["All"],
      }),
    );
    const batch = received.Messages ?? [];
    if (batch.length === 0) break;
    const sent = await ctx.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((m, n) => ({ Id: String(n), MessageBody: m.Body ?? "", MessageAttributes: resendable(m.MessageAttributes) })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((s) => Number(s.Id)));
    for (const f of sent.Failed ?? []) failures.push(`${batch[Number(f.Id)]?.MessageId}: ${f.Code ?? "Failed"} ${f.Message ?? ""}`.trim());
    const done = batch.filter((_, n) => ok.has(n));
    if (done.length > 0) {
      await ctx.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: dlqUrl,
          Entries: done.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
    moved += done.length;
    // Those that failed come back in the DLQ after the visibility timeout: do not spin on them now.
    if (done.length < batch.length) break;
  }
  const after = await depth(ctx, dlqUrl!);
  return {
    exitCode: failures.length > 0 ? 1 : 0,
    lines: [
      ...lines,
      `Moved ${moved} message(s) from ${dlqName} to ${queueName}; ${failures.length} failed.`,
      ...failures.map((f) => `  FAILED ${f}`),
      `${dlqName} now: about ${after.visible} waiting, ${after.inFlight} in flight.`,
    ],
    ...(failures.length > 0 ? { error: `${failures.length} message(s) could not be moved; they stay in ${dlqName}` } : {}),
  };
}
