/**
 * DR operator CLI (src/ops/dr): the RDS control plane, Route53 and CloudWatch have no local
 * emulator, so each region's client is replaced by aws-sdk-client-mock and the tests assert the
 * exact requests the operations send (and the ones they must never send).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import {
  DescribeDBClustersCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  type GlobalCluster,
  SwitchoverGlobalClusterCommand,
} from "@aws-sdk/client-rds";
import {
  GetHealthCheckStatusCommand,
  type HealthCheck,
  ListHealthChecksCommand,
  ListTagsForResourcesCommand,
} from "@aws-sdk/client-route-53";
import { mockClient } from "aws-sdk-client-mock";
import { type DeploymentConfig, loadConfig, type RegionRole } from "../../src/contracts/config";
import { UsageError } from "../../src/ops/command-line";
import { parseArgs } from "../../src/ops/dr/args";
import { buildClients, type CliIo, runDr as main } from "../../src/ops/dr/cli";
import { type DrContext, drNames, failover, getStatus, status, switchover, waitForWriter } from "../../src/ops/dr/operations";
import { resourcesOf, synthAppToDisk } from "../infra/support";

const ACCOUNT = "123456789012";
const ENV = {
  ENVIRONMENT_SUFFIX: "test",
  DOMAIN_NAME: "api.example.com",
  HOSTED_ZONE_ID: "Z0123456789ABCDEFGHIJ",
  PRIMARY_CERTIFICATE_ARN: `arn:aws:acm:ap-southeast-1:${ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555`,
  DR_CERTIFICATE_ARN: `arn:aws:acm:ap-southeast-2:${ACCOUNT}:certificate/11111111-2222-3333-4444-666666666666`,
  REPLICATION_LAG_THRESHOLD_SECONDS: "5",
};
const config: DeploymentConfig = loadConfig({}, ENV);

const GLOBAL_ID = "payment-aurora-global-test";
const CLUSTER_ID = { primary: "payment-aurora-primary-test", dr: "payment-aurora-dr-test" } as const;
const REGION = { primary: "ap-southeast-1", dr: "ap-southeast-2" } as const;
const ARN = {
  primary: `arn:aws:rds:ap-southeast-1:${ACCOUNT}:cluster:payment-aurora-primary-test`,
  dr: `arn:aws:rds:ap-southeast-2:${ACCOUNT}:cluster:payment-aurora-dr-test`,
} as const;
const HEALTH_CHECK_ID = { primary: "hc-primary-0001", dr: "hc-dr-0002" } as const;
const T0 = Date.parse("2026-03-01T12:00:00Z");

// ---------------------------------------------------------------------------------------------
// Fixtures

interface World {
  writer: RegionRole;
  globalStatus: string;
  clusterStatus: Record<RegionRole, string>;
  sync: Record<RegionRole, string>;
  failoverStatus?: string;
  /** Latest lag datapoint of the secondary, in ms; undefined: no datapoints. */
  lagMs?: number;
  /** Healthy checker observations out of 3, per side. */
  checkersHealthy: Record<RegionRole, number>;
}

function healthyWorld(): World {
  return {
    writer: "primary",
    globalStatus: "available",
    clusterStatus: { primary: "available", dr: "available" },
    sync: { primary: "connected", dr: "connected" },
    lagMs: 850,
    checkersHealthy: { primary: 3, dr: 3 },
  };
}

function globalCluster(w: World): GlobalCluster {
  return {
    GlobalClusterIdentifier: GLOBAL_ID,
    Status: w.globalStatus,
    Engine: "aurora-mysql",
    GlobalClusterMembers: (["primary", "dr"] as const).map((role) => ({
      DBClusterArn: ARN[role],
      IsWriter: w.writer === role,
      Readers: w.writer === role ? [ARN[role === "primary" ? "dr" : "primary"]] : [],
      SynchronizationStatus: w.sync[role] as "connected",
    })),
    ...(w.failoverStatus
      ? {
          FailoverState: {
            Status: w.failoverStatus as "pending",
            FromDbClusterArn: ARN.primary,
            ToDbClusterArn: ARN.dr,
            IsDataLossAllowed: false,
          },
        }
      : {}),
  };
}

