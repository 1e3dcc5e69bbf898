/** Posting, reads, the connection and the error classes; posting against a real MariaDB. */
import { randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import {
  balances,
  classifyError,
  entryStatus,
  type LedgerConnection,
  LedgerConstraintError,
  type LedgerEntryInput,
  LedgerError,
  LedgerUnavailableError,
  ledgerConnection,
  type PostResult,
  postBatch,
} from "../../lambdas/shared/ledger";
import { connectionOptions } from "../../lambdas/shared/ledger/connection";
import { freePort } from "../../src/local/mariadb";
import { entry, type LedgerDatabase, type LedgerServer, rows, startLedgerServer } from "../helpers/ledger";

const REGION = "ap-southeast-1";
let server: LedgerServer;
/** One database for the file: tests compare counts before and after instead of starting empty. */
let d: LedgerDatabase;

beforeAll(async () => {
  server = await startLedgerServer();
  d = await server.database();
}, 300_000);
afterAll(() => server?.stop());

interface Counts {
  entries: number;
  postings: number;
  accounts: number;
}
async function counts(): Promise<Counts> {
  const [c] = await rows<Counts>(
    d.root,
    "SELECT (SELECT COUNT(*) FROM journal_entries) AS entries, (SELECT COUNT(*) FROM postings) AS postings, (SELECT COUNT(*) FROM accounts) AS accounts",
  );
  return { entries: Number(c!.entries), postings: Number(c!.postings), accounts: Number(c!.accounts) };
}

/** Sums per currency over the whole ledger and per entry must all be zero; POSTED entries have 2 legs. */
async function expectBalanced() {
  const byCurrency = await rows<{ s: string }>(
    d.root,
    "SELECT SUM(CASE direction WHEN 'CREDIT' THEN amount ELSE -amount END) AS s FROM postings GROUP BY currency",
  );
  for (const r of byCurrency) expect(Number(r.s)).toBe(0);
  const unbalanced = await rows(
    d.root,
    `SELECT e.transaction_id, e.outcome, COUNT(p.id) AS legs, COALESCE(SUM(CASE p.direction WHEN 'CREDIT' THEN p.amount ELSE -p.amount END), 0) AS s
     FROM journal_entries e LEFT JOIN postings p ON p.entry_id = e.id GROUP BY e.id, e.transaction_id, e.outcome
     HAVING s <> 0 OR legs <> CASE e.outcome WHEN 'POSTED' THEN 2 ELSE 0 END`,
  );
  expect(unbalanced).toEqual([]);
}

const recorded = (r: PostResult | undefined) => {
  expect(r?.status).toBe("recorded");
  return r as Extract<PostResult, { status: "recorded" }>;
};

/** Nine POSTED entries over three merchants and two currencies, and one REJECTED. */
function mixedBatch(shop = `shop-${randomUUID().slice(0, 8)}`): LedgerEntryInput[] {
  return [
    ...Array.from({ length: 9 }, (_, i) =>
      entry({ merchantId: `${shop}-${i % 3}`, currency: i % 2 ? "SGD" : "USD", amount: 100 * (i + 1) }),
    ),
    entry({ merchantId: `${shop}-0`, amount: 9_000_000, outcome: "REJECTED", reason: "RISK_LIMIT_EXCEEDED: over 5000000" }),
  ];
}

/** Difference of counts over `fn`. */
async function delta(fn: () => Promise<unknown>): Promise<Counts> {
  const before = await counts();
  await fn();
  const after = await counts();
  return {
    entries: after.entries - before.entries,
    postings: after.postings - before.postings,
    accounts: after.accounts - before.accounts,
  };
}

describe("posting a batch", () => {
  let app: LedgerConnection;
  const batch = mixedBatch("shop");

  beforeAll(() => {
    app = d.app();
  });

  test("posts every entry in two round trips, both legs per POSTED entry, none for REJECTED", async () => {
    await app.session(async (sql) => sql.query("SELECT 1")); // warm: the handshake is not a round trip of the batch
    const before = app.stats.roundTrips;
    let results = new Map<string, PostResult>();
    const added = await delta(async () => (results = await postBatch(app, batch, { region: REGION })));
    expect(app.stats.roundTrips - before).toBe(2);
    expect(results.size).toBe(10);
    for (const e of batch) {
      const r = recorded(results.get(e.transactionId));
      expect(r).toMatchObject({ posted: true, outcome: e.outcome, region: REGION });
      expect(r.postedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    expect(added).toEqual({ entries: 10, postings: 18, accounts: 6 + 2 });
    await expectBalanced();
  });

  test("balances are the merchant's credits per currency", async () => {
    // shop-0: entries 0 (USD 100), 3 (SGD 400), 6 (USD 700); its REJECTED entry moves nothing.
    expect(await balances(app, "shop-0")).toEqual([
      { currency: "SGD", balance: 400, postings: 1 },
      { currency: "USD", balance: 800, postings: 2 },
    ]);
    expect(await balances(app, "nobody")).toEqual([]);
  });

  test("entryStatus tells whether, when and where an entry was posted", async () => {
    const rejected = batch[9]!;
    expect(await entryStatus(app, rejected.transactionId)).toEqual({
      transactionId: rejected.transactionId,
      merchantId: "shop-0",
      amount: 9_000_000,
      currency: "SGD",
      outcome: "REJECTED",
      reason: rejected.reason,
      region: REGION,
      postedAt: expect.stringMatching(/Z$/),
    });
    expect(await entryStatus(app, randomUUID())).toBeNull();
  });

  test("a duplicate delivery posts nothing again and reports the entry as it stands", async () => {
    const first = await entryStatus(app, batch[0]!.transactionId);
    const before = await counts();
    const again = await postBatch(app, batch, { region: "ap-southeast-2" });
    for (const e of batch)
      expect(recorded(again.get(e.transactionId))).toMatchObject({ posted: false, outcome: e.outcome, region: REGION });
    expect(recorded(again.get(batch[0]!.transactionId)).postedAt).toBe(first!.postedAt);
    expect(await counts()).toEqual(before);
  });

  test("a batch of old and new entries posts only the new ones", async () => {
    const fresh = [entry(), entry({ currency: "EUR" })];
    const results = await postBatch(app, [...batch.slice(0, 3), ...fresh], { region: REGION });
    expect(batch.slice(0, 3).map((e) => results.get(e.transactionId)?.posted)).toEqual([false, false, false]);
    expect(fresh.map((e) => results.get(e.transactionId)?.posted)).toEqual([true, true]);
    await expectBalanced();
  });

  test("a duplicate with another amount, currency or merchant is a conflict; the rest of the batch posts", async () => {
    const original = batch[1]!;
    const fresh = entry();
    const results = await postBatch(
      app,
      [{ ...original, amount: original.amount + 1 }, { ...batch[2]!, currency: "EUR" }, { ...batch[3]!, merchantId: "impostor" }, fresh],
      { region: REGION },
    );
    for (const e of [original, batch[2]!, batch[3]!]) {
      const r = results.get(e.transactionId);
      expect(r).toMatchObject({
        status: "conflict",
        posted: false,
        existing: { merchantId: e.merchantId, amount: e.amount, currency: e.currency },
      });
    }
    expect(results.get(fresh.transactionId)).toMatchObject({ status: "recorded", posted: true });
    expect(await balances(app, "impostor")).toEqual([]);
    await expectBalanced();
  });

  test("invalid entries are reported one by one and the valid ones post; an all-invalid batch costs no round trip", async () => {
    const good = entry();
    const bad = [
      entry({ amount: 0 }),
      entry({ amount: 1.5 }),
      entry({ currency: "sgd" }),
      entry({ merchantId: "has space" }),
      entry({ outcome: "REJECTED" }),
      { ...entry(), transactionId: "not-a-uuid" },
    ];
    const results = await postBatch(app, [good, ...bad], { region: REGION });
    expect(results.get(good.transactionId)).toMatchObject({ status: "recorded", posted: true });
    for (const e of bad)
      expect(results.get(e.transactionId)).toMatchObject({ status: "invalid", posted: false, message: expect.any(String) });

    const before = app.stats.roundTrips;
    const none = await postBatch(app, bad, { region: REGION });
    expect([...none.values()].every((r) => r.status === "invalid")).toBe(true);
    expect(app.stats.roundTrips).toBe(before);
  });

  test("the same id twice in a batch: once if identical, invalid if not", async () => {
    const twice = entry();
    const clash = entry();
    const results = await postBatch(app, [twice, { ...twice }, clash, { ...clash, amount: clash.amount + 1 }], { region: REGION });
    expect(results.get(twice.transactionId)).toMatchObject({ status: "recorded", posted: true });
    expect(results.get(clash.transactionId)).toMatchObject({ status: "invalid" });
    expect(await entryStatus(app, clash.transactionId)).toBeNull();
  });

  test("a bad region is refused", async () => {
    await expect(postBatch(app, [entry()], { region: "Not A Region" })).rejects.toBeInstanceOf(LedgerError);
  });
});

describe("round trips", () => {
  test("a batch of 10 takes at most 3, including the ping of an idle connection", async () => {
    const pinging = d.app({ idlePingMs: 0 });
    await pinging.session((sql) => sql.query("SELECT 1"));
    const before = pinging.stats.roundTrips;
    await postBatch(pinging, mixedBatch(), { region: REGION });
    expect(pinging.stats.roundTrips - before).toBe(3);
    expect(pinging.stats.connects).toBe(1);
  });
});

/**
 * A connection of another writer (the other region's processor, as the app user) that has
 * inserted `e` as REJECTED by ap-southeast-2 and holds it uncommitted: the caller commits or rolls back.
 */
async function otherWriterHolding(e: LedgerEntryInput): Promise<mysql.Connection> {
  const other = await mysql.createConnection({
    host: server.db.host,
    port: server.db.port,
    user: d.appUser,
    password: d.appPassword,
    database: d.name,
  });
  await other.query("START TRANSACTION");
  await other.query(
    "INSERT INTO journal_entries (transaction_id, merchant_id, amount, currency, outcome, reason, region, batch_id, posted_at) VALUES (?, ?, ?, ?, 'REJECTED', 'RISK', 'ap-southeast-2', REPEAT('a', 32), UTC_TIMESTAMP(6))",
    [e.transactionId, e.merchantId, e.amount, e.currency],
  );
  return other;
}

describe("concurrent processors", () => {
  test("two connections (two regions) racing on the same ids post each entry exactly once", async () => {
    const before = await counts();
    const a = d.app();
    const b = d.app();
    let unavailable = 0;
    /** Posts until the ledger takes it, as SQS redelivery would. */
    const deliver = async (conn: LedgerConnection, batch: LedgerEntryInput[], region: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await postBatch(conn, batch, { region });
        } catch (err) {
          if (!(err instanceof LedgerUnavailableError) || attempt === 10) throw err;
          unavailable++;
        }
      }
    };
    const rounds = 25;
    for (let round = 0; round < rounds; round++) {
      const batch = Array.from({ length: 10 }, (_, i) => entry({ merchantId: `racer-${i % 4}`, currency: i % 3 ? "SGD" : "AUD" }));
      // The same entries in another order on the other side, so that the two lock in different orders.
      const [ra, rb] = await Promise.all([deliver(a, batch, "ap-southeast-1"), deliver(b, [...batch].reverse(), "ap-southeast-2")]);
      for (const e of batch) {
        const x = recorded(ra.get(e.transactionId));
        const y = recorded(rb.get(e.transactionId));
        expect(Number(x.posted) + Number(y.posted)).toBe(1);
        expect(x.postedAt).toBe(y.postedAt);
        expect(x.region).toBe(y.region);
      }
    }
    const after = await counts();
    expect([after.entries - before.entries, after.postings - before.postings]).toEqual([rounds * 10, rounds * 20]);
    await expectBalanced();
    if (process.env.LEDGER_RACE_REPORT) console.log(`race: ${unavailable} of ${rounds * 2} deliveries had to be retried`);
  });

  /** Another writer (another region's processor) inserts `e` and holds it uncommitted while `post` runs, then commits. */
  async function loseRaceTo(e: LedgerEntryInput, post: () => Promise<Map<string, PostResult>>): Promise<Map<string, PostResult>> {
    const other = await otherWriterHolding(e);
    const losing = post();
    losing.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150)); // let it block on the uncommitted row
    await other.query("COMMIT");
    await other.end();
    return losing;
  }

  test("the loser of a duplicate-key race runs the batch again at once and finds the entry", async () => {
    const before = await counts();
    const app = d.app();
    const e = entry();
    const trips = app.stats.roundTrips;
    const result = await loseRaceTo(e, () => postBatch(app, [e], { region: REGION }));
    expect(result.get(e.transactionId)).toMatchObject({ status: "recorded", posted: false, outcome: "REJECTED", region: "ap-southeast-2" });
    // The failed transaction (and its rollback), then the batch again: no redelivery needed.
    expect(app.stats.roundTrips - trips).toBeGreaterThan(2);
    const after = await counts();
    expect([after.entries - before.entries, after.postings - before.postings]).toEqual([1, 0]);
  });

  test("with no race retries left the loser gets a retryable error, and a later delivery finds the entry", async () => {
    const before = await counts();
    const app = d.app();
    const e = entry();
    const losing = loseRaceTo(e, () => postBatch(app, [e], { region: REGION, raceRetries: 0 }));
    await expect(losing).rejects.toBeInstanceOf(LedgerUnavailableError);
    await expect(losing).rejects.toMatchObject({ errno: 1062 });
    const retry = await postBatch(app, [e], { region: REGION });
    expect(retry.get(e.transactionId)).toMatchObject({ status: "recorded", posted: false, outcome: "REJECTED", region: "ap-southeast-2" });
    const after = await counts();
    expect([after.entries - before.entries, after.postings - before.postings]).toEqual([1, 0]);
  });
});

