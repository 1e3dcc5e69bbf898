import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import { LedgerError, LedgerUnavailableError, ledgerConnection, postBatch } from "../../lambdas/shared/ledger";
import { MIGRATIONS, MIGRATIONS_HASH, migrate } from "../../lambdas/shared/ledger/migrate";
import { entry, type LedgerServer, rows, startLedgerServer } from "../helpers/ledger";

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