function healthCheck(id: string): HealthCheck {
  return { Id: id, CallerReference: id, HealthCheckVersion: 1, HealthCheckConfig: { Type: "HTTPS", ResourcePath: "/health" } };
}

/** Mocked clients (one per region, as the CLI builds them) whose answers follow `world`. */
function mockedWorld(world: World) {
  const clients = buildClients(config);
  const rds = { primary: mockClient(clients.rds.primary), dr: mockClient(clients.rds.dr) };
  const cloudwatch = { primary: mockClient(clients.cloudwatch.primary), dr: mockClient(clients.cloudwatch.dr) };
  const route53 = mockClient(clients.route53);

  for (const role of ["primary", "dr"] as const) {
    rds[role].on(DescribeGlobalClustersCommand).callsFake(() => ({ GlobalClusters: [globalCluster(world)] }));
    rds[role].on(DescribeDBClustersCommand).callsFake((input: { DBClusterIdentifier?: string }) => {
      if (input.DBClusterIdentifier !== CLUSTER_ID[role]) {
        throw Object.assign(new Error(`DBCluster ${input.DBClusterIdentifier} not found.`), { name: "DBClusterNotFoundFault" });
      }
      return {
        DBClusters: [
          {
            DBClusterIdentifier: CLUSTER_ID[role],
            DBClusterArn: ARN[role],
            Status: world.clusterStatus[role],
            Endpoint: `${CLUSTER_ID[role]}.cluster-abc.${REGION[role]}.rds.amazonaws.com`,
          },
        ],
      };
    });
    rds[role]
      .on(SwitchoverGlobalClusterCommand)
      .resolves({ GlobalCluster: { GlobalClusterIdentifier: GLOBAL_ID, Status: "switching-over" } });
    rds[role].on(FailoverGlobalClusterCommand).resolves({ GlobalCluster: { GlobalClusterIdentifier: GLOBAL_ID, Status: "failing-over" } });
    cloudwatch[role].on(GetMetricStatisticsCommand).callsFake(() => ({
      Datapoints:
        world.lagMs === undefined
          ? []
          : [
              { Timestamp: new Date(T0 - 180_000), Maximum: 99_999 },
              { Timestamp: new Date(T0 - 60_000), Maximum: world.lagMs },
              { Timestamp: new Date(T0 - 120_000), Maximum: 12 },
            ],
    }));
  }

  route53.on(ListHealthChecksCommand).resolvesOnce({
    HealthChecks: [healthCheck("hc-unrelated"), healthCheck(HEALTH_CHECK_ID.primary)],
    Marker: "",
    MaxItems: 2,
    IsTruncated: true,
    NextMarker: "page-2",
  });
  route53.on(ListHealthChecksCommand, { Marker: "page-2" }).resolves({
    HealthChecks: [healthCheck(HEALTH_CHECK_ID.dr)],
    Marker: "page-2",
    MaxItems: 2,
    IsTruncated: false,
  });
  route53.on(ListTagsForResourcesCommand).resolves({
    ResourceTagSets: [
      {
        ResourceType: "healthcheck",
        ResourceId: "hc-unrelated",
        Tags: [{ Key: "Name", Value: "payment-health-primary-ap-southeast-1-prod" }],
      },
      {
        ResourceType: "healthcheck",
        ResourceId: HEALTH_CHECK_ID.primary,
        Tags: [{ Key: "Name", Value: "payment-health-primary-ap-southeast-1-test" }],
      },
      {
        ResourceType: "healthcheck",
        ResourceId: HEALTH_CHECK_ID.dr,
        Tags: [{ Key: "Name", Value: "payment-health-secondary-ap-southeast-2-test" }],
      },
    ],
  });
  for (const role of ["primary", "dr"] as const) {
    route53.on(GetHealthCheckStatusCommand, { HealthCheckId: HEALTH_CHECK_ID[role] }).callsFake(() => ({
      HealthCheckObservations: ["ap-southeast-1", "ap-southeast-2", "ap-northeast-1"].map((checker, i) => ({
        Region: checker as "ap-southeast-1",
        IPAddress: `15.177.0.${i}`,
        StatusReport: {
          Status:
            i < world.checkersHealthy[role] ? "Success: HTTP Status Code 200, OK" : "Failure: HTTP Status Code 503, Service Unavailable",
          CheckedTime: new Date(T0),
        },
      })),
    }));
  }

  let clock = T0;
  const sleeps: number[] = [];
  const progress: string[] = [];
  const ctx: DrContext = {
    config,
    clients,
    progress: (line) => progress.push(line),
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
  };
  return { ctx, clients, rds, cloudwatch, route53, sleeps, progress };
}

