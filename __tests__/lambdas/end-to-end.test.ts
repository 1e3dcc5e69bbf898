import * as path from "node:path";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { transactionIdFor } from "../../lambdas/shared/ids";
import { applyEnv, type Emulators, startEmulators } from "../../src/local/emulators";
import { httpApiEvent, paymentBody } from "../../src/local/lambda-events";
import { type LocalLedger, startLocalLedger } from "../../src/local/ledger";
import { issueKey } from "../../src/ops/keys/operations";
import { loadHandler, parseBody } from "../helpers/load";
import { drainQueue, readLogObjects, receiveMessages } from "../helpers/observe";

const root = path.resolve(__dirname, "../../lambdas");

let emu: Emulators;
let ledger: LocalLedger;
let restoreEnv: () => void;

beforeAll(async () => {
  ledger = await startLocalLedger();
  emu = await startEmulators({ prefix: "e2e", ledger });
  restoreEnv = applyEnv(emu.baseEnv);
});

afterAll(async () => {
  restoreEnv?.();
  await emu?.stop();
  await ledger?.stop();
});

/** One poll of a queue into a handler, deleting what succeeded (like the event source mapping). */
async function drain(queueUrl: string, handler: (e: SQSEvent) => Promise<SQSBatchResponse>): Promise<number> {
  const { messages, failed } = await drainQueue(emu.clients.sqs, queueUrl, handler);
  return messages.length - failed;
}

test("key issued -> POST -> queue -> processor -> PROCESSED -> notification queue -> sender -> SNS -> subscriber, logged in S3", async () => {
  const issued = await issueKey(
    { dynamodb: emu.clients.dynamodb, table: emu.resources.merchantKeysTable, region: emu.region, cacheTtlSeconds: 60 },
    { merchantId: "merchant-001", yes: true },
  );
  const authorization = `Bearer ${issued.key}`;
  const gateway = loadHandler<HttpEvent, HttpResult>(path.join(root, "payment-gateway/index.ts"));
  const processor = loadHandler<SQSEvent, SQSBatchResponse>(path.join(root, "transaction-processor/index.ts"));
  const sender = loadHandler<SQSEvent, SQSBatchResponse>(path.join(root, "notification-sender/index.ts"));

  const pending = await gateway(
    httpApiEvent({ method: "GET", path: `/transactions/${transactionIdFor("merchant-001", "e2e-key-0001")}`, headers: { authorization } }),
  );
  expect(pending.statusCode).toBe(404);

  const accepted = await gateway(
    httpApiEvent({
      method: "POST",
      path: "/transactions",
      headers: { authorization, "content-type": "application/json", "idempotency-key": "e2e-key-0001" },
      body: JSON.stringify(paymentBody({ amount: 4200, currency: "AUD" })),
    }),
  );
  expect(accepted.statusCode).toBe(202);
  const id = String(parseBody(accepted).transaction_id);

  const received = await gateway(httpApiEvent({ method: "GET", path: `/transactions/${id}`, headers: { authorization } }));
  expect(parseBody(received)).toMatchObject({ status: "RECEIVED", posted: false });
  expect(parseBody(received)).not.toHaveProperty("posted_at");

  expect(await drain(emu.resources.transactionQueueUrl, processor)).toBe(1);
  expect(await drain(emu.resources.notificationQueueUrl, sender)).toBe(1);

  const delivered = await receiveMessages(emu.clients.sqs, emu.resources.observerQueueUrl, 10);
  expect(delivered).toHaveLength(1);
  const envelope = JSON.parse(delivered[0]!.Body!) as { TopicArn: string; Message: string };
  expect(envelope.TopicArn).toBe(emu.resources.notificationTopicArn);
  expect(JSON.parse(envelope.Message)).toMatchObject({ transaction_id: id, status: "PROCESSED", amount: 4200, currency: "AUD" });

  const objects = await readLogObjects(emu.clients.s3, emu.resources.logBucket);
  const lines = objects.flatMap((o) => o.lines);
  expect(lines).toEqual([expect.objectContaining({ transaction_id: id, status: "PROCESSED", amount: 4200 })]);

  const status = await gateway(httpApiEvent({ method: "GET", path: `/transactions/${id}`, headers: { authorization } }));
  expect(status.statusCode).toBe(200);
  // Posted in the ledger, and when: the item is the ledger's projection.
  expect(parseBody(status)).toMatchObject({
    transaction_id: id,
    status: "PROCESSED",
    posted: true,
    posted_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  });
  const balances = loadHandler<HttpEvent, HttpResult>(path.join(root, "payment-balances/index.ts"));
  const balance = await balances(httpApiEvent({ method: "GET", path: "/balances", headers: { authorization } }));
  expect(parseBody(balance)).toEqual({ merchant_id: "merchant-001", balances: [{ currency: "AUD", balance: 4200, postings: 1 }] });

  // Nothing left anywhere.
  for (const name of [emu.resources.names.transactionQueue, emu.resources.names.notificationQueue, emu.resources.names.transactionDlq]) {
    expect(await emu.fauxqs.inspectQueue(name)).toEqual({ ready: 0, delayed: 0, inflight: 0 });
  }
});
