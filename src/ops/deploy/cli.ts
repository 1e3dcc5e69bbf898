/**
 * `deploy` commands of the operator CLI: after an interrupted apply or destroy, what a stack left
 * in AWS that its Terraform state does not hold (`orphans`). Read-only. Parses the command line,
 * reads the synthesized stack and its state, builds the clients of the regions the stack uses and
 * prints what `orphans.ts` returns. Runbook and rights: src/ops/README.md.
 */
import * as path from "node:path";
import { ApiGatewayV2Client } from "@aws-sdk/client-apigatewayv2";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { KMSClient } from "@aws-sdk/client-kms";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { RDSClient } from "@aws-sdk/client-rds";
import { S3Client } from "@aws-sdk/client-s3";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { WAFV2Client } from "@aws-sdk/client-wafv2";
import type { RegionRole } from "../../contracts/config";
import {
  CLIENT_OPTIONS,
  type CommandIo,
  type ExitCode,
  isHelp,
  type OperationResult,
  parseRole,
  prepareCommand,
  processIo,
  readFlags,
  runOperation,
  UsageError,
} from "../command-line";
import type { RegionClients } from "./catalog";
import { decide, declared, findCopies, report } from "./orphans";
import { loadSynthStack, parseStateSource, readState, StackError } from "./stack";

export const DEPLOY_USAGE = `Usage: npm run ops -- deploy <command> [flags]

Commands:
  orphans --stack primary|dr [--state <file> | --state s3://<bucket>/<key>] [--stack-dir <dir>]
                              The stack's resources in AWS that its Terraform state does not hold
                              (an apply or destroy was interrupted, or its state was lost): a
                              terraform import line for each that can be imported, the delete
                              command for each that cannot (another copy of what the state holds).
                              Read-only. Exit 0 nothing outside the state, 2 some found.
  help                        This text.

--stack-dir is the synthesized stack (default cdktf.out/stacks/<stack>: npm run synth writes it);
--state defaults to the stack's S3 backend there. Run it before the first apply of a stack and
after any interrupted one (runbook: "Interrupted apply or destroy" in src/ops/README.md).
Configuration and credentials as for the dr group.`;

export type DeployCommand =
  | { readonly command: "help" }
  | { readonly command: "orphans"; readonly stack: RegionRole; readonly state?: string; readonly stackDir?: string };

const FLAGS: Record<Exclude<DeployCommand["command"], "help">, Record<string, boolean>> = {
  // flag -> takes a value
  orphans: { "--stack": true, "--state": true, "--stack-dir": true },
};

export function parseDeployArgs(argv: readonly string[]): DeployCommand {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError("missing command");
  if (isHelp(command)) return { command: "help" };
  if (!Object.hasOwn(FLAGS, command)) throw new UsageError(`unknown command "${command}"`);
  const name = command as keyof typeof FLAGS;
  const values = readFlags(name, rest, FLAGS[name]);
  const stack = values.get("--stack");
  if (stack === undefined) throw new UsageError("orphans needs --stack primary|dr");
  return {
    command: "orphans",
    stack: parseRole("--stack", stack, "primary"),
    state: values.get("--state"),
    stackDir: values.get("--stack-dir"),
  };
}

/** Every client the finder uses, for one region (`overrides`: an endpoint and credentials, for the tests' emulator). */
export function buildRegionClients(
  region: string,
  overrides: { endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } } = {},
): RegionClients {
  const options = { region, ...CLIENT_OPTIONS, ...overrides };
  return {
    apigatewayv2: new ApiGatewayV2Client(options),
    cloudtrail: new CloudTrailClient(options),
    dynamodb: new DynamoDBClient(options),
    ec2: new EC2Client(options),
    elbv2: new ElasticLoadBalancingV2Client(options),
    iam: new IAMClient(options),
    kms: new KMSClient(options),
    lambda: new LambdaClient(options),
    logs: new CloudWatchLogsClient(options),
    rds: new RDSClient(options),
    s3: new S3Client(options),
    scheduler: new SchedulerClient(options),
    sns: new SNSClient(options),
    sqs: new SQSClient(options),
    wafv2: new WAFV2Client(options),
  };
}

export interface DeployIo extends CommandIo {
  /** @default buildRegionClients */
  readonly clients?: (region: string) => RegionClients;
  /** Where relative paths start (the default stack directory is under it). @default the working directory */
  readonly cwd?: string;
}

const defaultIo: DeployIo = processIo;

/** Runs one `deploy` command and returns its exit code. */
export async function runDeploy(argv: readonly string[], io: DeployIo = defaultIo): Promise<ExitCode> {
  const prepared = prepareCommand(() => parseDeployArgs(argv), DEPLOY_USAGE, io);
  if (typeof prepared === "number") return prepared;
  const { command } = prepared;
  const made = new Map<string, RegionClients>();
  const clients = (region: string) => {
    if (!made.has(region)) made.set(region, io.clients ? io.clients(region) : buildRegionClients(region));
    return made.get(region)!;
  };
  const stackDir = command.stackDir ?? path.join("cdktf.out", "stacks", command.stack);
  const operation = async (): Promise<OperationResult> => {
    let stack: ReturnType<typeof loadSynthStack>;
    try {
      stack = loadSynthStack(path.resolve(io.cwd ?? process.cwd(), stackDir));
    } catch (err) {
      if (err instanceof StackError) return { exitCode: 1, lines: [], error: err.message };
      throw err;
    }
    const source: { s3?: { bucket: string; key: string }; file?: string } | undefined = command.state
      ? parseStateSource(command.state)
      : stack.backend
        ? { s3: stack.backend }
        : undefined;
    if (!source) return { exitCode: 1, lines: [], error: `${stackDir} has no S3 backend: give --state` };
    const stateRegion = source.s3 ? (stack.backend?.bucket === source.s3.bucket ? stack.backend.region : stack.region) : stack.region;
    const state = await readState(
      source.file !== undefined ? { file: path.resolve(io.cwd ?? process.cwd(), source.file) } : source,
      () => clients(stateRegion).s3,
    );
    const decl = declared({ ...stack, dir: stackDir });
    const decisions = decide(decl, state.resources, await findCopies(stack, decl, clients));
    return report({ ...stack, dir: stackDir }, command.stack, state, decl, decisions);
  };
  return runOperation(`stack ${command.stack}`, operation, io, () => {
    for (const c of made.values()) for (const client of Object.values(c)) client.destroy();
  });
}
