import * as path from "node:path";
import { DeleteItemCommand, GetItemCommand, ScanCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { ALBResult, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { type MerchantKeyItem, newApiKey } from "../../src/contracts/merchant-keys";
import { applyEnv, clearTable, type Emulators, startEmulators } from "../../src/local/emulators";
import { albEvent, httpApiEvent, paymentBody } from "../../src/local/lambda-events";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { type Invoke, loadHandler, parseBody } from "../helpers/load";
import { sleep } from "../helpers/observe";

const GATEWAY = path.resolve(__dirname, "../../lambdas/payment-gateway/index.ts");
type Result = APIGatewayProxyStructuredResultV2 & ALBResult;

let emu: Emulators;
let restoreEnv: () => void;
let gateway: Invoke<HttpEvent, HttpResult>;
let keySeq = 0;
const newKey = () => `key-${Date.now().toString(36)}-${(keySeq++).toString().padStart(4, "0")}`;
/** API keys of merchant-001 (the body's default merchant) and merchant-002. */
let keyA: string;
let keyB: string;

/** Stores a key item as `npm run ops -- keys issue` does; returns the key and its id. */
async function putKey(merchantId: string, extra: Partial<MerchantKeyItem> = {}): Promise<{ key: string; keyId: string }> {
  const { key, item } = newApiKey(merchantId, new Date());
  await DynamoDBDocumentClient.from(emu.clients.dynamodb).send(
    new PutCommand({ TableName: emu.resources.merchantKeysTable, Item: { ...item, ...extra } }),
  );
  return { key, keyId: item.key_id };
}

async function revoke(keyId: string): Promise<void> {
  await emu.clients.dynamodb.send(
    new UpdateItemCommand({
      TableName: emu.resources.merchantKeysTable,
      Key: { key_id: { S: keyId } },
      UpdateExpression: "SET revoked_at = :at",
      ExpressionAttributeValues: { ":at": { S: new Date().toISOString() } },
    }),
  );
}

beforeAll(async () => {
  emu = await startEmulators({ prefix: "gw" });
  restoreEnv = applyEnv({ ...emu.baseEnv, MAX_AMOUNT_MINOR: "1000000", MAX_BODY_BYTES: "4096", CORS_ALLOW_ORIGIN: "https://shop.example" });
  gateway = loadHandler<HttpEvent, HttpResult>(GATEWAY);
  keyA = (await putKey("merchant-001")).key;
  keyB = (await putKey("merchant-002")).key;
});

afterAll(async () => {
  restoreEnv?.();
  await emu?.stop();
});

beforeEach(async () => {
  await emu.fauxqs.reset();
  await clearTable(emu.clients.dynamodb, emu.resources.transactionsTable, "transaction_id");
});

/** Headers with `authorization: Bearer keyA` unless given; an undefined value leaves a header out. */
function withAuth(headers: Record<string, string | undefined>, apiKey = keyA): Record<string, string> {
  const all: Record<string, string | undefined> = { authorization: `Bearer ${apiKey}` };
  for (const [k, v] of Object.entries(headers)) all[k.toLowerCase()] = v;
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
}

function post(body: unknown, headers: Record<string, string | undefined> = {}, raw?: string, handler = gateway): Promise<Result> {
  return handler(
    httpApiEvent({
      method: "POST",
      path: "/transactions",
      headers: withAuth({ "content-type": "application/json", "idempotency-key": newKey(), ...headers }),
      body: raw ?? JSON.stringify(body),
    }),
  ) as Promise<Result>;
}

function get(id: string, headers: Record<string, string | undefined> = {}, handler = gateway): Promise<Result> {
  return handler(httpApiEvent({ method: "GET", path: `/transactions/${id}`, headers: withAuth(headers) })) as Promise<Result>;
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

async function storedItem(id: string) {
  const out = await emu.clients.dynamodb.send(
    new GetItemCommand({ TableName: emu.resources.transactionsTable, Key: { transaction_id: { S: id } }, ConsistentRead: true }),
  );
  return out.Item;
}

/** Moves a transaction's acceptance time back: the request that wrote it is long finished. */
async function age(id: string, seconds = 11): Promise<void> {
  const then = new Date(Date.now() - seconds * 1000).toISOString();
  await emu.clients.dynamodb.send(
    new UpdateItemCommand({
      TableName: emu.resources.transactionsTable,
      Key: { transaction_id: { S: id } },
      UpdateExpression: "SET created_at = :t, pending_since = :t",
      ExpressionAttributeValues: { ":t": { S: then } },
    }),
  );
}

describe("POST /transactions", () => {
  test("accepts a valid payment: 202, RECEIVED item with the key's merchant, exactly one queued message", async () => {
    const key = newKey();
    const res = await post(paymentBody(), { "Idempotency-Key": key });
    expect(res.statusCode).toBe(202);
    const body = parseBody(res);
    expect(body.status).toBe("RECEIVED");
    expect(body.transaction_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.headers?.["access-control-allow-origin"]).toBe("https://shop.example");

    const item = await storedItem(String(body.transaction_id));
    expect(item?.status?.S).toBe("RECEIVED");
    expect(item?.merchant_id?.S).toBe("merchant-001");
    expect(item?.idempotency_key?.S).toBe(key);
    expect(item?.amount?.N).toBe("12345");
    expect(item?.metadata?.M?.order_id?.S).toBe("A-1");
    expect(item?.created_at?.S).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(item?.api_key_id?.S).toMatch(/^[a-z2-7]{12}$/);
    // What a sweeper needs: the accepting region and the sparse pending-index pair.
    expect(item?.accepted_region?.S).toBe("ap-southeast-1");
    expect(item?.pending_shard?.S).toMatch(/^[0-7]$/);
    expect(item?.pending_since?.S).toBe(item?.created_at?.S);

    const messages = await receiveAll(emu.resources.transactionQueueUrl);
    expect(messages).toHaveLength(1);
    const msg = JSON.parse(messages[0]!.Body!);
    expect(msg).toMatchObject({
      transaction_id: body.transaction_id,
      merchant_id: "merchant-001",
      amount: 12345,
      currency: "SGD",
      status: "RECEIVED",
    });
    expect(messages[0]!.MessageAttributes?.transaction_id?.StringValue).toBe(body.transaction_id);
  });

  test("accepts a base64-encoded body and a content type with charset", async () => {
    const res = (await gateway(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: withAuth({ "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": newKey() }),
        body: JSON.stringify(paymentBody()),
        base64: true,
      }),
    )) as Result;
    expect(res.statusCode).toBe(202);
    expect(await queuedCount()).toBe(1);
  });

  test("merchant_id may be left out: the API key names the merchant, and stating it again is the same request", async () => {
    const key = newKey();
    const res = await post(paymentBody({ merchant_id: undefined }), { "idempotency-key": key });
    expect(res.statusCode).toBe(202);
    const id = String(parseBody(res).transaction_id);
    expect((await storedItem(id))?.merchant_id?.S).toBe("merchant-001");
    await age(id);
    const again = await post(paymentBody(), { "idempotency-key": key });
    expect(again.statusCode).toBe(202);
    expect(parseBody(again).transaction_id).toBe(id);
    expect(await queuedCount()).toBe(1);
  });

  test("what is stored is what was sent: no metadata sent, none stored", async () => {
    const res = await post(paymentBody({ metadata: undefined }));
    expect(res.statusCode).toBe(202);
    const item = await storedItem(String(parseBody(res).transaction_id));
    expect(item?.metadata).toBeUndefined();
    const [message] = await receiveAll(emu.resources.transactionQueueUrl);
    expect(JSON.parse(message!.Body!)).not.toHaveProperty("metadata");
  });

  test("the same key and body again, at once: 202 with the same id and status; nothing queued again", async () => {
    const key = newKey();
    const first = await post(paymentBody(), { "idempotency-key": key });
    expect(first.statusCode).toBe(202);
    const id = parseBody(first).transaction_id as string;
    // Accepted at the write: a replay needs no wait, whatever the first request's send did.
    const again = await post(paymentBody(), { "IDEMPOTENCY-KEY": key });
    expect(again.statusCode).toBe(202);
    expect(parseBody(again)).toEqual({ transaction_id: id, status: "RECEIVED" });
    expect(await transactionCount()).toBe(1);
    expect(await queuedCount()).toBe(1);
  });

  test("the same key after processing: 202 with the same id and the stored status, at once", async () => {
    const key = newKey();
    const id = parseBody(await post(paymentBody(), { "idempotency-key": key })).transaction_id as string;
    await emu.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: emu.resources.transactionsTable,
        Key: { transaction_id: { S: id } },
        UpdateExpression: "SET #s = :p REMOVE pending_shard, pending_since",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":p": { S: "PROCESSED" } },
      }),
    );
    const again = await post(paymentBody(), { "idempotency-key": key });
    expect(again.statusCode).toBe(202);
    expect(parseBody(again)).toEqual({ transaction_id: id, status: "PROCESSED" });
    expect(await queuedCount()).toBe(1);
  });

  test("concurrent duplicates with one key: all 202 with one id, one transaction, one message", async () => {
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 5 }, () => post(paymentBody(), { "idempotency-key": key })));
    expect(results.map((r) => r.statusCode)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(results.map((r) => parseBody(r).transaction_id)).size).toBe(1);
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

  test("the same Idempotency-Key from another merchant is a different transaction", async () => {
    const key = newKey();
    const a = await post(paymentBody(), { "idempotency-key": key });
    const b = await post(paymentBody({ merchant_id: "merchant-002" }), { "idempotency-key": key, authorization: `Bearer ${keyB}` });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(parseBody(a).transaction_id).not.toBe(parseBody(b).transaction_id);
    expect(await queuedCount()).toBe(2);
  });

  test("an accepted payment costs two AWS calls (PutItem, SendMessage) and a duplicate one (PutItem)", async () => {
    const dynamo = await startRecordingProxy(emu.dynamo.endpoint);
    const sqs = await startRecordingProxy(emu.fauxqs.endpoint);
    try {
      const counted = loadHandler<HttpEvent, HttpResult>(GATEWAY, {
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      });
      const calls = () => [
        ...dynamo.requests.map((r) => String(r.headers["x-amz-target"]).replace("DynamoDB_20120810.", "")),
        ...sqs.requests.map((r) => String(r.headers["x-amz-target"] ?? "sqs").replace("AmazonSQS.", "")),
      ];
      expect((await post(paymentBody(), {}, undefined, counted)).statusCode).toBe(202); // warms the key cache
      expect(calls()).toEqual(["GetItem", "PutItem", "SendMessage"]);
      dynamo.requests.length = 0;
      sqs.requests.length = 0;
      const key = newKey();
      expect((await post(paymentBody(), { "idempotency-key": key }, undefined, counted)).statusCode).toBe(202);
      expect(calls()).toEqual(["PutItem", "SendMessage"]);
      dynamo.requests.length = 0;
      sqs.requests.length = 0;
      expect((await post(paymentBody({ amount: 1 }), { "idempotency-key": key }, undefined, counted)).statusCode).toBe(422);
      expect(calls()).toEqual(["PutItem"]);
    } finally {
      await Promise.all([dynamo.stop(), sqs.stop()]);
    }
  });

  const strict: Array<[string, Buffer]> = [
    [
      "a key given twice (JSON.parse would keep the last)",
      Buffer.from('{"amount":1,"amount":12345,"currency":"SGD","customer_id":"c","session_id":"s"}'),
    ],
    [
      "a __proto__ key in metadata (dropped by object copies)",
      Buffer.from('{"amount":1,"currency":"SGD","customer_id":"c","session_id":"s","metadata":{"__proto__":"x"}}'),
    ],
    [
      "bytes that are not UTF-8",
      Buffer.concat([Buffer.from('{"amount":1,"currency":"SGD","customer_id":"c","session_id":"'), Buffer.from([0xff]), Buffer.from('"}')]),
    ],
    ["a lone UTF-16 surrogate", Buffer.from('{"amount":1,"currency":"SGD","customer_id":"c","session_id":"s","metadata":{"k":"\\ud800"}}')],
  ];

  test.each(strict)("refuses a body it would otherwise store changed: %s", async (_name, raw) => {
    const event = httpApiEvent({
      method: "POST",
      path: "/transactions",
      headers: withAuth({ "content-type": "application/json", "idempotency-key": newKey() }),
    });
    // The exact bytes, base64 as API Gateway sends a body it does not treat as text.
    event.body = raw.toString("base64");
    event.isBase64Encoded = true;
    const res = (await gateway(event)) as Result;
    expect(res.statusCode).toBe(400);
    expect(parseBody(res).error).toBe("InvalidJson");
    expect(await transactionCount()).toBe(0);
    expect(await queuedCount()).toBe(0);
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
        headers: withAuth({ "idempotency-key": newKey() }),
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(res.statusCode).toBe(415);
    expect(await queuedCount()).toBe(0);
  });
});

