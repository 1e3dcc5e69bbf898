/**
 * DR operations on the Aurora Global Database and the Route53 failover checks: pure logic over
 * injected AWS SDK v3 clients, so tests pass mocked clients and the CLI (`cli.ts`) only parses,
 * builds clients, prints and sets the exit code.
 *
 * Every read that can fail because a region is gone is caught and reported, never thrown: an
 * operator must still be able to run `status` and `failover` while the primary region is down.
 */

import { type CloudWatchClient, GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import {
  DescribeDBClustersCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  type FailoverGlobalClusterCommandInput,
  type GlobalCluster,
  type RDSClient,
  SwitchoverGlobalClusterCommand,
  type SwitchoverGlobalClusterCommandInput,
} from "@aws-sdk/client-rds";
import {
  GetHealthCheckStatusCommand,
  ListHealthChecksCommand,
  ListTagsForResourcesCommand,
  type Route53Client,
} from "@aws-sdk/client-route-53";
import { type DeploymentConfig, REGION_ROLES, type RegionRole, regionOf } from "../../contracts/config";
import { Naming } from "../../contracts/names";
import type { OperationResult } from "../command-line";

export const ROLES = REGION_ROLES;

export interface DrClients {
  /** RDS control plane, one client per region. */
  readonly rds: Readonly<Record<RegionRole, RDSClient>>;
  /** CloudWatch, one client per region: the lag metric lives in the secondary cluster's region. */
  readonly cloudwatch: Readonly<Record<RegionRole, CloudWatchClient>>;
  /** Route53 is global (its API is served from us-east-1). */
  readonly route53: Route53Client;
}

export interface DrContext {
  readonly config: DeploymentConfig;
  readonly clients: DrClients;
  /** Progress lines written while an operation runs (the polls of `wait`). */
  readonly progress?: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

// ---------------------------------------------------------------------------------------------
// Names (the same builders as the stacks: src/contracts/names.ts)

export interface DrNames {
  readonly globalClusterId: string;
  readonly clusterId: Readonly<Record<RegionRole, string>>;
  /** `Name` tags of the Route53 health checks (the dr side is called "secondary" there). */
  readonly healthCheckName: Readonly<Record<RegionRole, string>>;
}

export function drNames(config: DeploymentConfig): DrNames {
  const naming = new Naming(config.environmentSuffix);
  return {
    globalClusterId: naming.auroraGlobalCluster(),
    clusterId: { primary: naming.auroraCluster("primary"), dr: naming.auroraCluster("dr") },
    healthCheckName: {
      primary: naming.healthCheck("primary", config.primaryRegion),
      dr: naming.healthCheck("dr", config.drRegion),
    },
  };
}

export function regionFor(config: DeploymentConfig, role: RegionRole): string {
  return regionOf(config, role).region;
}

const other = (role: RegionRole): RegionRole => (role === "primary" ? "dr" : "primary");

// ---------------------------------------------------------------------------------------------
// Reads

export interface Member {
  readonly arn: string;
  readonly region: string;
  readonly clusterId: string;
  /** Which of this deployment's clusters it is; undefined for a cluster this app does not own. */
  readonly role?: RegionRole;
  readonly isWriter: boolean;
  readonly synchronizationStatus?: string;
}

export interface Topology {
  readonly globalClusterId: string;
  readonly status: string;
  readonly members: readonly Member[];
  readonly writer?: Member;
  /** A switchover or failover that is pending or running. */
  readonly operation?: { readonly status: string; readonly from?: string; readonly to?: string; readonly dataLossAllowed?: boolean };
  /** Region whose API answered. */
  readonly readFrom: RegionRole;
}

export interface ClusterState {
  readonly role: RegionRole;
  readonly region: string;
  readonly clusterId: string;
  readonly status?: string;
  readonly endpoint?: string;
  readonly arn?: string;
  /** Why the cluster could not be read. */
  readonly error?: string;
}

export interface LagReading {
  readonly role: RegionRole;
  readonly region: string;
  readonly clusterId: string;
  readonly milliseconds?: number;
  readonly at?: Date;
  readonly error?: string;
}

export interface HealthCheckState {
  readonly role: RegionRole;
  readonly region: string;
  readonly name: string;
  readonly id?: string;
  readonly healthy?: boolean;
  readonly checkersHealthy?: number;
  readonly checkersTotal?: number;
  readonly error?: string;
}

/** Thrown for an expected failure that ends an operation with a one-line message. */
export class DrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DrError";
  }
}

