/**
 * The Aurora control plane as the drill's operator sees it: RDS and CloudWatch clients, one per
 * region, that answer the DR CLI's own calls (src/ops/dr/operations.ts) from the local global
 * database (src/local/global-ledger.ts), so that the runbook's status, failover, wait and
 * switchover steps run the operator CLI's code unchanged. There is no RDS emulator that drives
 * MariaDB replication, so these are stand-ins injected where the CLI takes its clients: they
 * speak the SDK's command objects (DescribeGlobalClusters, DescribeDBClusters,
 * FailoverGlobalCluster, SwitchoverGlobalCluster, GetMetricStatistics of
 * AuroraGlobalDBReplicationLag), not the wire. A lost region's API does not answer, as in AWS.
 */

import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import {
  DescribeDBClustersCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  type FailoverStatus,
  type GlobalCluster,
  type RDSClient,
  SwitchoverGlobalClusterCommand,
} from "@aws-sdk/client-rds";
import type { Route53Client } from "@aws-sdk/client-route-53";
import type { DeploymentConfig, RegionRole } from "../../contracts/config";
import { type DrClients, drNames, parseClusterArn, regionFor } from "../../ops/dr/operations";
import type { GlobalLedger } from "../global-ledger";

const ACCOUNT = "000000000000";
const ROLES: readonly RegionRole[] = ["primary", "dr"];

export interface AuroraControlOptions {
  readonly config: DeploymentConfig;
  readonly ledger: GlobalLedger;
  /** Whether a region's API answers (a lost region's does not). */
  readonly reachable: (role: RegionRole) => boolean;
  /** How long the old writer keeps taking writes after a failover (best-effort fencing). @default 0 */
  readonly fenceAfterMs?: number;
}

export interface AuroraControl {
  readonly clients: DrClients;
  /** Samples the secondary's replication lag (AuroraGlobalDBReplicationLag) every `everyMs` until stop(). */
  startLagSampler(everyMs: number): void;
  /** The lag readings so far (ms), as CloudWatch would hold them. */
  readonly lagReadings: ReadonlyArray<{ readonly at: number; readonly role: RegionRole; readonly milliseconds: number }>;
  stop(): void;
}

const fault = (name: string, message: string) => Object.assign(new Error(message), { name });

