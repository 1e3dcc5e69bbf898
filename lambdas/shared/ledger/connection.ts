/**
 * One mysql2 connection per container, opened on first use and reopened when it was closed or
 * broke (a failover closes every connection to the old writer) or answered as a reader or a
 * demoted writer (errors.ts, notTheWriter). A pool would only add idle
 * connections: a Lambda container runs one batch at a time.
 *
 * In AWS: TLS verified against the Amazon RDS root CAs of the deployment's regions (./rds-ca,
 * chosen at bundling) with host name verification, and IAM
 * database authentication: a token from @aws-sdk/rds-signer, sent as a clear-text password
 * (mysql_clear_password, only ever over that TLS connection). Tokens live 15 minutes and are
 * checked only when a connection opens, so a fresh token is signed for each new connection.
 * Locally: a password and no TLS.
 *
 * multipleStatements is on because postBatch sends its whole transaction (isolation level,
 * BEGIN, three INSERT ... SELECT and the read-back) as one round trip. Every value goes
 * through mysql2's escaping (`?` placeholders), never string concatenation, so the usual risk
 * of multiple statements (an injected second statement) does not arise.
 */
import type { Connection, ConnectionOptions } from "mysql2/promise";
import { createConnection } from "mysql2/promise";
import { breaksConnection, classifyError, LedgerError } from "./errors";
import { RDS_CA_CERTIFICATES } from "./rds-ca";

/**
 * IAM tokens are signed for one region, and the global writer endpoint leads to whichever region
 * holds the writer now: `regions` lists where it can be, in the order to try them.
 */
export type LedgerAuth = { kind: "iam"; regions: readonly string[] } | { kind: "password"; password: string };

export interface LedgerConfig {
  host: string;
  port: number;
  /** Default database; omitted only by the migrator, which creates it. */
  database?: string;
  user: string;
  auth: LedgerAuth;
  /** TLS with the Amazon RDS CA and host name check. Required by IAM auth. */
  tls: boolean;
  /** @default 3000 */
  connectTimeoutMs?: number;
  /** Each statement (round trip) must answer within this; the connection is dropped otherwise. @default 5000 */
  queryTimeoutMs?: number;
  /** A connection idle this long is pinged before use (and replaced if dead). @default 10000 */
  idlePingMs?: number;
}

/** What ledger operations run their SQL through. */
export interface LedgerSql {
  /** One round trip. `values` fill `?` placeholders (escaped by mysql2). */
  query<T = unknown>(sql: string, values?: readonly unknown[]): Promise<T>;
}

export interface LedgerStats {
  /** Statements (or multi-statement batches) and pings sent: one network round trip each. */
  roundTrips: number;
  /** Connections opened (each opening costs a handshake, and TLS in AWS). */
  connects: number;
}

export interface LedgerConnection {
  /**
   * Runs `fn` with the connection to itself (calls queue up, so a transaction never interleaves
   * with another caller's statements). Opens or reopens the connection first when needed.
   * Errors come out classified (LedgerUnavailableError, LedgerError); after one that breaks the
   * connection, the next session opens a new one. `doing` names the operation in messages.
   */
  session<T>(fn: (sql: LedgerSql) => Promise<T>, doing?: string): Promise<T>;
  readonly stats: LedgerStats;
  readonly config: Readonly<LedgerConfig>;
  /** Closes the connection; a later session opens a new one. */
  close(): Promise<void>;
}

/** The RDS CAs; one object so mysql2 builds its TLS context once per container. */
const RDS_TLS = { ca: [...RDS_CA_CERTIFICATES], rejectUnauthorized: true, verifyIdentity: true, minVersion: "TLSv1.2" as const };

/**
 * The mysql2 options for one new connection (signs a fresh IAM token each time, for `region`:
 * default the first of the configured regions). Exported for tests.
 */