describe("when the ledger cannot take writes", () => {
  test("a read-only server (a demoted writer) fails the batch as retryable and writes nothing", async () => {
    const app = d.app();
    const batch = mixedBatch();
    await server.db.setReadOnly(true);
    try {
      let error: unknown;
      const added = await delta(async () => (error = await postBatch(app, batch, { region: REGION }).catch((err: unknown) => err)));
      expect(error).toBeInstanceOf(LedgerUnavailableError);
      expect(error).toMatchObject({ errno: 1290 });
      expect(added).toEqual({ entries: 0, postings: 0, accounts: 0 });
    } finally {
      await server.db.setReadOnly(false);
    }
    // A server that answers "read-only" is not the writer (any more): the connection is dropped, and
    // the retry opens a new one through the writer endpoint.
    const results = await postBatch(app, batch, { region: REGION });
    expect([...results.values()].every((r) => r.posted)).toBe(true);
    expect(app.stats.connects).toBe(2);
  });

  test("a user without INSERT fails the batch as retryable and writes nothing", async () => {
    const user = `ro_${process.pid}`;
    await d.root.query("CREATE USER ?@'%' IDENTIFIED BY 'ro-pw'", [user]);
    await d.root.query(`GRANT SELECT ON ${d.name}.* TO ?@'%'`, [user]);
    const readOnlyUser = ledgerConnection({
      host: server.db.host,
      port: server.db.port,
      database: d.name,
      user,
      auth: { kind: "password", password: "ro-pw" },
      tls: false,
    });
    try {
      let error: unknown;
      const added = await delta(
        async () => (error = await postBatch(readOnlyUser, mixedBatch(), { region: REGION }).catch((err: unknown) => err)),
      );
      expect(error).toBeInstanceOf(LedgerUnavailableError);
      expect(error).toMatchObject({ errno: 1142 });
      expect(added).toEqual({ entries: 0, postings: 0, accounts: 0 });
    } finally {
      await readOnlyUser.close();
    }
  });

  test("tls: true never falls back to a plain connection (this server has no TLS)", async () => {
    const tls = d.app({ tls: true });
    const e = entry();
    await expect(postBatch(tls, [e], { region: REGION })).rejects.toMatchObject({ code: "HANDSHAKE_NO_SSL_SUPPORT" });
    expect(tls.stats.connects).toBe(0);
    expect(await entryStatus(d.app(), e.transactionId)).toBeNull();
  });

  test("no server: connection refused is retryable", async () => {
    const port = await freePort();
    const nowhere = ledgerConnection({
      host: "127.0.0.1",
      port,
      database: "x",
      user: "x",
      auth: { kind: "password", password: "x" },
      tls: false,
    });
    await expect(postBatch(nowhere, [entry()], { region: REGION })).rejects.toMatchObject({
      name: "LedgerUnavailableError",
      code: "ECONNREFUSED",
    });
  });

  test("a statement that outlives the query timeout is retryable, its connection is replaced, and the retry posts", async () => {
    const app = d.app({ queryTimeoutMs: 300 });
    const e = entry();
    const blocker = await otherWriterHolding(e);
    await expect(postBatch(app, [e], { region: REGION })).rejects.toMatchObject({
      name: "LedgerUnavailableError",
      code: "PROTOCOL_SEQUENCE_TIMEOUT",
    });
    await blocker.query("ROLLBACK");
    await blocker.end();
    const retry = await postBatch(app, [e], { region: REGION });
    expect(retry.get(e.transactionId)).toMatchObject({ status: "recorded", posted: true });
    expect(app.stats.connects).toBe(2);
  });

  test("a connection killed by the server (failover) fails one batch, the next reconnects", async () => {
    const app = d.app();
    const [thread] = await app.session((sql) => sql.query<Array<{ id: number }>>("SELECT CONNECTION_ID() AS id"));
    await d.root.query(`KILL ${Number(thread!.id)}`);
    await new Promise((r) => setTimeout(r, 50));
    const e = entry();
    // The 'end' event may or may not have arrived yet: either the batch fails as retryable or it reconnects.
    const first = await postBatch(app, [e], { region: REGION }).catch((err: unknown) => err);
    if (first instanceof Error) expect(first).toBeInstanceOf(LedgerUnavailableError);
    const second = await postBatch(app, [e], { region: REGION });
    expect(second.get(e.transactionId)).toMatchObject({ status: "recorded" });
    expect(app.stats.connects).toBe(2);
    expect(await entryStatus(app, e.transactionId)).toMatchObject({ outcome: "POSTED" });
    await expectBalanced();
  });
});

