/**
 * notification-sender: drains the notification queue (SQS, partial batch responses) to the
 * SNS topic. A message that is not a valid notification fails only its own record (and ends
 * up in the notification DLQ after the queue's maxReceiveCount).
 */

import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { PublishCommand } from "@aws-sdk/client-sns";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { ENV } from "../../src/contracts/functions";
import { sns } from "../shared/clients";
import { once, requireEnv } from "../shared/env";
import { instrumented, logger } from "../shared/runtime";
import { type NotificationMessage, notificationMessageSchema, parseRecord } from "../shared/schemas";

const config = once(() => ({ topicArn: requireEnv(ENV.notificationTopicArn) }));

function parse(record: SQSRecord): NotificationMessage {
  return parseRecord(record, notificationMessageSchema(), "notification", (message) => new Error(message));
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