const UNKNOWN_ID = "00000000-0000-8000-8000-000000000000";

describe("authentication: Authorization: Bearer <API key>", () => {
  const refused: Array<[string, () => string | undefined]> = [
    ["no Authorization header", () => undefined],
    ["an empty header", () => ""],
    ["another scheme", () => `Basic ${Buffer.from("merchant-001:secret").toString("base64")}`],
    ["Bearer without a key", () => "Bearer"],
    ["a key without its scheme", () => keyA],
    ["a malformed key", () => "Bearer pk_short_secret"],
    ["a well-formed key that was never issued", () => `Bearer ${newApiKey("merchant-001", new Date()).key}`],
    ["a known key id with a wrong secret", () => `Bearer ${keyA.slice(0, 16)}${"A".repeat(43)}`],
  ];

  test.each(refused)("POST with %s: 401, WWW-Authenticate: Bearer, the error body, nothing written", async (_name, header) => {
    const res = await post(paymentBody(), { authorization: header() });
    expect(res.statusCode).toBe(401);
    expect(res.headers?.["www-authenticate"]).toBe("Bearer");
    expect(res.headers?.["content-type"]).toMatch(/^application\/json/);
    expect(parseBody(res)).toEqual({ error: "Unauthorized", message: expect.any(String) });
    expect(await transactionCount()).toBe(0);
    expect(await queuedCount()).toBe(0);
  });

  test("an expired key and a revoked key are refused alike (401), and so is GET", async () => {
    const expired = await putKey("merchant-001", { expires_at: new Date(Date.now() - 1000).toISOString() });
    const revoked = await putKey("merchant-001", { revoked_at: new Date().toISOString() });
    for (const { key } of [expired, revoked]) {
      const res = await post(paymentBody(), { authorization: `Bearer ${key}` });
      expect(res.statusCode).toBe(401);
      expect(res.headers?.["www-authenticate"]).toBe("Bearer");
      expect(parseBody(res)).toEqual({ error: "Unauthorized", message: "The API key is not valid" });
      const read = await get(UNKNOWN_ID, { authorization: `Bearer ${key}` });
      expect(read.statusCode).toBe(401);
    }
    expect(await transactionCount()).toBe(0);
  });

  test("a key with an expiry still ahead is accepted", async () => {
    const { key } = await putKey("merchant-001", { expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await post(paymentBody(), { authorization: `Bearer ${key}` })).statusCode).toBe(202);
  });

  test("authentication comes first: no key and an invalid body is a 401, not a 400", async () => {
    const res = await post({ amount: -1 }, { authorization: undefined });
    expect(res.statusCode).toBe(401);
    expect(await get("not-an-id", { authorization: undefined })).toMatchObject({ statusCode: 401 });
  });

  test("the scheme is case-insensitive (RFC 7235)", async () => {
    expect((await post(paymentBody(), { authorization: `bearer ${keyA}` })).statusCode).toBe(202);
  });

  test("a body merchant_id other than the key's merchant: 403, nothing written or queued", async () => {
    const res = await post(paymentBody({ merchant_id: "merchant-002" }));
    expect(res.statusCode).toBe(403);
    expect(parseBody(res)).toEqual({ error: "Forbidden", message: expect.any(String), field: "merchant_id" });
    expect(await transactionCount()).toBe(0);
    expect(await queuedCount()).toBe(0);
  });

  test("the keys table failing is a 503, not a 401", async () => {
    const broken = loadHandler<HttpEvent, HttpResult>(GATEWAY, { MERCHANT_KEYS_TABLE: "no-such-table" });
    const res = await post(paymentBody(), {}, undefined, broken);
    expect(res.statusCode).toBe(503);
    expect(parseBody(res).error).toBe("ServiceUnavailable");
    expect(await transactionCount()).toBe(0);
  });

  test("a revoked key stops working within the cache time (AUTH_CACHE_TTL_SECONDS)", async () => {
    const cached = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AUTH_CACHE_TTL_SECONDS: "1" });
    const { key, keyId } = await putKey("merchant-001");
    const auth = { authorization: `Bearer ${key}` };
    expect((await post(paymentBody(), auth, undefined, cached)).statusCode).toBe(202);
    await revoke(keyId);
    // Still cached: the revocation is not seen yet (the documented bound).
    expect((await post(paymentBody(), auth, undefined, cached)).statusCode).toBe(202);
    await sleep(1_100);
    const after = await post(paymentBody(), auth, undefined, cached);
    expect(after.statusCode).toBe(401);
    expect((await get(UNKNOWN_ID, auth, cached)).statusCode).toBe(401);
  });

  test("with the cache off, a revocation takes effect on the next request", async () => {
    const uncached = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AUTH_CACHE_TTL_SECONDS: "0" });
    const { key, keyId } = await putKey("merchant-001");
    expect((await post(paymentBody(), { authorization: `Bearer ${key}` }, undefined, uncached)).statusCode).toBe(202);
    await revoke(keyId);
    expect((await post(paymentBody(), { authorization: `Bearer ${key}` }, undefined, uncached)).statusCode).toBe(401);
  });

  test("rotation: two active keys of one merchant both work, see the same payments, and one survives the other's revocation", async () => {
    const uncached = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AUTH_CACHE_TTL_SECONDS: "0" });
    const oldKey = await putKey("merchant-rot");
    const newKey2 = await putKey("merchant-rot");
    const body = paymentBody({ merchant_id: undefined });
    const [a, b] = await Promise.all([
      post(body, { authorization: `Bearer ${oldKey.key}` }, undefined, uncached),
      post(body, { authorization: `Bearer ${newKey2.key}` }, undefined, uncached),
    ]);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    // Either key reads the merchant's payments, whichever key created them.
    const id = String(parseBody(a).transaction_id);
    expect((await get(id, { authorization: `Bearer ${newKey2.key}` }, uncached)).statusCode).toBe(200);
    await revoke(oldKey.keyId);
    expect((await post(body, { authorization: `Bearer ${oldKey.key}` }, undefined, uncached)).statusCode).toBe(401);
    expect((await post(body, { authorization: `Bearer ${newKey2.key}` }, undefined, uncached)).statusCode).toBe(202);
  });
});

