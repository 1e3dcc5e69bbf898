/**
 * A real MySQL-protocol server for tests and the local runtime: Debian's mariadb-server (10.11),
 * started on 127.0.0.1 and a free port with a throw-away data directory.
 *
 * Speed: `mariadb-install-db` (about a second) runs once per machine into a template directory
 * in the OS temp dir, keyed by the server binary; every start copies that template (a few MB)
 * and boots with a small InnoDB (no doublewrite, lazy log flush). MariaDB is the stand-in for
 * Aurora MySQL 3 (MySQL 8.0): the ledger's SQL sticks to what both accept.
 *
 * This module must not import jest: the local runtime uses it too.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const INSTALL_HINT =
  "MariaDB server not found: install Debian's mariadb-server (apt-get install mariadb-server) or put mariadbd on PATH";

/** MySQL 8.0's default sql_mode, so local runs refuse what Aurora refuses. */
export const MYSQL8_SQL_MODE =
  "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The server binary: mariadbd on PATH, /usr/sbin/mariadbd (not on a non-root PATH), or mysqld. */
export function findMariaDbServer(): string | undefined {
  return onPath("mariadbd") ?? (isExecutable("/usr/sbin/mariadbd") ? "/usr/sbin/mariadbd" : undefined) ?? onPath("mysqld");
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/**
 * Returns the server binary, installing Debian's mariadb-server first when it is missing and
 * this process may (root, apt-get present). Otherwise throws one line saying what to install.
 */
export function ensureMariaDbInstalled(): string {
  const found = findMariaDbServer();
  if (found) return found;
  const aptGet = onPath("apt-get");
  if (!isRoot() || !aptGet) throw new Error(INSTALL_HINT);
  // Parallel test workers would otherwise race for dpkg's lock: one installs, the others wait.
  return withInstallLock(() => findMariaDbServer() ?? aptInstall(aptGet));
}

function aptInstall(aptGet: string): string {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["-qq", "update"],
    ["-qq", "install", "-y", "--no-install-recommends", "mariadb-server"],
  ]) {
    const run = spawnSync(aptGet, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (run.status !== 0) {
      const detail = (run.stderr || run.stdout || String(run.error ?? "")).trim().split("\n").slice(-3).join(" | ");
      throw new Error(`${INSTALL_HINT} (apt-get ${args.join(" ")} failed: ${detail})`);
    }
  }
  const installed = findMariaDbServer();
  if (!installed) throw new Error(INSTALL_HINT);
  return installed;
}