const AWS = { host: "ledger.cluster-abc.ap-southeast-1.rds.amazonaws.com", port: 3306, database: "ledger", user: "ledger_app" };

describe("ledger connection options", () => {
  const saved = { ...process.env };
  beforeAll(() => {
    // The signer signs locally; these never leave the process.
    process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
    process.env.AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  });
  afterAll(() => {
    process.env = saved;
  });

  test("IAM: a fresh RDS auth token as the password, sent in clear text over verified TLS with the RDS CA", async () => {
    const options = await connectionOptions({ ...AWS, auth: { kind: "iam", regions: ["ap-southeast-1", "ap-southeast-2"] }, tls: true });
    expect(options.password).toMatch(
      /^ledger\.cluster-abc\.ap-southeast-1\.rds\.amazonaws\.com:3306\/\?Action=connect&DBUser=ledger_app&.*X-Amz-Signature=[0-9a-f]{64}/,
    );
    expect(options.password).toContain("X-Amz-Expires=900");
    expect(options.enableCleartextPlugin).toBe(true);
    const ssl = options.ssl as { ca: string[]; rejectUnauthorized: boolean; verifyIdentity: boolean };
    expect(ssl.ca.length).toBeGreaterThan(10);
    expect(ssl.ca.every((pem) => pem.includes("BEGIN CERTIFICATE"))).toBe(true);
    expect(ssl).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
    expect(options).toMatchObject({ connectTimeout: 3000, multipleStatements: true, database: "ledger" });
  });

  test("IAM: the token is signed for the region asked for (the writer's region after a failover)", async () => {
    const config = { ...AWS, auth: { kind: "iam" as const, regions: ["ap-southeast-1", "ap-southeast-2"] }, tls: true };
    expect((await connectionOptions(config)).password).toContain("%2Fap-southeast-1%2Frds-db%2Faws4_request");
    expect((await connectionOptions(config, "ap-southeast-2")).password).toContain("%2Fap-southeast-2%2Frds-db%2Faws4_request");
  });

  test("IAM without TLS is refused as a configuration error (the token would travel in clear text)", async () => {
    const conn = ledgerConnection({ ...AWS, auth: { kind: "iam", regions: ["ap-southeast-1", "ap-southeast-2"] }, tls: false });
    const error = await conn.session((sql) => sql.query("SELECT 1")).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).not.toBeInstanceOf(LedgerUnavailableError);
    expect(conn.stats.connects).toBe(0);
  });

  test("password: no TLS locally, the RDS CA when asked", async () => {
    const local = await connectionOptions({ ...AWS, host: "127.0.0.1", auth: { kind: "password", password: "pw" }, tls: false });
    expect(local).toMatchObject({ password: "pw" });
    expect(local.ssl).toBeUndefined();
    expect(local.enableCleartextPlugin).toBeUndefined();
    const remote = await connectionOptions({ ...AWS, auth: { kind: "password", password: "pw" }, tls: true });
    expect(remote.ssl).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
  });
});

