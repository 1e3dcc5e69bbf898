/** Ledger schema on MariaDB: migrations, the app user's grants, and every constraint. */
import { createHash, randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import { LedgerError, LedgerUnavailableError, ledgerConnection, postBatch } from "../../lambdas/shared/ledger";
import { MIGRATIONS, MIGRATIONS_HASH, migrate } from "../../lambdas/shared/ledger/migrate";
import { entry, type LedgerDatabase, type LedgerServer, rows, startLedgerServer } from "../helpers/ledger";

let server: LedgerServer;
beforeAll(async () => {
  server = await startLedgerServer();
}, 300_000);
afterAll(() => server?.stop());

/** A root ledger connection and an app user unique to one test. */
function fixture(name: string) {
  const { db } = server;
  const admin = ledgerConnection({
    host: db.host,
    port: db.port,
    user: db.rootUser,
    auth: { kind: "password", password: db.rootPassword },
    tls: false,
  });
  const appUser = { name: `u_${name}`, auth: { kind: "password" as const, password: `pw-${name}` } };
  return { admin, appUser };
}

async function rootConnection(database?: string) {
  const { db } = server;
  return mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.rootUser,
    password: db.rootPassword,
    ...(database ? { database } : {}),
  });
}

describe("ledger migrations", () => {
  test("0002 indexes journal_entries by posted_at, and running it again (a migration that stopped half way) is a no-op", async () => {
    const { admin, appUser } = fixture("indexed");
    await migrate(admin, { database: "m_indexed", appUser });
    const root = await rootConnection("m_indexed");
    try {
      const indexes = async () =>
        (
          await rows<{ k: string }>(
            root,
            "SELECT DISTINCT INDEX_NAME AS k FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'm_indexed' AND TABLE_NAME = 'journal_entries' AND COLUMN_NAME = 'posted_at'",
          )
        ).map((r) => r.k);
      expect(await indexes()).toEqual(["journal_entries_posted_at"]);
      const second = MIGRATIONS.find((m) => m.name === "0002-entries-by-posted-at")!;
      for (const statement of second.statements) await root.query(statement);
      expect(await indexes()).toEqual(["journal_entries_posted_at"]);
    } finally {
      await root.end();
      await admin.close();
    }
  });

  test("an empty server gets the database, the three tables and the migration record; a re-run applies nothing", async () => {
    const { admin, appUser } = fixture("fresh");
    const first = await migrate(admin, { database: "m_fresh", appUser });
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.name));
    expect(first.executed).toEqual(MIGRATIONS.map((m) => m.name));
    expect(first.hash).toBe(MIGRATIONS_HASH);

    const second = await migrate(admin, { database: "m_fresh", appUser });
    expect(second.applied).toEqual([]);
    expect(second.executed).toEqual(first.executed);

    const root = await rootConnection("m_fresh");
    try {
      const tables = await rows<{ t: string }>(
        root,
        "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'm_fresh' ORDER BY t",
      );
      expect(tables.map((r) => r.t)).toEqual(["accounts", "journal_entries", "postings", "schema_migrations"]);
      const recorded = await rows<{ name: string; checksum: string }>(root, "SELECT name, checksum FROM schema_migrations");
      expect(recorded).toHaveLength(MIGRATIONS.length);
      expect(recorded[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await root.end();
      await admin.close();
    }
  });

  test("two migrators at once: one applies, the other waits for the lock and applies nothing", async () => {
    const a = fixture("race");
    const b = fixture("race");
    const [ra, rb] = await Promise.all([
      migrate(a.admin, { database: "m_race", appUser: a.appUser }),
      migrate(b.admin, { database: "m_race", appUser: b.appUser }),
    ]);
    expect([ra.applied.length, rb.applied.length].sort()).toEqual([0, MIGRATIONS.length]);
    expect(ra.executed).toEqual(rb.executed);
    await Promise.all([a.admin.close(), b.admin.close()]);
  });

  test("a migration edited after it was applied is refused", async () => {
    const { admin, appUser } = fixture("edited");
    await migrate(admin, { database: "m_edited", appUser });
    const root = await rootConnection("m_edited");
    try {
      await root.query("UPDATE schema_migrations SET checksum = REPEAT('0', 64)");
      await expect(migrate(admin, { database: "m_edited", appUser })).rejects.toThrow(/was changed after it was applied/);
    } finally {
      await root.end();
      await admin.close();
    }
  });

  test("the migration hash covers names and SQL in order", () => {
    const expected = createHash("sha256")
      .update(JSON.stringify(MIGRATIONS.map((m) => [m.name, m.statements])))
      .digest("hex");
    expect(MIGRATIONS_HASH).toBe(expected);
    expect(MIGRATIONS.map((m) => m.name)).toEqual([...MIGRATIONS.map((m) => m.name)].sort());
  });

  test("a bad database name is refused before any SQL", async () => {
    const { admin, appUser } = fixture("bad");
    await expect(migrate(admin, { database: "x`; DROP DATABASE mysql; --", appUser })).rejects.toBeInstanceOf(LedgerError);
    expect(admin.stats.roundTrips).toBe(0);
  });
});

