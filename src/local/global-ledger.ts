/**
 * A local stand-in for the Aurora Global Database that holds the ledger: one MariaDB per region,
 * the writer's and a secondary that replicates it asynchronously with MariaDB's own replication
 * (binary log, GTID, MASTER_DELAY for the lag), read-only like an Aurora secondary cluster. The
 * endpoints are TCP proxies, as Aurora's are DNS names: the global writer endpoint leads to
 * whichever server is the writer now, each region's reader endpoint to that region's server.
 *
 * What it does as Aurora does (src/local/README.md, "The ledger fails over too"):
 * - isolate: a region is lost. Its endpoints stop answering and the secondary stops receiving
 *   from it, keeping what it had applied. Optionally the old writer stays reachable through the
 *   global writer endpoint (write fencing is best effort: split brain).
 * - failover: `failover-global-cluster --allow-data-loss`. The secondary is promoted with what it
 *   has (its relay log, the unapplied tail, is discarded), the global writer endpoint leads there;
 *   the old writer is fenced (read_only) at once or `fenceAfterMs` later, and until then the
 *   connections it holds keep writing to it.
 * - restore: the lost region returns. The old writer is kept, read-only, as the snapshot Aurora
 *   takes of it (`rds:unplanned-global-failover-*`), and a new server in that region is rebuilt
 *   as a secondary of the new writer from its binary log.
 * - switchover: planned, RPO 0: the writer stops taking writes, the secondary catches up, the
 *   roles swap and the old writer replicates the new one.
 */
import { randomBytes } from "node:crypto";
import type mysql from "mysql2/promise";
import { LEDGER_DATABASE } from "../contracts/ledger";
import type { LedgerEndpoint, LocalLedger } from "./ledger";
import { startLocalLedger } from "./ledger";
import { type MariaDb, startMariaDb } from "./mariadb";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy";

export interface GlobalLedgerOptions {
  /** The regions, the writer's first. */
  readonly regions: readonly [string, string];
  /** How far each secondary stays behind its writer, whole seconds (MariaDB's MASTER_DELAY). @default 1 */
  readonly lagSeconds?: number;
}

/** A member of the global cluster, as DescribeGlobalClusters would list it. */
export interface MemberState {
  readonly region: string;
  readonly role: "writer" | "secondary";
  /** Its region is lost: nothing reaches it. */
  readonly isolated: boolean;
  /** Replicating its writer now (a secondary cut off from a lost writer is not). */
  readonly replicating: boolean;
}

export interface FailoverRecord {
  readonly from: string;
  readonly to: string;
  /** When the new writer took writes (epoch ms). */
  readonly promotedAt: number;
  /** When the old writer was fenced (read-only, its connections cut); undefined until then. */
  fencedAt?: number;
}

export interface GlobalLedger {
  /** The global writer endpoint, as the application user: what every region's processor uses. */
  readonly writer: LedgerEndpoint;
  /** Database, users and passwords (the same on every member: the migration replicated them). */
  readonly ledger: Pick<LocalLedger, "database" | "user" | "password" | "readUser" | "readPassword">;
  readonly lagSeconds: number;
  /** A region's reader endpoint as the read-only user (the balances function's, and reconcile's). */
  reader(region: string): LedgerEndpoint;
  writerRegion(): string;
  members(): MemberState[];
  /** The failovers so far, oldest first. */
  readonly failovers: readonly FailoverRecord[];
  /**
   * Milliseconds a region's secondary is behind its writer, from the heartbeat the writer stamps
   * every 250 ms (as pt-heartbeat does, and as Aurora measures AuroraGlobalDBReplicationLag);
   * null for the writer or a region cut off. MariaDB's own Seconds_Behind_Master reads 0 while a
   * delayed replica waits, so it is not used.
   */
  lag(region: string): Promise<number | null>;
  /** The region is lost (see the module comment). `writerReachable`: its writer stays reachable through the global endpoint until fenced. */
  isolate(region: string, options?: { readonly writerReachable?: boolean }): Promise<void>;
  /** Unplanned failover to `region`, data loss allowed. */
  failover(region: string, options?: { readonly fenceAfterMs?: number }): Promise<FailoverRecord>;
  /** Planned switchover to `region` (RPO 0). */
  switchover(region: string): Promise<void>;
  /** The lost region is back: its old writer becomes the snapshot, a new secondary replaces it. */
  restore(region: string): Promise<void>;
  /** The old writer's data, read-only, once its region returned after a failover: the restored snapshot's endpoint (read-only user). */
  snapshot(): LedgerEndpoint | undefined;
  /** A root connection straight to a region's server (or the snapshot's), for evidence. */
  rootConnection(which: string | "snapshot"): Promise<mysql.Connection>;
  stop(): Promise<void>;
}

