/**
 * notification-sender: drains the notification queue (SQS, partial batch responses) to the
 * SNS topic. A message that is not a valid notification fails only its own record (and ends
 * up in the notification DLQ after the queue's maxReceiveCount).
 */
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { PublishCommand } from "@aws-sdk/client-sns";
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { ENV } from "../../src/contracts/functions";
import { sns } from "../shared/clients";
import { once, requireEnv } from "../shared/env";
import { instrumented, logger } from "../shared/runtime";
import { notificationMessageSchema, type NotificationMessage } from "../shared/schemas";

const config = once(() => ({ topicArn: requireEnv(ENV.notificationTopicArn) }));

function parse(record: SQSRecord): NotificationMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(record.body);
  } catch {
    throw new Error(`notification ${record.messageId} is not JSON`);
  }
  const parsed = notificationMessageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`notification ${record.messageId} is invalid: ${issue?.path.join(".")} ${issue?.message}`);
  }
  return parsed.data;
}

export function subjectFor(n: NotificationMessage): string {
  // SNS subjects: ASCII, no line breaks, < 100 characters.
  return n.status === "PROCESSED" ? `Payment ${n.transaction_id} processed` : `Payment ${n.transaction_id} failed`;
}

async function publish(record: SQSRecord): Promise<void> {
  const notification = parse(record);
  const out = await sns().send(
    new PublishCommand({
      TopicArn: config().topicArn,
      Subject: subjectFor(notification),
      Message: JSON.stringify(notification),
      MessageAttributes: {
        event_type: { DataType: "String", StringValue: notification.type },
        status: { DataType: "String", StringValue: notification.status },
        merchant_id: { DataType: "String", StringValue: notification.merchant_id },
        currency: { DataType: "String", StringValue: notification.currency },
      },
    }),
  );
  logger.info("notification published", {
    transaction_id: notification.transaction_id,
    status: notification.status,
    sns_message_id: out.MessageId,
  });
}

const processor = new BatchProcessor(EventType.SQS);

export const handler = instrumented(
  async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
    processPartialResponse(event, publish, processor, { context, throwOnFullBatchFailure: false }),
);
