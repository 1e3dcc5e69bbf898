/**
 * GET /balances against dynalite (merchant keys) and MariaDB (the ledger): the authenticated
 * merchant's balances only, the gateway's answers for bad credentials and routes, 503 when the
 * ledger cannot be read, and the SELECT-only reader user the function connects as in AWS.
 */
import * as path from "node:path";
import type { ALBResult, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { balances, postBatch } from "../../lambdas/shared/ledger";
import { applyEnv, type Emulators, startEmulators } from "../../src/local/emulators";
import { albEvent, httpApiEvent } from "../../src/local/lambda-events";
import { connectLocalLedger, type LocalLedger, startLocalLedger } from "../../src/local/ledger";
import { issueKey } from "../../src/ops/keys/operations";
import { type Invoke, loadHandler, parseBody } from "../helpers/load";

const BALANCES = path.resolve(__dirname, "../../lambdas/payment-balances/index.ts");
type Result = APIGatewayProxyStructuredResultV2 & ALBResult;

let emu: Emulators;
let ledger: LocalLedger;
let restoreEnv: () => void;
let handler: Invoke<HttpEvent, HttpResult>;
const keys: Record<string, string> = {};

const id = (n: number) => `00000000-0000-8000-8000-${String(n).padStart(12, "0")}`;

beforeAll(async () => {
  ledger = await startLocalLedger();
  emu = await startEmulators({ prefix: "bal", ledger });
  restoreEnv = applyEnv(emu.baseEnv);
  handler = loadHandler<HttpEvent, HttpResult>(BALANCES);
  const ctx = { dynamodb: emu.clients.dynamodb, table: emu.resources.merchantKeysTable, region: emu.region, cacheTtlSeconds: 60 };
  for (const merchant of ["merchant-a", "merchant-b"]) keys[merchant] = (await issueKey(ctx, { merchantId: merchant, yes: true })).key!;
  const writer = connectLocalLedger(ledger);
  await postBatch(
    writer,
    [
      { transactionId: id(1), merchantId: "merchant-a", amount: 1_000, currency: "SGD", outcome: "POSTED" },
      { transactionId: id(2), merchantId: "merchant-a", amount: 250, currency: "SGD", outcome: "POSTED" },
      { transactionId: id(3), merchantId: "merchant-a", amount: 99, currency: "USD", outcome: "POSTED" },
      {
        transactionId: id(4),
        merchantId: "merchant-a",
        amount: 9_999_999,
        currency: "USD",
        outcome: "REJECTED",
        reason: "RISK_LIMIT_EXCEEDED",
      },
      { transactionId: id(5), merchantId: "merchant-b", amount: 7, currency: "AUD", outcome: "POSTED" },
    ],
    { region: "ap-southeast-1" },
  );
  await writer.close();
});

afterAll(async () => {
  restoreEnv?.();
  await emu?.stop();
  await ledger?.stop();
});

const get = (apiKey?: string, requestPath = "/balances", method = "GET") =>
  handler(httpApiEvent({ method, path: requestPath, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} })) as Promise<Result>;

test("the authenticated merchant's balance per currency, from the ledger's postings (a rejected payment moves nothing)", async () => {
  const res = await get(keys["merchant-a"]);
  expect(res.statusCode).toBe(200);
  expect(parseBody(res)).toEqual({
    merchant_id: "merchant-a",
    balances: [
      { currency: "SGD", balance: 1_250, postings: 2 },
      { currency: "USD", balance: 99, postings: 1 },
    ],
  });
  expect(parseBody(await get(keys["merchant-b"]))).toEqual({
    merchant_id: "merchant-b",
    balances: [{ currency: "AUD", balance: 7, postings: 1 }],
  });
});

test("the ALB front door gives the same answer", async () => {
  const res = (await handler(
    albEvent({ method: "GET", path: "/balances", headers: { authorization: `Bearer ${keys["merchant-b"]}` } }),
  )) as Result;
  expect(res.statusCode).toBe(200);
  expect(parseBody(res)).toMatchObject({ merchant_id: "merchant-b" });
});

test("no or a bad key: 401 with a Bearer challenge; another method: 405; another path: 404", async () => {
  for (const key of [undefined, "pk_notakey"]) {
    const res = await get(key);
    expect(res.statusCode).toBe(401);
    expect(res.headers?.["www-authenticate"]).toBe("Bearer");
    expect(parseBody(res)).toMatchObject({ error: "Unauthorized" });
  }
  expect((await get(keys["merchant-a"], "/balances", "POST")).statusCode).toBe(405);
  expect((await get(keys["merchant-a"], "/balance")).statusCode).toBe(404);
});

test("a ledger that cannot be read answers 503, not a wrong balance", async () => {
  const unreachable = loadHandler<HttpEvent, HttpResult>(BALANCES, { DB_PORT: "1" });
  const res = (await unreachable(
    httpApiEvent({ method: "GET", path: "/balances", headers: { authorization: `Bearer ${keys["merchant-a"]}` } }),
  )) as Result;
  expect(res.statusCode).toBe(503);
  expect(parseBody(res)).toMatchObject({ error: "ServiceUnavailable" });
});

test("the reader user the function uses in AWS can read balances but not write the ledger", async () => {
  const reader = connectLocalLedger(ledger, "reader");
  try {
    expect(await balances(reader, "merchant-b")).toEqual([{ currency: "AUD", balance: 7, postings: 1 }]);
    await expect(
      postBatch(reader, [{ transactionId: id(9), merchantId: "merchant-b", amount: 1, currency: "AUD", outcome: "POSTED" }], {
        region: "ap-southeast-1",
      }),
    ).rejects.toThrow();
  } finally {
    await reader.close();
  }
});
