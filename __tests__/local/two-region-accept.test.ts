/**
 * One Idempotency-Key in both regions within the replication delay, over the global-tables
 * stand-in (src/local/replicator.ts) and one ledger: the drill's world, without its load. The
 * real gateway, processor and sweeper of each region run against that region's proxy. Nothing is
 * ever deleted, so last writer wins cannot take an accepted payment away; the ledger posts once
 * and decides which body stands; the items of both regions end up showing what the ledger holds.
 */
import * as path from "node:path";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type mysql from "mysql2/promise";
import type { SweepSummary } from "../../lambdas/pending-sweeper";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import type { TransactionItem } from "../../lambdas/shared/transactions";
import { deploymentConfig } from "../../src/contracts/context";
import type { Role } from "../../src/local/drill/dns";
import { type DrillWorld, ROLES, startWorld } from "../../src/local/drill/world";
import { httpApiEvent, paymentBody } from "../../src/local/lambda-events";
import { type Fault, startRecordingProxy } from "../../src/local/recording-proxy";
import { getTransaction } from "../../src/local/seed";
import { type Invoke, loadHandler, parseBody } from "../helpers/load";
import { drainQueue, receiveMessages, sleep } from "../helpers/observe";

const LAMBDAS = path.resolve(__dirname, "../../lambdas");
/** Long enough that a test's requests in both regions all land within it. */
const REPLICATION_DELAY_MS = 1000;

interface RegionHandlers {
  gateway: Invoke<HttpEvent, HttpResult>;
  processor: Invoke<SQSEvent, SQSBatchResponse>;
  sweeper: Invoke<unknown, SweepSummary>;
}

let world: DrillWorld;
let root: mysql.Connection;
const handlers = {} as Record<Role, RegionHandlers>;
let keySeq = 0;

/** A region's handler, as deployed there: its own env, DynamoDB through the replicator's proxy. */
function regionHandler<E, R>(role: Role, fn: string, extra: Record<string, string> = {}): Invoke<E, R> {
  const region = world.regions[role];
  return loadHandler<E, R>(path.join(LAMBDAS, fn, "index.ts"), {
    ...region.emulators.baseEnv,
    AWS_ENDPOINT_URL_DYNAMODB: region.proxy,
    ...extra,
  });
}

beforeAll(async () => {
  world = await startWorld({
    config: deploymentConfig(),
    replicationDelayMs: REPLICATION_DELAY_MS,
    ledgerLagSeconds: 0,
    visibilityTimeoutSeconds: 1,
  });
  root = await world.ledger.rootConnection(world.ledger.writerRegion());
  await root.query(`USE ${world.ledger.ledger.database}`);
  for (const role of ROLES) {
    handlers[role] = {
      gateway: regionHandler(role, "payment-gateway"),
      processor: regionHandler(role, "transaction-processor"),
      sweeper: regionHandler(role, "pending-sweeper"),
    };
  }
}, 60_000);

afterAll(async () => {
  await root?.end();
  await world?.stop();
});

const newKey = () => `two-region-${Date.now().toString(36)}-${keySeq++}`;

function post(gateway: Invoke<HttpEvent, HttpResult>, idempotencyKey: string, body = paymentBody()) {
  return gateway(
    httpApiEvent({
      method: "POST",
      path: "/transactions",
      headers: { authorization: `Bearer ${world.demoKey}`, "content-type": "application/json", "idempotency-key": idempotencyKey },
      body: JSON.stringify({ ...body, merchant_id: undefined }),
    }),
  ) as Promise<{ statusCode: number; body: string }>;
}

async function getIn(role: Role, id: string) {
  const res = (await handlers[role].gateway(
    httpApiEvent({ method: "GET", path: `/transactions/${id}`, headers: { authorization: `Bearer ${world.demoKey}` } }),
  )) as { statusCode: number };
  expect(res.statusCode).toBe(200);
  return parseBody(res);
}

const item = (role: Role, id: string): Promise<TransactionItem | undefined> =>
  getTransaction(world.regions[role].emulators.clients.dynamodb, world.regions[role].emulators.resources.transactionsTable, id);

/** Runs a region's processor over its transaction queue until the queue is empty. */
async function processAll(role: Role): Promise<void> {
  const { emulators } = world.regions[role];
  for (let round = 0; round < 10; round++) {
    await drainQueue(emulators.clients.sqs, emulators.resources.transactionQueueUrl, handlers[role].processor, { max: 50 });
    const left = await emulators.fauxqs.inspectQueue(emulators.resources.names.transactionQueue);
    if (left && left.ready + left.inflight + left.delayed === 0) return;
    await sleep(1100);
  }
  throw new Error(`${role}: the transaction queue never drained`);
}

async function entries(id: string): Promise<Array<{ amount: number; currency: string; outcome: string }>> {
  const [rows] = await root.query("SELECT amount, currency, outcome FROM journal_entries WHERE transaction_id = ?", [id]);
  return (rows as Array<{ amount: number | string; currency: string; outcome: string }>).map((r) => ({ ...r, amount: Number(r.amount) }));
}

