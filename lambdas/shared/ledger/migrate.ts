/**
 * Applies the ledger migrations with umzug and (re)creates the application's database user.
 * Run by the migrator function (in AWS, as the Aurora master user) and by the local runtime.
 *
 * Safe to re-run and to run twice at once: a named lock (GET_LOCK) serialises migrators, umzug
 * skips what `schema_migrations` records as applied, and every statement is idempotent in case
 * a run stopped half way through a migration (MySQL commits each DDL statement on its own).
 * An applied migration whose SQL has changed since is refused rather than silently skipped.
 *
 * Kept apart from the posting code: umzug is only bundled into the migrator, and loaded only when a
 * migration is pending (a re-run, the usual deploy, never evaluates it).
 */
import type { UmzugStorage } from "umzug";
import type { LedgerConnection, LedgerSql } from "./connection";
import { LedgerError } from "./errors";
import { type LedgerMigration, MIGRATIONS, MIGRATIONS_HASH, migrationChecksum } from "./migrations";
import { LEDGER_TABLES } from "./tables";

export { MIGRATIONS, MIGRATIONS_HASH } from "./migrations";

/** How the application user proves who it is: IAM tokens in AWS, a password locally (MariaDB has no IAM plugin). */
export type AppUserAuth = { kind: "iam" } | { kind: "password"; password: string };

export interface LedgerUser {
  name: string;
  auth: AppUserAuth;
  /** @default "%" */
  host?: string;
}

export interface MigrateOptions {
  /** Database to create (if missing) and migrate. */
  database: string;
  /** The application's user: may only SELECT and INSERT the ledger tables. */
  appUser: LedgerUser;
  /** A user that may only SELECT them (balance reads), when one is wanted. */
  readUser?: LedgerUser;
  /** How long to wait for another migrator's lock, seconds. @default 60 */
  lockTimeoutSeconds?: number;
  /** Progress lines (e.g. the Powertools logger's info). */
  log?: (message: string, details?: Record<string, unknown>) => void;
}

export interface MigrateResult {
  /** Migrations applied by this run, in order (empty when the database was up to date). */
  applied: string[];
  /** Every migration now recorded as applied. */
  executed: string[];
  hash: string;
}

const LOCK_NAME = "ledger_migrations";
const IDENTIFIER = /^[A-Za-z0-9_]{1,64}$/;
const USER_NAME = /^[A-Za-z0-9_]{1,32}$/;
const USER_HOST = /^[A-Za-z0-9.%_:-]{1,255}$/;

/** umzug storage in the ledger database itself: one row per applied migration, with its checksum. */
function migrationTable(sql: LedgerSql, checksums: ReadonlyMap<string, string>): UmzugStorage<LedgerSql> {
  return {
    async logMigration({ name }) {
      await sql.query("INSERT INTO schema_migrations (name, checksum, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))", [
        name,
        checksums.get(name) ?? "",
      ]);
    },
    async unlogMigration({ name }) {
      await sql.query("DELETE FROM schema_migrations WHERE name = ?", [name]);
    },
    async executed() {
      const rows = await sql.query<Array<{ name: string }>>("SELECT name FROM schema_migrations ORDER BY name");
      return rows.map((r) => r.name);
    },
  };
}

type LedgerPrivilege = "SELECT" | "INSERT";