const IN_PROGRESS = new Set(["pending", "failing-over", "switching-over", "cancelling"]);

/** `arn:aws:rds:ap-southeast-2:123456789012:cluster:payment-aurora-dr-dev` -> region and id. */
export function parseClusterArn(arn: string): { region: string; clusterId: string } | undefined {
  const m = /^arn:[a-z-]+:rds:([a-z0-9-]+):\d{12}:cluster:(.+)$/.exec(arn);
  return m ? { region: m[1], clusterId: m[2] } : undefined;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const msg = (err.message.split("\n")[0] ?? "").trim();
    return msg && msg !== err.name ? `${err.name}: ${msg}` : err.name;
  }
  return String(err);
}

function toTopology(ctx: DrContext, g: GlobalCluster, readFrom: RegionRole): Topology {
  const names = drNames(ctx.config);
  const members: Member[] = (g.GlobalClusterMembers ?? []).map((m) => {
    const arn = m.DBClusterArn ?? "";
    const parsed = parseClusterArn(arn);
    const role = ROLES.find((r) => parsed?.clusterId === names.clusterId[r] && parsed?.region === regionFor(ctx.config, r));
    return {
      arn,
      region: parsed?.region ?? "unknown",
      clusterId: parsed?.clusterId ?? arn,
      role,
      isWriter: m.IsWriter === true,
      synchronizationStatus: m.SynchronizationStatus,
    };
  });
  const f = g.FailoverState;
  const operation =
    f?.Status && IN_PROGRESS.has(f.Status)
      ? { status: f.Status, from: f.FromDbClusterArn, to: f.ToDbClusterArn, dataLossAllowed: f.IsDataLossAllowed }
      : undefined;
  return {
    globalClusterId: g.GlobalClusterIdentifier ?? names.globalClusterId,
    status: g.Status ?? "unknown",
    members,
    writer: members.find((m) => m.isWriter),
    operation,
    readFrom,
  };
}

/**
 * DescribeGlobalClusters, asking `prefer`'s region first and the other region when that one
 * does not answer (the global cluster is visible from every member region).
 */
export async function readTopology(ctx: DrContext, prefer: RegionRole): Promise<Topology> {
  const id = drNames(ctx.config).globalClusterId;
  const failures: string[] = [];
  let notFound = 0;
  for (const role of [prefer, other(prefer)]) {
    try {
      const out = await ctx.clients.rds[role].send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: id }));
      const g = out.GlobalClusters?.find((c) => c.GlobalClusterIdentifier === id) ?? out.GlobalClusters?.[0];
      if (g) return toTopology(ctx, g, role);
      notFound++;
    } catch (err) {
      if (err instanceof Error && err.name === "GlobalClusterNotFoundFault") notFound++;
      failures.push(`${regionFor(ctx.config, role)}: ${describeError(err)}`);
    }
  }
  if (notFound === 2) throw new DrError(`Global cluster ${id} not found in ${ctx.config.primaryRegion} or ${ctx.config.drRegion}.`);
  throw new DrError(`Cannot read global cluster ${id} (${failures.join("; ")}).`);
}

export async function readCluster(ctx: DrContext, role: RegionRole): Promise<ClusterState> {
  const region = regionFor(ctx.config, role);
  const clusterId = drNames(ctx.config).clusterId[role];
  try {
    const out = await ctx.clients.rds[role].send(new DescribeDBClustersCommand({ DBClusterIdentifier: clusterId }));
    const c = out.DBClusters?.[0];
    if (!c) return { role, region, clusterId, error: "not found" };
    return { role, region, clusterId, status: c.Status, endpoint: c.Endpoint, arn: c.DBClusterArn };
  } catch (err) {
    const error = err instanceof Error && err.name === "DBClusterNotFoundFault" ? "not found" : describeError(err);
    return { role, region, clusterId, error };
  }
}

/**
 * Latest `AuroraGlobalDBReplicationLag` (ms) of `role`'s cluster, read in its own region, within
 * the last `lookbackMinutes`. The metric is published by the secondary cluster only.
 */