const REPLICATION_USER = "replicator";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Replicated like the ledger, outside its database: the writer stamps it, a secondary's copy says how far behind it is. */
const HEARTBEAT = "drill_heartbeat.beat";
const HEARTBEAT_MS = 250;
const quote = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;

interface Member {
  readonly region: string;
  server: MariaDb;
  readonly reader: TcpProxy;
  role: "writer" | "secondary";
  isolated: boolean;
}

export async function startGlobalLedger(options: GlobalLedgerOptions): Promise<GlobalLedger> {
  const lagSeconds = options.lagSeconds ?? 1;
  if (!Number.isInteger(lagSeconds) || lagSeconds < 0)
    throw new Error(`lagSeconds must be a whole number of seconds >= 0, got ${lagSeconds}`);
  const rootPassword = randomBytes(12).toString("hex");
  const replicationPassword = randomBytes(12).toString("hex");
  let nextServerId = 1;
  const started: MariaDb[] = [];
  const proxies: TcpProxy[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const failovers: FailoverRecord[] = [];
  let oldWriter: MariaDb | undefined;

  const root = (server: MariaDb) => server.rootConnection({ multipleStatements: true });
  const rootQuery = async (server: MariaDb, sql: string): Promise<unknown> => {
    const conn = await root(server);
    try {
      return (await conn.query(sql))[0];
    } finally {
      await conn.end();
    }
  };

  const startServer = async (readOnly: boolean): Promise<MariaDb> => {
    const server = await startMariaDb({ rootPassword, replication: { serverId: nextServerId++, readOnly } });
    started.push(server);
    // Each member's own replication account, never in the binary log.
    await rootQuery(
      server,
      `SET SESSION sql_log_bin = 0;
       CREATE USER '${REPLICATION_USER}'@'127.0.0.1' IDENTIFIED BY ${quote(replicationPassword)};
       GRANT REPLICATION SLAVE ON *.* TO '${REPLICATION_USER}'@'127.0.0.1';`,
    );
    return server;
  };

  /** `replica` follows `source` from GTID position `from` ('' = the beginning of its binary log). */
  const replicate = (replica: MariaDb, source: MariaDb, from: "slave_pos" | "current_pos", position?: string) =>
    rootQuery(
      replica,
      `${position === undefined ? "" : `SET GLOBAL gtid_slave_pos = ${quote(position)};`}
       CHANGE MASTER TO MASTER_HOST = '${source.host}', MASTER_PORT = ${source.port}, MASTER_USER = '${REPLICATION_USER}',
         MASTER_PASSWORD = ${quote(replicationPassword)}, MASTER_USE_GTID = ${from}, MASTER_DELAY = ${lagSeconds},
         MASTER_CONNECT_RETRY = 1;
       START SLAVE;`,
    );

  /** Waits until `replica` has applied everything `source` has logged so far. */
  const caughtUp = async (replica: MariaDb, source: MariaDb) => {
    const [{ pos }] = (await rootQuery(source, "SELECT @@GLOBAL.gtid_binlog_pos AS pos")) as Array<{ pos: string }>;
    const wait = `SELECT MASTER_GTID_WAIT(${quote(pos!)}, ${lagSeconds + 30}) AS caught`;
    const [{ caught }] = (await rootQuery(replica, wait)) as Array<{ caught: number }>;
    if (Number(caught) !== 0) throw new Error(`the replica did not catch up with ${pos} within ${lagSeconds + 30} s`);
  };

  try {
    const [writerServer, secondaryServer] = await Promise.all([startServer(false), startServer(true)]);
    await replicate(secondaryServer!, writerServer!, "slave_pos", "");
    const migrated = await startLocalLedger({ server: writerServer!, database: LEDGER_DATABASE });
    // The heartbeat table after the migration, which can take seconds: stamped before it, the lag
    // read right after start-up would count the migration's time as replication lag.
    await rootQuery(
      writerServer!,
      `CREATE DATABASE drill_heartbeat; CREATE TABLE ${HEARTBEAT} (id TINYINT PRIMARY KEY, at_ms BIGINT NOT NULL);
       INSERT INTO ${HEARTBEAT} VALUES (1, ${Date.now()});`,
    );
    const members: Member[] = [];
    for (const [i, server] of [writerServer!, secondaryServer!].entries()) {
      const reader = await startTcpProxy({ host: server.host, port: server.port });
      proxies.push(reader);
      members.push({ region: options.regions[i]!, server, reader, role: i === 0 ? "writer" : "secondary", isolated: false });
    }
    const writerProxy = await startTcpProxy({ host: writerServer!.host, port: writerServer!.port });
    proxies.push(writerProxy);
    // The heartbeat: whoever is the writer and reachable stamps it (root writes even on a read-only
    // server, so it pauses while a switchover moves the writer: a stamp then would fork the history).
    let beatPaused = false;
    const beat = setInterval(() => {
      const writer = beatPaused ? undefined : members.find((m) => m.role === "writer" && !m.isolated);
      if (writer) void rootQuery(writer.server, `UPDATE ${HEARTBEAT} SET at_ms = ${Date.now()} WHERE id = 1`).catch(() => undefined);
    }, HEARTBEAT_MS);
    timers.add(beat);
    // Ready when the secondary holds the migrated schema, and the beats that started with the
    // wait: from here on the lag reads the replication, not the start-up.
    await caughtUp(secondaryServer!, writerServer!);

    const member = (region: string): Member => {
      const found = members.find((m) => m.region === region);
      if (!found) throw new Error(`no ledger member in ${region} (members: ${members.map((m) => m.region).join(", ")})`);
      return found;
    };
    const writerMember = () => members.find((m) => m.role === "writer")!;
    const target = (server: MariaDb) => ({ host: server.host, port: server.port });
    const fence = async (server: MariaDb, record: FailoverRecord) => {
      writerProxy.cut(target(server));
      await rootQuery(server, "SET GLOBAL read_only = ON").catch(() => undefined);
      record.fencedAt = Date.now();
    };
    const endpoint = (host: string, port: number, as: "writer" | "reader"): LedgerEndpoint => ({
      host,
      port,
      database: migrated.database,
      user: as === "writer" ? migrated.user : migrated.readUser,
      password: as === "writer" ? migrated.password : migrated.readPassword,
    });

    return {
      writer: endpoint(writerProxy.host, writerProxy.port, "writer"),
      ledger: migrated,
      lagSeconds,
      failovers,
      reader: (region) => {
        const m = member(region);
        return endpoint(m.reader.host, m.reader.port, "reader");
      },
      writerRegion: () => writerMember().region,
      members: () =>
        members.map((m) => ({
          region: m.region,
          role: m.role,
          isolated: m.isolated,
          replicating: m.role === "secondary" && !m.isolated && !writerMember().isolated,
        })),

      async lag(region) {
        const m = member(region);
        if (m.role === "writer" || m.isolated || writerMember().isolated) return null;
        const rows = (await rootQuery(m.server, `SELECT at_ms FROM ${HEARTBEAT} WHERE id = 1`)) as Array<{ at_ms: number | string }>;
        // The stamp is up to one heartbeat old on the writer too.
        return rows[0] === undefined ? null : Math.max(0, Date.now() - Number(rows[0].at_ms) - HEARTBEAT_MS);
      },

      async isolate(region, isolation = {}) {
        const lost = member(region);
        lost.isolated = true;
        lost.reader.route(undefined);
        lost.reader.cut();
        if (lost.role === "writer") {
          // The secondary keeps what it applied: nothing more arrives from a lost region.
          for (const m of members) if (m !== lost) await rootQuery(m.server, "STOP SLAVE");
          if (!isolation.writerReachable) {
            writerProxy.route(undefined);
            writerProxy.cut();
          }
        } else await rootQuery(lost.server, "STOP SLAVE");
      },

      async failover(region, failover = {}) {
        const to = member(region);
        const from = writerMember();
        if (to === from) throw new Error(`${region} is the writer already`);
        // Promoted with what it has: the relay log (the unapplied tail) goes with RESET SLAVE ALL.
        await rootQuery(to.server, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;");
        to.role = "writer";
        from.role = "secondary";
        writerProxy.route(target(to.server));
        const record: FailoverRecord = { from: from.region, to: to.region, promotedAt: Date.now() };
        failovers.push(record);
        oldWriter = from.server;
        const old = from.server;
        const fenceAfterMs = failover.fenceAfterMs ?? 0;
        if (fenceAfterMs <= 0) await fence(old, record);
        else {
          const timer = setTimeout(() => {
            timers.delete(timer);
            void fence(old, record);
          }, fenceAfterMs);
          timers.add(timer);
        }
        return record;
      },

      async switchover(region) {
        const to = member(region);
        const from = writerMember();
        if (to === from) throw new Error(`${region} is the writer already`);
        if (from.isolated || to.isolated) throw new Error("a switchover needs both regions");
        beatPaused = true;
        await sleep(HEARTBEAT_MS);
        await rootQuery(from.server, "SET GLOBAL read_only = ON");
        writerProxy.route(undefined);
        writerProxy.cut();
        await caughtUp(to.server, from.server);
        await rootQuery(to.server, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;");
        await replicate(from.server, to.server, "current_pos");
        to.role = "writer";
        from.role = "secondary";
        writerProxy.route(target(to.server));
        beatPaused = false;
      },

      async restore(region) {
        const back = member(region);
        if (back.server === oldWriter) {
          // The old writer stays as it was (read-only): the snapshot. A new server is rebuilt from the writer's binary log.
          await rootQuery(back.server, "SET GLOBAL read_only = ON");
          const rebuilt = await startServer(true);
          await replicate(rebuilt, writerMember().server, "slave_pos", "");
          // Available once synchronized, as Aurora reports a rebuilt secondary.
          await caughtUp(rebuilt, writerMember().server);
          back.server = rebuilt;
        } else await rootQuery(back.server, "START SLAVE");
        back.isolated = false;
        back.reader.route(target(back.server));
      },

      snapshot: () =>
        oldWriter && members.every((m) => m.server !== oldWriter) ? endpoint(oldWriter.host, oldWriter.port, "reader") : undefined,

      rootConnection(which) {
        if (which === "snapshot") {
          if (!oldWriter) throw new Error("no snapshot: no failover yet");
          return root(oldWriter);
        }
        return root(member(which).server);
      },

      async stop() {
        for (const timer of timers) clearTimeout(timer);
        clearInterval(beat);
        await Promise.all(proxies.map((p) => p.stop()));
        await Promise.all(started.map((s) => s.stop()));
      },
    };
  } catch (err) {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
}
