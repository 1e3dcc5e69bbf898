/**
 * A local stand-in for the Aurora ledger: a real MySQL-protocol server (MariaDB, src/local/mariadb.ts),
 * migrated by the same migrations the migrator applies at deploy, with the application user
 * authenticated by a password (MariaDB has no IAM plugin) over plain TCP on 127.0.0.1.
 */
import { randomUUID } from "node:crypto";
import { type LedgerConnection, ledgerConnection } from "../../lambdas/shared/ledger";
import { migrate } from "../../lambdas/shared/ledger/migrate";
import { LEDGER_DATABASE, LEDGER_USERS } from "../contracts/ledger";
import { type MariaDb, startMariaDb } from "./mariadb";

/** Where the processor connects: all that a region needs of the ledger (the drill's regions share one). */
export type LedgerEndpoint = Pick<LocalLedger, "host" | "port" | "database" | "user" | "password">;

export interface LocalLedger {
  readonly server: MariaDb;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** The application user (SELECT and INSERT on the ledger tables only) and its password. */
  readonly user: string;
  readonly password: string;
  /** The balance reader (SELECT only) and its password. */
  readonly readUser: string;
  readonly readPassword: string;
  /** Stops the server (when this ledger started it) and removes its data. */
  stop(): Promise<void>;
}

export interface LocalLedgerOptions {
  /** An already running server to add this ledger's database to (tests share one per file). */
  server?: MariaDb;
  /** @default the deployed database name */
  database?: string;
  /** @default the deployed application user */
  user?: string;
  /** @default the deployed balance reader */
  readUser?: string;
}

/** Starts (or reuses) a MariaDB and migrates a ledger database in it. */
export async function startLocalLedger(options: LocalLedgerOptions = {}): Promise<LocalLedger> {
  const server = options.server ?? (await startMariaDb());
  const database = options.database ?? LEDGER_DATABASE;
  const user = options.user ?? LEDGER_USERS.writer;
  const password = `local-${randomUUID()}`;
  const readUser = options.readUser ?? LEDGER_USERS.reader;
  const readPassword = `local-${randomUUID()}`;
  const admin = ledgerConnection({
    host: server.host,
    port: server.port,
    user: server.rootUser,
    tls: false,
    auth: { kind: "password", password: server.rootPassword },
  });
  try {
    await migrate(admin, {
      database,
      appUser: { name: user, auth: { kind: "password", password } },
      readUser: { name: readUser, auth: { kind: "password", password: readPassword } },
    });
  } catch (err) {
    if (!options.server) await server.stop();
    throw err;
  } finally {
    await admin.close();
  }
  return {
    server,
    host: server.host,
    port: server.port,
    database,
    user,
    password,
    readUser,
    readPassword,
    stop: async () => {
      if (!options.server) await server.stop();
    },
  };
}

/** A connection to a local ledger as its application user (`writer`) or its balance reader, by password over plain TCP. */
export function connectLocalLedger(ledger: LocalLedger, as: "writer" | "reader" = "writer"): LedgerConnection {
  const [user, password] = as === "writer" ? [ledger.user, ledger.password] : [ledger.readUser, ledger.readPassword];
  return connectLedgerEndpoint({ host: ledger.host, port: ledger.port, database: ledger.database, user, password });
}

/** A connection to a local ledger endpoint (a server, or a proxy in front of one) as the endpoint's user. */
export function connectLedgerEndpoint(endpoint: LedgerEndpoint): LedgerConnection {
  return ledgerConnection({
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: endpoint.user,
    tls: false,
    auth: { kind: "password", password: endpoint.password },
  });
}
