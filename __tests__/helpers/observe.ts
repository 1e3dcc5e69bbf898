/** Reads what the handlers produced: queue messages, S3 log lines. No jest import. */

import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";

/** Receives up to `max` messages (several polls, no long polling). */
export async function receiveMessages(sqs: SQSClient, queueUrl: string, max = 10, polls = 3): Promise<Message[]> {
  const all: Message[] = [];
  for (let i = 0; i < polls && all.length < max; i++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, max - all.length),
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
      }),
    );
    all.push(...(out.Messages ?? []));
    if (!out.Messages?.length) break;
  }
  return all;
}

export async function deleteMessages(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}

/** Converts received SQS messages into the event the Lambda event source mapping would send. */
export function toSqsEvent(messages: Message[], queueArn = "arn:aws:sqs:ap-southeast-1:000000000000:queue"): SQSEvent {
  const records: SQSRecord[] = messages.map((m) => ({
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
      SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: m.Attributes?.SenderId ?? "000000000000",
      ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: "ap-southeast-1",
  }));
  return { Records: records };
}

export interface LogObject {
  key: string;
  serverSideEncryption?: string;
  lines: Array<Record<string, unknown>>;
}

export async function readLogObjects(s3: S3Client, bucket: string, prefix = "transactions/"): Promise<LogObject[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const objects: LogObject[] = [];
  for (const o of listed.Contents ?? []) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
    const text = (await got.Body?.transformToString()) ?? "";
    objects.push({
      key: o.Key!,
      serverSideEncryption: got.ServerSideEncryption,
      lines: text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    });
  }
  return objects;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * What the Lambda event source mapping does with a queue: receives (up to `max`, in `polls`),
 * hands the messages to the handler 10 at a time, deletes what it did not report as failed.
 */
export async function drainQueue(
  sqs: SQSClient,
  queueUrl: string,
  handler: (event: SQSEvent) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>,
  options: { max?: number; polls?: number } = {},
): Promise<{ messages: Message[]; failed: number }> {
  const messages = await receiveMessages(sqs, queueUrl, options.max ?? 10, options.polls ?? 3);
  let failed = 0;
  for (let i = 0; i < messages.length; i += 10) {
    const batch = messages.slice(i, i + 10);
    const failures = new Set((await handler(toSqsEvent(batch))).batchItemFailures.map((f) => f.itemIdentifier));
    failed += failures.size;
    await deleteMessages(
      sqs,
      queueUrl,
      batch.filter((m) => !failures.has(m.MessageId!)),
    );
  }
  return { messages, failed };
}
