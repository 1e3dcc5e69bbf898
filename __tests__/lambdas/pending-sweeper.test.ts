/**
 * The pending-sweeper against dynalite, fauxqs and a MariaDB ledger (one of each for the file):
 * the gateway's crash window, the age rules of both regions, adoption after a region is lost,
 * the guard against re-enqueue storms, bounded runs and a failed send.
 */
import * as path from "node:path";
import { CreateTableCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type mysql from "mysql2/promise";
import type { SweepSummary } from "../../lambdas/pending-sweeper";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { findPending, type PendingRef } from "../../lambdas/shared/sweep";
import { messageOf, type TransactionItem } from "../../lambdas/shared/transactions";
import { newApiKey } from "../../src/contracts/merchant-keys";
import { type Emulators, tableSchema } from "../../src/local/emulators";
import { httpApiEvent, paymentBody, sqsEvent, sqsRecord } from "../../src/local/lambda-events";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { getTransaction, makeTransaction } from "../../src/local/seed";
import { type LedgerRegion, startLedgerRegion } from "../helpers/ledger-region";
import { type Invoke, loadHandler } from "../helpers/load";
import { drainQueue, sleep } from "../helpers/observe";

const SWEEPER = path.resolve(__dirname, "../../lambdas/pending-sweeper/index.ts");
const PROCESSOR = path.resolve(__dirname, "../../lambdas/transaction-processor/index.ts");
const GATEWAY = path.resolve(__dirname, "../../lambdas/payment-gateway/index.ts");
const PRIMARY = "ap-southeast-1";
const DR = "ap-southeast-2";

let region: LedgerRegion;
let emu: Emulators;
let root: mysql.Connection;
/** The primary region's sweeper and processor (the emulators' region), with the deployed ages. */
let sweep: Invoke<unknown, SweepSummary>;
let processor: Invoke<SQSEvent, SQSBatchResponse>;

beforeAll(async () => {
  region = await startLedgerRegion({ region: PRIMARY, prefix: "sweep" });
  ({ emu, root } = region);
  sweep = loadHandler<unknown, SweepSummary>(SWEEPER);
  processor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR);
});

afterAll(() => region?.stop());

beforeEach(() => region.reset());

const doc = () => DynamoDBDocumentClient.from(emu.clients.dynamodb);

/** A RECEIVED payment as the gateway writes it, accepted `ageSeconds` ago in `region`. */
async function pending(ageSeconds: number, region = PRIMARY, table = emu.resources.transactionsTable): Promise<TransactionItem> {
  const { item } = makeTransaction();
  const at = new Date(Date.now() - ageSeconds * 1000).toISOString();
  const stored: TransactionItem = { ...item, created_at: at, updated_at: at, pending_since: at, accepted_region: region };
  await doc().send(new PutCommand({ TableName: table, Item: stored }));
  return stored;
}

/** What the event source mapping would do: hand the queue's messages to a processor, delete what succeeded. */
async function drain(run: Invoke<SQSEvent, SQSBatchResponse> = processor): Promise<string[]> {
  const { messages } = await drainQueue(emu.clients.sqs, emu.resources.transactionQueueUrl, run, { max: 100, polls: 20 });
  return messages.map((m) => JSON.parse(m.Body!).transaction_id as string);
}

const queued = async () => {
  const q = await emu.fauxqs.inspectQueue(emu.resources.names.transactionQueue);
  return q ? q.ready + q.inflight + q.delayed : -1;
};

/** Journal entries of a transaction, with the region that posted each. */
async function entries(id: string): Promise<Array<{ outcome: string; region: string }>> {
  const [rows] = await root.query("SELECT outcome, region FROM journal_entries WHERE transaction_id = ?", [id]);
  return rows as Array<{ outcome: string; region: string }>;
}