export async function readLag(ctx: DrContext, role: RegionRole, lookbackMinutes: number): Promise<LagReading> {
  const region = regionFor(ctx.config, role);
  const clusterId = drNames(ctx.config).clusterId[role];
  const end = new Date(now(ctx));
  try {
    const out = await ctx.clients.cloudwatch[role].send(
      new GetMetricStatisticsCommand({
        Namespace: "AWS/RDS",
        MetricName: "AuroraGlobalDBReplicationLag",
        Dimensions: [{ Name: "DBClusterIdentifier", Value: clusterId }],
        StartTime: new Date(end.getTime() - lookbackMinutes * 60_000),
        EndTime: end,
        Period: 60,
        Statistics: ["Maximum"],
      }),
    );
    const latest = (out.Datapoints ?? [])
      .filter((d) => d.Timestamp !== undefined && d.Maximum !== undefined)
      .sort((a, b) => b.Timestamp!.getTime() - a.Timestamp!.getTime())[0];
    if (!latest) return { role, region, clusterId, error: `no datapoint in the last ${lookbackMinutes} minutes` };
    return { role, region, clusterId, milliseconds: latest.Maximum, at: latest.Timestamp };
  } catch (err) {
    return { role, region, clusterId, error: describeError(err) };
  }
}

/** Route53 counts a check healthy when more than 18% of its checkers report it healthy. */
const ROUTE53_HEALTHY_FRACTION = 0.18;

/** Finds both regions' health checks by their Name tag and reads their checker observations. */
export async function readHealthChecks(ctx: DrContext): Promise<HealthCheckState[]> {
  const names = drNames(ctx.config);
  const base = ROLES.map((role) => ({ role, region: regionFor(ctx.config, role), name: names.healthCheckName[role] }));
  let idsByName: Map<string, string>;
  try {
    idsByName = await healthCheckIdsByName(ctx.clients.route53, new Set(base.map((b) => b.name)));
  } catch (err) {
    return base.map((b) => ({ ...b, error: `cannot list health checks: ${describeError(err)}` }));
  }
  return Promise.all(
    base.map(async (b): Promise<HealthCheckState> => {
      const id = idsByName.get(b.name);
      if (!id) return { ...b, error: "no health check with this Name tag" };
      try {
        const out = await ctx.clients.route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: id }));
        const observations = out.HealthCheckObservations ?? [];
        const ok = observations.filter((o) => o.StatusReport?.Status?.startsWith("Success")).length;
        const total = observations.length;
        return { ...b, id, checkersHealthy: ok, checkersTotal: total, healthy: total > 0 && ok / total > ROUTE53_HEALTHY_FRACTION };
      } catch (err) {
        return { ...b, id, error: describeError(err) };
      }
    }),
  );
}

