/**
 * `npm run dr -- reconcile --ledger`: the DR region's items against the ledger after a lossy
 * promotion. dynalite and fauxqs stand in for the region, a MariaDB for the ledger (the new
 * writer), and a second ledger database on the same server for the old writer's restored
 * snapshot. Payments are posted by the real transaction processor; a lossy promotion is played by
 * deleting an entry and its postings as root. RDS has no emulator here that the tests could start
 * without installing moto, so its two Describe calls are answered by aws-sdk-client-mock.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeDBClustersCommand, DescribeGlobalClustersCommand, RDSClient } from "@aws-sdk/client-rds";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import type mysql from "mysql2/promise";
import { type LedgerConnection, type LedgerEntryInput, type LedgerSql, postBatch } from "../../lambdas/shared/ledger";
import { messageOf, type TransactionItem } from "../../lambdas/shared/transactions";
import { loadConfig } from "../../src/contracts/config";
import { LEDGER_USERS } from "../../src/contracts/ledger";
import type { Emulators } from "../../src/local/emulators";
import { sqsEvent, sqsRecord } from "../../src/local/lambda-events";
import { connectLocalLedger, type LocalLedger, startLocalLedger } from "../../src/local/ledger";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { getTransaction, makeTransaction } from "../../src/local/seed";
import type { CliIo } from "../../src/ops/dr/cli";
import { runDr } from "../../src/ops/dr/cli";
import { type LedgerConnections, type LedgerEndpoints, readEntriesSince, reconcileLedger } from "../../src/ops/dr/ledger-reconcile";
import { type LedgerRegion, startLedgerRegion } from "../helpers/ledger-region";
import { type Invoke, loadHandler } from "../helpers/load";

const PROCESSOR = path.resolve(__dirname, "../../lambdas/transaction-processor/index.ts");
const DR = "ap-southeast-2";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };
/** The deployment's default suffix ("dev"): the table is the one startLedgerRegion made. */
const config = loadConfig({}, {});

let region: LedgerRegion;
let emu: Emulators;
let ledger: LocalLedger;
let root: mysql.Connection;
/** The old writer's restored snapshot: another database on the same server, with its own users. */
let snapshot: LocalLedger;
let snapshotRoot: mysql.Connection;
let processor: Invoke<SQSEvent, SQSBatchResponse>;
/** Closed after each test. */
let opened: LedgerConnection[] = [];

beforeAll(async () => {
  region = await startLedgerRegion({ region: DR, prefix: "dev" });
  ({ emu, ledger, root } = region);
  snapshot = await startLocalLedger({
    server: ledger.server,
    database: "payments_snapshot",
    user: "snapshot_app",
    readUser: "snapshot_reader",
  });
  snapshotRoot = await ledger.server.rootConnection({ database: snapshot.database });
  processor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR);
});

afterAll(async () => {
  await snapshotRoot?.end();
  await region?.stop();
});

/** Every test compares from its own start: what earlier tests posted lies before it. */
let since: Date;
beforeEach(async () => {
  await region.reset();
  await new Promise((r) => setTimeout(r, 5));
  since = new Date();
});