/** Runs `fn` holding a lock file in the temp dir (taken over after 10 minutes: a crashed holder). */
function withInstallLock<T>(fn: () => T): T {
  const lock = path.join(os.tmpdir(), "mariadb-install.lock");
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, "wx"));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 10 * 60_000) fs.rmSync(lock, { force: true });
      else Atomics.wait(sleeper, 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function findInstallDb(server: string): string {
  const beside = path.join(path.dirname(server), "..", "bin", "mariadb-install-db");
  const found = onPath("mariadb-install-db") ?? (isExecutable(beside) ? beside : undefined) ?? onPath("mysql_install_db");
  if (!found) throw new Error(INSTALL_HINT);
  return found;
}

/** InnoDB sizes shared by the template and every start (a start with another log size would resize it). */
const INNODB_ARGS = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M", "--innodb-doublewrite=0"];

/** A finished template data directory for this server binary, created once per machine. */
function templateDir(server: string, asRoot: boolean): string {
  const real = fs.realpathSync(server);
  const stat = fs.statSync(real);
  const key = createHash("sha256")
    .update(JSON.stringify([real, stat.size, stat.mtimeMs, INNODB_ARGS, asRoot, 2]))
    .digest("hex")
    .slice(0, 16);
  const dir = path.join(os.tmpdir(), `mariadb-template-${key}`);
  if (fs.existsSync(path.join(dir, "ready"))) return dir;

  // Built aside and renamed into place, so parallel test workers never see half a template.
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), "mariadb-template-staging-"));
  // Fewer files to copy per start (the sys schema is ~100 of them, unused here), and no root
  // accounts for the machine's host name (--skip-name-resolve would only warn about them).
  const extra = path.join(staging, "extra.sql");
  fs.writeFileSync(
    extra,
    [
      "DROP DATABASE IF EXISTS sys;",
      "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1');",
      "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost');",
      "",
    ].join("\n"),
  );
  try {
    const run = spawnSync(
      findInstallDb(server),
      [
        "--no-defaults",
        `--datadir=${path.join(staging, "data")}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        `--extra-file=${extra}`,
        ...(asRoot ? ["--user=root"] : []),
        ...INNODB_ARGS,
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    if (run.status !== 0) {
      throw new Error(
        `mariadb-install-db failed (${run.status}): ${(run.stderr || run.stdout || "").trim().split("\n").slice(-5).join(" | ")}`,
      );
    }
    // The buffer pool dump only slows the first start down.
    fs.rmSync(path.join(staging, "data", "ib_buffer_pool"), { force: true });
    fs.writeFileSync(path.join(staging, "ready"), "");
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      // Another process won the race; its template is as good as ours.
      if (!fs.existsSync(path.join(dir, "ready"))) throw err;
      fs.rmSync(staging, { recursive: true, force: true });
    }
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/** GNU cp keeps InnoDB's mostly empty files sparse: faster to copy and to delete than fs.cpSync. */
function copyTree(from: string, to: string): void {
  const run = spawnSync("cp", ["-r", "--sparse=always", from, to], { stdio: "ignore" });
  if (run.status !== 0) {
    fs.rmSync(to, { recursive: true, force: true });
    fs.cpSync(from, to, { recursive: true });
  }
}

/** A port that was free a moment ago (the server may still lose it to someone else: retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface MariaDbOptions {
  /** Root password set on start; random by default. */
  rootPassword?: string;
  /**
   * A member of a replicated cluster (src/local/global-ledger.ts): binary log on (row format,
   * replicated changes logged too, so that a promoted replica can feed others), this server id,
   * and read_only at start when `readOnly`. @default a standalone server without a binary log
   */
  replication?: { readonly serverId: number; readonly readOnly?: boolean };
  /** How long to wait for the server to accept connections. @default 30000 */
  startTimeoutMs?: number;
  /**
   * TLS for the clients that ask for it (as Aurora offers it; users created REQUIRE SSL must):
   * the server's certificate and key, PEM (src/local/tls.ts makes them). @default no TLS
   */
  tls?: ServerTls;
}

export interface ServerTls {
  readonly certificate: string;
  readonly privateKey: string;
}

export interface MariaDb {
  readonly host: string;
  readonly port: number;
  readonly rootUser: string;
  readonly rootPassword: string;
  /** The instance's directory (data, socket, pid file); gone after stop(). */
  readonly dir: string;
  /** Milliseconds from the call to a server accepting root connections. */
  readonly startMs: number;
  /** Kills the server and removes its directory; safe to call twice. */
  stop(): Promise<void>;
  /** Sets global read_only, as on an Aurora reader or a demoted writer (root itself is exempt only with READ_ONLY ADMIN). */
  setReadOnly(on: boolean): Promise<void>;
  /** Replaces the TLS certificate of a server started with `tls` (FLUSH SSL): new connections get the new one. */
  replaceTls(tls: ServerTls): Promise<void>;
  /** A root connection (mysql2's promise API) for set-up, checks and faults; the caller ends it. */
  rootConnection(options?: {
    readonly database?: string;
    readonly multipleStatements?: boolean;
  }): Promise<import("mysql2/promise").Connection>;
}

/** The server's TLS files in its directory, and the arguments that name them. */
function writeTls(dir: string, tls: ServerTls): string[] {
  const certificate = path.join(dir, "server-cert.pem");
  const privateKey = path.join(dir, "server-key.pem");
  fs.writeFileSync(certificate, tls.certificate);
  fs.writeFileSync(privateKey, tls.privateKey, { mode: 0o600 });
  return [`--ssl-cert=${certificate}`, `--ssl-key=${privateKey}`];
}

/**
 * The server runs under a tiny shell watchdog that holds our end of a pipe: when that pipe
 * closes (stop(), or this process exits or is killed), it kills the server and deletes the
 * directory. So no test run leaves a server behind, even one that crashed.
 */
const WATCHDOG = [
  'dir="$1"; shift',
  "trap '' HUP INT PIPE",
  "exec 3<&0",
  '"$@" 3<&- </dev/null & pid=$!',
  '( cat <&3 >/dev/null 2>&1; kill -KILL "$pid" 2>/dev/null ) &',
  // Only the server writes to our pipe: after we are gone the shell's own "Killed" must not fail.
  "exec 3<&- 2>/dev/null",
  'wait "$pid"; code=$?',
  'rm -rf "$dir"',
  'exit "$code"',
].join("\n");

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // The pipe closes at exit anyway; closing it here first makes the intent explicit.
  process.once("exit", () => {
    for (const child of live) child.stdin?.destroy();
  });
}

class StartFailure extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Spawns the server on `port` and resolves once it logs that it is ready. */
function spawnServer(
  server: string,
  dir: string,
  port: number,
  asRoot: boolean,
  timeoutMs: number,
  replication: MariaDbOptions["replication"],
  extraArgs: readonly string[],
): Promise<Running> {
  const logging = replication
    ? [
        `--log-bin=${path.join(dir, "data", "binlog")}`,
        `--server-id=${replication.serverId}`,
        "--log-slave-updates=ON",
        "--binlog-format=ROW",
        "--skip-slave-start",
        ...(replication.readOnly ? ["--read-only=ON"] : []),
      ]
    : ["--skip-log-bin"];
  const args = [
    "--no-defaults",
    `--datadir=${path.join(dir, "data")}`,
    "--bind-address=127.0.0.1",
    `--port=${port}`,
    `--socket=${path.join(dir, "mysqld.sock")}`,
    `--pid-file=${path.join(dir, "mysqld.pid")}`,
    `--init-file=${path.join(dir, "init.sql")}`,
    ...(asRoot ? ["--user=root"] : []),
    ...INNODB_ARGS,
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-flush-method=nosync",
    "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
    "--innodb-buffer-pool-load-at-startup=0",
    "--innodb-buffer-pool-dump-at-shutdown=0",
    "--innodb-lock-wait-timeout=5",
    "--skip-name-resolve",
    "--performance-schema=OFF",
    ...logging,
    "--open-files-limit=4096",
    "--max-connections=200",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
    `--sql-mode=${MYSQL8_SQL_MODE}`,
    ...extraArgs,
  ];
  const child = spawn("/bin/sh", ["-c", WATCHDOG, "mariadb-watchdog", dir, server, ...args], {
    stdio: ["pipe", "ignore", "pipe"],
    // Its own process group: a Ctrl-C meant for us does not kill it before it has cleaned up.
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise<Running>((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => {
      child.stdin?.destroy();
      reject(new StartFailure(`MariaDB did not start within ${timeoutMs} ms: ${tail(log)}`, false));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString("utf8")).slice(-8192);
      if (log.includes("ready for connections")) {
        clearTimeout(timer);
        child.stderr?.off("data", onData);
        child.off("exit", onExit);
        // Keep draining stderr so the server never blocks on a full pipe.
        child.stderr?.resume();
        resolve({ child, exited });
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      const portTaken = /Address already in use|Bind on TCP\/IP port/i.test(log);
      reject(new StartFailure(`MariaDB exited during start (code ${code}): ${tail(log)}`, portTaken));
    };
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function tail(log: string): string {
  const lines = log
    .trim()
    .split("\n")
    .filter((l) => /ERROR|error|Aborting/.test(l));
  return (lines.length ? lines : log.trim().split("\n")).slice(-4).join(" | ");
}

/**
 * Starts a throw-away MariaDB on 127.0.0.1 and a free port. Installs mariadb-server first when
 * missing and possible (see ensureMariaDbInstalled).
 */
export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const started = performance.now();
  const server = ensureMariaDbInstalled();
  const asRoot = isRoot();
  const template = templateDir(server, asRoot);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const rootPassword = options.rootPassword ?? randomBytes(12).toString("hex");

  let running: Running | undefined;
  let dir = "";
  let port = 0;
  for (let attempt = 1; !running; attempt++) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mariadb-"));
    copyTree(path.join(template, "data"), path.join(dir, "data"));
    // Run by the server before it accepts connections: no client round trip at start.
    // Never in the binary log: a replica must keep its own root password.
    fs.writeFileSync(
      path.join(dir, "init.sql"),
      `SET SESSION sql_log_bin = 0;\nALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ${escapeString(rootPassword)};\n`,
      {
        mode: 0o600,
      },
    );
    const tlsArgs = options.tls ? writeTls(dir, options.tls) : [];
    port = await freePort();
    try {
      running = await spawnServer(server, dir, port, asRoot, timeoutMs, options.replication, tlsArgs);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      if (!(err instanceof StartFailure && err.portTaken && attempt < 5)) throw err;
    }
  }
  const { child, exited } = running;
  live.add(child);
  installExitHook();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return exited;
    stopped = true;
    live.delete(child);
    child.ref();
    // Closing the pipe makes the watchdog kill the server and remove the directory.
    child.stdin?.destroy();
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };

  // From here on the server may outlive a forgotten stop() only until this process exits.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();

  const rootConnection: MariaDb["rootConnection"] = async (connection = {}) => {
    // Imported here so that a caller that only needs ensureMariaDbInstalled does not load mysql2.
    const mysql = await import("mysql2/promise");
    return mysql.createConnection({ host: "127.0.0.1", port, user: "root", password: rootPassword, ...connection });
  };
  const rootQuery = async (sql: string): Promise<void> => {
    const conn = await rootConnection();
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  };

  return {
    host: "127.0.0.1",
    port,
    rootUser: "root",
    rootPassword,
    dir,
    startMs: Math.round(performance.now() - started),
    stop,
    setReadOnly: (on) => rootQuery(`SET GLOBAL read_only = ${on ? "ON" : "OFF"}`),
    replaceTls: async (tls) => {
      if (!options.tls) throw new Error("This MariaDB was started without TLS");
      writeTls(dir, tls);
      await rootQuery("FLUSH SSL");
    },
    rootConnection,
  };
}

function escapeString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}
