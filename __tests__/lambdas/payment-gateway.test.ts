import * as path from "node:path";
import { GetItemCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { ALBResult, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { applyEnv, clearTable, type Emulators, startEmulators } from "../../src/local/emulators";
import { albEvent, httpApiEvent, paymentBody } from "../../src/local/lambda-events";
import { type Invoke, loadHandler, parseBody } from "../helpers/load";

const GATEWAY = path.resolve(__dirname, "../../lambdas/payment-gateway/index.ts");
type Result = APIGatewayProxyStructuredResultV2 & ALBResult;

let emu: Emulators;
let restoreEnv: () => void;
let gateway: Invoke<HttpEvent, HttpResult>;
let keySeq = 0;
const newKey = () => `key-${Date.now().toString(36)}-${(keySeq++).toString().padStart(4, "0")}`;

beforeAll(async () => {
  emu = await startEmulators({ prefix: "gw" });
  restoreEnv = applyEnv({ ...emu.baseEnv, MAX_AMOUNT_MINOR: "1000000", MAX_BODY_BYTES: "4096", CORS_ALLOW_ORIGIN: "https://shop.example" });
  gateway = loadHandler<HttpEvent, HttpResult>(GATEWAY);
});

afterAll(async () => {
  restoreEnv?.();
  await emu?.stop();
});

beforeEach(async () => {
  await emu.fauxqs.reset();
  await Promise.all([
    clearTable(emu.clients.dynamodb, emu.resources.transactionsTable, "transaction_id"),
    clearTable(emu.clients.dynamodb, emu.resources.idempotencyTable, "id"),
  ]);
});

function post(body: unknown, headers: Record<string, string> = {}, raw?: string): Promise<Result> {
  return gateway(
    httpApiEvent({
      method: "POST",
      path: "/transactions",
      headers: { "content-type": "application/json", "idempotency-key": newKey(), ...headers },
      body: raw ?? JSON.stringify(body),
    }),
  ) as Promise<Result>;
}

async function transactionCount(): Promise<number> {
  const out = await emu.clients.dynamodb.send(new ScanCommand({ TableName: emu.resources.transactionsTable, Select: "COUNT" }));
  return out.Count ?? 0;
}

async function queuedCount(): Promise<number> {
  const q = await emu.fauxqs.inspectQueue(emu.resources.names.transactionQueue);
  return q ? q.ready + q.inflight + q.delayed : -1;
}

async function receiveAll(queueUrl: string) {
  const out = await emu.clients.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ["All"] }),
  );
  return out.Messages ?? [];
}