describe("the app user", () => {
  const database = "m_grants";
  let appUser: { name: string; auth: { kind: "password"; password: string } };

  beforeAll(async () => {
    const f = fixture("grants");
    appUser = f.appUser;
    await migrate(f.admin, { database, appUser });
    await f.admin.close();
  });

  async function asApp(password = appUser.auth.password) {
    const { db } = server;
    return mysql.createConnection({ host: db.host, port: db.port, user: appUser.name, password, database });
  }

  test("holds exactly SELECT and INSERT on the three ledger tables", async () => {
    const root = await rootConnection();
    try {
      const grants = await rows<{ t: string; p: string }>(
        root,
        "SELECT TABLE_NAME AS t, PRIVILEGE_TYPE AS p FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? ORDER BY t, p",
        [`'${appUser.name}'@'%'`],
      );
      expect(grants).toEqual([
        { t: "accounts", p: "INSERT" },
        { t: "accounts", p: "SELECT" },
        { t: "journal_entries", p: "INSERT" },
        { t: "journal_entries", p: "SELECT" },
        { t: "postings", p: "INSERT" },
        { t: "postings", p: "SELECT" },
      ]);
    } finally {
      await root.end();
    }
  });

  test("cannot UPDATE or DELETE ledger rows, nor touch the migration record", async () => {
    const { db } = server;
    const ledger = ledgerConnection({ host: db.host, port: db.port, database, user: appUser.name, auth: appUser.auth, tls: false });
    const e = entry();
    await postBatch(ledger, [e], { region: "ap-southeast-1" });
    await ledger.close();
    const app = await asApp();
    try {
      for (const sql of [
        "UPDATE journal_entries SET amount = amount + 1",
        "DELETE FROM journal_entries",
        "UPDATE postings SET amount = 1",
        "DELETE FROM postings",
        "UPDATE accounts SET currency = 'USD'",
        "DELETE FROM accounts",
        "SELECT * FROM schema_migrations",
        "DROP TABLE postings",
      ]) {
        await expect(app.query(sql)).rejects.toMatchObject({ errno: 1142 });
      }
      const [[count]] = (await app.query("SELECT COUNT(*) AS n FROM postings")) as unknown as [[{ n: number }]];
      expect(count.n).toBe(2);
    } finally {
      await app.end();
    }
  });

  test("a re-run takes away privileges granted by hand and applies a new password", async () => {
    const root = await rootConnection();
    try {
      await root.query(`GRANT UPDATE, DELETE ON ${database}.journal_entries TO ?@'%'`, [appUser.name]);
      await root.query(`GRANT SELECT ON ${database}.schema_migrations TO ?@'%'`, [appUser.name]);
      const f = fixture("grants");
      const rotated = { ...appUser, auth: { kind: "password" as const, password: "rotated-pw" } };
      await migrate(f.admin, { database, appUser: rotated });
      await f.admin.close();
      const grants = await rows<{ p: string }>(
        root,
        "SELECT DISTINCT PRIVILEGE_TYPE AS p FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? ORDER BY p",
        [`'${appUser.name}'@'%'`],
      );
      expect(grants.map((g) => g.p)).toEqual(["INSERT", "SELECT"]);
      await expect(asApp()).rejects.toMatchObject({ code: "ER_ACCESS_DENIED_ERROR" });
      const app = await asApp("rotated-pw");
      await expect(app.query("DELETE FROM journal_entries")).rejects.toMatchObject({ errno: 1142 });
      await app.end();
    } finally {
      await root.end();
    }
  });

  test("a wrong password is a retryable error (credentials may be rotating)", async () => {
    const { db } = server;
    const ledger = ledgerConnection({
      host: db.host,
      port: db.port,
      database,
      user: appUser.name,
      auth: { kind: "password", password: "nope" },
      tls: false,
    });
    await expect(postBatch(ledger, [entry()], { region: "ap-southeast-1" })).rejects.toBeInstanceOf(LedgerUnavailableError);
    await ledger.close();
  });
});

const CHECK = [3819, 4025]; // ER_CHECK_CONSTRAINT_VIOLATED (MySQL), ER_CONSTRAINT_FAILED (MariaDB)
const FOREIGN_KEY = [1452];
const DUPLICATE = [1062];

