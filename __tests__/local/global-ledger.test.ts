/**
 * The Aurora Global Database stand-in (src/local/global-ledger.ts): two MariaDB servers with real
 * asynchronous replication and a lag, a lossy promotion, the old writer kept as the snapshot and
 * rebuilt as a secondary, split brain while fencing waits, and a planned switchover with RPO 0.
 * Entries are posted through the same postBatch and connection the processor uses.
 */
import { randomUUID } from "node:crypto";
import type mysql from "mysql2/promise";
import { type LedgerConnection, type LedgerEntryInput, postBatch } from "../../lambdas/shared/ledger";
import { type GlobalLedger, startGlobalLedger } from "../../src/local/global-ledger";
import { connectLedgerEndpoint, type LedgerEndpoint } from "../../src/local/ledger";
import { sleep } from "../helpers/observe";

const PRIMARY = "ap-southeast-1";
const DR = "ap-southeast-2";

let cluster: GlobalLedger;
const open: LedgerConnection[] = [];

function connect(endpoint: LedgerEndpoint): LedgerConnection {
  const conn = connectLedgerEndpoint(endpoint);
  open.push(conn);
  return conn;
}

const entry = (amount = 100): LedgerEntryInput => ({
  transactionId: randomUUID(),
  merchantId: "merchant-001",
  amount,
  currency: "SGD",
  outcome: "POSTED",
});

async function ids(conn: mysql.Connection): Promise<Set<string>> {
  const [rows] = await conn.query(`SELECT transaction_id FROM ${cluster.ledger.database}.journal_entries`);
  return new Set((rows as Array<{ transaction_id: string }>).map((r) => r.transaction_id));
}

async function holds(which: string, id: string): Promise<boolean> {
  const conn = await cluster.rootConnection(which);
  try {
    return (await ids(conn)).has(id);
  } finally {
    await conn.end();
  }
}

/** Waits (up to 10 s) until `which` holds `id`; returns how long it took. */
async function replicated(which: string, id: string): Promise<number> {
  const started = Date.now();
  while (!(await holds(which, id))) {
    if (Date.now() - started > 10_000) throw new Error(`${which} never got ${id}`);
    await sleep(100);
  }
  return Date.now() - started;
}

/**
 * MASTER_DELAY counts whole seconds from an event's timestamp (itself whole seconds), so a lag of
 * N s holds an event between N-1 and N s. 2 s leaves a full second between the tail's commit and
 * the isolation that must find it unapplied, however loaded the machine (1 s was a race).
 */
const LAG_SECONDS = 2;

beforeAll(async () => {
  cluster = await startGlobalLedger({ regions: [PRIMARY, DR], lagSeconds: LAG_SECONDS });
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => undefined)));
  await cluster?.stop();
});

test("the secondary replicates the writer a lag behind, read-only; its reader endpoint serves the read-only user", async () => {
  const writer = connect(cluster.writer);
  const e = entry();
  await postBatch(writer, [e], { region: PRIMARY });
  // Not there at once: the lag is MariaDB's MASTER_DELAY (whole seconds, so 1-2 s for a 2 s lag).
  expect(await holds(DR, e.transactionId)).toBe(false);
  expect(await replicated(DR, e.transactionId)).toBeLessThan((LAG_SECONDS + 1) * 1000);
  const reader = connect(cluster.reader(DR));
  const rows = await reader.session((sql) =>
    sql.query<Array<{ n: number }>>("SELECT COUNT(*) AS n FROM journal_entries WHERE transaction_id = ?", [e.transactionId]),
  );
  expect(Number(rows[0]!.n)).toBe(1);
  // An application user reaching the secondary directly is refused: it is read-only, like an Aurora secondary.
  const direct = connect({ ...cluster.reader(DR), user: cluster.ledger.user, password: cluster.ledger.password });
  await expect(postBatch(direct, [entry()], { region: DR })).rejects.toMatchObject({ errno: 1290 });
  expect(cluster.members().map((m) => [m.region, m.role, m.replicating])).toEqual([
    [PRIMARY, "writer", false],
    [DR, "secondary", true],
  ]);
  // The lag as the heartbeat shows it: behind, never by much more than the delay; none for the writer.
  const samples: number[] = [];
  for (let i = 0; i < 10; i++, await sleep(200)) samples.push((await cluster.lag(DR))!);
  expect(Math.max(...samples)).toBeGreaterThan(100);
  expect(Math.max(...samples)).toBeLessThan((LAG_SECONDS + 1) * 1000);
  expect(await cluster.lag(PRIMARY)).toBeNull();
});