describe("POST /transactions", () => {
  test("accepts a valid payment: 202, RECEIVED item, exactly one queued message", async () => {
    const key = newKey();
    const res = await post(paymentBody(), { "Idempotency-Key": key });
    expect(res.statusCode).toBe(202);
    const body = parseBody(res);
    expect(body.status).toBe("RECEIVED");
    expect(body.transaction_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.headers?.["access-control-allow-origin"]).toBe("https://shop.example");

    const item = await emu.clients.dynamodb.send(
      new GetItemCommand({ TableName: emu.resources.transactionsTable, Key: { transaction_id: { S: String(body.transaction_id) } } }),
    );
    expect(item.Item?.status?.S).toBe("RECEIVED");
    expect(item.Item?.idempotency_key?.S).toBe(key);
    expect(item.Item?.amount?.N).toBe("12345");
    expect(item.Item?.metadata?.M?.order_id?.S).toBe("A-1");
    expect(item.Item?.created_at?.S).toMatch(/^\d{4}-\d\d-\d\dT/);

    const messages = await receiveAll(emu.resources.transactionQueueUrl);
    expect(messages).toHaveLength(1);
    const msg = JSON.parse(messages[0]!.Body!);
    expect(msg).toMatchObject({ transaction_id: body.transaction_id, amount: 12345, currency: "SGD", status: "RECEIVED" });
    expect(messages[0]!.MessageAttributes?.transaction_id?.StringValue).toBe(body.transaction_id);
  });

  test("accepts a base64-encoded body and a content type with charset", async () => {
    const res = (await gateway(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": newKey() },
        body: JSON.stringify(paymentBody()),
        base64: true,
      }),
    )) as Result;
    expect(res.statusCode).toBe(202);
    expect(await queuedCount()).toBe(1);
  });

  test("the same key again returns the same transaction id and enqueues nothing new", async () => {
    const key = newKey();
    const first = await post(paymentBody(), { "idempotency-key": key });
    const second = await post(paymentBody(), { "IDEMPOTENCY-KEY": key });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(parseBody(second).transaction_id).toBe(parseBody(first).transaction_id);
    expect(await transactionCount()).toBe(1);
    expect(await queuedCount()).toBe(1);
  });

  test("concurrent duplicates with one key: one transaction, one message, no second id", async () => {
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 5 }, () => post(paymentBody(), { "idempotency-key": key })));
    const statuses = results.map((r) => r.statusCode);
    for (const s of statuses) expect([202, 409]).toContain(s);
    expect(statuses).toContain(202);
    const ids = new Set(results.filter((r) => r.statusCode === 202).map((r) => parseBody(r).transaction_id));
    expect(ids.size).toBe(1);
    for (const r of results.filter((x) => x.statusCode === 409)) {
      expect(parseBody(r)).toMatchObject({ error: "RequestInProgress" });
    }
    expect(await transactionCount()).toBe(1);
    expect(await queuedCount()).toBe(1);
  });

  test("the same key with a different body is refused with 422 and queues nothing more", async () => {
    const key = newKey();
    expect((await post(paymentBody(), { "idempotency-key": key })).statusCode).toBe(202);
    const res = await post(paymentBody({ amount: 999 }), { "idempotency-key": key });
    expect(res.statusCode).toBe(422);
    expect(parseBody(res).error).toBe("IdempotencyKeyReused");
    expect(await transactionCount()).toBe(1);
    expect(await queuedCount()).toBe(1);
  });

  test("the same key from another merchant is a different transaction", async () => {
    const key = newKey();
    const a = await post(paymentBody(), { "idempotency-key": key });
    const b = await post(paymentBody({ merchant_id: "merchant-002" }), { "idempotency-key": key });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(parseBody(a).transaction_id).not.toBe(parseBody(b).transaction_id);
    expect(await queuedCount()).toBe(2);
  });

  const longString = "x".repeat(65);
  const invalid: Array<[string, { body?: unknown; raw?: string; headers?: Record<string, string> }, number, string | undefined, string]> = [
    ["malformed JSON", { raw: '{"amount": 1,' }, 400, undefined, "InvalidJson"],
    ["empty body", { raw: "" }, 400, undefined, "InvalidJson"],
    ["a JSON array", { body: [paymentBody()] }, 400, undefined, "ValidationError"],
    ["amount as a string", { body: paymentBody({ amount: "100" }) }, 400, "amount", "ValidationError"],
    ["amount 0", { body: paymentBody({ amount: 0 }) }, 400, "amount", "ValidationError"],
    ["negative amount", { body: paymentBody({ amount: -5 }) }, 400, "amount", "ValidationError"],
    ["fractional amount", { body: paymentBody({ amount: 10.5 }) }, 400, "amount", "ValidationError"],
    ["amount over the maximum", { body: paymentBody({ amount: 1_000_001 }) }, 400, "amount", "ValidationError"],
    ["missing amount", { body: paymentBody({ amount: undefined }) }, 400, "amount", "ValidationError"],
    ["unknown currency", { body: paymentBody({ currency: "XYZ" }) }, 400, "currency", "ValidationError"],
    ["lower-case currency", { body: paymentBody({ currency: "sgd" }) }, 400, "currency", "ValidationError"],
    ["currency as a number", { body: paymentBody({ currency: 702 }) }, 400, "currency", "ValidationError"],
    ["missing currency", { body: paymentBody({ currency: undefined }) }, 400, "currency", "ValidationError"],
    ["missing merchant_id", { body: paymentBody({ merchant_id: undefined }) }, 400, "merchant_id", "ValidationError"],
    ["empty merchant_id", { body: paymentBody({ merchant_id: "" }) }, 400, "merchant_id", "ValidationError"],
    ["missing customer_id", { body: paymentBody({ customer_id: undefined }) }, 400, "customer_id", "ValidationError"],
    ["customer_id with spaces", { body: paymentBody({ customer_id: "a b" }) }, 400, "customer_id", "ValidationError"],
    ["missing session_id", { body: paymentBody({ session_id: undefined }) }, 400, "session_id", "ValidationError"],
    ["session_id too long", { body: paymentBody({ session_id: longString }) }, 400, "session_id", "ValidationError"],
    ["session_id as a number", { body: paymentBody({ session_id: 7 }) }, 400, "session_id", "ValidationError"],
    ["an extra field", { body: paymentBody({ card_number: "4111111111111111" }) }, 400, "card_number", "ValidationError"],
    ["non-string metadata value", { body: paymentBody({ metadata: { a: 1 } }) }, 400, "metadata.a", "ValidationError"],
    [
      "metadata that is too big",
      { body: paymentBody({ metadata: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, "v".repeat(300)])) }) },
      400,
      "metadata",
      "ValidationError",
    ],
    ["oversized body", { raw: JSON.stringify(paymentBody({ metadata: { big: "x".repeat(5000) } })) }, 413, undefined, "PayloadTooLarge"],
    [
      "text/plain content type",
      { body: paymentBody(), headers: { "content-type": "text/plain" } },
      415,
      "Content-Type",
      "UnsupportedMediaType",
    ],
    [
      "form content type",
      { body: paymentBody(), headers: { "content-type": "application/x-www-form-urlencoded" } },
      415,
      "Content-Type",
      "UnsupportedMediaType",
    ],
    ["no Idempotency-Key", { body: paymentBody(), headers: { "idempotency-key": "" } }, 400, "Idempotency-Key", "MissingIdempotencyKey"],
    [
      "a too-short Idempotency-Key",
      { body: paymentBody(), headers: { "idempotency-key": "abc" } },
      400,
      "Idempotency-Key",
      "InvalidIdempotencyKey",
    ],
    [
      "an Idempotency-Key with bad characters",
      { body: paymentBody(), headers: { "idempotency-key": "key with spaces!" } },
      400,
      "Idempotency-Key",
      "InvalidIdempotencyKey",
    ],
  ];

  test.each(invalid)("refuses %s: status, error and field, nothing written or queued", async (_name, input, status, field, error) => {
    const headers = { ...(input.headers ?? {}) };
    const res = await post(input.body, headers, input.raw);
    expect(res.statusCode).toBe(status);
    const body = parseBody(res);
    expect(body.error).toBe(error);
    expect(typeof body.message).toBe("string");
    expect(body.field).toBe(field);
    expect(res.headers?.["content-type"]).toMatch(/^application\/json/);
    expect(await transactionCount()).toBe(0);
    expect(await queuedCount()).toBe(0);
  });

  test("a missing content-type header is a 415", async () => {
    const res = (await gateway(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { "idempotency-key": newKey() },
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(res.statusCode).toBe(415);
    expect(await queuedCount()).toBe(0);
  });
});