let d: LedgerDatabase;
let root: mysql.Connection;
const ids = { merchant: 0, otherMerchant: 0, clearing: 0, usdMerchant: 0, posted: 0, rejected: 0 };
const POSTED_TX = randomUUID();
const BATCH = "0123456789abcdef0123456789abcdef";

async function insert(table: string, row: Record<string, unknown>): Promise<number> {
  const cols = Object.keys(row);
  const [result] = await root.query(
    `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
    Object.values(row),
  );
  return (result as mysql.ResultSetHeader).insertId;
}

const account = (o: Record<string, unknown> = {}) => ({
  owner_id: "m1",
  kind: "MERCHANT",
  currency: "SGD",
  created_at: "2026-01-01 00:00:00",
  ...o,
});
const journal = (o: Record<string, unknown> = {}) => ({
  transaction_id: randomUUID(),
  merchant_id: "m1",
  amount: 500,
  currency: "SGD",
  outcome: "POSTED",
  reason: null,
  region: "ap-southeast-1",
  batch_id: BATCH,
  posted_at: "2026-01-01 00:00:00.000001",
  ...o,
});
/** A CREDIT of the POSTED entry to its merchant: valid unless overridden. */
const posting = (o: Record<string, unknown> = {}) => ({
  entry_id: ids.posted,
  entry_outcome: "POSTED",
  entry_merchant_id: "m1",
  direction: "CREDIT",
  account_id: ids.merchant,
  account_kind: "MERCHANT",
  account_owner_id: "m1",
  currency: "SGD",
  amount: 500,
  ...o,
});

async function seedConstraintFixtures() {
  d = await server.database();
  root = d.root;
  ids.merchant = await insert("accounts", account());
  ids.otherMerchant = await insert("accounts", account({ owner_id: "m2" }));
  ids.usdMerchant = await insert("accounts", account({ currency: "USD" }));
  ids.clearing = await insert("accounts", account({ owner_id: "", kind: "CLEARING" }));
  ids.posted = await insert("journal_entries", journal({ transaction_id: POSTED_TX }));
  ids.rejected = await insert("journal_entries", journal({ outcome: "REJECTED", reason: "RISK_LIMIT_EXCEEDED" }));
}

async function expectRefused(table: string, row: Record<string, unknown>, errnos: number[]) {
  const before = await rows<{ n: number }>(root, `SELECT COUNT(*) AS n FROM ${table}`);
  const error = await insert(table, row).then(
    () => undefined,
    (err: { errno?: number }) => err,
  );
  expect(error).toBeDefined();
  expect(errnos).toContain(error?.errno);
  const after = await rows<{ n: number }>(root, `SELECT COUNT(*) AS n FROM ${table}`);
  expect(after[0]!.n).toBe(before[0]!.n);
}

/**
 * Every constraint of the ledger schema, tried by direct INSERTs as root (no grants in the way):
 * the database itself refuses unbalanced or malformed rows.
 */
describe("the schema's constraints", () => {
  beforeAll(seedConstraintFixtures);

  describe("accounts refuse", () => {
    test.each([
      ["a second account for the same owner, kind and currency", account(), DUPLICATE],
      ["a second clearing account for a currency", account({ owner_id: "", kind: "CLEARING" }), DUPLICATE],
      ["an unknown kind", account({ kind: "ASSET" }), CHECK],
      ["a clearing account with an owner", account({ owner_id: "m1", kind: "CLEARING", currency: "USD" }), CHECK],
      ["a merchant account without an owner", account({ owner_id: "", currency: "EUR" }), CHECK],
      ["a malformed merchant id", account({ owner_id: "bad id", currency: "EUR" }), CHECK],
      ["a lower-case currency", account({ currency: "sgd" }), CHECK],
      ["a two-letter currency", account({ currency: "SG" }), CHECK],
      ["a currency with a digit", account({ currency: "S1D" }), CHECK],
    ])("%s", (_name, row, errnos) => expectRefused("accounts", row, errnos));
  });

  describe("journal entries refuse", () => {
    test.each([
      ["a second entry for a transaction id", journal({ transaction_id: POSTED_TX, amount: 1 }), DUPLICATE],
      ["a transaction id that is not a lower-case UUID", journal({ transaction_id: randomUUID().toUpperCase() }), CHECK],
      ["a malformed merchant id", journal({ merchant_id: "m 1" }), CHECK],
      ["a zero amount", journal({ amount: 0 }), CHECK],
      ["a negative amount", journal({ amount: -500 }), CHECK],
      ["an amount beyond JavaScript's safe integers", journal({ amount: "9007199254740992" }), CHECK],
      ["a malformed currency", journal({ currency: "usd" }), CHECK],
      ["an unknown outcome", journal({ outcome: "PENDING" }), CHECK],
      ["a REJECTED entry without a reason", journal({ outcome: "REJECTED", reason: null }), CHECK],
      ["a REJECTED entry with an empty reason", journal({ outcome: "REJECTED", reason: "" }), CHECK],
      ["a malformed region", journal({ region: "AP_SOUTHEAST_1" }), CHECK],
      ["a malformed batch id", journal({ batch_id: "not-a-batch" }), CHECK],
      ["a missing posted_at", journal({ posted_at: null }), [1048]],
    ])("%s", (_name, row, errnos) => expectRefused("journal_entries", row, errnos));
  });

  describe("postings refuse", () => {
    test.each([
      ["an amount other than the entry's", () => posting({ amount: 499 }), FOREIGN_KEY],
      ["a currency other than the entry's", () => posting({ currency: "USD", account_id: ids.usdMerchant }), FOREIGN_KEY],
      [
        "another merchant than the entry's",
        () => posting({ entry_merchant_id: "m2", account_id: ids.otherMerchant, account_owner_id: "m2" }),
        FOREIGN_KEY,
      ],
      ["a leg of a REJECTED entry", () => posting({ entry_id: ids.rejected }), FOREIGN_KEY],
      ["a leg claiming its entry is anything but POSTED", () => posting({ entry_id: ids.rejected, entry_outcome: "REJECTED" }), CHECK],
      ["an entry that does not exist", () => posting({ entry_id: 987654321 }), FOREIGN_KEY],
      ["an account that does not exist", () => posting({ account_id: 987654321 }), FOREIGN_KEY],
      ["an account in another currency", () => posting({ account_id: ids.usdMerchant }), FOREIGN_KEY],
      ["an account that is not what the leg says", () => posting({ account_id: ids.clearing }), FOREIGN_KEY],
      ["a CREDIT to another merchant's account", () => posting({ account_id: ids.otherMerchant, account_owner_id: "m2" }), CHECK],
      [
        "a CREDIT to the clearing account",
        () => posting({ account_id: ids.clearing, account_kind: "CLEARING", account_owner_id: "" }),
        CHECK,
      ],
      ["a DEBIT of the merchant account", () => posting({ direction: "DEBIT" }), CHECK],
      ["an unknown direction", () => posting({ direction: "ROUND" }), CHECK],
      ["a negative amount (the sign lives in direction)", () => posting({ amount: -500 }), [...CHECK, ...FOREIGN_KEY]],
    ])("%s", (_name, row, errnos) => expectRefused("postings", row(), errnos));

    describe("once the entry has its legs", () => {
      beforeAll(async () => {
        await insert("postings", posting());
        await insert("postings", posting({ direction: "DEBIT", account_id: ids.clearing, account_kind: "CLEARING", account_owner_id: "" }));
      });

      test("a second CREDIT or DEBIT for the same entry", async () => {
        await expectRefused("postings", posting(), DUPLICATE);
        await expectRefused(
          "postings",
          posting({ direction: "DEBIT", account_id: ids.clearing, account_kind: "CLEARING", account_owner_id: "" }),
          DUPLICATE,
        );
      });

      test("its postings sum to zero", async () => {
        const [sum] = await rows<{ s: string }>(
          root,
          "SELECT SUM(CASE direction WHEN 'CREDIT' THEN amount ELSE -amount END) AS s FROM postings WHERE entry_id = ?",
          [ids.posted],
        );
        expect(Number(sum!.s)).toBe(0);
      });

      test("even root cannot change the amount, currency or merchant of a posted entry, nor delete it", async () => {
        for (const sql of [
          "UPDATE journal_entries SET amount = 1 WHERE id = ?",
          "UPDATE journal_entries SET currency = 'USD' WHERE id = ?",
          "UPDATE journal_entries SET merchant_id = 'm2' WHERE id = ?",
          "UPDATE journal_entries SET outcome = 'REJECTED', reason = 'x' WHERE id = ?",
          "DELETE FROM journal_entries WHERE id = ?",
        ]) {
          await expect(root.query(sql, [ids.posted])).rejects.toMatchObject({ errno: 1451 });
        }
      });
    });

    test("what the constraints cannot refuse: an entry with one leg (postBatch never writes one)", async () => {
      const lone = await insert("journal_entries", journal());
      await insert("postings", posting({ entry_id: lone }));
      const [legs] = await rows<{ n: number }>(root, "SELECT COUNT(*) AS n FROM postings WHERE entry_id = ?", [lone]);
      expect(legs!.n).toBe(1);
    });
  });
});