test("the gateway's outbox: a payment accepted but never sent is posted exactly once, once it is older than the sweeper's age", async () => {
  // The send is refused: the gateway still answers 202 (its write is the commit point) and leaves the item RECEIVED.
  const { key, item: keyItem } = newApiKey("merchant-001", new Date());
  await doc().send(new PutCommand({ TableName: emu.resources.merchantKeysTable, Item: keyItem }));
  const sqsProxy = await startRecordingProxy(emu.fauxqs.endpoint, { fault: (r) => (r.operation === "SendMessage" ? "refuse" : undefined) });
  let written: number;
  try {
    const unsent = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AWS_ENDPOINT_URL_SQS: sqsProxy.endpoint });
    const res = await unsent(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "idempotency-key": "crash-window-0001" },
        body: JSON.stringify(paymentBody()),
      }),
    );
    written = Date.now();
    expect((res as { statusCode: number }).statusCode).toBe(202);
    expect(sqsProxy.requests.map((r) => r.operation)).toEqual(["SendMessage"]);
  } finally {
    await sqsProxy.stop();
  }
  const [item] = (await emu.clients.dynamodb.send(new ScanCommand({ TableName: emu.resources.transactionsTable }))).Items!;
  const id = item!.transaction_id!.S!;
  expect(item!.status!.S).toBe("RECEIVED");
  expect(await queued()).toBe(0);

  const ageSeconds = 1;
  const shortAge = loadHandler<unknown, SweepSummary>(SWEEPER, { SWEEPER_AGE_SECONDS: String(ageSeconds) });
  // Younger than the (deployed) age: the request may still be running, so it is left alone.
  expect(await sweep(undefined)).toMatchObject({ pending: 0, swept: 0 });
  await sleep(Math.max(0, written + ageSeconds * 1000 - Date.now()) + 50);
  expect(await shortAge(undefined)).toMatchObject({ pending: 1, eligible: 1, swept: 1, adopted: 0 });
  expect(await drain()).toEqual([id]);
  const posted = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, id);
  expect(posted).toMatchObject({ status: "PROCESSED", notified: true, swept_region: PRIMARY, posted_region: PRIMARY });
  expect(posted).not.toHaveProperty("pending_since");
  expect(await entries(id)).toEqual([{ outcome: "POSTED", region: PRIMARY }]);

  // Out of the pending index: nothing more to sweep, and a late duplicate posts nothing.
  expect(await shortAge(undefined)).toMatchObject({ pending: 0, swept: 0 });
  expect((await processor(sqsEvent([sqsRecord(JSON.stringify(messageOf(posted!)))]))).batchItemFailures).toEqual([]);
  expect(await entries(id)).toHaveLength(1);
});

test("fresh RECEIVED payments are left alone; one past the age is swept once, not again while its message may still wait", async () => {
  const fresh = await pending(10);
  const old = await pending(200);
  expect(await sweep(undefined)).toEqual({ pending: 1, pendingAtLeast: false, eligible: 1, swept: 1, adopted: 0, skipped: 0, failed: 0 });
  expect(await queued()).toBe(1);
  // The next minute: still RECEIVED (its message waits in the queue), but swept within the guard time.
  expect(await sweep(undefined)).toMatchObject({ pending: 1, eligible: 1, swept: 0, skipped: 1 });
  expect(await queued()).toBe(1);
  const untouched = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, fresh.transaction_id);
  expect(untouched).not.toHaveProperty("swept_at");
  expect(await drain()).toEqual([old.transaction_id]);
  expect(await entries(fresh.transaction_id)).toEqual([]);
});

describe("after the primary region is lost", () => {
  let drSweep: Invoke<unknown, SweepSummary>;
  let drProcessor: Invoke<SQSEvent, SQSBatchResponse>;
  beforeAll(() => {
    drSweep = loadHandler<unknown, SweepSummary>(SWEEPER, { AWS_REGION: DR });
    drProcessor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { AWS_REGION: DR });
  });

  test("the other region's payments wait for the adoption age: the regions never race in normal operation", async () => {
    const own = await pending(200, DR);
    await pending(300, PRIMARY); // past the age, not past the adoption age: the primary may still be working on it
    expect(await drSweep(undefined)).toMatchObject({ pending: 2, eligible: 1, swept: 1, adopted: 0 });
    expect(await drain(drProcessor)).toEqual([own.transaction_id]);
  });

  test("a payment stranded by the lost region is adopted and posted once, and stays posted once when that region processes its own copy", async () => {
    const stranded = await pending(700, PRIMARY);
    expect(await drSweep(undefined)).toMatchObject({ pending: 1, swept: 1, adopted: 1 });
    expect(await drain(drProcessor)).toEqual([stranded.transaction_id]);
    expect(await entries(stranded.transaction_id)).toEqual([{ outcome: "POSTED", region: DR }]);
    const adopted = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, stranded.transaction_id);
    expect(adopted).toMatchObject({ status: "PROCESSED", swept_region: DR, posted_region: DR, accepted_region: PRIMARY });
    const notified = (await emu.fauxqs.inspectQueue(emu.resources.names.notificationQueue))!.ready;
    expect(notified).toBe(1);

    // The primary comes back with the original message still in its queue.
    const original = sqsRecord(JSON.stringify(messageOf(stranded)));
    // Its replica has caught up (the global table): a completed duplicate, nothing posted or sent.
    const primaryProcessor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { AWS_REGION: PRIMARY });
    expect((await primaryProcessor(sqsEvent([original]))).batchItemFailures).toEqual([]);
    expect(await entries(stranded.transaction_id)).toHaveLength(1);
    expect((await emu.fauxqs.inspectQueue(emu.resources.names.notificationQueue))!.ready).toBe(notified);

    // Its replica has not caught up yet (still RECEIVED there): the ledger posts nothing, and the
    // stale copy becomes the ledger's projection (posted by DR).
    const staleTable = `payment-transactions-stale-${Date.now()}`;
    await emu.clients.dynamodb.send(new CreateTableCommand(tableSchema("transactions", staleTable)));
    await doc().send(new PutCommand({ TableName: staleTable, Item: stranded }));
    const stale = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { AWS_REGION: PRIMARY, TRANSACTIONS_TABLE: staleTable });
    expect((await stale(sqsEvent([{ ...original, messageId: "stale" }]))).batchItemFailures).toEqual([]);
    expect(await entries(stranded.transaction_id)).toEqual([{ outcome: "POSTED", region: DR }]);
    expect(await getTransaction(emu.clients.dynamodb, staleTable, stranded.transaction_id)).toMatchObject({
      status: "PROCESSED",
      posted_region: DR,
    });
  });
});