describe("routing", () => {
  test("unknown path is 404 and wrong method is 405 with Allow", async () => {
    const notFound = (await gateway(httpApiEvent({ method: "GET", path: "/nope" }))) as Result;
    expect(notFound.statusCode).toBe(404);
    expect(parseBody(notFound).error).toBe("NotFound");
    const wrong = (await gateway(httpApiEvent({ method: "DELETE", path: "/transactions" }))) as Result;
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers?.allow).toBe("POST");
    const wrongItem = (await gateway(httpApiEvent({ method: "POST", path: "/transactions/abc" }))) as Result;
    expect(wrongItem.statusCode).toBe(405);
    expect(wrongItem.headers?.allow).toBe("GET");
  });
});

describe("GET /transactions/{id}", () => {
  test("a named HTTP API stage prefix in rawPath is routed like $default", async () => {
    const event = httpApiEvent({ method: "GET", path: "/prod/transactions/00000000-0000-8000-8000-000000000000" });
    event.requestContext.stage = "prod";
    const res = (await gateway(event)) as Result;
    expect(res.statusCode).toBe(404);
    expect(parseBody(res).message).toMatch(/Transaction 00000000-0000-8000-8000-000000000000 not found/);
  });

  test("returns the status of a known transaction", async () => {
    const created = parseBody(await post(paymentBody({ amount: 500, currency: "USD" })));
    const id = String(created.transaction_id);
    const res = (await gateway(httpApiEvent({ method: "GET", path: `/transactions/${id}`, pathParameters: { id } }))) as Result;
    expect(res.statusCode).toBe(200);
    const body = parseBody(res);
    expect(body).toMatchObject({ transaction_id: id, status: "RECEIVED", amount: 500, currency: "USD" });
    expect(body.created_at).toEqual(expect.any(String));
    expect(body.updated_at).toEqual(expect.any(String));
    expect(body).not.toHaveProperty("idempotency_key");
    expect(body).not.toHaveProperty("failure_reason");
  });

  test("404 for an unknown id and 400 for a malformed id", async () => {
    const missing = (await gateway(httpApiEvent({ method: "GET", path: "/transactions/00000000-0000-8000-8000-000000000000" }))) as Result;
    expect(missing.statusCode).toBe(404);
    const bad = (await gateway(httpApiEvent({ method: "GET", path: "/transactions/not-an-id" }))) as Result;
    expect(bad.statusCode).toBe(400);
    expect(parseBody(bad).field).toBe("id");
  });
});