test("a lossy failover keeps what the secondary had, loses exactly the unreplicated tail, and the old writer rebuilt as a secondary follows the new one", async () => {
  const writer = connect(cluster.writer);
  const kept = entry();
  await postBatch(writer, [kept], { region: PRIMARY });
  await replicated(DR, kept.transactionId);
  const tail = [entry(), entry()];
  await postBatch(writer, tail, { region: PRIMARY });
  // The primary region is lost within the lag: the tail never reached the secondary.
  await cluster.isolate(PRIMARY);
  await expect(postBatch(writer, [entry()], { region: PRIMARY })).rejects.toMatchObject({ name: "LedgerUnavailableError" });
  const record = await cluster.failover(DR);
  expect(record).toMatchObject({ from: PRIMARY, to: DR, fencedAt: expect.any(Number) });
  expect(cluster.writerRegion()).toBe(DR);

  // The global writer endpoint now leads to the promoted secondary: it takes writes, and lacks the tail.
  const after = entry();
  const posted = await postBatch(writer, [after], { region: DR });
  expect(posted.get(after.transactionId)).toMatchObject({ status: "recorded", posted: true });
  for (const e of tail) expect(await holds(DR, e.transactionId)).toBe(false);
  expect(await holds(DR, kept.transactionId)).toBe(true);
  // The lost tail can be posted again through the same fence: once.
  const reposted = await postBatch(writer, [tail[0]!], { region: DR });
  expect(reposted.get(tail[0]!.transactionId)).toMatchObject({ posted: true });

  // The region returns: its old writer is the snapshot (it has the tail), a new secondary follows the new writer.
  expect(cluster.snapshot()).toBeUndefined();
  await cluster.restore(PRIMARY);
  expect(cluster.snapshot()).toBeDefined();
  for (const e of tail) expect(await holds("snapshot", e.transactionId)).toBe(true);
  expect(await holds("snapshot", after.transactionId)).toBe(false);
  await replicated(PRIMARY, after.transactionId);
  expect(await holds(PRIMARY, tail[0]!.transactionId)).toBe(true); // re-posted on the new writer
  expect(await holds(PRIMARY, tail[1]!.transactionId)).toBe(false); // lost: only the snapshot holds it
  const snapshotReader = connect(cluster.snapshot()!);
  await expect(
    snapshotReader.session((sql) =>
      sql.query("INSERT INTO accounts (owner_id, kind, currency, created_at) VALUES ('x', 'MERCHANT', 'SGD', NOW())"),
    ),
  ).rejects.toBeDefined();
  expect(cluster.members().map((m) => [m.region, m.role, m.replicating])).toEqual([
    [PRIMARY, "secondary", true],
    [DR, "writer", false],
  ]);
  expect(await cluster.lag(DR)).toBeNull();
  expect(await cluster.lag(PRIMARY)).toBeGreaterThanOrEqual(0);
}, 30_000);

test("a planned switchover loses nothing (RPO 0) and the old writer follows the new one", async () => {
  const writer = connect(cluster.writer);
  const last = entry();
  await postBatch(writer, [last], { region: DR });
  // Right after the write, within the lag: the switchover waits for the secondary to catch up.
  await cluster.switchover(PRIMARY);
  expect(cluster.writerRegion()).toBe(PRIMARY);
  expect(await holds(PRIMARY, last.transactionId)).toBe(true);
  const next = entry();
  await postBatch(writer, [next], { region: PRIMARY });
  await replicated(DR, next.transactionId);
}, 30_000);

test("split brain: with fencing delayed, a connection the old writer holds keeps writing there after the promotion, then reconnects to the new writer", async () => {
  const local = await startGlobalLedger({ regions: [PRIMARY, DR], lagSeconds: 1 });
  try {
    const held = connect(local.writer);
    const before = entry();
    await postBatch(held, [before], { region: DR });
    await local.isolate(PRIMARY, { writerReachable: true });
    const record = await local.failover(DR, { fenceAfterMs: 1500 });
    expect(record.fencedAt).toBeUndefined();
    // The held connection still leads to the old writer: this entry is written there after the promotion.
    const stray = entry();
    expect((await postBatch(held, [stray], { region: DR })).get(stray.transactionId)).toMatchObject({ posted: true });
    const oldWriter = await local.rootConnection(PRIMARY);
    const newWriter = await local.rootConnection(DR);
    try {
      expect((await ids(oldWriter)).has(stray.transactionId)).toBe(true);
      expect((await ids(newWriter)).has(stray.transactionId)).toBe(false);
      await sleep(1700);
      expect(record.fencedAt).toBeGreaterThanOrEqual(record.promotedAt + 1500);
      // Fenced: the connection is cut, the next call reconnects through the global endpoint to the new writer.
      const late = entry();
      await postBatch(held, [late], { region: DR }).catch(() => postBatch(held, [late], { region: DR }));
      expect((await ids(newWriter)).has(late.transactionId)).toBe(true);
      expect((await ids(oldWriter)).has(late.transactionId)).toBe(false);
    } finally {
      await oldWriter.end();
      await newWriter.end();
    }
  } finally {
    await local.stop();
  }
}, 30_000);