describe("ledger error classes", () => {
  const server = (errno: number, code = "ER_X") =>
    Object.assign(new Error(`server error ${errno}`), { errno, code, sqlMessage: `message ${errno}` });

  test.each([
    [1290, "read-only (--read-only, Aurora reader)"],
    [1836, "read-only mode"],
    [1792, "read-only transaction"],
    [1213, "deadlock"],
    [1205, "lock wait timeout"],
    [1062, "duplicate key race"],
    [1045, "access denied"],
    [1142, "missing privilege"],
    [1146, "table not migrated yet"],
    [1053, "server shutting down"],
  ])("errno %i (%s) is retryable", (errno) => {
    const e = classifyError(server(errno), "posting");
    expect(e).toBeInstanceOf(LedgerUnavailableError);
    expect(e).toMatchObject({ retryable: true, errno });
    expect(e.message).toMatch(/^posting: /);
  });

  test.each(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT"])(
    "%s is retryable",
    (code) => {
      expect(classifyError(Object.assign(new Error(code), { code }), "x")).toBeInstanceOf(LedgerUnavailableError);
    },
  );

  test("any fatal driver error is retryable", () => {
    expect(classifyError(Object.assign(new Error("boom"), { fatal: true, code: "SOMETHING_NEW" }), "x")).toBeInstanceOf(
      LedgerUnavailableError,
    );
  });

  test.each([3819, 4025, 1452, 1406])("errno %i (the rows were refused) is a constraint error, not retryable", (errno) => {
    const e = classifyError(server(errno), "x");
    expect(e).toBeInstanceOf(LedgerConstraintError);
    expect(e.retryable).toBe(false);
  });

  test("anything else is a plain LedgerError, and ledger errors pass through unchanged", () => {
    const e = classifyError(server(1064, "ER_PARSE_ERROR"), "x");
    expect(e.constructor).toBe(LedgerError);
    expect(e.retryable).toBe(false);
    expect(classifyError(e, "y")).toBe(e);
  });
});
