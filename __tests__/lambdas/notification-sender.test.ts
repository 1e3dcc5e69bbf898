import * as path from "node:path";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { applyEnv, type Emulators, startEmulators } from "../../src/local/emulators";
import { sqsEvent, sqsRecord } from "../../src/local/lambda-events";
import { type Invoke, loadHandler } from "../helpers/load";
import { receiveMessages } from "../helpers/observe";

const SENDER = path.resolve(__dirname, "../../lambdas/notification-sender/index.ts");

let emu: Emulators;
let restoreEnv: () => void;
let sender: Invoke<SQSEvent, SQSBatchResponse>;

beforeAll(async () => {
  emu = await startEmulators({ prefix: "notify" });
  restoreEnv = applyEnv(emu.baseEnv);
  sender = loadHandler<SQSEvent, SQSBatchResponse>(SENDER);
});

afterAll(async () => {
  restoreEnv?.();
  await emu?.stop();
});

beforeEach(() => emu.fauxqs.reset());

const notification = (overrides: Record<string, unknown> = {}) => ({
  type: "transaction.status_changed",
  transaction_id: "0f8fad5b-d9cb-869f-a165-70867728950e",
  merchant_id: "merchant-001",
  customer_id: "customer-042",
  status: "PROCESSED",
  amount: 1000,
  currency: "SGD",
  occurred_at: new Date().toISOString(),
  ...overrides,
});

test("publishes each notification to the SNS topic with a subject and message attributes", async () => {
  const res = await sender(
    sqsEvent([
      sqsRecord(JSON.stringify(notification())),
      sqsRecord(
        JSON.stringify(
          notification({ transaction_id: "1f8fad5b-d9cb-869f-a165-70867728950e", status: "FAILED", failure_reason: "RISK_LIMIT_EXCEEDED" }),
        ),
      ),
    ]),
  );
  expect(res.batchItemFailures).toEqual([]);
  const received = await receiveMessages(emu.clients.sqs, emu.resources.observerQueueUrl, 10);
  expect(received).toHaveLength(2);
  const envelopes = received.map(
    (m) =>
      JSON.parse(m.Body!) as { Type: string; Subject?: string; Message: string; MessageAttributes?: Record<string, { Value: string }> },
  );
  const failed = envelopes.find((e) => JSON.parse(e.Message).status === "FAILED")!;
  expect(failed.Type).toBe("Notification");
  expect(failed.Subject).toBe("Payment 1f8fad5b-d9cb-869f-a165-70867728950e failed");
  expect(JSON.parse(failed.Message)).toMatchObject({ failure_reason: "RISK_LIMIT_EXCEEDED", amount: 1000 });
  expect(failed.MessageAttributes?.status?.Value).toBe("FAILED");
  expect(failed.MessageAttributes?.event_type?.Value).toBe("transaction.status_changed");
});

test("an invalid notification fails only its own record", async () => {
  const res = await sender(
    sqsEvent([
      sqsRecord("garbage", { messageId: "bad-json" }),
      sqsRecord(JSON.stringify(notification({ status: "UNKNOWN" })), { messageId: "bad-status" }),
      sqsRecord(JSON.stringify(notification()), { messageId: "good" }),
    ]),
  );
  expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["bad-json", "bad-status"]);
  expect(await receiveMessages(emu.clients.sqs, emu.resources.observerQueueUrl, 10)).toHaveLength(1);
});

test("SNS unavailable (unknown topic): every record is reported failed so SQS retries them", async () => {
  const broken = loadHandler<SQSEvent, SQSBatchResponse>(SENDER, {
    NOTIFICATION_TOPIC_ARN: `${emu.resources.notificationTopicArn}-missing`,
  });
  const res = await broken(sqsEvent([sqsRecord(JSON.stringify(notification()), { messageId: "n1" })]));
  expect(res.batchItemFailures).toEqual([{ itemIdentifier: "n1" }]);
  expect(await receiveMessages(emu.clients.sqs, emu.resources.observerQueueUrl, 10, 1)).toHaveLength(0);
});

test("a missing NOTIFICATION_TOPIC_ARN is a clear configuration error", async () => {
  const unconfigured = loadHandler<SQSEvent, SQSBatchResponse>(SENDER, { NOTIFICATION_TOPIC_ARN: undefined });
  const res = await unconfigured(sqsEvent([sqsRecord(JSON.stringify(notification()), { messageId: "n2" })]));
  expect(res.batchItemFailures).toEqual([{ itemIdentifier: "n2" }]);
  const { requireEnv } = jest.requireActual<typeof import("../../lambdas/shared/env")>("../../lambdas/shared/env");
  const saved = process.env.NOTIFICATION_TOPIC_ARN;
  delete process.env.NOTIFICATION_TOPIC_ARN;
  try {
    expect(() => requireEnv("NOTIFICATION_TOPIC_ARN")).toThrow("Missing environment variable NOTIFICATION_TOPIC_ARN");
  } finally {
    process.env.NOTIFICATION_TOPIC_ARN = saved;
  }
});