describe("ALB events", () => {
  test("POST through the ALB: 202 with statusDescription and plain headers", async () => {
    const res = (await gateway(
      albEvent({
        method: "POST",
        path: "/transactions",
        headers: { "content-type": "application/json", "idempotency-key": newKey() },
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(res.statusCode).toBe(202);
    expect(res.statusDescription).toBe("202 Accepted");
    expect(res.isBase64Encoded).toBe(false);
    expect(res.headers?.["content-type"]).toMatch(/application\/json/);
    expect(parseBody(res).status).toBe("RECEIVED");
    expect(await queuedCount()).toBe(1);
  });

  test("ALB multi-value headers, base64 body, validation error answered in multi-value form", async () => {
    const ok = (await gateway(
      albEvent({
        method: "POST",
        path: "/transactions",
        multiValue: true,
        base64: true,
        headers: { "Content-Type": "application/json", "Idempotency-Key": newKey() },
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(ok.statusCode).toBe(202);
    expect(ok.multiValueHeaders?.["content-type"]).toEqual([expect.stringMatching(/application\/json/)]);
    const bad = (await gateway(
      albEvent({
        method: "POST",
        path: "/transactions",
        headers: { "content-type": "application/json", "idempotency-key": newKey() },
        body: JSON.stringify(paymentBody({ amount: -1 })),
      }),
    )) as Result;
    expect(bad.statusCode).toBe(400);
    expect(bad.statusDescription).toBe("400 Bad Request");
    expect(parseBody(bad).field).toBe("amount");
    expect(await queuedCount()).toBe(1);
  });
});

describe("ALB target-group health check", () => {
  test("GET /health on the gateway answers 200 without touching the tables or the queue", async () => {
    const before = { items: await transactionCount(), queued: await queuedCount() };
    const res = (await gateway(albEvent({ method: "GET", path: "/health", headers: {} }))) as Result;
    expect(res.statusCode).toBe(200);
    expect(parseBody(res).status).toBe("ok");
    expect({ items: await transactionCount(), queued: await queuedCount() }).toEqual(before);
    const wrong = (await gateway(albEvent({ method: "POST", path: "/health", headers: {} }))) as Result;
    expect(wrong.statusCode).toBe(405);
  });
});

describe("dependency failures", () => {
  test("queue unavailable: 503, nothing reported accepted, and a retry with the same key completes", async () => {
    const missingQueue = emu.resources.transactionQueueUrl.replace(/[^/]+$/, "does-not-exist");
    const broken = loadHandler<HttpEvent, HttpResult>(GATEWAY, { TRANSACTION_QUEUE_URL: missingQueue });
    const key = newKey();
    const res = (await broken(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(res.statusCode).toBe(503);
    expect(parseBody(res)).toMatchObject({ error: "ServiceUnavailable" });
    expect(parseBody(res)).not.toHaveProperty("transaction_id");
    expect(await queuedCount()).toBe(0);
    // The unqueued RECEIVED record is taken back, so GET does not report it.
    expect(await transactionCount()).toBe(0);

    // The client retries with the same key once the queue is back: accepted exactly once.
    const retry = await post(paymentBody(), { "idempotency-key": key });
    expect(retry.statusCode).toBe(202);
    expect(await queuedCount()).toBe(1);
    expect(await transactionCount()).toBe(1);
  });

  test("DynamoDB down: 503 and nothing queued", async () => {
    const { startDynalite } = await import("../../src/local/emulators");
    const dead = await startDynalite();
    await dead.stop();
    const broken = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AWS_ENDPOINT_URL_DYNAMODB: dead.endpoint });
    const res = (await broken(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { "content-type": "application/json", "idempotency-key": newKey() },
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(res.statusCode).toBe(503);
    expect(parseBody(res).error).toBe("ServiceUnavailable");
    expect(await queuedCount()).toBe(0);
  });
});

describe("metrics", () => {
  test("accepted and refused payments are counted as embedded metrics in the PaymentProcessing namespace", async () => {
    const withMetrics = loadHandler<HttpEvent, HttpResult>(GATEWAY, { POWERTOOLS_METRICS_DISABLED: "false" });
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const accepted = await withMetrics(
        httpApiEvent({
          method: "POST",
          path: "/transactions",
          headers: { "content-type": "application/json", "idempotency-key": newKey() },
          body: JSON.stringify(paymentBody()),
        }),
      );
      const refused = await withMetrics(
        httpApiEvent({
          method: "POST",
          path: "/transactions",
          headers: { "content-type": "application/json", "idempotency-key": newKey() },
          body: JSON.stringify(paymentBody({ amount: -1 })),
        }),
      );
      expect([accepted.statusCode, refused.statusCode]).toEqual([202, 400]);
    } finally {
      spy.mockRestore();
    }
    const emf = written
      .flatMap((chunk) => chunk.split("\n"))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line));
    const counted = (name: string) => emf.filter((m) => m[name] !== undefined);
    expect(counted("PaymentsAccepted").map((m) => [m.PaymentsAccepted, m.service, m._aws.CloudWatchMetrics[0].Namespace])).toEqual([
      [1, "payments-test", "PaymentProcessing"],
    ]);
    expect(counted("PaymentsRefused").map((m) => m.PaymentsRefused)).toEqual([1]);
  });
});