const text = (lines: readonly string[]) => lines.join("\n");

// ---------------------------------------------------------------------------------------------

describe("resource names", () => {
  test("are the names of the global cluster, clusters and health checks in the synthesized app", () => {
    const { primary, dr } = synthAppToDisk({
      environmentSuffix: "test",
      domainName: "api.example.com",
      hostedZoneId: "Z0123456789ABCDEFGHIJ",
      primaryCertificateArn: "arn:aws:acm:ap-southeast-1:123456789012:certificate/00000000-0000-4000-8000-000000000001",
      drCertificateArn: "arn:aws:acm:ap-southeast-2:123456789012:certificate/00000000-0000-4000-8000-000000000002",
    });
    const names = drNames(config);
    expect(resourcesOf(primary, "aws_rds_global_cluster").map((g) => g.global_cluster_identifier)).toEqual([names.globalClusterId]);
    expect(resourcesOf(primary, "aws_rds_cluster").map((c) => c.cluster_identifier)).toEqual([names.clusterId.primary]);
    expect(resourcesOf(dr, "aws_rds_cluster").map((c) => c.cluster_identifier)).toEqual([names.clusterId.dr]);
    const checks = resourcesOf(dr, "aws_route53_health_check").map((h) => ({ name: h.tags.Name, fqdn: h.fqdn }));
    expect(checks).toEqual([
      { name: names.healthCheckName.primary, fqdn: expect.stringMatching(/^\$\{data\.terraform_remote_state\..*aws_lbalb_.*dns_name\}$/) },
      { name: names.healthCheckName.dr, fqdn: expect.stringMatching(/^\$\{aws_lb\.alb_[A-Z0-9]+\.dns_name\}$/) },
    ]);
    // The fixtures below use the same names.
    expect(names).toEqual({
      globalClusterId: GLOBAL_ID,
      clusterId: CLUSTER_ID,
      healthCheckName: { primary: "payment-health-primary-ap-southeast-1-test", dr: "payment-health-secondary-ap-southeast-2-test" },
    });
  });
});