describe("front doors: the HTTP API ($default route) and the ALB answer alike", () => {
  const unknown: Array<[string, string, number]> = [
    ["GET", "/nope", 404],
    ["GET", "/", 404],
    ["PUT", "/transactions/x/y", 404],
    ["DELETE", "/transactions", 405],
    ["GET", "/transactions", 405],
    ["POST", `/transactions/${UNKNOWN_ID}`, 405],
    ["PATCH", `/transactions/${UNKNOWN_ID}`, 405],
    ["POST", "/health", 405],
  ];

  test.each(unknown)("%s %s: %i with the project's error body, no key needed, through both", async (method, path, status) => {
    const viaApi = (await gateway(httpApiEvent({ method, path, headers: {} }))) as Result;
    const viaAlb = (await gateway(albEvent({ method, path, headers: {} }))) as Result;
    for (const res of [viaApi, viaAlb]) {
      expect(res.statusCode).toBe(status);
      expect(parseBody(res)).toEqual({ error: status === 404 ? "NotFound" : "MethodNotAllowed", message: expect.any(String) });
      expect(res.headers?.["x-content-type-options"]).toBe("nosniff");
    }
    expect(parseBody(viaApi)).toEqual(parseBody(viaAlb));
    expect(viaApi.headers?.allow).toBe(viaAlb.headers?.allow);
  });

  test("a 401 is the same through both", async () => {
    const viaApi = (await gateway(httpApiEvent({ method: "GET", path: `/transactions/${UNKNOWN_ID}`, headers: {} }))) as Result;
    const viaAlb = (await gateway(albEvent({ method: "GET", path: `/transactions/${UNKNOWN_ID}`, headers: {} }))) as Result;
    expect([viaApi.statusCode, viaAlb.statusCode]).toEqual([401, 401]);
    expect(parseBody(viaApi)).toEqual(parseBody(viaAlb));
    expect([viaApi.headers?.["www-authenticate"], viaAlb.headers?.["www-authenticate"]]).toEqual(["Bearer", "Bearer"]);
  });

  test("responses carry nosniff always, and Strict-Transport-Security only over HTTPS", async () => {
    const https = await post(paymentBody(), { "x-forwarded-proto": "https" });
    expect(https.headers?.["x-content-type-options"]).toBe("nosniff");
    expect(https.headers?.["strict-transport-security"]).toMatch(/^max-age=\d+/);
    const http = await post(paymentBody(), { "x-forwarded-proto": "http" });
    expect(http.headers?.["x-content-type-options"]).toBe("nosniff");
    expect(http.headers?.["strict-transport-security"]).toBeUndefined();
    const refusedAlb = (await gateway(
      albEvent({ method: "GET", path: `/transactions/${UNKNOWN_ID}`, headers: { "x-forwarded-proto": "https" } }),
    )) as Result;
    expect(refusedAlb.headers?.["strict-transport-security"]).toMatch(/^max-age=/);
  });
});

