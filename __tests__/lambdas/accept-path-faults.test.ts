/**
 * Ambiguous answers on the accept path, injected on the wire by a proxy in front of DynamoDB or
 * SQS (src/local/recording-proxy.ts): a call the service carried out whose answer is lost, a
 * call refused, an answer held past the caller's timeout. Each case runs the real gateway,
 * sweeper and processor against dynalite, fauxqs and a MariaDB ledger, and must end in exactly
 * one ledger entry, one notification and a GET that tells the truth.
 */
import * as path from "node:path";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { SweepSummary } from "../../lambdas/pending-sweeper";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { GATEWAY_SEND_TIMEOUT_MS } from "../../src/contracts/functions";
import { newApiKey } from "../../src/contracts/merchant-keys";
import { httpApiEvent, paymentBody } from "../../src/local/lambda-events";
import { type Fault, type RecordedRequest, type RecordingProxy, startRecordingProxy } from "../../src/local/recording-proxy";
import { getTransaction } from "../../src/local/seed";
import { type LedgerRegion, startLedgerRegion } from "../helpers/ledger-region";
import { type Invoke, loadHandler, parseBody } from "../helpers/load";
import { drainQueue, sleep } from "../helpers/observe";

const LAMBDAS = path.resolve(__dirname, "../../lambdas");
const GATEWAY = path.join(LAMBDAS, "payment-gateway/index.ts");
const PROCESSOR = path.join(LAMBDAS, "transaction-processor/index.ts");
const SWEEPER = path.join(LAMBDAS, "pending-sweeper/index.ts");

let region: LedgerRegion;
let authorization: string;
let processor: Invoke<SQSEvent, SQSBatchResponse>;
let sweeper: Invoke<unknown, SweepSummary>;
let gateway: Invoke<HttpEvent, HttpResult>;
const proxies: RecordingProxy[] = [];
let keySeq = 0;

beforeAll(async () => {
  // A short visibility timeout: a record failed for a side effect in progress comes back within a second.
  region = await startLedgerRegion({ prefix: "faults", visibilityTimeoutSeconds: 1 });
  const { key, item } = newApiKey("merchant-001", new Date());
  await DynamoDBDocumentClient.from(region.emu.clients.dynamodb).send(
    new PutCommand({ TableName: region.emu.resources.merchantKeysTable, Item: item }),
  );
  authorization = `Bearer ${key}`;
  processor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR);
  sweeper = loadHandler<unknown, SweepSummary>(SWEEPER);
  gateway = loadHandler<HttpEvent, HttpResult>(GATEWAY);
});

afterAll(() => region?.stop());

beforeEach(() => region.reset());

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});

/** A proxy in front of DynamoDB or SQS that injects `fault` into the calls it picks. */
async function faulty(service: "dynamodb" | "sqs", fault: (req: RecordedRequest) => Fault | undefined): Promise<RecordingProxy> {
  const target = service === "dynamodb" ? region.emu.dynamo.endpoint : region.emu.fauxqs.endpoint;
  const proxy = await startRecordingProxy(target, { fault });
  proxies.push(proxy);
  return proxy;
}

/** Fault on the first `times` calls of `operation` only. */
function first(operation: string, fault: Fault, times = 1): (req: RecordedRequest) => Fault | undefined {
  let seen = 0;
  return (req) => (req.operation === operation && seen++ < times ? fault : undefined);
}

/** A gateway whose DynamoDB and/or SQS calls go through the given proxies. */
function gatewayThrough(proxy: { dynamodb?: RecordingProxy; sqs?: RecordingProxy }): Invoke<HttpEvent, HttpResult> {
  return loadHandler<HttpEvent, HttpResult>(GATEWAY, {
    ...(proxy.dynamodb ? { AWS_ENDPOINT_URL_DYNAMODB: proxy.dynamodb.endpoint } : {}),
    ...(proxy.sqs ? { AWS_ENDPOINT_URL_SQS: proxy.sqs.endpoint } : {}),
  });
}