/** Creates or updates a user so that it can do exactly `privileges` on the ledger tables. */
async function ensureUser(sql: LedgerSql, database: string, appUser: LedgerUser, privileges: readonly LedgerPrivilege[]): Promise<void> {
  const host = appUser.host ?? "%";
  if (!USER_NAME.test(appUser.name)) throw new LedgerError(`Invalid app user name "${appUser.name}": 1-32 letters, digits or _`);
  if (!USER_HOST.test(host)) throw new LedgerError(`Invalid app user host "${host}"`);
  // `?` values are escaped by mysql2 (client-side), which works in account management statements too.
  const account = "?@?";
  const who = [appUser.name, host];
  // Aurora MySQL's IAM plugin; TLS is required because the token travels as a clear-text password.
  const iam = appUser.auth.kind === "iam";
  const identified = iam ? "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL" : "IDENTIFIED BY ? REQUIRE NONE";
  const secret = appUser.auth.kind === "password" ? [appUser.auth.password] : [];
  await sql.query(`CREATE USER IF NOT EXISTS ${account} ${identified}`, [...who, ...secret]);
  // An existing user keeps its sessions; this only brings its credentials and TLS rule up to date.
  await sql.query(`ALTER USER ${account} ${identified}`, [...who, ...secret]);

  const expected = new Set(LEDGER_TABLES.flatMap((t) => privileges.map((p) => `${t}:${p}`)));
  const grantee = `'${appUser.name}'@'${host}'`;
  const [global, schema, table, column] = await Promise.all([
    sql.query<Array<{ p: string }>>("SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?", [grantee]),
    sql.query<Array<{ p: string }>>("SELECT PRIVILEGE_TYPE AS p FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?", [grantee]),
    sql.query<Array<{ s: string; t: string; p: string }>>(
      "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, PRIVILEGE_TYPE AS p FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?",
      [grantee],
    ),
    sql.query<Array<{ p: string }>>("SELECT PRIVILEGE_TYPE AS p FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = ?", [grantee]),
  ]);
  const extra =
    global.some((r) => r.p !== "USAGE") ||
    schema.length > 0 ||
    column.length > 0 ||
    table.some((r) => r.s !== database || !expected.has(`${r.t}:${r.p}`));
  // Only a user that holds more than it should loses everything first (a brief window in which
  // it can do nothing: its writes fail as retryable); the usual re-run changes no privilege.
  if (extra) await sql.query(`REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${account}`, who);
  for (const t of LEDGER_TABLES) {
    await sql.query(`GRANT ${privileges.join(", ")} ON \`${database}\`.\`${t}\` TO ${account}`, who);
  }
}

/**
 * Creates the database if needed, applies pending migrations and (re)creates the app user.
 * Runs on one session of `connection` (the named lock belongs to it).
 */
export async function migrate(connection: LedgerConnection, options: MigrateOptions): Promise<MigrateResult> {
  const { database, appUser } = options;
  if (!IDENTIFIER.test(database)) throw new LedgerError(`Invalid database name "${database}": 1-64 letters, digits or _`);
  const log = options.log ?? (() => undefined);
  const checksums = new Map(MIGRATIONS.map((m) => [m.name, migrationChecksum(m)]));

  return connection.session(async (sql) => {
    const [lock] = await sql.query<Array<{ locked: number | null }>>("SELECT GET_LOCK(?, ?) AS locked", [
      LOCK_NAME,
      options.lockTimeoutSeconds ?? 60,
    ]);
    if (lock?.locked !== 1) throw new LedgerError(`Another migrator held the lock ${LOCK_NAME} for too long`);
    try {
      await sql.query(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      await sql.query(`USE \`${database}\``);
      await sql.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
          name VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
          checksum CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
          applied_at DATETIME(6) NOT NULL,
          PRIMARY KEY (name)
        ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,
      );

      const recorded = await sql.query<Array<{ name: string; checksum: string }>>("SELECT name, checksum FROM schema_migrations");
      for (const row of recorded) {
        const now = checksums.get(row.name);
        if (now === undefined) throw new LedgerError(`Database has migration ${row.name}, which this code does not know (older code?)`);
        if (now !== row.checksum)
          throw new LedgerError(`Migration ${row.name} was changed after it was applied; add a new migration instead`);
      }

      const recordedNames = new Set(recorded.map((row) => row.name));
      let applied: string[] = [];
      if (MIGRATIONS.some((m) => !recordedNames.has(m.name))) {
        const { Umzug } = await import("umzug");
        const umzug = new Umzug<LedgerSql>({
          migrations: MIGRATIONS.map((m: LedgerMigration) => ({
            name: m.name,
            up: async ({ context }) => {
              for (const statement of m.statements) await context.query(statement);
            },
          })),
          context: sql,
          storage: migrationTable(sql, checksums),
          logger: undefined,
        });
        applied = (await umzug.up()).map((m) => m.name);
        for (const name of applied) log("ledger migration applied", { name });
      }

      await ensureUser(sql, database, appUser, ["SELECT", "INSERT"]);
      if (options.readUser) await ensureUser(sql, database, options.readUser, ["SELECT"]);
      // As umzug lists them: the known migrations that are recorded, in their order.
      const executed = MIGRATIONS.filter((m) => recordedNames.has(m.name) || applied.includes(m.name)).map((m) => m.name);
      return { applied, executed, hash: MIGRATIONS_HASH };
    } finally {
      await sql.query("SELECT RELEASE_LOCK(?)", [LOCK_NAME]).catch(() => undefined);
    }
  }, "migrating the ledger");
}