afterEach(async () => {
  await Promise.all(opened.map((c) => c.close()));
  opened = [];
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** A ledger connection that records every statement it sends (to check what a user did). */
function recorded(connection: LedgerConnection): LedgerConnection & { statements: string[]; closed: boolean } {
  const statements: string[] = [];
  opened.push(connection);
  return {
    stats: connection.stats,
    config: connection.config,
    closed: false,
    close() {
      this.closed = true;
      return connection.close();
    },
    statements,
    session: (fn, doing) =>
      connection.session(
        (sql) =>
          fn({
            query: (text: string, values?: readonly unknown[]) => {
              statements.push(text);
              return sql.query(text, values);
            },
          } as LedgerSql),
        doing,
      ),
  };
}

const reader = () => recorded(connectLocalLedger(ledger, "reader"));
const writer = () => recorded(connectLocalLedger(ledger, "writer"));
const snapshotReader = () => recorded(connectLocalLedger(snapshot, "reader"));

function run(connections: LedgerConnections, yes = false) {
  return reconcileLedger({ config, role: "dr", region: DR, dynamodb: emu.clients.dynamodb, ledger: connections }, { since, yes });
}

const doc = () => DynamoDBDocumentClient.from(emu.clients.dynamodb);
const item = (id: string) => getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, id);

/** Payments accepted in DR and posted by the processor: PROCESSED, or FAILED over the risk limit. */
async function processed(amounts: number[]): Promise<TransactionItem[]> {
  const made = amounts.map((amount) => makeTransaction({ amount }).item);
  for (const i of made)
    await doc().send(new PutCommand({ TableName: emu.resources.transactionsTable, Item: { ...i, accepted_region: DR } }));
  const out = await processor(sqsEvent(made.map((i) => sqsRecord(JSON.stringify(messageOf(i))))));
  expect(out.batchItemFailures).toEqual([]);
  return Promise.all(made.map(async (i) => (await item(i.transaction_id))!));
}

/** A lossy promotion: the new writer never got this entry (root deletes it and its postings). */
async function lose(db: mysql.Connection, id: string): Promise<void> {
  await db.query("DELETE p FROM postings p JOIN journal_entries e ON p.entry_id = e.id WHERE e.transaction_id = ?", [id]);
  const [result] = await db.query("DELETE FROM journal_entries WHERE transaction_id = ?", [id]);
  expect((result as { affectedRows: number }).affectedRows).toBe(1);
}

interface Row {
  region: string;
  outcome: string;
  amount: string;
  reason: string | null;
  posted_at: string;
  legs: number;
}

async function entriesOf(db: mysql.Connection, id: string): Promise<Row[]> {
  const [rows] = await db.query(
    `SELECT e.region, e.outcome, e.amount, e.reason,
            DATE_FORMAT(e.posted_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS posted_at,
            (SELECT COUNT(*) FROM postings p WHERE p.entry_id = e.id) AS legs
     FROM journal_entries e WHERE e.transaction_id = ?`,
    [id],
  );
  return (rows as Row[]).map((r) => ({ ...r, amount: String(r.amount), legs: Number(r.legs) }));
}

async function rowCounts(db: mysql.Connection): Promise<number[]> {
  const [rows] = await db.query(
    "SELECT (SELECT COUNT(*) FROM journal_entries) AS e, (SELECT COUNT(*) FROM postings) AS p, (SELECT COUNT(*) FROM accounts) AS a",
  );
  const r = (rows as Array<Record<string, number>>)[0]!;
  return [Number(r.e), Number(r.p), Number(r.a)];
}

async function post(connection: LedgerConnection, entries: LedgerEntryInput[], postedBy = DR): Promise<void> {
  const results = await postBatch(connection, entries, { region: postedBy });
  for (const e of entries) expect(results.get(e.transactionId)).toMatchObject({ status: "recorded", posted: true });
}

const entryFor = (i: TransactionItem, overrides: Partial<LedgerEntryInput> = {}): LedgerEntryInput => ({
  transactionId: i.transaction_id,
  merchantId: i.merchant_id,
  amount: i.amount,
  currency: i.currency,
  outcome: "POSTED",
  ...overrides,
});

const onlySelects = (statements: string[]) => statements.filter((s) => !/^\s*SELECT\b/i.test(s));

// ---------------------------------------------------------------------------------------------

describe("reconcile --ledger", () => {
  test("a lost entry is found and re-posted once from its item (outcome and reason too); nothing changes without --yes; a second run posts nothing", async () => {
    const [kept, lostPosted, lostRejected] = await processed([2_500, 4_000, 6_000_000]);
    expect(lostRejected).toMatchObject({ status: "FAILED", failure_reason: expect.stringMatching(/^RISK_LIMIT_EXCEEDED/) });
    await lose(root, lostPosted!.transaction_id);
    await lose(root, lostRejected!.transaction_id);
    const before = await rowCounts(root);

    const dry = await run({ reader: reader() });
    expect(dry.exitCode).toBe(2);
    expect(dry.report).toMatchObject({ itemsPosted: 3, entriesSince: 1, agree: 1, noItem: [], disagreeing: [], repairs: [] });
    expect(dry.report.missing.map((i) => i.transactionId).sort()).toEqual(
      [lostPosted!.transaction_id, lostRejected!.transaction_id].sort(),
    );
    const text = dry.lines.join("\n");
    expect(text).toMatch(/missing from the ledger \(the item says posted\)\s+2$/m);
    expect(text).toMatch(/^\s+agree\s+1$/m);
    expect(text).toMatch(new RegExp(`^\\s+${lostRejected!.transaction_id}\\s+merchant-001\\s+6000000\\s+SGD\\s+REJECTED\\s`, "m"));
    expect(text).toContain("Read-only: with --yes, 2 entries would be posted");
    expect(await rowCounts(root)).toEqual(before);
    expect(await item(lostPosted!.transaction_id)).toEqual(lostPosted);

    const readerConnection = reader();
    const fixed = await run({ reader: readerConnection, writer: writer() }, true);
    expect(fixed.exitCode).toBe(0);
    expect(fixed.lines.join("\n")).toContain("Re-posted 2 entries (posted now: 2, already there: 0); refused 0; failed 0.");
    expect(onlySelects(readerConnection.statements)).toEqual([]);
    const [posted] = await entriesOf(root, lostPosted!.transaction_id);
    expect(posted).toMatchObject({ region: DR, outcome: "POSTED", amount: "4000", reason: null, legs: 2 });
    const [rejected] = await entriesOf(root, lostRejected!.transaction_id);
    expect(rejected).toMatchObject({ outcome: "REJECTED", amount: "6000000", reason: lostRejected!.failure_reason, legs: 0 });
    // The item points at the new entry, marked as re-posted; nothing else of it changed.
    const after = await item(lostPosted!.transaction_id);
    expect(after).toEqual({ ...lostPosted, posted_at: posted!.posted_at, posted_region: DR, reposted_at: expect.any(String) });
    expect(fixed.report.repairs).toContainEqual({
      transactionId: lostPosted!.transaction_id,
      source: "item",
      result: "posted",
      postedAt: posted!.posted_at,
      region: DR,
      itemUpdated: true,
    });
    expect(await rowCounts(root)).toEqual([before[0]! + 2, before[1]! + 2, before[2]!]);
    expect((await item(kept!.transaction_id))?.posted_at).toBe(kept!.posted_at);

    const again = await run({ reader: reader(), writer: writer() }, true);
    expect(again.exitCode).toBe(0);
    expect(again.report).toMatchObject({ itemsPosted: 3, entriesSince: 3, agree: 3, missing: [], repairs: [] });
    expect(again.lines.join("\n")).toContain("Re-posted 0 entries (posted now: 0, already there: 0)");
    expect(await rowCounts(root)).toEqual([before[0]! + 2, before[1]! + 2, before[2]!]);
  });

  test("an item posted since --since whose entry the ledger dates earlier (another writer's clock) is found by its id, not reported missing", async () => {
    const [p] = await processed([1_500]);
    await new Promise((r) => setTimeout(r, 20));
    since = new Date();
    await doc().send(
      new UpdateCommand({
        TableName: emu.resources.transactionsTable,
        Key: { transaction_id: p!.transaction_id },
        UpdateExpression: "SET posted_at = :at",
        ExpressionAttributeValues: { ":at": new Date(since.getTime() + 1).toISOString().replace("Z", "000Z") },
      }),
    );
    const result = await run({ reader: reader() });
    expect(result.report).toMatchObject({ itemsPosted: 1, entriesSince: 0, agree: 1, missing: [] });
    expect(result.exitCode).toBe(0);
  });

  test("racing the processor (a redelivered message) and a second reconcile posts the entry once", async () => {
    const [payment] = await processed([3_100]);
    const id = payment!.transaction_id;
    await lose(root, id);
    const before = await rowCounts(root);
    const [one, two, delivery] = await Promise.all([
      run({ reader: reader(), writer: writer() }, true),
      run({ reader: reader(), writer: writer() }, true),
      processor(sqsEvent([sqsRecord(JSON.stringify(messageOf(payment!)), { receiveCount: 2 })])),
    ]);
    expect(delivery.batchItemFailures).toEqual([]);
    expect(await entriesOf(root, id)).toEqual([expect.objectContaining({ outcome: "POSTED", amount: "3100", legs: 2 })]);
    expect(await rowCounts(root)).toEqual([before[0]! + 1, before[1]! + 2, before[2]!]);
    const results = [...one.report.repairs, ...two.report.repairs].map((r) => r.result);
    expect(results.every((r) => r === "posted" || r === "already there")).toBe(true);
    expect(results.filter((r) => r === "posted").length).toBeLessThanOrEqual(1);
    expect([one.exitCode, two.exitCode]).toEqual([0, 0]);
  });

  test("an entry with no item and a disagreeing entry are reported for a human and never changed, even with --yes; an item that follows the ledger (key conflict) agrees", async () => {
    const app = connectLocalLedger(ledger);
    opened.push(app);
    // Posted by something with no item in the table.
    const orphan = entryFor(makeTransaction().item, { transactionId: randomUUID(), amount: 777 });
    await post(app, [orphan]);
    // The item's amount changed after posting.
    const [changed] = await processed([1_200]);
    await doc().send(
      new UpdateCommand({
        TableName: emu.resources.transactionsTable,
        Key: { transaction_id: changed!.transaction_id },
        UpdateExpression: "SET amount = :a",
        ExpressionAttributeValues: { ":a": 1_300 },
      }),
    );
    // The ledger already held this id with another amount: the item follows the ledger (key_conflict).
    const conflicted = makeTransaction().item;
    await post(app, [entryFor(conflicted, { amount: 900 })], "ap-southeast-1");
    await doc().send(new PutCommand({ TableName: emu.resources.transactionsTable, Item: conflicted }));
    expect((await processor(sqsEvent([sqsRecord(JSON.stringify(messageOf(conflicted)))]))).batchItemFailures).toHaveLength(1);
    expect(await item(conflicted.transaction_id)).toMatchObject({ status: "PROCESSED", amount: 900, key_conflict: expect.any(Object) });
    // In the ledger, the item still RECEIVED (the primary posted it; its projection never came).
    const pending = makeTransaction().item;
    await doc().send(new PutCommand({ TableName: emu.resources.transactionsTable, Item: pending }));
    await post(app, [entryFor(pending)], "ap-southeast-1");

    const before = await rowCounts(root);
    const changedItem = await item(changed!.transaction_id);
    for (const yes of [false, true]) {
      const result = await run({ reader: reader(), writer: writer() }, yes);
      expect(result.exitCode).toBe(2);
      expect(result.report.noItem.map((e) => e.transactionId)).toEqual([orphan.transactionId]);
      expect(result.report.disagreeing).toEqual([
        expect.objectContaining({
          transactionId: changed!.transaction_id,
          fields: ["amount"],
          entry: expect.objectContaining({ amount: 1_200 }),
        }),
      ]);
      expect(result.report.notProjected.map((e) => e.transactionId)).toEqual([pending.transaction_id]);
      expect(result.report).toMatchObject({ missing: [], agree: 1, repairs: [] });
      const text = result.lines.join("\n");
      expect(text).toMatch(new RegExp(`^\\s+${orphan.transactionId}\\s+merchant-001\\s+777\\s+SGD\\s+POSTED\\s`, "m"));
      expect(text).toMatch(
        new RegExp(`^\\s+${changed!.transaction_id}\\s+amount\\s+merchant-001\\s+1300\\s+SGD\\s+POSTED\\s+merchant-001\\s+1200\\s`, "m"),
      );
      expect(await rowCounts(root)).toEqual(before);
      expect(await item(changed!.transaction_id)).toEqual(changedItem);
    }
  });

  test("--snapshot: what only the old writer's snapshot holds is re-posted when the item agrees; every other difference is listed and left alone", async () => {
    const [a, b, both, missingOnly] = await processed([1_000, 2_000, 3_000, 4_000]);
    const noItem = entryFor(makeTransaction().item, { transactionId: randomUUID(), amount: 55 });
    const receivedOnly = makeTransaction().item;
    await doc().send(new PutCommand({ TableName: emu.resources.transactionsTable, Item: receivedOnly }));
    // The old writer held a, b, both (with another amount), noItem and receivedOnly, then was lost.
    const old = connectLocalLedger(snapshot);
    opened.push(old);
    await post(old, [entryFor(a!), entryFor(b!), entryFor(both!, { amount: 3_333 }), noItem, entryFor(receivedOnly)], "ap-southeast-1");
    // The promotion lost a, b and missingOnly; b's item now says another amount.
    for (const x of [a!, b!, missingOnly!]) await lose(root, x.transaction_id);
    await doc().send(
      new UpdateCommand({
        TableName: emu.resources.transactionsTable,
        Key: { transaction_id: b!.transaction_id },
        UpdateExpression: "SET amount = :a",
        ExpressionAttributeValues: { ":a": 2_222 },
      }),
    );
    const before = { writer: await rowCounts(root), snapshot: await rowCounts(snapshotRoot) };

    const dry = await run({ reader: reader(), snapshot: snapshotReader() });
    expect(dry.exitCode).toBe(2);
    expect(dry.report.snapshot).toMatchObject({
      entriesSince: 5,
      onlyInSnapshot: 4,
      toRepost: [expect.objectContaining({ transactionId: a!.transaction_id })],
    });
    const why = Object.fromEntries(dry.report.snapshot!.forHuman.map((f) => [f.transactionId, f.why]));
    expect(why).toEqual({
      [b!.transaction_id]: "item disagrees",
      [both!.transaction_id]: "writer disagrees",
      [noItem.transactionId]: "no item",
      [receivedOnly.transaction_id]: "item not posted yet",
    });
    expect(dry.lines.join("\n")).toMatch(/only in the snapshot\s+4$/m);
    expect(await rowCounts(root)).toEqual(before.writer);

    const readerConnection = reader();
    const snapshotConnection = snapshotReader();
    const fixed = await run({ reader: readerConnection, writer: writer(), snapshot: snapshotConnection }, true);
    expect(fixed.exitCode).toBe(2); // the differences for a human remain
    // a from the snapshot's entry, missingOnly from its item; b (its item disagrees with the snapshot) is not guessed at.
    expect(fixed.report.repairs.map((r) => [r.transactionId, r.source, r.result, r.itemUpdated]).sort()).toEqual(
      [
        [a!.transaction_id, "snapshot", "posted", true],
        [missingOnly!.transaction_id, "item", "posted", true],
      ].sort(),
    );
    expect(await entriesOf(root, a!.transaction_id)).toEqual([expect.objectContaining({ region: DR, amount: "1000", legs: 2 })]);
    expect(await entriesOf(root, b!.transaction_id)).toEqual([]);
    expect(await entriesOf(root, noItem.transactionId)).toEqual([]);
    expect(await entriesOf(root, receivedOnly.transaction_id)).toEqual([]);
    expect(await entriesOf(root, both!.transaction_id)).toEqual([expect.objectContaining({ amount: "3000" })]);
    expect(await rowCounts(root)).toEqual([before.writer[0]! + 2, before.writer[1]! + 4, before.writer[2]!]);
    expect(await rowCounts(snapshotRoot)).toEqual(before.snapshot);
    expect(onlySelects([...readerConnection.statements, ...snapshotConnection.statements])).toEqual([]);
    expect(snapshotConnection.config.user).toBe("snapshot_reader");
  });

  test("the reader is used for SELECT only: connected as the read-only user, a run with --yes reads through it and posts through the writer", async () => {
    const [p] = await processed([5_000]);
    await lose(root, p!.transaction_id);
    const readerConnection = reader();
    expect(readerConnection.config.user).toBe(LEDGER_USERS.reader);
    const writerConnection = writer();
    const result = await run({ reader: readerConnection, writer: writerConnection }, true);
    expect(result.exitCode).toBe(0);
    expect(readerConnection.statements.length).toBeGreaterThan(0);
    expect(onlySelects(readerConnection.statements)).toEqual([]);
    expect(writerConnection.statements.join("\n")).toMatch(/INSERT INTO journal_entries/);
    // The read-only user could not have written: the grant refuses it.
    await expect(postBatch(reader(), [entryFor(makeTransaction().item)], { region: DR })).rejects.toThrow(/denied/i);
  });
});

// ---------------------------------------------------------------------------------------------
// The command line

const READER_HOST = "payment-aurora-dr-dev.cluster-ro-abc123.ap-southeast-2.rds.amazonaws.com";
const WRITER_HOST = "payment-aurora-global-dev.global-xyz789.global.rds.amazonaws.com";

/** `npm run dr -- <argv>` with DR's clients (DynamoDB through `dynamodbEndpoint`), RDS mocked, ledger connections local. */
async function dr(argv: string[], dynamodbEndpoint = emu.dynamo.endpoint) {
  const out: string[] = [];
  const err: string[] = [];
  const rds = new RDSClient({ region: DR, credentials: CREDENTIALS });
  const rdsMock = mockClient(rds);
  rdsMock
    .on(DescribeDBClustersCommand)
    .resolves({ DBClusters: [{ DBClusterIdentifier: "x", ReaderEndpoint: READER_HOST, Port: 3306 }] })
    .on(DescribeGlobalClustersCommand)
    .resolves({ GlobalClusters: [{ GlobalClusterIdentifier: "g", Endpoint: WRITER_HOST }] });
  const asked: LedgerEndpoints[] = [];
  const connections: Array<ReturnType<typeof recorded>> = [];
  const io: CliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
    context: () => ({}),
    clients: () => ({ rds: { dr: rds, primary: new RDSClient({ region: "ap-southeast-1" }) } }) as never,
    regionClients: (_config, role) => {
      if (role !== "dr") throw new Error("only the DR region's clients");
      const common = { region: DR, credentials: CREDENTIALS, maxAttempts: 1 };
      return { dynamodb: new DynamoDBClient({ ...common, endpoint: dynamodbEndpoint }), sqs: new SQSClient(common) };
    },
    ledgerConnections: (endpoints) => {
      asked.push(endpoints);
      const made = { reader: reader(), ...(endpoints.writer ? { writer: writer() } : {}) };
      connections.push(...Object.values(made));
      return made;
    },
  };
  const code = await runDr(argv, io);
  const rdsCalls = rdsMock.calls().map((c) => (c.args[0] as object).constructor.name.replace(/Command$/, ""));
  rdsMock.restore();
  return { code, out: out.join("\n"), err: err.join("\n"), asked, rdsCalls, connections };
}

