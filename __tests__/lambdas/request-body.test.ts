/**
 * The request body's strict JSON (lambdas/shared/json.ts): nesting of any depth is refused
 * without exhausting the stack, and a number is accepted only as the exact text of an integer
 * (what is stored is what was sent). Unit tests of parseStrictJson, then the same bodies through
 * the gateway handler against dynalite and fauxqs.
 */
import * as path from "node:path";
import { GetItemCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { JsonNumberError, MAX_JSON_DEPTH, parseStrictJson, StrictJsonError } from "../../lambdas/shared/json";
import { newApiKey } from "../../src/contracts/merchant-keys";
import { applyEnv, clearTable, type Emulators, startEmulators } from "../../src/local/emulators";
import { httpApiEvent } from "../../src/local/lambda-events";
import { type Invoke, loadHandler, parseBody } from "../helpers/load";

const GATEWAY = path.resolve(__dirname, "../../lambdas/payment-gateway/index.ts");

const nested = (depth: number, inner = "") => `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;
/** A payment body with `amount` written exactly as given. */
const withAmount = (amountText: string) =>
  `{"amount":${amountText},"currency":"SGD","customer_id":"customer-042","session_id":"sess_abc123","metadata":{"order_id":"A-1"}}`;

/** The error parseStrictJson throws for `text`, or undefined when it accepts it. */
function refusal(text: string): Error | undefined {
  try {
    parseStrictJson(Buffer.from(text));
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** Number texts that JSON.parse accepts but that are not exactly the integer they parse to. */
const inexactNumbers = ["100.000000000000001", "1e2", "1E2", "1e+2", "100.0", "-0", "0.0", "10.5", "12345678901234567890"];

describe("parseStrictJson", () => {
  test.each([
    ["0", 0],
    ["12345", 12345],
    ["-5", -5],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    [String(-Number.MAX_SAFE_INTEGER), -Number.MAX_SAFE_INTEGER],
  ])("accepts the integer text %s as its value", (text, value) => {
    expect(parseStrictJson(Buffer.from(`{"n":${text}}`))).toEqual({ n: value });
  });

  test.each([...inexactNumbers, "9007199254740992", "-9007199254740992"])(
    "refuses the number text %s as a validation error of its field",
    (text) => {
      const err = refusal(withAmount(text));
      expect(err).toBeInstanceOf(JsonNumberError);
      expect((err as JsonNumberError).field).toBe("amount");
      expect(err?.message).toMatch(/whole minor units, digits only/);
    },
  );

  test.each([
    ['{"metadata":{"a":"x","b":1.5}}', "metadata.b"],
    ['{"a":[1,2,2.5]}', "a.2"],
    ['{"a":[{"x":1},{"b":1e3}]}', "a.1.b"],
    ['{"a":{"x":[1,2]},"b":-0}', "b"],
    ['{"a":[],"":1.0}', ""],
    ["[1, 2.0]", "1"],
  ])("names the key path of the number: %s -> %s", (text, field) => {
    const err = refusal(text);
    expect(err).toBeInstanceOf(JsonNumberError);
    expect((err as JsonNumberError).field).toBe(field);
  });

  test("a number at the top level has no field", () => {
    const err = refusal("1e2");
    expect(err).toBeInstanceOf(JsonNumberError);
    expect((err as JsonNumberError).field).toBeUndefined();
  });

  test("digits, signs and exponents inside strings and keys are text, not numbers", () => {
    expect(parseStrictJson(Buffer.from('{"1e2":"100.0","s":"a\\"-0 1.5","t":"\\\\1e5"}'))).toEqual({
      "1e2": "100.0",
      s: 'a"-0 1.5',
      t: "\\1e5",
    });
  });

  test(`nesting up to ${MAX_JSON_DEPTH} levels is accepted; one more is refused`, () => {
    expect(refusal(nested(MAX_JSON_DEPTH, "1"))).toBeUndefined();
    const err = refusal(nested(MAX_JSON_DEPTH + 1, "1"));
    expect(err).toBeInstanceOf(StrictJsonError);
    expect(err).not.toBeInstanceOf(JsonNumberError);
    expect(err?.message).toMatch(`more than ${MAX_JSON_DEPTH} levels deep`);
  });

  test.each([8_000, 100_000])("%i levels of nesting are refused as InvalidJson, not a stack overflow", (depth) => {
    for (const text of [nested(depth), `{"a":${'{"a":'.repeat(depth)}"\\ud800"${"}".repeat(depth)}}`]) {
      const err = refusal(text);
      expect(err).toBeInstanceOf(StrictJsonError);
      expect(err?.message).toMatch(/levels deep/);
    }
  });

  test.each([
    ['{"a":1,"a":2}', /repeats the key "a"/],
    ['{"a":{"b":1,"c":{"b":2}},"d":{"b":3}}', undefined],
    ['{"x":[{"a":1},{"a":2}]}', undefined],
    ['{"__proto__":1}', /reserved key/],
    ['{"k":"\\ud800"}', /not well-formed Unicode/],
    ['{"\\udc00":"v"}', /not well-formed Unicode/],
    ['{"k":"\\ud83d\\ude00"}', undefined],
    ['{"amount": 1,', /not valid JSON/],
  ])("keeps the other strict rules: %s", (text, refused) => {
    const err = refusal(text);
    if (refused === undefined) expect(err).toBeUndefined();
    else expect(err?.message).toMatch(refused);
  });
});

describe("through the gateway", () => {
  type Result = APIGatewayProxyStructuredResultV2;
  let emu: Emulators;
  let restoreEnv: () => void;
  let gateway: Invoke<HttpEvent, HttpResult>;
  let apiKey: string;
  let seq = 0;

  beforeAll(async () => {
    emu = await startEmulators({ prefix: "rb" });
    // The deployed body limit (16 KiB): the deep bodies below fit within it.
    restoreEnv = applyEnv({ ...emu.baseEnv, MAX_BODY_BYTES: undefined });
    gateway = loadHandler<HttpEvent, HttpResult>(GATEWAY);
    const { key, item } = newApiKey("merchant-001", new Date());
    await DynamoDBDocumentClient.from(emu.clients.dynamodb).send(
      new PutCommand({ TableName: emu.resources.merchantKeysTable, Item: item }),
    );
    apiKey = key;
  });

  afterAll(async () => {
    restoreEnv?.();
    await emu?.stop();
  });

  beforeEach(async () => {
    await emu.fauxqs.reset();
    await clearTable(emu.clients.dynamodb, emu.resources.transactionsTable, "transaction_id");
  });

  const post = (raw: string) =>
    gateway(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: {
          authorization: `Bearer ${apiKey}`,
          "content-type": "application/json",
          "idempotency-key": `request-body-${Date.now().toString(36)}-${seq++}`,
        },
        body: raw,
      }),
    ) as Promise<Result>;

  async function nothingWrittenOrQueued(): Promise<void> {
    const items = await emu.clients.dynamodb.send(new ScanCommand({ TableName: emu.resources.transactionsTable, Select: "COUNT" }));
    expect(items.Count).toBe(0);
    const queue = await emu.fauxqs.inspectQueue(emu.resources.names.transactionQueue);
    expect(queue).toEqual({ ready: 0, delayed: 0, inflight: 0 });
  }

  test.each([
    ["8,000 levels of arrays (16,000 bytes)", nested(8_000)],
    [
      "a payment whose metadata nests 5,000 levels",
      withAmount("12345").replace('{"order_id":"A-1"}', `{"order_id":${nested(5_000, '"A-1"')}}`),
    ],
  ])("%s: 400 InvalidJson, nothing written or queued", async (_name, raw) => {
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(16_384);
    const res = await post(raw);
    expect(res.statusCode).toBe(400);
    const body = parseBody(res);
    expect(body.error).toBe("InvalidJson");
    expect(body.message).toMatch(`more than ${MAX_JSON_DEPTH} levels deep`);
    await nothingWrittenOrQueued();
  });

  test.each(inexactNumbers)("amount written as %s: 400 ValidationError naming amount, nothing written or queued", async (text) => {
    const res = await post(withAmount(text));
    expect(res.statusCode).toBe(400);
    const body = parseBody(res);
    expect(body).toMatchObject({ error: "ValidationError", field: "amount" });
    expect(body.message).toMatch(/whole minor units, digits only/);
    await nothingWrittenOrQueued();
  });

  test("amount written as 12345: 202, stored as 12345", async () => {
    const res = await post(withAmount("12345"));
    expect(res.statusCode).toBe(202);
    const { transaction_id } = parseBody(res);
    const item = await emu.clients.dynamodb.send(
      new GetItemCommand({ TableName: emu.resources.transactionsTable, Key: { transaction_id: { S: String(transaction_id) } } }),
    );
    expect(item.Item?.amount?.N).toBe("12345");
  });

  test("an integer text in range that the schema refuses keeps the schema's answer", async () => {
    const res = await post(withAmount("-5"));
    expect(res.statusCode).toBe(400);
    expect(parseBody(res)).toMatchObject({ error: "ValidationError", field: "amount", message: "amount must be greater than 0" });
    await nothingWrittenOrQueued();
  });
});
