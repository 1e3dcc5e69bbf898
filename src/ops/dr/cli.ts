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
import { ConfigError, type DeploymentConfig, loadConfig, type RegionRole, regionOf } from "../../contracts/config";
import { cdktfContext } from "../../contracts/context";
import { ROUTE53_HOME_REGION } from "../../contracts/regions";
import { parseArgs, USAGE, UsageError } from "./args";
import {
  type DrClients,
  type DrContext,
  type ExitCode,
  failover,
  type OperationResult,
  status,
  switchover,
  waitForWriter,
} from "./operations";
import { type PaymentsContext, reconcile, redrive } from "./payments";

/** Short timeouts and few retries: a lost region must fail fast, not hang the operator. */
const CLIENT_OPTIONS = { maxAttempts: 3, requestHandler: { connectionTimeout: 5_000, requestTimeout: 20_000 } };

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

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly context: () => Record<string, unknown>;
  readonly clients: (config: DeploymentConfig) => DrClients;
  /** @default buildRegionClients */
  readonly regionClients?: (config: DeploymentConfig, role: RegionRole) => RegionDataClients;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  context: cdktfContext,
  clients: buildClients,
};

/** Runs one `dr` command and returns its exit code. */
export async function runDr(argv: readonly string[], io: CliIo = defaultIo): Promise<ExitCode> {
  let command: ReturnType<typeof parseArgs>;
  try {
    command = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`error: ${err.message}`);
    io.err(USAGE);
    return 1;
  }
  if (command.command === "help") {
    io.out(USAGE);
    return 0;
  }

  let config: DeploymentConfig;
  try {
    config = loadConfig(io.context(), io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`error: configuration: ${err.message}`);
    return 1;
  }
  if (command.command === "reconcile" || command.command === "redrive") return runPayments(command, config, io);
  const ctx: DrContext = { config, clients: io.clients(config), progress: io.out, sleep: io.sleep, now: io.now };

  let result: OperationResult;
  switch (command.command) {
    case "status":
      result = await status(ctx);
      break;
    case "switchover":
      result = await switchover(ctx, command);
      break;
    case "failover":
      result = await failover(ctx, command);
      break;
    case "wait":
      result = await waitForWriter(ctx, command);
      break;
  }
  for (const line of result.lines) io.out(line);
  if (result.error) io.err(`error: ${result.error}`);
  if (result.showUsage) io.err(USAGE);
  return result.exitCode;
}

/** reconcile and redrive: one region's DynamoDB and SQS clients, closed afterwards. */
async function runPayments(
  command: Extract<ReturnType<typeof parseArgs>, { command: "reconcile" | "redrive" }>,
  config: DeploymentConfig,
  io: CliIo,
): Promise<ExitCode> {
  const clients = (io.regionClients ?? buildRegionClients)(config, command.region);
  const ctx: PaymentsContext = { config, role: command.region, region: regionOf(config, command.region).region, ...clients, now: io.now };
  let result: OperationResult;
  try {
    result = command.command === "reconcile" ? await reconcile(ctx, command) : await redrive(ctx, command);
  } catch (err) {
    // A region that does not answer, missing rights, no such table or queue: one line, no stack trace.
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    result = { exitCode: 1, lines: [], error: `${command.region} region ${ctx.region}: ${message}` };
  } finally {
    clients.dynamodb.destroy();
    clients.sqs.destroy();
  }
  for (const line of result.lines) io.out(line);
  if (result.error) io.err(`error: ${result.error}`);
  return result.exitCode;
}