/** Notifications each region's processor sent for this payment (received, so counted once). */
async function notifications(id: string): Promise<Array<{ region: Role; amount: number }>> {
  const out: Array<{ region: Role; amount: number }> = [];
  for (const role of ROLES) {
    const { emulators } = world.regions[role];
    for (const m of await receiveMessages(emulators.clients.sqs, emulators.resources.notificationQueueUrl, 50, 5)) {
      const body = JSON.parse(m.Body!) as { transaction_id: string; amount: number };
      if (body.transaction_id === id) out.push({ region: role, amount: body.amount });
    }
  }
  return out;
}

async function dlqDepths(): Promise<number[]> {
  return Promise.all(
    ROLES.map(async (role) => {
      const { emulators } = world.regions[role];
      const q = await emulators.fauxqs.inspectQueue(emulators.resources.names.transactionDlq);
      return q ? q.ready + q.inflight + q.delayed : -1;
    }),
  );
}

test("the same key in both regions, the send failing in one: both 202 with one id, nothing deleted, one entry, one notification", async () => {
  const key = newKey();
  const primary = await post(handlers.primary.gateway, key);
  // DR's copy within the replication delay; its queue refuses the send.
  const sqs = await startRecordingProxy(world.regions.dr.emulators.fauxqs.endpoint, {
    fault: (r): Fault | undefined => (r.operation === "SendMessage" ? "refuse" : undefined),
  });
  let dr: { statusCode: number; body: string };
  try {
    dr = await post(regionHandler<HttpEvent, HttpResult>("dr", "payment-gateway", { AWS_ENDPOINT_URL_SQS: sqs.endpoint }), key);
  } finally {
    await sqs.stop();
  }
  expect([primary.statusCode, dr.statusCode]).toEqual([202, 202]);
  const id = String(parseBody(primary).transaction_id);
  expect(parseBody(dr).transaction_id).toBe(id);
  // DR wrote its own copy before the primary's replicated: both regions accepted it.
  expect((await item("dr", id))?.accepted_region).toBe(world.regions.dr.name);

  await processAll("primary");
  await world.replicator.flush();
  for (const role of ROLES) {
    expect(await item(role, id)).toMatchObject({ status: "PROCESSED", posted_region: world.regions.primary.name });
    expect(await getIn(role, id)).toMatchObject({ transaction_id: id, status: "PROCESSED", posted: true, amount: 12345 });
    // Out of both pending indexes: neither sweeper has anything to relay.
    expect(await handlers[role].sweeper(undefined)).toMatchObject({ pending: 0, swept: 0 });
  }
  expect(await entries(id)).toEqual([{ amount: 12345, currency: "SGD", outcome: "POSTED" }]);
  expect(await notifications(id)).toEqual([{ region: "primary", amount: 12345 }]);
  expect(await dlqDepths()).toEqual([0, 0]);
});

test("the same key with two bodies in both regions: both 202, the ledger posts the first, both items follow it and show the other body as a conflict", async () => {
  const key = newKey();
  const a = await post(handlers.primary.gateway, key, paymentBody({ amount: 1111 }));
  const b = await post(handlers.dr.gateway, key, paymentBody({ amount: 2222 }));
  expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
  const id = String(parseBody(a).transaction_id);
  expect(parseBody(b).transaction_id).toBe(id);

  // Each region processes its own message within the replication delay: the primary's posts first.
  await processAll("primary");
  await processAll("dr");
  await world.replicator.flush();
  // The conflicted message came back once after its visibility timeout and found its record in place.
  await sleep(1100);
  for (const role of ROLES) await processAll(role);
  await world.replicator.flush();

  expect(await entries(id)).toEqual([{ amount: 1111, currency: "SGD", outcome: "POSTED" }]);
  for (const role of ROLES) {
    const stored = await item(role, id);
    expect(stored).toMatchObject({ status: "PROCESSED", amount: 1111 });
    expect(stored?.key_conflict).toMatchObject({ requested: { amount: 2222 }, recorded: { amount: 1111 } });
    expect(await getIn(role, id)).toMatchObject({
      status: "PROCESSED",
      amount: 1111,
      posted: true,
      conflict: { requested: { amount: 2222, currency: "SGD" }, recorded: { amount: 1111, currency: "SGD" } },
    });
  }
  // Every notification carries what the ledger holds; none waits in a DLQ.
  const sent = await notifications(id);
  expect(sent.length).toBeGreaterThanOrEqual(1);
  for (const n of sent) expect(n.amount).toBe(1111);
  expect(await dlqDepths()).toEqual([0, 0]);
  // The key no longer names one request: a retry with either body, in either region, is a 422
  // (before, the body the ledger did not post answered 202 PROCESSED where it was stored).
  for (const [role, amount] of [
    ["primary", 1111],
    ["dr", 2222],
    ["primary", 2222],
    ["dr", 1111],
  ] as const) {
    const retry = await post(handlers[role].gateway, key, paymentBody({ amount }));
    expect([role, amount, retry.statusCode, parseBody(retry).error]).toEqual([role, amount, 422, "IdempotencyKeyReused"]);
  }
  expect(await entries(id)).toEqual([{ amount: 1111, currency: "SGD", outcome: "POSTED" }]);
});