export function auroraControl(options: AuroraControlOptions): AuroraControl {
  const { config, ledger } = options;
  const names = drNames(config);
  const arnOf = (role: RegionRole) => `arn:aws:rds:${regionFor(config, role)}:${ACCOUNT}:cluster:${names.clusterId[role]}`;
  const roleOfRegion = (region: string): RegionRole => (region === config.primaryRegion ? "primary" : "dr");
  let operation: { status: "failing-over" | "switching-over"; from: RegionRole; to: RegionRole; dataLoss: boolean } | undefined;
  const readings: Array<{ at: number; role: RegionRole; milliseconds: number }> = [];
  let sampler: NodeJS.Timeout | undefined;

  const globalCluster = (): GlobalCluster => {
    const members = ledger.members();
    return {
      GlobalClusterIdentifier: names.globalClusterId,
      Status: operation ? operation.status : "available",
      GlobalClusterMembers: members.map((m) => {
        const role = roleOfRegion(m.region);
        return {
          DBClusterArn: arnOf(role),
          IsWriter: m.role === "writer",
          ...(m.role === "secondary" ? { SynchronizationStatus: m.replicating ? "connected" : "pending-resync" } : {}),
        };
      }),
      ...(operation
        ? {
            FailoverState: {
              // AWS reports a switchover in the same field; this SDK's enum lacks the value.
              Status: operation.status as FailoverStatus,
              FromDbClusterArn: arnOf(operation.from),
              ToDbClusterArn: arnOf(operation.to),
              IsDataLossAllowed: operation.dataLoss,
            },
          }
        : {}),
    };
  };

  /** Runs a writer move the way AWS does: accepted at once, in progress until done. */
  const move = (
    kind: "failing-over" | "switching-over",
    input: { TargetDbClusterIdentifier?: string },
    run: (region: string) => Promise<unknown>,
  ) => {
    const target = parseClusterArn(input.TargetDbClusterIdentifier ?? "");
    if (!target) throw fault("InvalidParameterValue", `not a cluster ARN: ${input.TargetDbClusterIdentifier}`);
    if (operation) throw fault("InvalidGlobalClusterStateFault", `a ${operation.status} is in progress`);
    const to = roleOfRegion(target.region);
    operation = { status: kind, from: to === "primary" ? "dr" : "primary", to, dataLoss: kind === "failing-over" };
    run(target.region).finally(() => {
      operation = undefined;
    });
    return { GlobalCluster: globalCluster() };
  };

  const rds = (role: RegionRole): RDSClient =>
    ({
      send: async (command: unknown) => {
        if (!options.reachable(role)) throw fault("TimeoutError", `connect ETIMEDOUT rds.${regionFor(config, role)}.amazonaws.com:443`);
        if (command instanceof DescribeGlobalClustersCommand) return { GlobalClusters: [globalCluster()] };
        if (command instanceof DescribeDBClustersCommand) {
          const clusterRole = ROLES.find((r) => names.clusterId[r] === command.input.DBClusterIdentifier);
          if (!clusterRole) throw fault("DBClusterNotFoundFault", `DBCluster ${command.input.DBClusterIdentifier} not found`);
          const reader = ledger.reader(regionFor(config, clusterRole));
          return {
            DBClusters: [
              {
                DBClusterIdentifier: names.clusterId[clusterRole],
                DBClusterArn: arnOf(clusterRole),
                Status: options.reachable(clusterRole) ? "available" : "inaccessible-encryption-credentials-recoverable",
                Endpoint: `${ledger.writer.host}:${ledger.writer.port}`,
                ReaderEndpoint: `${reader.host}:${reader.port}`,
              },
            ],
          };
        }
        if (command instanceof FailoverGlobalClusterCommand) {
          if (!command.input.AllowDataLoss) throw fault("InvalidParameterCombination", "the drill's failover is unplanned: AllowDataLoss");
          return move("failing-over", command.input, (region) => ledger.failover(region, { fenceAfterMs: options.fenceAfterMs ?? 0 }));
        }
        if (command instanceof SwitchoverGlobalClusterCommand)
          return move("switching-over", command.input, (region) => ledger.switchover(region));
        throw fault("UnsupportedOperation", `the drill's Aurora stand-in does not answer ${(command as object).constructor.name}`);
      },
    }) as unknown as RDSClient;

  const cloudwatch = (role: RegionRole): CloudWatchClient =>
    ({
      send: async (command: unknown) => {
        if (!options.reachable(role))
          throw fault("TimeoutError", `connect ETIMEDOUT monitoring.${regionFor(config, role)}.amazonaws.com:443`);
        if (!(command instanceof GetMetricStatisticsCommand) || command.input.MetricName !== "AuroraGlobalDBReplicationLag") {
          throw fault("UnsupportedOperation", "the drill's CloudWatch stand-in answers AuroraGlobalDBReplicationLag only");
        }
        const from = command.input.StartTime?.getTime() ?? 0;
        const to = command.input.EndTime?.getTime() ?? Date.now();
        return {
          Datapoints: readings
            .filter((r) => r.role === role && r.at >= from && r.at <= to)
            .map((r) => ({ Timestamp: new Date(r.at), Maximum: r.milliseconds, Unit: "Milliseconds" })),
        };
      },
    }) as unknown as CloudWatchClient;

  const route53 = {
    send: async () => {
      throw fault(
        "UnsupportedOperation",
        "the drill has no Route53 health checks in its config (its DNS failover is src/local/drill/dns.ts)",
      );
    },
  } as unknown as Route53Client;

  return {
    clients: {
      rds: { primary: rds("primary"), dr: rds("dr") },
      cloudwatch: { primary: cloudwatch("primary"), dr: cloudwatch("dr") },
      route53,
    },
    lagReadings: readings,
    startLagSampler(everyMs) {
      const sample = async () => {
        for (const m of ledger.members()) {
          if (m.role !== "secondary" || !m.replicating) continue;
          const milliseconds = await ledger.lag(m.region).catch(() => null);
          if (milliseconds !== null) readings.push({ at: Date.now(), role: roleOfRegion(m.region), milliseconds });
        }
      };
      sampler = setInterval(() => void sample(), everyMs);
    },
    stop() {
      if (sampler) clearInterval(sampler);
    },
  };
}