describe("status", () => {
  test("healthy: writer, both clusters, lag under the threshold and both health checks, exit 0", async () => {
    const { ctx, cloudwatch, route53 } = mockedWorld(healthyWorld());
    const result = await status(ctx);

    expect(result.exitCode).toBe(0);
    const out = text(result.lines);
    expect(out).toMatch(/^ok\s+global cluster\s+-\s+available\s+payment-aurora-global-test, writer: primary \(ap-southeast-1\)$/m);
    expect(out).toMatch(/^ok\s+primary cluster \(writer\)\s+ap-southeast-1\s+available\s+payment-aurora-primary-test, endpoint /m);
    expect(out).toMatch(/^ok\s+dr cluster \(reader\)\s+ap-southeast-2\s+available/m);
    expect(out).toMatch(
      /^ok\s+replication lag \(dr\)\s+ap-southeast-2\s+850 ms\s+payment-aurora-dr-test, threshold 5 s, at 2026-03-01T11:59:00.000Z$/m,
    );
    expect(out).toMatch(
      /^ok\s+health check \(primary\)\s+ap-southeast-1\s+healthy\s+payment-health-primary-ap-southeast-1-test \(hc-primary-0001\), 3\/3/m,
    );
    expect(out).toMatch(/^ok\s+health check \(dr\)\s+ap-southeast-2\s+healthy/m);
    expect(out).not.toContain("FAIL");
    expect(result.lines.at(-1)).toBe("HEALTHY");

    // The lag is read in the DR region, on the DR cluster, and nowhere else.
    expect(cloudwatch.primary.calls()).toHaveLength(0);
    expect(cloudwatch.dr.commandCalls(GetMetricStatisticsCommand)[0].args[0].input).toMatchObject({
      Namespace: "AWS/RDS",
      MetricName: "AuroraGlobalDBReplicationLag",
      Dimensions: [{ Name: "DBClusterIdentifier", Value: CLUSTER_ID.dr }],
    });
    // Both pages of health checks were listed; the unrelated suffix's check was not used.
    expect(route53.commandCalls(ListHealthChecksCommand)).toHaveLength(2);
    expect(
      route53
        .commandCalls(GetHealthCheckStatusCommand)
        .map((c) => c.args[0].input.HealthCheckId)
        .sort(),
    ).toEqual([HEALTH_CHECK_ID.dr, HEALTH_CHECK_ID.primary]);
  });

  test("degraded when a member cluster is not available: exit 2, names the cluster", async () => {
    const world = healthyWorld();
    world.clusterStatus.dr = "modifying";
    const result = await status(mockedWorld(world).ctx);
    expect(result.exitCode).toBe(2);
    expect(text(result.lines)).toMatch(/^FAIL\s+dr cluster \(reader\)\s+ap-southeast-2\s+modifying/m);
    expect(text(result.lines)).toContain("- dr cluster payment-aurora-dr-test is modifying");
    expect(result.lines).toContain("DEGRADED: 1 problem(s)");
  });

  test("degraded when the replication lag is over replicationLagThresholdSeconds", async () => {
    const world = healthyWorld();
    world.lagMs = 5_001;
    const report = await getStatus(mockedWorld(world).ctx);
    expect(report.healthy).toBe(false);
    expect(report.problems).toEqual(["replication lag 5.0 s is over the 5 s threshold"]);

    world.lagMs = 5_000;
    expect((await getStatus(mockedWorld(world).ctx)).healthy).toBe(true);
  });

  test("degraded when the lag metric has no recent datapoint (replication may have stopped)", async () => {
    const world = healthyWorld();
    world.lagMs = undefined;
    const result = await status(mockedWorld(world).ctx);
    expect(result.exitCode).toBe(2);
    expect(text(result.lines)).toContain("replication lag of payment-aurora-dr-test unknown (no datapoint in the last 10 minutes)");
  });

  test("degraded when a region's /health check fails for most checkers", async () => {
    const world = healthyWorld();
    world.checkersHealthy.primary = 0;
    const result = await status(mockedWorld(world).ctx);
    expect(result.exitCode).toBe(2);
    expect(text(result.lines)).toMatch(/^FAIL\s+health check \(primary\)\s+ap-southeast-1\s+unhealthy\s+.*0\/3 checkers healthy/m);
  });

  test("degraded, not crashed, when the primary region's API is gone; the DR side is still read", async () => {
    const m = mockedWorld(healthyWorld());
    m.rds.primary.reset();
    m.rds.primary.rejects(Object.assign(new Error("connect ETIMEDOUT"), { name: "TimeoutError" }));
    const result = await status(m.ctx);
    expect(result.exitCode).toBe(2);
    const out = text(result.lines);
    expect(out).toMatch(/^ok\s+global cluster\s+-\s+available/m);
    expect(out).toMatch(
      /^FAIL\s+primary cluster \(writer\)\s+ap-southeast-1\s+error\s+payment-aurora-primary-test: TimeoutError: connect ETIMEDOUT/m,
    );
    expect(out).toMatch(/^ok\s+dr cluster \(reader\)/m);
  });

  test("after a switchover the lag is read from the new secondary (the primary cluster, in its region)", async () => {
    const world = healthyWorld();
    world.writer = "dr";
    const m = mockedWorld(world);
    expect((await status(m.ctx)).exitCode).toBe(0);
    expect(m.cloudwatch.dr.calls()).toHaveLength(0);
    expect(m.cloudwatch.primary.commandCalls(GetMetricStatisticsCommand)[0].args[0].input.Dimensions).toEqual([
      { Name: "DBClusterIdentifier", Value: CLUSTER_ID.primary },
    ]);
  });
});

