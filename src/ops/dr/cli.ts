/**
 * `dr` commands of the operator CLI, for failover rehearsals and real failovers:
 * `npm run dr -- help`. Parses the command line, loads the deployment config, builds the AWS
 * clients and prints what `operations.ts` (Aurora, Route53) or `payments.ts` (reconcile,
 * redrive: one region's clients only) returns. Runbook: src/ops/README.md.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { RDSClient } from "@aws-sdk/client-rds";
import { Route53Client } from "@aws-sdk/client-route-53";
import { SQSClient } from "@aws-sdk/client-sqs";
import { type DeploymentConfig, type RegionRole, regionOf } from "../../contracts/config";
import { ROUTE53_HOME_REGION } from "../../contracts/regions";
import { CLIENT_OPTIONS, type CommandIo, type ExitCode, prepareCommand, processIo, runOperation } from "../command-line";
import { type Command, type LedgerMode, parseArgs, USAGE } from "./args";
import { iamLedgerConnections, type LedgerConnections, type LedgerEndpoints, reconcileLedger, resolveEndpoints } from "./ledger-reconcile";
import { type DrClients, type DrContext, failover, status, switchover, waitForWriter } from "./operations";
import { type PaymentsContext, reconcile, redrive } from "./payments";

export function buildClients(config: DeploymentConfig): DrClients {
  return {
    rds: {
      primary: new RDSClient({ region: config.primaryRegion, ...CLIENT_OPTIONS }),
      dr: new RDSClient({ region: config.drRegion, ...CLIENT_OPTIONS }),
    },
    cloudwatch: {
      primary: new CloudWatchClient({ region: config.primaryRegion, ...CLIENT_OPTIONS }),
      dr: new CloudWatchClient({ region: config.drRegion, ...CLIENT_OPTIONS }),
    },
    // Route53's control plane is served from us-east-1.
    route53: new Route53Client({ region: ROUTE53_HOME_REGION, ...CLIENT_OPTIONS }),
  };
}

/** The clients of reconcile and redrive: DynamoDB and SQS in one region, nothing in the other. */
export interface RegionDataClients {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
}

export function buildRegionClients(config: DeploymentConfig, role: RegionRole): RegionDataClients {
  const region = regionOf(config, role).region;
  return { dynamodb: new DynamoDBClient({ region, ...CLIENT_OPTIONS }), sqs: new SQSClient({ region, ...CLIENT_OPTIONS }) };
}

export interface CliIo extends CommandIo {
  readonly clients: (config: DeploymentConfig) => DrClients;
  /** @default buildRegionClients */
  readonly regionClients?: (config: DeploymentConfig, role: RegionRole) => RegionDataClients;
  /** reconcile --ledger: connections to these endpoints. @default iamLedgerConnections (IAM over TLS) */
  readonly ledgerConnections?: (endpoints: LedgerEndpoints, config: DeploymentConfig, role: RegionRole) => LedgerConnections;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

const defaultIo: CliIo = { ...processIo, clients: buildClients };

/** Runs one `dr` command and returns its exit code. */
export async function runDr(argv: readonly string[], io: CliIo = defaultIo): Promise<ExitCode> {
  const prepared = prepareCommand(() => parseArgs(argv), USAGE, io);
  if (typeof prepared === "number") return prepared;
  const { command, config } = prepared;
  if (command.command === "reconcile" && command.ledger) return runLedger(command, command.ledger, config, io);
  if (command.command === "reconcile" || command.command === "redrive") return runPayments(command, config, io);
  const ctx: DrContext = { config, clients: io.clients(config), progress: io.out, sleep: io.sleep, now: io.now };
  const operation = () => {
    switch (command.command) {
      case "status":
        return status(ctx);
      case "switchover":
        return switchover(ctx, command);
      case "failover":
        return failover(ctx, command);
      case "wait":
        return waitForWriter(ctx, command);
    }
  };
  return runOperation("Aurora and Route53", operation, io, () => undefined, USAGE);
}

/** reconcile and redrive: one region's DynamoDB and SQS clients, closed afterwards. */
async function runPayments(
  command: Extract<Command, { command: "reconcile" | "redrive" }>,
  config: DeploymentConfig,
  io: CliIo,
): Promise<ExitCode> {
  const clients = (io.regionClients ?? buildRegionClients)(config, command.region);
  const ctx: PaymentsContext = { config, role: command.region, region: regionOf(config, command.region).region, ...clients, now: io.now };
  return runOperation(
    `${command.region} region ${ctx.region}`,
    () => (command.command === "reconcile" ? reconcile(ctx, command) : redrive(ctx, command)),
    io,
    () => {
      clients.dynamodb.destroy();
      clients.sqs.destroy();
    },
  );
}

/**
 * reconcile --ledger: the region's DynamoDB client, its RDS client for the endpoints not given,
 * and the ledger connections (the writer only with --yes), all closed afterwards.
 */
async function runLedger(
  command: Extract<Command, { command: "reconcile" }>,
  mode: LedgerMode,
  config: DeploymentConfig,
  io: CliIo,
): Promise<ExitCode> {
  const role = command.region;
  const region = regionOf(config, role).region;
  const clients = (io.regionClients ?? buildRegionClients)(config, role);
  let rds: RDSClient | undefined;
  const operation = async () => {
    const given = { reader: mode.readerEndpoint, writer: mode.writerEndpoint, snapshot: mode.snapshot, needWriter: command.yes };
    // Asked only for the endpoints not given, and only in this region.
    const endpoints = await resolveEndpoints(() => (rds ??= io.clients(config).rds[role]), config, role, given);
    const ledger = (io.ledgerConnections ?? iamLedgerConnections)(endpoints, config, role);
    try {
      return await reconcileLedger(
        { config, role, region, dynamodb: clients.dynamodb, ledger, now: io.now },
        { since: mode.since, yes: command.yes },
      );
    } finally {
      await Promise.all([ledger.reader, ledger.writer, ledger.snapshot].map((c) => c?.close().catch(() => undefined)));
    }
  };
  return runOperation(`${role} region ${region}`, operation, io, () => {
    clients.dynamodb.destroy();
    clients.sqs.destroy();
    rds?.destroy();
  });
}