test("bounded: at most sweeperMaxPerRun per run, oldest first; the rest in the next runs", async () => {
  const items = [];
  for (let i = 0; i < 12; i++) items.push(await pending(200 + i * 7));
  const oldestFirst = items.map((i) => i.transaction_id).reverse();
  const small = loadHandler<unknown, SweepSummary>(SWEEPER, { SWEEPER_MAX_PER_RUN: "5" });
  expect(await small(undefined)).toMatchObject({ pending: 12, eligible: 5, swept: 5 });
  expect((await drain()).sort()).toEqual(oldestFirst.slice(0, 5).sort());
  expect(await small(undefined)).toMatchObject({ pending: 7, swept: 5 });
  expect((await drain()).sort()).toEqual(oldestFirst.slice(5, 10).sort());
  expect(await small(undefined)).toMatchObject({ pending: 2, swept: 2 });
  expect((await drain()).sort()).toEqual(oldestFirst.slice(10).sort());
  expect(await small(undefined)).toMatchObject({ pending: 0, swept: 0 });
});

test("reading is bounded too: past maxListPages a shard is only counted (a wall of not-yet-adoptable entries right after a failover)", async () => {
  const inShard = async (ageSeconds: number, region: string) => {
    const item = await pending(ageSeconds, region);
    await doc().send(new PutCommand({ TableName: emu.resources.transactionsTable, Item: { ...item, pending_shard: "3" } }));
    return item;
  };
  for (const age of [330, 320, 310]) await inShard(age, DR);
  const own = await inShard(200, PRIMARY);
  const options = {
    table: emu.resources.transactionsTable,
    olderThanSeconds: 120,
    eligible: (ref: PendingRef, age: number) => ref.acceptedRegion === PRIMARY || age >= 600,
    pageSize: 1,
  };
  const bounded = await findPending(doc(), { ...options, maxListPages: 2 });
  expect(bounded).toEqual({ total: 4, totalIsLowerBound: false, refs: [] });
  const unbounded = await findPending(doc(), options);
  expect(unbounded.refs.map((r) => r.transactionId)).toEqual([own.transaction_id]);
  expect(unbounded.total).toBe(4);
});

test("a message that could not be sent has its mark taken back, so the next run sends it", async () => {
  const item = await pending(200);
  const sqsProxy = await startRecordingProxy(emu.fauxqs.endpoint, {
    fault: (r) => (r.operation === "SendMessageBatch" ? "refuse" : undefined),
  });
  try {
    const refused = loadHandler<unknown, SweepSummary>(SWEEPER, { AWS_ENDPOINT_URL_SQS: sqsProxy.endpoint });
    await expect(refused(undefined)).rejects.toThrow(/could not be re-enqueued/);
  } finally {
    await sqsProxy.stop();
  }
  expect(await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, item.transaction_id)).not.toHaveProperty("swept_at");
  expect(await sweep(undefined)).toMatchObject({ swept: 1, failed: 0 });
  expect(await queued()).toBe(1);
});

test("every run reports PaymentsPending, 0 included, and what it swept and adopted (embedded metric format)", async () => {
  await pending(200);
  await pending(700, DR);
  const lines: string[] = [];
  // Powertools writes EMF lines to stdout, where CloudWatch Logs turns them into metrics.
  const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    const withMetrics = loadHandler<unknown, SweepSummary>(SWEEPER, {
      POWERTOOLS_METRICS_DISABLED: "false",
      POWERTOOLS_SERVICE_NAME: "pending-sweeper",
    });
    await withMetrics(undefined);
    await drain();
    await withMetrics(undefined);
  } finally {
    spy.mockRestore();
  }
  const emf = lines
    .flatMap((l) => l.split("\n"))
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(emf.map((m) => [m.PaymentsPending, m.PaymentsSwept, m.PaymentsAdopted])).toEqual([
    [2, 2, 1],
    [0, undefined, undefined],
  ]);
  expect(emf[0]).toMatchObject({ service: "pending-sweeper" });
});