describe("switchover (planned)", () => {
  test("without --yes: a dry run that prints the exact call, exit 1, and calls nothing", async () => {
    const m = mockedWorld(healthyWorld());
    const result = await switchover(m.ctx, { to: "dr", yes: false });
    expect(result.exitCode).toBe(1);
    expect(result.error).toBe("switchover not performed: add --yes to run it");
    expect(result.showUsage).toBe(true);
    expect(result.lines).toContain(
      `SwitchoverGlobalCluster in ap-southeast-2: {"GlobalClusterIdentifier":"${GLOBAL_ID}","TargetDbClusterIdentifier":"${ARN.dr}"}`,
    );
    expect(m.rds.primary.commandCalls(SwitchoverGlobalClusterCommand)).toHaveLength(0);
    expect(m.rds.dr.commandCalls(SwitchoverGlobalClusterCommand)).toHaveLength(0);
  });

  test("with --yes: SwitchoverGlobalCluster to the DR cluster ARN, once", async () => {
    const m = mockedWorld(healthyWorld());
    const result = await switchover(m.ctx, { to: "dr", yes: true });
    expect(result.exitCode).toBe(0);
    const calls = [...m.rds.primary.commandCalls(SwitchoverGlobalClusterCommand), ...m.rds.dr.commandCalls(SwitchoverGlobalClusterCommand)];
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ GlobalClusterIdentifier: GLOBAL_ID, TargetDbClusterIdentifier: ARN.dr });
    expect(text(result.lines)).toContain("Next: npm run dr -- wait --to dr");
  });

  test("--to primary switches back to the primary cluster ARN when DR is the writer", async () => {
    const world = healthyWorld();
    world.writer = "dr";
    const m = mockedWorld(world);
    expect((await switchover(m.ctx, { to: "primary", yes: true })).exitCode).toBe(0);
    expect(m.rds.primary.commandCalls(SwitchoverGlobalClusterCommand)[0].args[0].input).toEqual({
      GlobalClusterIdentifier: GLOBAL_ID,
      TargetDbClusterIdentifier: ARN.primary,
    });
  });

  test.each([
    [
      "the global cluster is not available",
      (w: World) => (w.globalStatus = "modifying"),
      "global cluster payment-aurora-global-test is modifying, not available",
    ],
    [
      "a member cluster is not available",
      (w: World) => (w.clusterStatus.primary = "backing-up"),
      "member payment-aurora-primary-test (ap-southeast-1) is backing-up, not available",
    ],
    [
      "a member is not synchronized",
      (w: World) => (w.sync.dr = "pending-resync"),
      "member payment-aurora-dr-test synchronization is pending-resync",
    ],
    ["a switchover is already running", (w: World) => (w.failoverStatus = "switching-over"), "a switchover is already switching-over"],
  ])("refused with --yes when %s: exit 1 and no API call", async (_, change, reason) => {
    const world = healthyWorld();
    change(world);
    const m = mockedWorld(world);
    const result = await switchover(m.ctx, { to: "dr", yes: true });
    expect(result.exitCode).toBe(1);
    expect(result.error).toBe(`switchover refused: ${reason}`);
    expect(m.rds.primary.commandCalls(SwitchoverGlobalClusterCommand)).toHaveLength(0);
    expect(m.rds.dr.commandCalls(SwitchoverGlobalClusterCommand)).toHaveLength(0);
  });

  test("nothing to do when the target is already the writer", async () => {
    const m = mockedWorld(healthyWorld());
    const result = await switchover(m.ctx, { to: "primary", yes: true });
    expect(result.exitCode).toBe(0);
    expect(result.lines[0]).toContain("already the writer: nothing to do");
    expect(m.rds.primary.commandCalls(SwitchoverGlobalClusterCommand)).toHaveLength(0);
  });

  test("a missing global cluster is a one-line error, exit 1", async () => {
    const m = mockedWorld(healthyWorld());
    for (const role of ["primary", "dr"] as const) {
      m.rds[role].on(DescribeGlobalClustersCommand).rejects(Object.assign(new Error("not found"), { name: "GlobalClusterNotFoundFault" }));
    }
    const result = await switchover(m.ctx, { to: "dr", yes: true });
    expect(result.exitCode).toBe(1);
    expect(result.error).toBe(`switchover: Global cluster ${GLOBAL_ID} not found in ap-southeast-1 or ap-southeast-2.`);
  });
});

