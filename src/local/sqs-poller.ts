/**
 * A local stand-in for a Lambda SQS event source mapping with ReportBatchItemFailures:
 * ReceiveMessage (up to 10, long poll 1 s, like batchSize 10 and a 1 s batching window) ->
 * handler -> DeleteMessage for every record that is not in batchItemFailures. Failed records are
 * left alone, so they become visible again after the visibility timeout and reach the DLQ after
 * the queue's maxReceiveCount, as in AWS. A handler that throws, times out or returns an
 * unusable response fails the whole batch (nothing deleted), as in AWS.
 *
 * One batch at a time per receive loop (`concurrency` loops, default 1); errors from the queue
 * itself are logged and retried after a pause.
 */

import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from "aws-lambda";

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  /** Function name, for logs and the invocation context. */
  functionName: string;
  sqs: SQSClient;
  queueUrl: string;
  region: string;
  handler: SqsHandler;
  /** The function's timeout: a batch still running after this counts as failed. */
  timeoutMs: number;
  makeContext: (functionName: string, timeoutMs: number) => Context;
  log: (line: string) => void;
  batchSize?: number;
  waitTimeSeconds?: number;
  /** Pause after a queue error before polling again. */
  errorBackoffMs?: number;
  /** Batches handled at once, each by its own receive loop (Lambda's concurrent invocations of the mapping). @default 1 */
  concurrency?: number;
}

export interface PollerStats {
  batches: number;
  succeeded: number;
  failed: number;
}

export interface QueuePoller {
  readonly stats: PollerStats;
  /** Stops polling: aborts the pending receive, lets the running batch finish (and its deletes). */
  stop(): Promise<void>;
}

function toRecord(m: Message, queueArn: string, region: string): SQSRecord {
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, a] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: a.DataType ?? "String",
      ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
      ...(a.BinaryValue !== undefined ? { binaryValue: Buffer.from(a.BinaryValue).toString("base64") } : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  const now = String(Date.now());
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
      SentTimestamp: m.Attributes?.SentTimestamp ?? now,
      SenderId: m.Attributes?.SenderId ?? "000000000000",
      ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? now,
    },
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/** Resolves to the handler's result, or rejects after `ms` (the handler keeps running, as a timed-out Lambda would be killed). */
function withTimeout<T>(run: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
}

/** The message ids to keep (not delete), or "all" when the response does not allow partial success. */
function failedIds(response: unknown, batch: Set<string>): Set<string> | "all" {
  if (response === undefined || response === null) return new Set();
  const failures = (response as Partial<SQSBatchResponse>).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return "all";
  const ids = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown })?.itemIdentifier;
    // AWS treats an empty or unknown identifier as a failure of the whole batch.
    if (typeof id !== "string" || !batch.has(id)) return "all";
    ids.add(id);
  }
  return ids;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export async function startQueuePoller(options: PollerOptions): Promise<QueuePoller> {
  const { sqs, queueUrl, functionName, log } = options;
  const batchSize = options.batchSize ?? 10;
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  const errorBackoffMs = options.errorBackoffMs ?? 1000;
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  const queueArn = attrs.Attributes?.QueueArn ?? queueUrl;
  const queueName = queueArn.split(":").pop();
  const stats: PollerStats = { batches: 0, succeeded: 0, failed: 0 };
  const abort = new AbortController();

  const runBatch = async (messages: Message[]): Promise<void> => {
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, queueArn, options.region)) };
    const ids = new Set(event.Records.map((r) => r.messageId));
    let keep: Set<string> | "all";
    let note = "";
    try {
      const response = await withTimeout(
        options.handler(event, options.makeContext(functionName, options.timeoutMs)),
        options.timeoutMs,
        functionName,
      );
      keep = failedIds(response, ids);
      if (keep === "all") note = " (invalid batchItemFailures: whole batch failed)";
    } catch (err) {
      keep = "all";
      note = ` (${functionName} threw: ${err instanceof Error ? err.message : String(err)})`;
    }
    const done = keep === "all" ? [] : messages.filter((m) => !keep.has(m.MessageId!));
    const failed = messages.length - done.length;
    let deleteErrors = 0;
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      try {
        const out = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
        deleteErrors += out.Failed?.length ?? 0;
      } catch (err) {
        deleteErrors += chunk.length;
        log(`[${functionName}] DeleteMessageBatch failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    stats.batches += 1;
    stats.succeeded += done.length;
    stats.failed += failed;
    log(
      `[${functionName}] ${queueName}: batch of ${messages.length}, ${done.length} done` +
        (failed ? `, ${failed} failed (left for redelivery)` : "") +
        (deleteErrors ? `, ${deleteErrors} not deleted` : "") +
        note,
    );
  };

  const loop = async () => {
    while (!abort.signal.aborted) {
      let messages: Message[];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: abort.signal },
        );
        messages = out.Messages ?? [];
      } catch (err) {
        if (abort.signal.aborted) break;
        log(`[${functionName}] ReceiveMessage on ${queueName} failed: ${err instanceof Error ? err.message : String(err)}; retrying`);
        await abortableSleep(errorBackoffMs, abort.signal);
        continue;
      }
      // A batch received is always handed over and settled, even while stopping.
      if (messages.length > 0) await runBatch(messages);
    }
  };
  const loops = Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, loop));

  return {
    stats,
    stop: async () => {
      abort.abort();
      await loops;
    },
  };
}
