/**
 * The drill itself: two regions with the load on the primary; the primary's processors stall,
 * then the region dies (cut off from replication, its compute SIGKILLed, its queue and table
 * kept); Route53 notices and the clients move; the operator runs the runbook; the primary comes
 * back (compute restarted on the same queue and table, replication healed) and Route53 fails
 * back. Then the evidence is collected and turned into the report.
 */
import { mkdirSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import * as path from "node:path";
import mysql from "mysql2/promise";
import type { DeploymentConfig } from "../../contracts/config";
import { deploymentConfig } from "../../contracts/context";
import { freePort } from "../mariadb";
import { drainNotifications, ledgerEntries, postedIds, scanTransactions } from "./collect";
import { FailoverDns, type HealthChange, type Role } from "./dns";
import { PaymentLoad } from "./load";
import type { DrillOptions } from "./options";
import { type RegionProcess, type RegionSpec, startRegionProcess } from "./region-process";
import { buildReport, type DrillReport, type DrillSources, type Mark, type QueueDepth, type StepRecord, type TableRow } from "./report";
import { afterReturn, type RunbookContext, runSteps, unplannedFailover } from "./runbook";
import { paymentSchedule, resolverPhases } from "./schedule";
import { DRILL_PREFIX, type DrillWorld, ROLES, startWorld } from "./world";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
/** Lead time between the regions being ready and the first payment. */
const LEAD_MS = 1000;
/** After the SIGKILL, until replica writes already on their way have landed in the survivor. */
const SETTLE_MS = 300;

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
    `Starting: MariaDB (the Aurora writer), ${config.primaryRegion} and ${config.drRegion} emulators, the replicator (${options.replicationDelayMs} ms)...`,
  );
  const world = await startWorld({
    config,
    replicationDelayMs: options.replicationDelayMs,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
  });
  const processes: Partial<Record<Role, RegionProcess>> = {};
  let dns: FailoverDns | undefined;
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
    const onHealthChange = (change: HealthChange) => {
      const state = `${change.role} ${change.healthy ? "healthy" : "unhealthy"}`;
      if (change.role === "primary" && !change.healthy && killedAt !== undefined && returnedAt === undefined) {
        journal.mark("detection", "detection", "Route53 marks the primary unhealthy and answers DR", change.at);
        runbook ??= sleep(options.operatorDelaySeconds * 1000).then(() =>
          runSteps(unplannedFailover(runbookContext(world, urls, options, config)), (step) => {
            journal.step(step);
            journal.marks.push({ kind: "runbook", label: step.command, at: step.at });
          }),
        );
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
      startedAt,
      stopAt: startedAt + (Math.max(options.durationSeconds, options.returnAtSeconds) + options.drainTimeoutSeconds) * 1000,
      seed: options.seed,
    });
    say(
      `Load: ${schedule.length} payments over ${options.durationSeconds} s (seed ${options.seed}); kill at ${options.killAtSeconds} s, return at ${options.returnAtSeconds} s`,
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
    const heldWrites = world.replicator.stats().directions[`${primaryName}->${world.regions.dr.name}`]?.pending ?? 0;
    await processes.primary!.kill();
    killedAt = Date.now();
    journal.mark("kill", "primary killed", "replication cut, compute SIGKILLed (its queue and table stay)", killedAt);
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

    await sleep(startedAt + options.returnAtSeconds * 1000 - Date.now());
    world.replicator.heal(primaryName);
    world.replication.healed();
    returnedAt = Date.now();
    journal.mark("return", "primary back", "replication healed, compute restarting on its own queue and table", returnedAt);
    const firstPrimary = processes.primary!;
    processes.primary = await startRegionProcess(specs.primary);
    journal.mark("return", "primary serving", "its compute is up again");
    await runSteps(afterReturn(), (step) => journal.step(step));

    await loadDone;
    say(`Load done: ${load.acks.length} acknowledged, ${load.gaveUp.length} gave up, ${load.refused.length} refused. Draining...`);
    await runbook;
    await drain(world, new Set(load.acks.map((a) => a.transactionId)), options.drainTimeoutSeconds * 1000, say);
    const endedAt = Date.now();
    dns.stop();
    const detection = journal.marks.find((m) => m.kind === "detection")?.at;
    const moved = detection === undefined ? [] : dns.movedAt("dr", detection, endedAt);

    const sources: DrillSources = {
      regions: { primary: primaryName, dr: world.regions.dr.name },
      startedAt,
      killedAt,
      returnedAt,
      endedAt,
      acknowledged: load.acks.map((a) => ({ transactionId: a.transactionId, at: a.at })),
      clientErrors: load.attempts.filter((a) => typeof a.outcome !== "number" || a.outcome >= 500).map((a) => a.at),
      ledger: await ledgerEntries(world.ledger),
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
        primary: delivered(firstPrimary) + delivered(processes.primary),
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
    await Promise.all(Object.values(processes).map((p) => p?.stop()));
    await world.stop();
  }
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
    ledger: world.ledger,
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

function runbookContext(world: DrillWorld, urls: Record<Role, string>, options: DrillOptions, config: DeploymentConfig): RunbookContext {
  const dr = world.regions.dr;
  return {
    urls,
    // The operator works in the DR region, through its DynamoDB endpoint like its handlers.
    dr: {
      config: { ...config, environmentSuffix: DRILL_PREFIX },
      role: "dr",
      region: dr.name,
      dynamodb: dr.operatorDynamo,
      sqs: dr.emulators.clients.sqs,
    },
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
 * Until every acknowledged payment is in the ledger, both regions' queues are empty and the
 * replication has settled, or the timeout (the report then shows what is missing).
 */
async function drain(world: DrillWorld, acked: Set<string>, timeoutMs: number, say: (line: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const conn = await mysql.createConnection({
    host: world.ledger.host,
    port: world.ledger.port,
    user: world.ledger.server.rootUser,
    password: world.ledger.server.rootPassword,
    database: world.ledger.database,
  });
  try {
    for (;;) {
      const posted = await postedIds(conn);
      const missing = [...acked].filter((id) => !posted.has(id)).length;
      const queues: string[] = [];
      for (const role of ROLES) {
        const e = world.regions[role].emulators;
        for (const name of [e.resources.names.transactionQueue, e.resources.names.notificationQueue]) {
          const q = await e.fauxqs.inspectQueue(name);
          const n = q ? q.ready + q.delayed + q.inflight : 0;
          if (n > 0) queues.push(`${role} ${name} ${n}`);
        }
      }
      const pending = Object.values(world.replicator.stats().directions).reduce((n, d) => n + d.pending, 0);
      if (missing === 0 && queues.length === 0 && pending === 0) return;
      if (Date.now() > deadline) {
        say(
          `  drain timed out: ${missing} acknowledged payment(s) not posted; queued: ${queues.join(", ") || "none"}; ${pending} replication(s) pending`,
        );
        return;
      }
      await sleep(1000);
    }
  } finally {
    await conn.end();
  }
}