describe("GET /transactions/{id}", () => {
  test("a named HTTP API stage prefix in rawPath is routed like $default", async () => {
    const event = httpApiEvent({ method: "GET", path: `/prod/transactions/${UNKNOWN_ID}`, headers: withAuth({}) });
    event.requestContext.stage = "prod";
    const res = (await gateway(event)) as Result;
    expect(res.statusCode).toBe(404);
    expect(parseBody(res).message).toMatch(/Transaction 00000000-0000-8000-8000-000000000000 not found/);
  });

  test("returns the status of a known transaction to its merchant", async () => {
    const created = parseBody(await post(paymentBody({ amount: 500, currency: "USD" })));
    const id = String(created.transaction_id);
    const res = (await gateway(
      httpApiEvent({ method: "GET", path: `/transactions/${id}`, pathParameters: { id }, headers: withAuth({}) }),
    )) as Result;
    expect(res.statusCode).toBe(200);
    const body = parseBody(res);
    expect(body).toMatchObject({ transaction_id: id, status: "RECEIVED", amount: 500, currency: "USD" });
    expect(body.created_at).toEqual(expect.any(String));
    expect(body.updated_at).toEqual(expect.any(String));
    expect(body).not.toHaveProperty("idempotency_key");
    expect(body).not.toHaveProperty("failure_reason");
  });

  test("another merchant's transaction answers exactly as an unknown id (404): ids cannot be probed", async () => {
    const id = String(parseBody(await post(paymentBody())).transaction_id);
    const theirs = await get(id, { authorization: `Bearer ${keyB}` });
    const unknown = await get(UNKNOWN_ID, { authorization: `Bearer ${keyB}` });
    expect([theirs.statusCode, unknown.statusCode]).toEqual([404, 404]);
    const strip = (r: Result) => ({ ...parseBody(r), message: String(parseBody(r).message).replace(/[0-9a-f-]{36}/, "<id>") });
    expect(strip(theirs)).toEqual(strip(unknown));
    expect(theirs.headers).toEqual(unknown.headers);
    // Through the ALB as well.
    const viaAlb = (await gateway(albEvent({ method: "GET", path: `/transactions/${id}`, headers: withAuth({}, keyB) }))) as Result;
    expect(viaAlb.statusCode).toBe(404);
  });

  test("404 for an unknown id and 400 for a malformed id", async () => {
    expect((await get(UNKNOWN_ID)).statusCode).toBe(404);
    const bad = await get("not-an-id");
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
        headers: withAuth({ "content-type": "application/json", "idempotency-key": newKey() }),
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
        headers: withAuth({ "Content-Type": "application/json", "Idempotency-Key": newKey() }),
        body: JSON.stringify(paymentBody()),
      }),
    )) as Result;
    expect(ok.statusCode).toBe(202);
    expect(ok.multiValueHeaders?.["content-type"]).toEqual([expect.stringMatching(/application\/json/)]);
    const bad = (await gateway(
      albEvent({
        method: "POST",
        path: "/transactions",
        headers: withAuth({ "content-type": "application/json", "idempotency-key": newKey() }),
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
  test("GET /health on the gateway answers 200 without a key and without touching the tables or the queue", async () => {
    const before = { items: await transactionCount(), queued: await queuedCount() };
    const res = (await gateway(albEvent({ method: "GET", path: "/health", headers: {} }))) as Result;
    expect(res.statusCode).toBe(200);
    expect(parseBody(res).status).toBe("ok");
    expect({ items: await transactionCount(), queued: await queuedCount() }).toEqual(before);
    const wrong = (await gateway(albEvent({ method: "POST", path: "/health", headers: {} }))) as Result;
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers?.allow).toBe("GET, HEAD");
  });
});

describe("dependency failures", () => {
  function brokenQueue(extra: Record<string, string> = {}) {
    const missingQueue = emu.resources.transactionQueueUrl.replace(/[^/]+$/, "does-not-exist");
    return loadHandler<HttpEvent, HttpResult>(GATEWAY, { TRANSACTION_QUEUE_URL: missingQueue, ...extra });
  }

  test("queue unavailable after the write: 202 with the id (the write is the commit point); the item stays RECEIVED for the sweeper", async () => {
    const key = newKey();
    const res = await post(paymentBody(), { "idempotency-key": key }, undefined, brokenQueue());
    expect(res.statusCode).toBe(202);
    const id = String(parseBody(res).transaction_id);
    expect(parseBody(res)).toEqual({ transaction_id: id, status: "RECEIVED" });
    expect(await queuedCount()).toBe(0);
    // Never taken back: the item is the outbox, where the sweeper's pending index finds it.
    const item = await storedItem(id);
    expect(item?.status?.S).toBe("RECEIVED");
    expect(item?.pending_shard?.S).toMatch(/^[0-7]$/);
    expect(item?.accept_token?.S).toMatch(/^[0-9a-f-]{36}$/);
    expect((await get(id)).statusCode).toBe(200);

    // A retry with the same key learns the same id at once and queues nothing: the sweeper will.
    const retry = await post(paymentBody(), { "idempotency-key": key });
    expect(retry.statusCode).toBe(202);
    expect(parseBody(retry)).toEqual({ transaction_id: id, status: "RECEIVED" });
    expect(await queuedCount()).toBe(0);
    expect(await transactionCount()).toBe(1);
  });

  test("DynamoDB down: 503 and nothing queued", async () => {
    const { startDynalite } = await import("../../src/local/emulators");
    const dead = await startDynalite();
    await dead.stop();
    const broken = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AWS_ENDPOINT_URL_DYNAMODB: dead.endpoint });
    const res = await post(paymentBody(), {}, undefined, broken);
    expect(res.statusCode).toBe(503);
    expect(parseBody(res).error).toBe("ServiceUnavailable");
    expect(await queuedCount()).toBe(0);
  });

  test("an item removed outside the API (an operator's delete) frees its key: a retry records it afresh", async () => {
    const key = newKey();
    const id = String(parseBody(await post(paymentBody(), { "idempotency-key": key })).transaction_id);
    await emu.clients.dynamodb.send(
      new DeleteItemCommand({ TableName: emu.resources.transactionsTable, Key: { transaction_id: { S: id } } }),
    );
    expect((await post(paymentBody(), { "idempotency-key": key })).statusCode).toBe(202);
    expect(await transactionCount()).toBe(1);
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
          headers: withAuth({ "content-type": "application/json", "idempotency-key": newKey() }),
          body: JSON.stringify(paymentBody()),
        }),
      );
      const refused = await withMetrics(
        httpApiEvent({
          method: "POST",
          path: "/transactions",
          headers: withAuth({ "content-type": "application/json", "idempotency-key": newKey() }),
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
