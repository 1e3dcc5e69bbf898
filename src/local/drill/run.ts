/**
 * The drill itself: two regions with the load on the primary; the primary's processors may
 * stall, then the region dies (cut off from replication, its compute SIGKILLed, its queue and
 * table kept, its ledger writer unreachable and no longer replicating to DR); Route53 notices
 * and the clients move; the operator runs the runbook (a lossy Aurora promotion, adoption, the
 * ledger reconcile); the primary comes back (compute restarted on the same queue and table,
 * replication healed, its old writer kept as the snapshot and rebuilt as a secondary, the
 * snapshot reconciled, the writer switched back) and Route53 fails back. Or it never does
 * (--no-return). Then the evidence is collected and turned into the report.
 */
import { mkdirSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import * as path from "node:path";
import type mysql from "mysql2/promise";
import type { LedgerConnection } from "../../../lambdas/shared/ledger";
import type { DeploymentConfig, RegionRole } from "../../contracts/config";
import { deploymentConfig } from "../../contracts/context";
import { reconcileLedger } from "../../ops/dr/ledger-reconcile";
import { connectLedgerEndpoint, type LedgerEndpoint } from "../ledger";
import { freePort } from "../mariadb";
import { type AuroraControl, auroraControl } from "./aurora-control";
import { drainNotifications, ledgerEntries, postedIds, scanTransactions } from "./collect";
import { FailoverDns, type HealthChange, type Role } from "./dns";
import { PaymentLoad } from "./load";
import type { DrillOptions } from "./options";
import { type RegionProcess, type RegionSpec, startRegionProcess } from "./region-process";
import {
  buildReport,
  type DrillReport,
  type DrillSources,
  type LedgerRow,
  type Mark,
  type QueueDepth,
  type StepRecord,
  type TableRow,
} from "./report";
import { afterReturn, type LedgerRepair, type RunbookContext, runSteps, unplannedFailover } from "./runbook";
import { paymentSchedule, resolverPhases } from "./schedule";
import { DRILL_PREFIX, type DrillWorld, ROLES, startWorld } from "./world";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
/** Lead time between the regions being ready and the first payment. */
const LEAD_MS = 1000;
/** After the SIGKILL, until replica writes already on their way have landed in the survivor. */
const SETTLE_MS = 300;
/** The client protocol: after a failover, payments whose final status came this long before the first failure are checked again. */
const CLIENT_RECHECK_WINDOW_MS = 60_000;
/** `reconcile --ledger --since`: this long before the promotion, well over any replication lag the alarm allows. */
const LEDGER_SINCE_MARGIN_MS = 60_000;

export interface DrillRun {
  readonly report: DrillReport;
  /** The exact sources, for the JSON. */
  readonly sources: DrillSources;
}

/** What happened when, as the drill goes. */
class Journal {
  readonly marks: Mark[] = [];
  readonly steps: StepRecord[] = [];

  constructor(
    private readonly startedAt: number,
    private readonly say: (line: string) => void,
  ) {}

  /** `label` is short (the picture's); `detail` only goes to the console. */
  mark(kind: Mark["kind"], label: string, detail = "", at = Date.now()): void {
    this.marks.push({ kind, label, at });
    this.say(`  t=${this.t(at)} s  ${label}${detail ? `: ${detail}` : ""}`);
  }

  step(step: StepRecord): void {
    this.steps.push(step);
    this.say(`  t=${this.t(step.at)} s  [${step.how}] ${step.command}: ${step.outcome}`);
  }

  private t(at: number): string {
    return ((at - this.startedAt) / 1000).toFixed(1);
  }
}

export async function runDrill(options: DrillOptions, say: (line: string) => void): Promise<DrillRun> {
  const config = deploymentConfig();
  const loadAtStart = Math.round(loadavg()[0]! * 10) / 10;
  const logDir = path.join(options.outDir, "logs");
  // This run's logs only (a region that comes back appends to its own).
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  say(
    `Starting: the ledger's global database (MariaDB writer in ${config.primaryRegion}, secondary in ${config.drRegion} ${options.ledgerLagSeconds} s behind), both regions' emulators, the replicator (${options.replicationDelayMs} ms)...`,
  );
  const world = await startWorld({
    config,
    replicationDelayMs: options.replicationDelayMs,
    ledgerLagSeconds: options.ledgerLagSeconds,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
  });
  const processes: Partial<Record<Role, RegionProcess>> = {};
  let dns: FailoverDns | undefined;
  let primaryLost = false;
  const aurora = auroraControl({
    config: { ...config, environmentSuffix: DRILL_PREFIX },
    ledger: world.ledger,
    reachable: (role) => role !== "primary" || !primaryLost,
    fenceAfterMs: options.splitBrainSeconds * 1000,
  });
  aurora.startLagSampler(1000);
  const operatorLedger: LedgerConnection[] = [];
  const ledgerRepairs: LedgerRepair[] = [];
  try {
    const specs = {} as Record<Role, RegionSpec>;
    for (const role of ROLES) specs[role] = await regionSpec(world, role, options, logDir);
    [processes.primary, processes.dr] = await Promise.all(ROLES.map((role) => startRegionProcess(specs[role])));
    const urls = { primary: processes.primary!.url, dr: processes.dr!.url };
    say(`Regions up: primary ${world.regions.primary.name} ${urls.primary}, dr ${world.regions.dr.name} ${urls.dr} (logs: ${logDir})`);

    const startedAt = Date.now() + LEAD_MS;
    const journal = new Journal(startedAt, say);
    let killedAt: number | undefined;
    let returnedAt: number | undefined;
    let runbook: Promise<void> | undefined;
    const runbook_ = runbookContext(world, aurora, urls, options, config, operatorLedger, ledgerRepairs);
    // The picture shows the promotion and the ledger's repairs apart from the other steps.
    const recordStep = (step: StepRecord) => {
      journal.step(step);
      const kind = step.command.includes(" failover ") ? "promotion" : step.command.includes("reconcile --ledger") ? "repair" : "runbook";
      const label =
        kind === "promotion"
          ? "Aurora promoted (data loss)"
          : kind === "repair"
            ? step.command.includes("--snapshot")
              ? "snapshot reconciled"
              : "ledger reconciled"
            : step.command;
      journal.marks.push({ kind, label, at: step.at });
    };
    const onHealthChange = (change: HealthChange) => {
      const state = `${change.role} ${change.healthy ? "healthy" : "unhealthy"}`;
      if (change.role === "primary" && !change.healthy && killedAt !== undefined && returnedAt === undefined) {
        journal.mark("detection", "detection", "Route53 marks the primary unhealthy and answers DR", change.at);
        runbook ??= sleep(options.operatorDelaySeconds * 1000).then(() => runSteps(unplannedFailover(runbook_), recordStep));
      } else if (change.role === "primary" && change.healthy && returnedAt !== undefined) {
        journal.mark("failback", "fail-back", "Route53 answers the primary again", change.at);
      } else
        journal.mark("health", `Route53: ${state}`, "outside the scenario (a /health slower than 4 s: is the machine busy?)", change.at);
    };
    dns = new FailoverDns({
      urls,
      intervalMs: options.healthIntervalSeconds * 1000,
      threshold: options.healthThreshold,
      ttlMs: options.dnsTtlSeconds * 1000,
      phasesMs: resolverPhases(options.seed, options.resolvers, options.dnsTtlSeconds * 1000),
      startedAt,
      onHealthChange,
    });
    dns.start();

    const schedule = paymentSchedule(options.seed, options.rate, options.durationSeconds, options.resolvers);
    const load = new PaymentLoad({
      schedule,
      apiKey: world.demoKey,
      route: (payment) => {
        const role = dns!.resolve(payment.resolver);
        return { role, url: urls[role] };
      },
      timeoutMs: options.clientTimeoutMs,
      pollMs: options.clientPollSeconds * 1000,
      recheckWindowMs: CLIENT_RECHECK_WINDOW_MS,
      startedAt,
      stopAt:
        startedAt +
        (Math.max(options.durationSeconds, options.noReturn ? 0 : options.returnAtSeconds) + options.drainTimeoutSeconds) * 1000,
      seed: options.seed,
    });
    say(
      `Load: ${schedule.length} payments over ${options.durationSeconds} s (seed ${options.seed}); kill at ${options.killAtSeconds} s, ${options.noReturn ? "no return" : `return at ${options.returnAtSeconds} s`}`,
    );
    const loadDone = load.run();

    // The outage, on the schedule.
    if (options.processorStallSeconds > 0) {
      await sleep(startedAt + (options.killAtSeconds - options.processorStallSeconds) * 1000 - Date.now());
      processes.primary!.stall();
      journal.mark("stall", "processors stall", "the primary's transaction processors stop");
    }
    await sleep(startedAt + options.killAtSeconds * 1000 - Date.now());
    // Cut off first, as a region that goes dark: what it wrote and had not replicated stays behind.
    const primaryName = world.regions.primary.name;
    world.replicator.isolate(primaryName);
    world.replication.isolated();
    // Its ledger writer goes with it: DR's secondary keeps what it applied, nothing more arrives.
    const splitBrain = options.splitBrainSeconds > 0;
    await world.ledger.isolate(primaryName, { writerReachable: splitBrain });
    primaryLost = true;
    const heldWrites = world.replicator.stats().directions[`${primaryName}->${world.regions.dr.name}`]?.pending ?? 0;
    if (splitBrain) {
      // Partitioned, not dead: the checkers lose it, clients that cached its address still reach it, and its
      // processors keep posting to its writer until the writer is fenced, when the region goes dark for good.
      dns.cut("primary");
      void (async () => {
        while (!world.ledger.failovers[0]) await sleep(100);
        await sleep(world.ledger.failovers[0].promotedAt + options.splitBrainSeconds * 1000 - Date.now());
        await processes.primary!.kill();
        journal.mark("kill", "primary dies", "its writer fenced, its compute SIGKILLed");
      })();
    } else await processes.primary!.kill();
    killedAt = Date.now();
    journal.mark(
      "kill",
      splitBrain ? "primary cut off" : "primary killed",
      splitBrain
        ? "replication cut both ways, Route53's checkers lose it; its compute and ledger writer run on (split brain)"
        : "replication cut, compute SIGKILLed (its queue and table stay), its ledger writer unreachable",
      killedAt,
    );
    const ledgerAtKill = await ledgerSnapshot(world);
    const primaryEmulators = world.regions.primary.emulators;
    const strandedQueue: QueueDepth = (await primaryEmulators.fauxqs.inspectQueue(primaryEmulators.resources.names.transactionQueue)) ?? {
      ready: 0,
      delayed: 0,
      inflight: 0,
    };
    await sleep(SETTLE_MS);
    const atKill = await snapshot(world);
    say(
      `  at the kill: ${heldWrites} table writes not replicated, ${strandedQueue.ready + strandedQueue.inflight} messages in the primary's queue`,
    );

    const firstPrimary = processes.primary!;
    if (!options.noReturn) {
      await sleep(startedAt + options.returnAtSeconds * 1000 - Date.now());
      const heal = () => {
        world.replicator.heal(primaryName);
        world.replication.healed();
      };
      returnedAt = Date.now();
      if (options.healAfterSeconds === 0) heal();
      journal.mark(
        "return",
        "primary back",
        options.healAfterSeconds === 0
          ? "replication healed, compute restarting on its own queue and table"
          : `compute restarting on its own stale queue and table; replication heals ${options.healAfterSeconds} s later`,
        returnedAt,
      );
      primaryLost = false;
      // A split brain longer than the outage: the region goes dark now, before it comes back.
      await firstPrimary.kill();
      processes.primary = await startRegionProcess(specs.primary);
      journal.mark("return", "primary serving", "its compute is up again");
      if (options.healAfterSeconds > 0) {
        await sleep(returnedAt + options.healAfterSeconds * 1000 - Date.now());
        heal();
        journal.mark("return", "replication healed", `${options.healAfterSeconds} s after the return`);
      }
      // The runbook's failover comes first (a return before the promotion waits for it), then replication settles.
      await runbook;
      await Promise.race([world.replicator.flush(), sleep(30_000)]);
      await runSteps(afterReturn(runbook_), recordStep);
    }

    await loadDone;
    say(
      `Load done: ${load.acks.length} acknowledged, ${load.rechecked} checked again after the failover, ${load.reposts.length} POSTed again after a 404, ${load.gaveUp.length} gave up, ${load.refused.length} refused, ${load.unresolved.length} without a final status. Draining...`,
    );
    await runbook;
    await drain(world, new Set(load.acks.map((a) => a.transactionId)), options, say);
    const endedAt = Date.now();
    dns.stop();
    aurora.stop();
    const detection = journal.marks.find((m) => m.kind === "detection")?.at;
    const moved = detection === undefined ? [] : dns.movedAt("dr", detection, endedAt);

    const sources: DrillSources = {
      regions: { primary: primaryName, dr: world.regions.dr.name },
      startedAt,
      killedAt,
      returnedAt,
      endedAt,
      noReturn: options.noReturn,
      acknowledged: load.acks.map((a) => ({ transactionId: a.transactionId, at: a.at, region: world.regions[a.role].name })),
      reposts: load.reposts.map((r) => ({ transactionId: r.transactionId, at: r.at })),
      clientErrors: load.attempts.filter((a) => typeof a.outcome !== "number" || a.outcome >= 500).map((a) => a.at),
      ledger: await writerEntries(world),
      ledgerFailover: {
        lagSeconds: options.ledgerLagSeconds,
        splitBrainSeconds: options.splitBrainSeconds,
        atKill: ledgerAtKill,
        oldWriterAtEnd: await serverEntries(world, world.ledger.snapshot() ? "snapshot" : primaryName),
        promotedAt: world.ledger.failovers[0]?.promotedAt,
        fencedAt: world.ledger.failovers[0]?.fencedAt,
        lagReadingsMs: aurora.lagReadings.filter((r) => r.role === "dr" && r.at <= killedAt!).map((r) => r.milliseconds),
        repairs: ledgerRepairs,
      },
      atKill,
      atEnd: await snapshot(world),
      notifications: (
        await Promise.all(
          ROLES.map((role) => {
            const e = world.regions[role].emulators;
            return drainNotifications(e.clients.sqs, e.resources.observerQueueUrl, world.regions[role].name);
          }),
        )
      ).flat(),
      strandedQueue,
      heldWrites,
      replication: world.replication.figures(),
      deadLetters: await deadLetters(world),
      processorDeliveries: {
        // The primary's compute before the kill, and after the return when it came back.
        primary: delivered(firstPrimary) + (processes.primary === firstPrimary ? 0 : delivered(processes.primary)),
        dr: delivered(processes.dr),
      },
      marks: journal.marks,
      steps: journal.steps,
      machine: { cores: cpus().length, loadAverage: [loadAtStart, Math.round(loadavg()[0]! * 10) / 10] },
      allClientsMovedAt: moved.length > 0 && moved.every((t) => t !== undefined) ? Math.max(...(moved as number[])) : undefined,
    };
    return { report: buildReport(sources), sources };
  } finally {
    dns?.stop();
    aurora.stop();
    await Promise.all(operatorLedger.map((c) => c.close().catch(() => undefined)));
    await Promise.all(Object.values(processes).map((p) => p?.stop()));
    await world.stop();
  }
}

/** Every entry of one ledger server (a region's, or the old writer's snapshot), read as root. */
async function serverEntries(world: DrillWorld, which: string): Promise<LedgerRow[]> {
  const conn = await world.ledger.rootConnection(which);
  try {
    return await ledgerEntries(conn, world.ledger.ledger.database);
  } finally {
    await conn.end();
  }
}

/** The entries of the writer now: the surviving ledger. */
const writerEntries = (world: DrillWorld) => serverEntries(world, world.ledger.writerRegion());

/** Right after the kill: what the old writer had committed, and what DR's secondary had applied (the promotion keeps only that). */
async function ledgerSnapshot(world: DrillWorld): Promise<{ writer: LedgerRow[]; survivor: LedgerRow[] }> {
  const [writer, survivor] = await Promise.all([
    serverEntries(world, world.regions.primary.name),
    serverEntries(world, world.regions.dr.name),
  ]);
  return { writer, survivor };
}

async function regionSpec(world: DrillWorld, role: Role, options: DrillOptions, logDir: string): Promise<RegionSpec> {
  const region = world.regions[role];
  return {
    role,
    region: region.name,
    port: await freePort(),
    dynamoEndpoint: region.proxy,
    fauxqsEndpoint: region.emulators.fauxqs.endpoint,
    resources: region.emulators.resources,
    ledger: world.ledger.writer,
    demoKey: world.demoKey,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    processorConcurrency: options.processorConcurrency,
    sweeper: {
      intervalSeconds: options.sweepIntervalSeconds,
      ageSeconds: options.sweeperAgeSeconds,
      adoptAgeSeconds: options.sweeperAdoptAgeSeconds,
    },
    logFile: path.join(logDir, `${role}-${region.name}.log`),
  };
}

function runbookContext(
  world: DrillWorld,
  aurora: AuroraControl,
  urls: Record<Role, string>,
  options: DrillOptions,
  config: DeploymentConfig,
  opened: LedgerConnection[],
  repairs: LedgerRepair[],
): RunbookContext {
  const dr = world.regions.dr;
  const drillConfig = { ...config, environmentSuffix: DRILL_PREFIX };
  // The operator's ledger connections, as the CLI opens them: the region's reader endpoint as the read-only user, the global writer as the application user.
  const connect = (endpoint: LedgerEndpoint) => {
    const conn = connectLedgerEndpoint(endpoint);
    opened.push(conn);
    return conn;
  };
  const paymentsCtx = {
    config: drillConfig,
    role: "dr" as RegionRole,
    region: dr.name,
    dynamodb: dr.operatorDynamo,
    sqs: dr.emulators.clients.sqs,
  };
  const since = () => new Date((world.ledger.failovers[0]?.promotedAt ?? Date.now()) - LEDGER_SINCE_MARGIN_MS);
  return {
    urls,
    // The operator works in the DR region, through its DynamoDB endpoint like its handlers.
    dr: paymentsCtx,
    aurora: { config: drillConfig, clients: aurora.clients, sleep: (ms) => sleep(ms).then(() => undefined) },
    repairs,
    reconcileLedger: ({ since: from, snapshot, yes }) =>
      reconcileLedger(
        {
          ...paymentsCtx,
          ledger: {
            reader: connect(world.ledger.reader(dr.name)),
            writer: connect(world.ledger.writer),
            ...(snapshot ? { snapshot } : {}),
          },
        },
        { since: from, yes },
      ),
    snapshot: () => {
      const endpoint = world.ledger.snapshot();
      return endpoint ? connect(endpoint) : undefined;
    },
    restoreLostRegion: async () => {
      await world.ledger.restore(world.regions.primary.name);
      const snap = world.ledger.snapshot();
      return `the old writer kept read-only as the snapshot (${snap ? `${snap.host}:${snap.port}` : "none"}); a new ${world.regions.primary.name} secondary rebuilt from the writer's binary log, replicating ${world.ledger.lagSeconds} s behind`;
    },
    ledgerSince: since,
    reconcileOlderThanSeconds: options.reconcileOlderThanSeconds,
    sweeper: { intervalSeconds: options.sweepIntervalSeconds, adoptAgeSeconds: options.sweeperAdoptAgeSeconds },
  };
}

/** Both regions' tables as they are now, read straight from each emulator. */
async function snapshot(world: DrillWorld): Promise<Record<Role, TableRow[]>> {
  const [primary, dr] = await Promise.all(
    ROLES.map((role) => {
      const e = world.regions[role].emulators;
      return scanTransactions(e.clients.dynamodb, e.resources.transactionsTable);
    }),
  );
  return { primary: primary!, dr: dr! };
}

/** Messages a region's processors completed, as its process last reported (a killed one: up to a second before it died). */
const delivered = (p: RegionProcess | undefined) => p?.stats()?.pollers.transactions.succeeded ?? 0;

async function deadLetters(world: DrillWorld): Promise<Record<Role, number>> {
  const counts = await Promise.all(
    ROLES.map(async (role) => {
      const e = world.regions[role].emulators;
      const q = await e.fauxqs.inspectQueue(e.resources.names.transactionDlq);
      return (q?.ready ?? 0) + (q?.delayed ?? 0) + (q?.inflight ?? 0);
    }),
  );
  return { primary: counts[0]!, dr: counts[1]! };
}

/**
 * Until every acknowledged payment is in the surviving ledger, the live regions' queues are empty
 * and their replication has settled, or the timeout (the report then shows what is missing). A
 * region that never returned is left as it died.
 */
async function drain(world: DrillWorld, acked: Set<string>, options: DrillOptions, say: (line: string) => void): Promise<void> {
  const deadline = Date.now() + options.drainTimeoutSeconds * 1000;
  const live = ROLES.filter((role) => !(options.noReturn && role === "primary"));
  for (;;) {
    const conn: mysql.Connection = await world.ledger.rootConnection(world.ledger.writerRegion());
    let posted: Set<string>;
    try {
      posted = await postedIds(conn, world.ledger.ledger.database);
    } finally {
      await conn.end();
    }
    const missing = [...acked].filter((id) => !posted.has(id)).length;
    const queues: string[] = [];
    for (const role of live) {
      const e = world.regions[role].emulators;
      for (const name of [e.resources.names.transactionQueue, e.resources.names.notificationQueue]) {
        const q = await e.fauxqs.inspectQueue(name);
        const n = q ? q.ready + q.delayed + q.inflight : 0;
        if (n > 0) queues.push(`${role} ${name} ${n}`);
      }
    }
    const pending = Object.values(world.replicator.stats().directions)
      .filter((d) => !d.held)
      .reduce((n, d) => n + d.pending, 0);
    if (missing === 0 && queues.length === 0 && pending === 0) return;
    if (Date.now() > deadline) {
      say(
        `  drain timed out: ${missing} acknowledged payment(s) not posted; queued: ${queues.join(", ") || "none"}; ${pending} replication(s) pending`,
      );
      return;
    }
    await sleep(1000);
  }
}