export async function connectionOptions(config: LedgerConfig, region?: string): Promise<ConnectionOptions> {
  const base: ConnectionOptions = {
    host: config.host,
    port: config.port,
    user: config.user,
    ...(config.database !== undefined ? { database: config.database } : {}),
    connectTimeout: config.connectTimeoutMs ?? 3000,
    multipleStatements: true,
    // Amounts stay exact: BIGINT and DECIMAL (SUM) arrive as strings and are checked on conversion.
    supportBigNumbers: true,
    bigNumberStrings: true,
    // posted_at keeps its microseconds (a JS Date has milliseconds only); it is stored in UTC.
    dateStrings: ["DATETIME"],
    timezone: "Z",
    charset: "utf8mb4_unicode_ci",
  };
  if (config.auth.kind === "password") {
    return { ...base, password: config.auth.password, ...(config.tls ? { ssl: RDS_TLS } : {}) };
  }
  if (!config.tls) throw new LedgerError("IAM database authentication sends its token in clear text: it requires tls: true");
  // Loaded on first IAM connection only: local runs and tests never pay for the SDK's signer.
  const { Signer } = await import("@aws-sdk/rds-signer");
  const signer = new Signer({
    hostname: config.host,
    port: config.port,
    username: config.user,
    region: region ?? config.auth.regions[0],
  });
  const token = await signer.getAuthToken();
  return { ...base, password: token, enableCleartextPlugin: true, ssl: RDS_TLS };
}

/** The per-container connection handle (see the module comment). Connects lazily. */
export function ledgerConnection(config: LedgerConfig): LedgerConnection {
  const queryTimeout = config.queryTimeoutMs ?? 5000;
  const idlePingMs = config.idlePingMs ?? 10_000;
  const stats: LedgerStats = { roundTrips: 0, connects: 0 };
  let current: { conn: Connection; broken: boolean; lastUsed: number } | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const discard = () => {
    const old = current;
    current = undefined;
    old?.conn.destroy();
  };

  // IAM: the region whose token the writer last accepted is tried first.
  const regions: Array<string | undefined> = config.auth.kind === "iam" ? [...config.auth.regions] : [undefined];
  const connect = async (): Promise<Connection> => {
    let lastError: unknown;
    for (const region of [...regions]) {
      try {
        const conn = await createConnection(await connectionOptions(config, region));
        regions.splice(regions.indexOf(region), 1);
        regions.unshift(region);
        return conn;
      } catch (err) {
        lastError = err;
        // ER_ACCESS_DENIED_ERROR: a token for a region that does not hold the writer now.
        if ((err as { errno?: number }).errno !== 1045) break;
      }
    }
    throw lastError;
  };

  const open = async () => {
    let conn: Connection;
    try {
      conn = await connect();
    } catch (err) {
      throw classifyError(err, `connecting to the ledger at ${config.host}:${config.port}`);
    }
    stats.connects++;
    const entry = { conn, broken: false, lastUsed: Date.now() };
    // A connection that errors or ends outside a query (server restart, failover) is not reused.
    conn.on("error", () => (entry.broken = true));
    conn.on("end", () => (entry.broken = true));
    current = entry;
    return entry;
  };

  const ready = async () => {
    if (current && !current.broken && Date.now() - current.lastUsed >= idlePingMs) {
      stats.roundTrips++;
      try {
        await current.conn.ping();
      } catch {
        current.broken = true;
      }
    }
    if (current?.broken) discard();
    return current ?? (await open());
  };

  const run = async <T>(fn: (sql: LedgerSql) => Promise<T>): Promise<T> => {
    const entry = await ready();
    const sql: LedgerSql = {
      query: async <R>(text: string, values?: readonly unknown[]) => {
        stats.roundTrips++;
        entry.lastUsed = Date.now();
        try {
          const [rows] = await entry.conn.query({ sql: text, values: values as unknown[] | undefined, timeout: queryTimeout });
          return rows as R;
        } catch (err) {
          // After a timeout the server may still answer the old statement: never reuse that socket.
          if (breaksConnection(err)) {
            entry.broken = true;
            if (current === entry) discard();
          }
          throw err;
        }
      },
    };
    return fn(sql);
  };

  return {
    stats,
    config,
    session<T>(fn: (sql: LedgerSql) => Promise<T>, doing = "ledger"): Promise<T> {
      const result = queue
        .then(() => run(fn))
        .catch((err: unknown) => {
          throw classifyError(err, doing);
        });
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      await queue;
      const old = current;
      current = undefined;
      if (old) await old.conn.end().catch(() => old.conn.destroy());
    },
  };
}