describe("reconcile --ledger on the command line", () => {
  test("argument rules: --ledger needs --since, the ledger flags need --ledger, --yes needs --adopt or --ledger, the modes do not mix", async () => {
    const at = new Date().toISOString();
    const cases: Array<[string[], RegExp]> = [
      [["reconcile", "--ledger", "--region", "dr"], /^error: --ledger needs --since/],
      [["reconcile", "--region", "dr", "--snapshot", "old.example.com"], /^error: --snapshot needs --ledger/],
      [["reconcile", "--region", "dr", "--reader-endpoint", "r.example.com"], /^error: --reader-endpoint needs --ledger/],
      [["reconcile", "--region", "dr", "--yes"], /^error: --yes needs --adopt \(enqueue stranded payments\) or --ledger/],
      [["reconcile", "--ledger", "--since", at, "--adopt"], /^error: --adopt is for the stranded-payments report/],
      [["reconcile", "--ledger", "--since", at, "--older-than", "60"], /^error: --older-than is for the stranded-payments report/],
      [["reconcile", "--ledger", "--since", "yesterday"], /^error: invalid --since "yesterday"/],
      [
        ["reconcile", "--ledger", "--since", at, "--snapshot", "old host"],
        /^error: invalid --snapshot "old host": expected HOST or HOST:PORT/,
      ],
      [["reconcile", "--ledger", "--since", at, "--snapshot", "old.example.com:99999"], /^error: invalid --snapshot/],
    ];
    for (const [argv, message] of cases) {
      const result = await dr(argv);
      expect({ argv, code: result.code, asked: result.asked.length }).toEqual({ argv, code: 1, asked: 0 });
      expect(result.err).toMatch(message);
      expect(result.err).toContain("--ledger --since ISO");
    }
  });

  test("without --yes: the reader endpoint from DescribeDBClusters, no writer; with --yes also the global writer endpoint; given endpoints ask RDS nothing", async () => {
    const [p] = await processed([2_000]);
    await lose(root, p!.transaction_id);
    const at = since.toISOString();

    const readOnly = await dr(["reconcile", "--ledger", "--region", "dr", "--since", at]);
    expect(readOnly.code).toBe(2);
    expect(readOnly.asked).toEqual([{ reader: { host: READER_HOST, port: 3306 } }]);
    expect(readOnly.rdsCalls).toEqual(["DescribeDBClusters"]);
    expect(readOnly.out).toMatch(/missing from the ledger \(the item says posted\)\s+1$/m);
    expect(await entriesOf(root, p!.transaction_id)).toEqual([]);

    const repair = await dr(["reconcile", "--ledger", "--region", "dr", "--since", at, "--yes"]);
    expect(repair.code).toBe(0);
    expect(repair.asked).toEqual([{ reader: { host: READER_HOST, port: 3306 }, writer: { host: WRITER_HOST, port: 3306 } }]);
    expect(repair.rdsCalls.sort()).toEqual(["DescribeDBClusters", "DescribeGlobalClusters"]);
    expect(repair.out).toContain("Re-posted 1 entry (posted now: 1, already there: 0)");
    expect(await entriesOf(root, p!.transaction_id)).toHaveLength(1);

    const given = await dr([
      "reconcile",
      "--ledger",
      "--region",
      "dr",
      "--since",
      at,
      "--yes",
      "--reader-endpoint",
      "reader.example.com",
      "--writer-endpoint=writer.example.com:3307",
      "--snapshot",
      "snap.example.com",
    ]);
    expect(given.rdsCalls).toEqual([]);
    expect(given.asked).toEqual([
      {
        reader: { host: "reader.example.com", port: 3306 },
        writer: { host: "writer.example.com", port: 3307 },
        snapshot: { host: "snap.example.com", port: 3306 },
      },
    ]);
    // The CLI closes the connections it used (an open one would keep the process alive).
    const used = [...readOnly.connections, ...repair.connections];
    expect(used.map((c) => [c.config.user, c.stats.connects > 0, c.closed])).toEqual([
      [LEDGER_USERS.reader, true, true],
      [LEDGER_USERS.reader, true, true],
      [LEDGER_USERS.writer, true, true],
    ]);
  });

  test("src/ops/README.md lists exactly the rights reconcile --ledger uses: on the wire, the IAM users it connects as, and their SQL", async () => {
    const [p] = await processed([2_600]);
    await lose(root, p!.transaction_id);
    // An entry with no item: its id is looked up in the table (BatchGetItem).
    const app = connectLocalLedger(ledger);
    opened.push(app);
    await post(app, [entryFor(makeTransaction().item, { transactionId: randomUUID() })]);
    const proxy = await startRecordingProxy(emu.dynamo.endpoint);
    const runs = [];
    try {
      for (const extra of [[], ["--yes"]])
        runs.push(await dr(["reconcile", "--ledger", "--region", "dr", "--since", since.toISOString(), ...extra], proxy.endpoint));
    } finally {
      await proxy.stop();
    }
    expect(runs.map((r) => r.code)).toEqual([2, 2]);
    const connections = runs.flatMap((r) => r.connections).filter((c) => c.stats.connects > 0);
    const onWire = [
      ...new Set([
        ...proxy.requests.map((r) => `dynamodb:${r.operation}`),
        ...runs.flatMap((r) => r.rdsCalls.map((c) => `rds:${c}`)),
        ...(connections.length > 0 ? ["rds-db:connect"] : []),
      ]),
    ].sort();
    const readme = readFileSync(path.resolve(__dirname, "../../src/ops/README.md"), "utf8");
    const start = readme.indexOf("**Rights `reconcile --ledger` needs**");
    expect(start).toBeGreaterThan(-1);
    const section = readme.slice(start, readme.indexOf("Nothing else", start));
    const listed = [...new Set([...section.matchAll(/`((?:dynamodb|rds|rds-db):[A-Za-z]+)`/g)].map((m) => m[1]!))].sort();
    expect(listed).toEqual(onWire);

    // The database users it connects as, and the privileges their statements need (SET, START
    // TRANSACTION, COMMIT and ROLLBACK need none), as the section lists them per user.
    const privileges = new Map<string, Set<string>>();
    for (const c of connections) {
      const used = privileges.get(c.config.user) ?? new Set<string>();
      for (const statement of c.statements.flatMap((s) => s.split(/;\s*\n/))) {
        const verb = /^\s*(\w+)/.exec(statement)?.[1]?.toUpperCase();
        if (verb === "SELECT" || verb === "INSERT" || verb === "UPDATE" || verb === "DELETE") used.add(verb);
      }
      privileges.set(c.config.user, used);
    }
    expect([...privileges.keys()].sort()).toEqual([LEDGER_USERS.writer, LEDGER_USERS.reader].sort());
    const grants = Object.fromEntries(
      [...section.matchAll(/`(payments_[a-z]+)` \(database: ([A-Z, ]+)\)/g)].map((m) => [m[1]!, m[2]!.split(", ").sort()]),
    );
    expect(grants).toEqual(Object.fromEntries([...privileges].map(([user, used]) => [user, [...used].sort()])));
  });
});