function post(handler: Invoke<HttpEvent, HttpResult>, idempotencyKey: string, body = paymentBody()) {
  return handler(
    httpApiEvent({
      method: "POST",
      path: "/transactions",
      headers: { authorization, "content-type": "application/json", "idempotency-key": idempotencyKey },
      body: JSON.stringify(body),
    }),
  ) as Promise<{ statusCode: number; body: string }>;
}

const newKey = () => `fault-${Date.now().toString(36)}-${keySeq++}`;

/** Runs the processor over the transaction queue until it is empty (a failed record returns after its visibility timeout). */
async function processAll(): Promise<number> {
  const { sqs } = region.emu.clients;
  let handled = 0;
  for (let round = 0; round < 10; round++) {
    const { messages } = await drainQueue(sqs, region.emu.resources.transactionQueueUrl, processor, { max: 50, polls: 5 });
    handled += messages.length;
    const left = await region.emu.fauxqs.inspectQueue(region.emu.resources.names.transactionQueue);
    if (left && left.ready + left.inflight + left.delayed === 0) return handled;
    await sleep(1100);
  }
  throw new Error("the transaction queue never drained");
}

/** Moves a RECEIVED payment's acceptance back past the sweeper's age (120 s as deployed). */
async function ageForSweeper(id: string): Promise<void> {
  const then = new Date(Date.now() - 200_000).toISOString();
  await region.emu.clients.dynamodb.send(
    new UpdateItemCommand({
      TableName: region.emu.resources.transactionsTable,
      Key: { transaction_id: { S: id } },
      UpdateExpression: "SET created_at = :t, pending_since = :t",
      ExpressionAttributeValues: { ":t": { S: then } },
    }),
  );
}

async function queued(name: "transactionQueue" | "notificationQueue" | "transactionDlq"): Promise<number> {
  const q = await region.emu.fauxqs.inspectQueue(region.emu.resources.names[name]);
  return q ? q.ready + q.inflight + q.delayed : -1;
}

/** The end every case must reach: one entry, one notification, a GET that says posted, nothing left over. */
async function expectPostedOnce(id: string): Promise<void> {
  const [rows] = await region.root.query(
    `SELECT e.outcome, (SELECT COUNT(*) FROM postings p WHERE p.entry_id = e.id) AS legs FROM journal_entries e WHERE e.transaction_id = ?`,
    [id],
  );
  expect((rows as Array<{ outcome: string; legs: number | string }>).map((r) => [r.outcome, Number(r.legs)])).toEqual([["POSTED", 2]]);
  expect(await queued("notificationQueue")).toBe(1);
  expect(await queued("transactionDlq")).toBe(0);
  const res = (await gateway(httpApiEvent({ method: "GET", path: `/transactions/${id}`, headers: { authorization } }))) as {
    statusCode: number;
  };
  expect(res.statusCode).toBe(200);
  expect(parseBody(res)).toMatchObject({ transaction_id: id, status: "PROCESSED", posted: true });
  // Nothing left for the sweeper: the payment is out of the pending index.
  expect(await sweeper(undefined)).toMatchObject({ pending: 0, swept: 0 });
}