describe("failover (unplanned)", () => {
  test.each([
    [false, false, "--yes and --allow-data-loss"],
    [true, false, "--allow-data-loss"],
    [false, true, "--yes"],
  ])("yes=%s allowDataLoss=%s: refused (missing %s), no FailoverGlobalCluster call", async (yes, allowDataLoss, missing) => {
    const m = mockedWorld(healthyWorld());
    const result = await failover(m.ctx, { to: "dr", yes, allowDataLoss });
    expect(result.exitCode).toBe(1);
    expect(result.error).toBe(`failover not performed: it needs --yes and --allow-data-loss (missing ${missing})`);
    expect(m.rds.primary.commandCalls(FailoverGlobalClusterCommand)).toHaveLength(0);
    expect(m.rds.dr.commandCalls(FailoverGlobalClusterCommand)).toHaveLength(0);
    expect(text(result.lines)).toContain("RPO estimate: last known replication lag 850 ms");
  });

  test("with both flags: prints the RPO estimate, then FailoverGlobalCluster with AllowDataLoss true on the DR ARN", async () => {
    const m = mockedWorld(healthyWorld());
    // The primary region is gone: only the DR region answers.
    m.rds.primary.reset();
    m.rds.primary.rejects(Object.assign(new Error("getaddrinfo ENOTFOUND rds.ap-southeast-1.amazonaws.com"), { name: "Error" }));
    const result = await failover(m.ctx, { to: "dr", yes: true, allowDataLoss: true });

    expect(result.exitCode).toBe(0);
    const rpoLine = result.lines.findIndex((l) =>
      l.startsWith("RPO estimate: last known replication lag 850 ms at 2026-03-01T11:59:00.000Z"),
    );
    expect(rpoLine).toBeGreaterThan(-1);
    const calls = m.rds.dr.commandCalls(FailoverGlobalClusterCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({ GlobalClusterIdentifier: GLOBAL_ID, TargetDbClusterIdentifier: ARN.dr, AllowDataLoss: true });
    // The estimate is printed before the call is reported as started.
    expect(result.lines.findIndex((l) => l.startsWith("Started:"))).toBeGreaterThan(rpoLine);
    // The lag was looked up over hours, since the region may have been lost a while ago.
    const input = m.cloudwatch.dr.commandCalls(GetMetricStatisticsCommand)[0].args[0].input;
    expect(input.EndTime!.getTime() - input.StartTime!.getTime()).toBe(180 * 60_000);
  });

  test("an unknown lag is said to be unknown, not zero", async () => {
    const world = healthyWorld();
    world.lagMs = undefined;
    const result = await failover(mockedWorld(world).ctx, { to: "dr", yes: false, allowDataLoss: false });
    expect(text(result.lines)).toContain(
      "RPO estimate: unknown (replication lag of payment-aurora-dr-test: no datapoint in the last 180 minutes).",
    );
  });
});

describe("wait", () => {
  test("succeeds after N polls once the DR cluster is the writer and every member is available", async () => {
    const world = healthyWorld();
    world.globalStatus = "switching-over";
    world.failoverStatus = "switching-over";
    const m = mockedWorld(world);
    let polls = 0;
    m.rds.dr.on(DescribeGlobalClustersCommand).callsFake(() => {
      polls++;
      if (polls === 3)
        Object.assign(world, {
          writer: "dr",
          globalStatus: "available",
          failoverStatus: undefined,
          clusterStatus: { primary: "modifying", dr: "available" },
        });
      if (polls === 4) world.clusterStatus.primary = "available";
      return { GlobalClusters: [globalCluster(world)] };
    });

    const result = await waitForWriter(m.ctx, { to: "dr", timeoutSeconds: 900, pollSeconds: 20, writerOnly: false });
    expect(result.exitCode).toBe(0);
    expect(polls).toBe(4);
    expect(m.sleeps).toEqual([20_000, 20_000, 20_000]);
    expect(result.lines).toEqual(["Done after 4 poll(s), 60 s: dr cluster is the writer and all members are available."]);
    expect(m.progress[0]).toContain("writer is primary, not dr");
    expect(m.progress[2]).toContain("primary cluster modifying");
  });

  test("times out (exit 2) when the writer never moves, polling until the deadline", async () => {
    const m = mockedWorld(healthyWorld());
    const result = await waitForWriter(m.ctx, { to: "dr", timeoutSeconds: 60, pollSeconds: 25, writerOnly: false });
    expect(result.exitCode).toBe(2);
    expect(result.error).toMatch(
      /^timed out after 60 s \(4 poll\(s\)\) waiting until the dr cluster is the writer and all members are available: writer is primary, not dr$/,
    );
    // Polls at 0, 25, 50 and at the deadline (60), never beyond it.
    expect(m.sleeps).toEqual([25_000, 25_000, 10_000]);
    expect(m.rds.dr.commandCalls(DescribeGlobalClustersCommand)).toHaveLength(4);
  });

  test("--writer-only ignores the lost region's cluster", async () => {
    const world = healthyWorld();
    world.writer = "dr";
    world.clusterStatus.primary = "inaccessible-encryption-credentials";
    const m = mockedWorld(world);
    expect((await waitForWriter(m.ctx, { to: "dr", timeoutSeconds: 10, pollSeconds: 5, writerOnly: true })).exitCode).toBe(0);
    expect((await waitForWriter(m.ctx, { to: "dr", timeoutSeconds: 10, pollSeconds: 5, writerOnly: false })).exitCode).toBe(2);
  });
});

describe("command line", () => {
  test("parses each command with its defaults and flags", () => {
    expect(parseArgs(["status"])).toEqual({ command: "status" });
    expect(parseArgs(["switchover"])).toEqual({ command: "switchover", to: "dr", yes: false });
    expect(parseArgs(["switchover", "--to", "primary", "--yes"])).toEqual({ command: "switchover", to: "primary", yes: true });
    expect(parseArgs(["failover", "--yes", "--allow-data-loss"])).toEqual({
      command: "failover",
      to: "dr",
      yes: true,
      allowDataLoss: true,
    });
    expect(parseArgs(["wait"])).toEqual({ command: "wait", to: "dr", timeoutSeconds: 900, pollSeconds: 15, writerOnly: false });
    expect(parseArgs(["wait", "--to=primary", "--timeout-seconds", "30", "--poll-seconds=0.5", "--writer-only"])).toEqual({
      command: "wait",
      to: "primary",
      timeoutSeconds: 30,
      pollSeconds: 0.5,
      writerOnly: true,
    });
  });

  test.each([
    [[], "missing command"],
    [["promote"], 'unknown command "promote"'],
    [["status", "--yes"], 'unknown flag "--yes" for status'],
    [["switchover", "--force"], 'unknown flag "--force" for switchover'],
    [["switchover", "--to", "eu"], 'invalid --to "eu": expected dr or primary'],
    [["switchover", "--to"], "flag --to needs a value"],
    [["switchover", "--yes", "--yes"], "flag --yes given twice"],
    [["switchover", "now"], 'unexpected argument "now" for switchover'],
    [["failover", "--allow-data-loss=true"], "flag --allow-data-loss takes no value"],
    [["wait", "--timeout-seconds", "-5"], 'invalid --timeout-seconds "-5": expected a number of seconds from 1 to 86400'],
    [["wait", "--poll-seconds", "0"], 'invalid --poll-seconds "0": expected a number of seconds from 0.01 to 3600'],
  ])("%j is rejected: %s", (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(new UsageError(message));
  });

  function io(overrides: Partial<CliIo> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const built: DeploymentConfig[] = [];
    const value: CliIo = {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: ENV,
      context: () => ({}),
      clients: (c) => {
        built.push(c);
        return mockedWorld(healthyWorld()).clients;
      },
      ...overrides,
    };
    return { io: value, out, err, built };
  }

  test("a bad argument prints one error line then the usage, exits 1, and builds no client", async () => {
    const t = io();
    expect(await main(["switchover", "--to", "west"], t.io)).toBe(1);
    expect(t.err[0]).toBe('error: invalid --to "west": expected dr or primary');
    expect(t.err[1]).toMatch(/^Usage: npm run dr -- <command>/);
    expect(t.out).toEqual([]);
    expect(t.built).toHaveLength(0);
  });

  test("switchover without --yes through the CLI: dry-run plan on stdout, one error line and usage, exit 1", async () => {
    const t = io();
    expect(await main(["switchover"], t.io)).toBe(1);
    expect(t.out.join("\n")).toContain(`"TargetDbClusterIdentifier":"${ARN.dr}"`);
    expect(t.err[0]).toBe("error: switchover not performed: add --yes to run it");
    expect(t.err[1]).toMatch(/^Usage:/);
  });

  test("status through the CLI exits 0 healthy and uses the configured suffix and regions", async () => {
    const t = io();
    expect(await main(["status"], t.io)).toBe(0);
    expect(t.built[0]).toMatchObject({ environmentSuffix: "test", primaryRegion: "ap-southeast-1", drRegion: "ap-southeast-2" });
    expect(t.out.at(-1)).toBe("HEALTHY");
  });

  test("a configuration error is one line and exit 1", async () => {
    const t = io({ env: { ...ENV, DR_REGION: "mars-1" } });
    expect(await main(["status"], t.io)).toBe(1);
    expect(t.err).toHaveLength(1);
    expect(t.err[0]).toMatch(/^error: configuration: Invalid drRegion/);
    expect(t.built).toHaveLength(0);
  });

  test("the real entry point sets exit code 1 for an unknown command", () => {
    const root = path.join(__dirname, "..", "..");
    const run = spawnSync(process.execPath, ["--import", "tsx", "src/ops/cli.ts", "dr", "frobnicate"], {
      cwd: root,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.split("\n")[0]).toBe('error: unknown command "frobnicate"');
    expect(run.stdout).toBe("");
  });
});