test("the ledger's entries since a time are read in pages by (posted_at, id): every entry once, ties across a page boundary included", async () => {
  const paging = await startLocalLedger({ server: ledger.server, database: "paging_test" });
  const reader = connectLocalLedger(paging, "reader");
  const db = await paging.server.rootConnection({ database: paging.database });
  try {
    // 2,300 entries over two instants: 1,200 share the first (a tie that spans a page of 1,000), and one before the window.
    const at = (i: number) =>
      i === 0 ? "2030-01-01 23:59:59.000000" : i <= 1200 ? "2030-01-02 00:00:00.000000" : "2030-01-02 00:00:01.000000";
    const values = Array.from({ length: 2301 }, (_, i) => [
      randomUUID(),
      "merchant-001",
      100,
      "SGD",
      "REJECTED",
      "paging",
      "ap-southeast-2",
      "0123456789abcdef0123456789abcdef",
      at(i),
    ]);
    await db.query(
      "INSERT INTO journal_entries (transaction_id, merchant_id, amount, currency, outcome, reason, region, batch_id, posted_at) VALUES ?",
      [values],
    );
    const read = await readEntriesSince(reader, new Date("2030-01-02T00:00:00Z"));
    expect(read).toHaveLength(2300);
    expect(new Set(read.map((e) => e.transactionId)).size).toBe(2300);
    expect(read.map((e) => e.transactionId)).not.toContain(values[0]![0]);
  } finally {
    await db.end();
    await reader.close();
  }
});