describe("the gateway's send after the commit point", () => {
  test("SendMessage carried out but every answer lost: 202 with the id; the extra copies post nothing twice", async () => {
    const sqs = await faulty("sqs", (r) => (r.operation === "SendMessage" ? "lose" : undefined));
    const res = await post(gatewayThrough({ sqs }), newKey());
    expect(res.statusCode).toBe(202);
    const id = String(parseBody(res).transaction_id);
    // The SDK tried twice and SQS took both: two messages for one payment.
    expect(sqs.requests.map((r) => r.operation)).toEqual(["SendMessage", "SendMessage"]);
    expect(await queued("transactionQueue")).toBe(2);
    expect(await processAll()).toBeGreaterThanOrEqual(2);
    await expectPostedOnce(id);
  });

  test("SendMessage refused: 202 with the id, the item stays RECEIVED, and the sweeper relays it past its age", async () => {
    const sqs = await faulty("sqs", (r) => (r.operation === "SendMessage" ? "refuse" : undefined));
    const res = await post(gatewayThrough({ sqs }), newKey());
    expect(res.statusCode).toBe(202);
    const id = String(parseBody(res).transaction_id);
    expect(await queued("transactionQueue")).toBe(0);
    expect(await getTransaction(region.emu.clients.dynamodb, region.emu.resources.transactionsTable, id)).toMatchObject({
      status: "RECEIVED",
    });
    // Younger than the sweeper's age: the request that wrote it may still be sending.
    expect(await sweeper(undefined)).toMatchObject({ swept: 0 });
    await ageForSweeper(id);
    expect(await sweeper(undefined)).toMatchObject({ swept: 1, failed: 0 });
    expect(await processAll()).toBe(1);
    await expectPostedOnce(id);
  });

  test(`SendMessage unanswered: 202 after the gateway's send timeout (${GATEWAY_SEND_TIMEOUT_MS} ms); the late message posts once`, async () => {
    const sqs = await faulty("sqs", first("SendMessage", "hold"));
    const started = Date.now();
    const res = await post(gatewayThrough({ sqs }), newKey());
    const waited = Date.now() - started;
    expect(res.statusCode).toBe(202);
    expect(waited).toBeGreaterThanOrEqual(GATEWAY_SEND_TIMEOUT_MS - 50);
    const id = String(parseBody(res).transaction_id);
    expect(sqs.held).toBe(1);
    sqs.release();
    expect(await processAll()).toBe(1);
    await expectPostedOnce(id);
  });
});

describe("the gateway's PutItem (the commit point)", () => {
  test("PutItem carried out, its answer lost: the SDK's retry meets its own write (accept_token), 202, one message", async () => {
    const dynamodb = await faulty("dynamodb", first("PutItem", "lose"));
    const key = newKey();
    const res = await post(gatewayThrough({ dynamodb }), key);
    expect(res.statusCode).toBe(202);
    expect(parseBody(res)).toMatchObject({ status: "RECEIVED" });
    const id = String(parseBody(res).transaction_id);
    expect(dynamodb.requests.filter((r) => r.operation === "PutItem")).toHaveLength(2);
    expect(await queued("transactionQueue")).toBe(1);
    expect(await processAll()).toBe(1);
    await expectPostedOnce(id);
  });

  test("PutItem carried out, every answer lost: 503, and the client's retry with the same key learns the id; the sweeper relays it", async () => {
    const dynamodb = await faulty("dynamodb", (r) => (r.operation === "PutItem" ? "lose" : undefined));
    const key = newKey();
    const lost = await post(gatewayThrough({ dynamodb }), key);
    expect(lost.statusCode).toBe(503);
    expect(parseBody(lost)).toMatchObject({ error: "ServiceUnavailable", message: expect.stringMatching(/same Idempotency-Key/) });
    expect(await queued("transactionQueue")).toBe(0);

    const retry = await post(gateway, key);
    expect(retry.statusCode).toBe(202);
    const id = String(parseBody(retry).transaction_id);
    expect(await queued("transactionQueue")).toBe(0);
    await ageForSweeper(id);
    expect(await sweeper(undefined)).toMatchObject({ swept: 1 });
    expect(await processAll()).toBe(1);
    await expectPostedOnce(id);
  });
});

describe("the sweeper's mark", () => {
  test("the mark carried out, its answer lost: the retry meets its own sweep_token and sends now, not an hour later", async () => {
    const sqs = await faulty("sqs", (r) => (r.operation === "SendMessage" ? "refuse" : undefined));
    const id = String(parseBody(await post(gatewayThrough({ sqs }), newKey())).transaction_id);
    await ageForSweeper(id);
    const dynamodb = await faulty("dynamodb", first("UpdateItem", "lose"));
    const sweepThrough = loadHandler<unknown, SweepSummary>(SWEEPER, { AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint });
    expect(await sweepThrough(undefined)).toMatchObject({ eligible: 1, swept: 1, skipped: 0, failed: 0 });
    expect(dynamodb.requests.filter((r) => r.operation === "UpdateItem")).toHaveLength(2);
    expect(await queued("transactionQueue")).toBe(1);
    // Another run is still held off by the re-sweep guard: the token lets only the same attempt through.
    expect(await sweeper(undefined)).toMatchObject({ eligible: 1, swept: 0, skipped: 1 });
    expect(await processAll()).toBe(1);
    await expectPostedOnce(id);
  });
});