async function healthCheckIdsByName(route53: Route53Client, wanted: Set<string>): Promise<Map<string, string>> {
  const ids: string[] = [];
  let marker: string | undefined;
  do {
    const page = await route53.send(new ListHealthChecksCommand({ Marker: marker }));
    ids.push(...(page.HealthChecks ?? []).map((h) => h.Id!).filter(Boolean));
    marker = page.IsTruncated ? page.NextMarker : undefined;
  } while (marker);

  const found = new Map<string, string>();
  for (let i = 0; i < ids.length && found.size < wanted.size; i += 10) {
    const out = await route53.send(new ListTagsForResourcesCommand({ ResourceType: "healthcheck", ResourceIds: ids.slice(i, i + 10) }));
    for (const set of out.ResourceTagSets ?? []) {
      const name = set.Tags?.find((t) => t.Key === "Name")?.Value;
      if (name && wanted.has(name) && set.ResourceId && !found.has(name)) found.set(name, set.ResourceId);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// status

export interface StatusReport {
  readonly globalClusterId: string;
  readonly topology?: Topology;
  readonly topologyError?: string;
  readonly clusters: readonly ClusterState[];
  readonly lag?: LagReading;
  readonly healthChecks?: readonly HealthCheckState[];
  readonly thresholdSeconds: number;
  readonly problems: readonly string[];
  readonly healthy: boolean;
}

/** Minutes of lag metric `status` looks at: the metric is published every minute. */
export const STATUS_LAG_LOOKBACK_MINUTES = 10;

export async function getStatus(ctx: DrContext): Promise<StatusReport> {
  const names = drNames(ctx.config);
  const threshold = ctx.config.replicationLagThresholdSeconds;
  const problems: string[] = [];

  const [topologyOrError, clusters, healthChecks] = await Promise.all([
    readTopology(ctx, "primary").catch((err: unknown) => (err instanceof DrError ? err.message : describeError(err))),
    Promise.all(ROLES.map((role) => readCluster(ctx, role))),
    ctx.config.domainName ? readHealthChecks(ctx) : Promise.resolve(undefined),
  ]);
  const topology = typeof topologyOrError === "string" ? undefined : topologyOrError;

  if (!topology) {
    problems.push(topologyOrError as string);
  } else {
    if (topology.status !== "available") problems.push(`global cluster ${topology.globalClusterId} is ${topology.status}`);
    if (topology.operation)
      problems.push(`a ${topology.operation.dataLossAllowed ? "failover" : "switchover"} is ${topology.operation.status}`);
    if (!topology.writer) problems.push("the global cluster has no writer");
    for (const role of ROLES) {
      const member = topology.members.find((m) => m.role === role);
      if (!member) problems.push(`${role} cluster ${names.clusterId[role]} is not a member of the global cluster`);
      else if (member.synchronizationStatus && member.synchronizationStatus !== "connected") {
        problems.push(`${role} cluster synchronization is ${member.synchronizationStatus}`);
      }
    }
  }
  for (const c of clusters) {
    if (c.error) problems.push(`${c.role} cluster ${c.clusterId} in ${c.region}: ${c.error}`);
    else if (c.status !== "available") problems.push(`${c.role} cluster ${c.clusterId} is ${c.status ?? "unknown"}`);
  }

  // The lag is published by whichever cluster is the secondary now: normally dr.
  const secondary: RegionRole = topology?.writer?.role === "dr" ? "primary" : "dr";
  const lag = await readLag(ctx, secondary, STATUS_LAG_LOOKBACK_MINUTES);
  if (lag.error) problems.push(`replication lag of ${lag.clusterId} unknown (${lag.error})`);
  else if (lag.milliseconds! > threshold * 1000) {
    problems.push(`replication lag ${formatMs(lag.milliseconds!)} is over the ${threshold} s threshold`);
  }

  for (const h of healthChecks ?? []) {
    if (h.error) problems.push(`health check ${h.name}: ${h.error}`);
    else if (!h.healthy) problems.push(`health check ${h.name} is unhealthy (${h.checkersHealthy}/${h.checkersTotal} checkers healthy)`);
  }

  return {
    globalClusterId: names.globalClusterId,
    topology,
    topologyError: topology ? undefined : (topologyOrError as string),
    clusters,
    lag,
    healthChecks,
    thresholdSeconds: threshold,
    problems,
    healthy: problems.length === 0,
  };
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd(),
  );
}

export function formatStatus(report: StatusReport, config: DeploymentConfig): string[] {
  const t = report.topology;
  const flag = (ok: boolean) => (ok ? "ok" : "FAIL");
  const rows: string[][] = [["", "COMPONENT", "REGION", "STATE", "DETAIL"]];

  if (t) {
    const writer = t.writer ? `${t.writer.role ?? t.writer.clusterId} (${t.writer.region})` : "none";
    const op = t.operation ? `, ${t.operation.dataLossAllowed ? "failover" : "switchover"} ${t.operation.status}` : "";
    rows.push([
      flag(t.status === "available" && !!t.writer && !t.operation),
      "global cluster",
      "-",
      t.status,
      `${t.globalClusterId}, writer: ${writer}${op}`,
    ]);
  } else {
    rows.push(["FAIL", "global cluster", "-", "unreadable", report.topologyError ?? ""]);
  }
  for (const c of report.clusters) {
    const member = t?.members.find((m) => m.role === c.role);
    const memberText = !t ? "?" : !member ? "not a member" : member.isWriter ? "writer" : "reader";
    const sync = member?.synchronizationStatus ? `, sync ${member.synchronizationStatus}` : "";
    const ok =
      !c.error &&
      c.status === "available" &&
      (!t || !!member) &&
      (!member?.synchronizationStatus || member.synchronizationStatus === "connected");
    rows.push([
      flag(ok),
      `${c.role} cluster (${memberText})`,
      c.region,
      c.error ? "error" : (c.status ?? "unknown"),
      c.error ? `${c.clusterId}: ${c.error}` : `${c.clusterId}, endpoint ${c.endpoint ?? "-"}${sync}`,
    ]);
  }
  if (report.lag) {
    const l = report.lag;
    const ok = !l.error && l.milliseconds! <= report.thresholdSeconds * 1000;
    rows.push([
      flag(ok),
      `replication lag (${l.role})`,
      l.region,
      l.error ? "unknown" : formatMs(l.milliseconds!),
      l.error ? `${l.clusterId}: ${l.error}` : `${l.clusterId}, threshold ${report.thresholdSeconds} s, at ${l.at!.toISOString()}`,
    ]);
  }
  if (report.healthChecks) {
    for (const h of report.healthChecks) {
      rows.push([
        flag(!h.error && h.healthy === true),
        `health check (${h.role})`,
        h.region,
        h.error ? "unknown" : h.healthy ? "healthy" : "unhealthy",
        h.error ? `${h.name}: ${h.error}` : `${h.name} (${h.id}), ${h.checkersHealthy}/${h.checkersTotal} checkers healthy`,
      ]);
    }
  } else {
    rows.push(["-", "health checks", "-", "not configured", "no domainName: no Route53 failover records"]);
  }

  const lines = [
    `DR status of ${config.environmentSuffix} (primary ${config.primaryRegion}, dr ${config.drRegion})`,
    "",
    ...table(rows),
    "",
  ];
  if (report.healthy) lines.push("HEALTHY");
  else lines.push(`DEGRADED: ${report.problems.length} problem(s)`, ...report.problems.map((p) => `  - ${p}`));
  return lines;
}

export async function status(ctx: DrContext): Promise<OperationResult> {
  const report = await getStatus(ctx);
  return { exitCode: report.healthy ? 0 : 2, lines: formatStatus(report, ctx.config) };
}

// ---------------------------------------------------------------------------------------------
// switchover (planned, RPO 0)

export interface SwitchoverOptions {
  readonly to: RegionRole;
  readonly yes: boolean;
}

/** Why a switchover must not start now; empty when it may. */
async function switchoverBlockers(ctx: DrContext, t: Topology): Promise<string[]> {
  const blockers: string[] = [];
  if (t.status !== "available") blockers.push(`global cluster ${t.globalClusterId} is ${t.status}, not available`);
  if (t.operation) blockers.push(`a ${t.operation.dataLossAllowed ? "failover" : "switchover"} is already ${t.operation.status}`);
  const states = await Promise.all(
    t.members.map(async (m) => {
      if (!m.role) return { m, error: `not a cluster of this deployment (${m.region}), cannot check it` };
      const c = await readCluster(ctx, m.role);
      return { m, error: c.error, status: c.status };
    }),
  );
  for (const { m, error, status: s } of states) {
    if (error) blockers.push(`member ${m.clusterId} (${m.region}): ${error}`);
    else if (s !== "available") blockers.push(`member ${m.clusterId} (${m.region}) is ${s ?? "unknown"}, not available`);
    if (m.synchronizationStatus && m.synchronizationStatus !== "connected") {
      blockers.push(`member ${m.clusterId} synchronization is ${m.synchronizationStatus}`);
    }
  }
  return blockers;
}

function targetMember(ctx: DrContext, t: Topology, to: RegionRole): Member {
  const member = t.members.find((m) => m.role === to);
  if (!member) {
    const id = drNames(ctx.config).clusterId[to];
    throw new DrError(`${to} cluster ${id} (${regionFor(ctx.config, to)}) is not a member of global cluster ${t.globalClusterId}.`);
  }
  return member;
}

/** The topology read from the target's region, and an "already done" result when the target already writes. */
async function readTarget(ctx: DrContext, to: RegionRole) {
  const t = await readTopology(ctx, to);
  const target = targetMember(ctx, t, to);
  const done: OperationResult | undefined =
    target.isWriter && !t.operation
      ? { exitCode: 0, lines: [`The ${to} cluster ${target.clusterId} (${target.region}) is already the writer: nothing to do.`] }
      : undefined;
  return { t, target, done };
}

export async function switchover(ctx: DrContext, options: SwitchoverOptions): Promise<OperationResult> {
  const { to } = options;
  const lines: string[] = [];
  try {
    const { t, target, done } = await readTarget(ctx, to);
    if (done) return done;
    const blockers = await switchoverBlockers(ctx, t);
    if (blockers.length > 0) {
      return {
        exitCode: 1,
        lines: ["Switchover refused:", ...blockers.map((b) => `  - ${b}`)],
        error: `switchover refused: ${blockers[0]}${blockers.length > 1 ? ` (and ${blockers.length - 1} more)` : ""}`,
      };
    }
    const input: SwitchoverGlobalClusterCommandInput = {
      GlobalClusterIdentifier: t.globalClusterId,
      TargetDbClusterIdentifier: target.arn,
    };
    const region = regionFor(ctx.config, to);
    const from = t.writer ? `${t.writer.clusterId} (${t.writer.region})` : "none";
    lines.push(
      `Planned switchover (RPO 0): writer ${from} -> ${target.clusterId} (${target.region}).`,
      `SwitchoverGlobalCluster in ${region}: ${JSON.stringify(input)}`,
    );
    if (!options.yes) {
      lines.push("Dry run: nothing was changed.");
      return { exitCode: 1, lines, error: "switchover not performed: add --yes to run it", showUsage: true };
    }
    const out = await ctx.clients.rds[to].send(new SwitchoverGlobalClusterCommand(input));
    lines.push(...startedLines(out.GlobalCluster, `wait --to ${to}`));
    return { exitCode: 0, lines };
  } catch (err) {
    return failure(lines, "switchover", err);
  }
}

/** What to print once a switchover or failover was accepted, and the command to follow it with. */
function startedLines(global: { Status?: string; FailoverState?: { Status?: string } } | undefined, next: string): string[] {
  const state = global?.FailoverState?.Status ? `, ${global.FailoverState.Status}` : "";
  return [`Started: global cluster ${global?.Status ?? "status unknown"}${state}.`, `Next: npm run dr -- ${next}`];
}

// ---------------------------------------------------------------------------------------------
// failover (unplanned, region lost, data loss allowed)

export interface FailoverOptions {
  readonly to: RegionRole;
  readonly yes: boolean;
  readonly allowDataLoss: boolean;
}

/** How far back `failover` looks for the last lag datapoint: the region may have gone hours ago. */
export const FAILOVER_LAG_LOOKBACK_MINUTES = 180;

export async function failover(ctx: DrContext, options: FailoverOptions): Promise<OperationResult> {
  const { to } = options;
  const lines: string[] = [];
  try {
    // Ask the surviving (target) region first: the other one is presumably gone.
    const { t, target, done } = await readTarget(ctx, to);
    if (done) return done;
    if (t.operation) {
      return {
        exitCode: 1,
        lines,
        error: `failover refused: a ${t.operation.dataLossAllowed ? "failover" : "switchover"} is already ${t.operation.status}`,
      };
    }
    const [lag, cluster] = await Promise.all([readLag(ctx, to, FAILOVER_LAG_LOOKBACK_MINUTES), readCluster(ctx, to)]);
    const from = t.writer ? `${t.writer.clusterId} (${t.writer.region})` : "none";
    lines.push(`UNPLANNED failover (data loss allowed): writer ${from} -> ${target.clusterId} (${target.region}).`);
    lines.push(
      lag.error
        ? `RPO estimate: unknown (replication lag of ${lag.clusterId}: ${lag.error}).`
        : `RPO estimate: last known replication lag ${formatMs(lag.milliseconds!)} at ${lag.at!.toISOString()}: writes committed on the old writer in about that window before it was lost may be lost.`,
    );
    if (cluster.error || cluster.status !== "available") {
      lines.push(`Warning: target cluster ${cluster.clusterId} is ${cluster.error ?? cluster.status ?? "unknown"}.`);
    }
    const input: FailoverGlobalClusterCommandInput = {
      GlobalClusterIdentifier: t.globalClusterId,
      TargetDbClusterIdentifier: target.arn,
      AllowDataLoss: true,
    };
    const region = regionFor(ctx.config, to);
    lines.push(`FailoverGlobalCluster in ${region}: ${JSON.stringify(input)}`);
    if (!options.yes || !options.allowDataLoss) {
      const missing = [options.yes ? "" : "--yes", options.allowDataLoss ? "" : "--allow-data-loss"].filter(Boolean).join(" and ");
      lines.push("Dry run: nothing was changed.");
      return {
        exitCode: 1,
        lines,
        error: `failover not performed: it needs --yes and --allow-data-loss (missing ${missing})`,
        showUsage: true,
      };
    }
    const out = await ctx.clients.rds[to].send(new FailoverGlobalClusterCommand(input));
    lines.push(...startedLines(out.GlobalCluster, `wait --to ${to} --writer-only`));
    return { exitCode: 0, lines };
  } catch (err) {
    return failure(lines, "failover", err);
  }
}

// ---------------------------------------------------------------------------------------------
// wait

export interface WaitOptions {
  readonly to: RegionRole;
  readonly timeoutSeconds: number;
  readonly pollSeconds: number;
  /** Only the target writer must be in place and available (the old region may be gone). */
  readonly writerOnly: boolean;
}

export const DEFAULT_TIMEOUT_SECONDS = 900;
export const DEFAULT_POLL_SECONDS = 15;

/** One poll: why the requested state is not reached yet (empty when it is). */
async function waitBlockers(ctx: DrContext, options: WaitOptions): Promise<string[]> {
  let t: Topology;
  try {
    t = await readTopology(ctx, options.to);
  } catch (err) {
    return [err instanceof DrError ? err.message : describeError(err)];
  }
  const blockers: string[] = [];
  const target = t.members.find((m) => m.role === options.to);
  if (!target) blockers.push(`${options.to} cluster is not a member`);
  else if (!target.isWriter) blockers.push(`writer is ${t.writer ? `${t.writer.role ?? t.writer.clusterId}` : "none"}, not ${options.to}`);
  if (t.operation) blockers.push(`${t.operation.dataLossAllowed ? "failover" : "switchover"} ${t.operation.status}`);
  if (options.writerOnly) {
    const c = await readCluster(ctx, options.to);
    if (c.error || c.status !== "available") blockers.push(`${options.to} cluster ${c.error ?? c.status ?? "unknown"}`);
    return blockers;
  }
  if (t.status !== "available") blockers.push(`global cluster ${t.status}`);
  const states = await Promise.all(t.members.map(async (m) => ({ m, c: m.role ? await readCluster(ctx, m.role) : undefined })));
  for (const { m, c } of states) {
    if (!c) blockers.push(`member ${m.clusterId} (${m.region}) cannot be checked`);
    else if (c.error || c.status !== "available") blockers.push(`${m.role} cluster ${c.error ?? c.status ?? "unknown"}`);
    else if (m.synchronizationStatus && m.synchronizationStatus !== "connected")
      blockers.push(`${m.role} cluster sync ${m.synchronizationStatus}`);
  }
  return blockers;
}

export async function waitForWriter(ctx: DrContext, options: WaitOptions): Promise<OperationResult> {
  const sleep = ctx.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = now(ctx);
  const deadline = started + options.timeoutSeconds * 1000;
  const goal = `${options.to} cluster is the writer${options.writerOnly ? " and available" : " and all members are available"}`;
  for (let poll = 1; ; poll++) {
    const blockers = await waitBlockers(ctx, options);
    const elapsed = Math.round((now(ctx) - started) / 1000);
    if (blockers.length === 0) {
      return { exitCode: 0, lines: [`Done after ${poll} poll(s), ${elapsed} s: ${goal}.`] };
    }
    ctx.progress?.(`[${elapsed} s] poll ${poll}: waiting (${blockers.join("; ")})`);
    const remaining = deadline - now(ctx);
    if (remaining <= 0) {
      return {
        exitCode: 2,
        lines: [],
        error: `timed out after ${options.timeoutSeconds} s (${poll} poll(s)) waiting until the ${goal}: ${blockers.join("; ")}`,
      };
    }
    await sleep(Math.min(options.pollSeconds * 1000, remaining));
  }
}

// ---------------------------------------------------------------------------------------------

function now(ctx: DrContext): number {
  return ctx.now ? ctx.now() : Date.now();
}

function failure(lines: string[], what: string, err: unknown): OperationResult {
  if (err instanceof DrError) return { exitCode: 1, lines, error: `${what}: ${err.message}` };
  return { exitCode: 1, lines, error: `${what} failed: ${describeError(err)}` };
}
