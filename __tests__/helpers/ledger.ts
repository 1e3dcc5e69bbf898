/**
 * Ledger tests: one MariaDB per test file, a freshly migrated database (with its own app user)
 * per test or describe block.
 */
import { randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import type { LedgerEntryInput } from "../../lambdas/shared/ledger";
import { type LedgerConfig, type LedgerConnection, ledgerConnection } from "../../lambdas/shared/ledger";
import { migrate } from "../../lambdas/shared/ledger/migrate";
import { type MariaDb, startMariaDb } from "../../src/local/mariadb";

export interface LedgerDatabase {
  readonly name: string;
  readonly appUser: string;
  readonly appPassword: string;
  /** Root, with this database as default (for assertions and constraint tests). */
  readonly root: mysql.Connection;
  /** A new ledger connection as the app user (closed by LedgerServer.stop). */
  app(overrides?: Partial<LedgerConfig>): LedgerConnection;
  /** The server's ledger connection as root (what the migrator uses; its default database moves). */
  admin(): LedgerConnection;
}

export interface LedgerServer {
  readonly db: MariaDb;
  database(): Promise<LedgerDatabase>;
  stop(): Promise<void>;
}

let databases = 0;

export async function startLedgerServer(): Promise<LedgerServer> {
  const db = await startMariaDb();
  const closers: Array<() => Promise<unknown>> = [];
  const track = (c: LedgerConnection) => {
    closers.push(() => c.close());
    return c;
  };
  const base = { host: db.host, port: db.port };
  const adminConnection = track(
    ledgerConnection({ ...base, tls: false, user: db.rootUser, auth: { kind: "password", password: db.rootPassword } }),
  );
  const admin = () => adminConnection;

  return {
    db,
    async database() {
      const n = ++databases;
      const name = `ledger_${process.pid}_${n}`;
      const appUser = `app_${process.pid}_${n}`;
      const appPassword = `pw-${randomUUID()}`;
      await migrate(admin(), { database: name, appUser: { name: appUser, auth: { kind: "password", password: appPassword } } });
      const root = await mysql.createConnection({
        ...base,
        user: db.rootUser,
        password: db.rootPassword,
        database: name,
        multipleStatements: true,
      });
      closers.push(() => root.end());
      return {
        name,
        appUser,
        appPassword,
        root,
        admin,
        app: (overrides = {}) =>
          track(
            ledgerConnection({
              ...base,
              tls: false,
              database: name,
              user: appUser,
              auth: { kind: "password", password: appPassword },
              ...overrides,
            }),
          ),
      };
    },
    async stop() {
      await Promise.allSettled(closers.map((c) => c()));
      await db.stop();
    },
  };
}

/** A valid POSTED entry with a fresh transaction id. */
export function entry(overrides: Partial<LedgerEntryInput> = {}): LedgerEntryInput {
  return { transactionId: randomUUID(), merchantId: "merchant-1", amount: 1250, currency: "SGD", outcome: "POSTED", ...overrides };
}

/** Rows of a query as plain objects. */
export async function rows<T = Record<string, unknown>>(conn: mysql.Connection, sql: string, values: unknown[] = []): Promise<T[]> {
  const [result] = await conn.query(sql, values);
  return result as T[];
}
