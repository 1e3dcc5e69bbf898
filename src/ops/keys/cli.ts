/**
 * `keys` commands of the operator CLI: issue, list and revoke merchant API keys, in either
 * region (`--region primary|dr`, default primary). Parses the command line, loads the
 * deployment config, builds one DynamoDB client for the region and prints what
 * `operations.ts` returns. Nothing changes without `--yes`. Rights: src/ops/README.md.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ConfigError, type DeploymentConfig, loadConfig, type RegionRole, regionOf } from "../../contracts/config";
import { cdktfContext } from "../../contracts/context";
import { Naming } from "../../contracts/names";
import type { ExitCode } from "../dr/operations";
import { issueKey, type KeysContext, type KeysResult, listKeys, revokeKey } from "./operations";

export const KEYS_USAGE = `Usage: npm run ops -- keys <command> [flags]

Commands:
  issue --merchant <id> [--expires-at <ISO time> | --expires-in-days <n>] [--region primary|dr] [--yes]
                              Issues an API key for the merchant and prints it once (only its hash
                              is stored). Refused while the merchant has 2 active keys: revoke one
                              first. Without --yes: dry run, exit 1.
  list --merchant <id> [--region primary|dr]
                              The merchant's keys: prefix, created, expiry, status. Never a secret.
  revoke --key <prefix> [--region primary|dr] [--yes]
                              Revokes a key (its prefix pk_..., as list shows it). Gateways stop
                              accepting it within authCacheTtlSeconds. Without --yes: dry run, exit 1.
  help                        This text.

--region picks the keys table to work on (default primary); the two are one global table, so use
dr while the primary region is down. Configuration and credentials as for the dr group.`;

class UsageError extends Error {}

export type KeysCommand =
  | { readonly command: "help" }
  | {
      readonly command: "issue";
      readonly merchantId: string;
      readonly expiresAt?: Date;
      readonly region: RegionRole;
      readonly yes: boolean;
    }
  | { readonly command: "list"; readonly merchantId: string; readonly region: RegionRole }
  | { readonly command: "revoke"; readonly key: string; readonly region: RegionRole; readonly yes: boolean };

const FLAGS: Record<Exclude<KeysCommand["command"], "help">, Record<string, boolean>> = {
  // flag -> takes a value
  issue: { "--merchant": true, "--expires-at": true, "--expires-in-days": true, "--region": true, "--yes": false },
  list: { "--merchant": true, "--region": true },
  revoke: { "--key": true, "--region": true, "--yes": false },
};

const DAY_MS = 86_400_000;

export function parseKeysArgs(argv: readonly string[], now: Date = new Date()): KeysCommand {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError("missing command");
  if (command === "help" || command === "--help" || command === "-h") return { command: "help" };
  if (!Object.hasOwn(FLAGS, command)) throw new UsageError(`unknown command "${command}"`);
  const name = command as keyof typeof FLAGS;
  const values = new Map<string, string | undefined>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const takesValue = FLAGS[name][flag];
    if (takesValue === undefined) throw new UsageError(`unknown ${arg.startsWith("--") ? "flag" : "argument"} "${flag}" for ${name}`);
    if (values.has(flag)) throw new UsageError(`flag ${flag} given twice`);
    if (takesValue) {
      const value = eq === -1 ? rest[++i] : arg.slice(eq + 1);
      if (value === undefined || value === "" || (eq === -1 && value.startsWith("--"))) throw new UsageError(`flag ${flag} needs a value`);
      values.set(flag, value);
    } else {
      if (eq !== -1) throw new UsageError(`flag ${flag} takes no value`);
      values.set(flag, undefined);
    }
  }
  const required = (flag: string): string => {
    const v = values.get(flag);
    if (v === undefined) throw new UsageError(`${name} needs ${flag}`);
    return v;
  };
  const regionFlag = values.get("--region") ?? "primary";
  if (regionFlag !== "primary" && regionFlag !== "dr") throw new UsageError(`invalid --region "${regionFlag}": expected primary or dr`);
  const region: RegionRole = regionFlag;
  switch (name) {
    case "issue": {
      const at = values.get("--expires-at");
      const days = values.get("--expires-in-days");
      if (at !== undefined && days !== undefined) throw new UsageError("give --expires-at or --expires-in-days, not both");
      let expiresAt: Date | undefined;
      if (at !== undefined) {
        expiresAt = new Date(at);
        if (!/^\d{4}-\d\d-\d\d/.test(at) || Number.isNaN(expiresAt.getTime())) {
          throw new UsageError(`invalid --expires-at "${at}": expected an ISO 8601 time such as 2027-01-31T00:00:00Z`);
        }
      } else if (days !== undefined) {
        if (!/^\d+$/.test(days) || Number(days) < 1 || Number(days) > 3650) {
          throw new UsageError(`invalid --expires-in-days "${days}": expected an integer from 1 to 3650`);
        }
        expiresAt = new Date(now.getTime() + Number(days) * DAY_MS);
      }
      return { command: "issue", merchantId: required("--merchant"), expiresAt, region, yes: values.has("--yes") };
    }
    case "list":
      return { command: "list", merchantId: required("--merchant"), region };
    case "revoke":
      return { command: "revoke", key: required("--key"), region, yes: values.has("--yes") };
  }
}

/** Short timeouts and few retries: a lost region must fail fast, not hang the operator. */
const CLIENT_OPTIONS = { maxAttempts: 3, requestHandler: { connectionTimeout: 5_000, requestTimeout: 20_000 } };

export function buildKeysClient(config: DeploymentConfig, role: RegionRole): DynamoDBClient {
  return new DynamoDBClient({ region: regionOf(config, role).region, ...CLIENT_OPTIONS });
}

export interface KeysIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly context: () => Record<string, unknown>;
  readonly client: (config: DeploymentConfig, role: RegionRole) => DynamoDBClient;
  readonly now?: () => Date;
}

const defaultIo: KeysIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  context: cdktfContext,
  client: buildKeysClient,
};

/** Runs one `keys` command and returns its exit code. */
export async function runKeys(argv: readonly string[], io: KeysIo = defaultIo): Promise<ExitCode> {
  let command: KeysCommand;
  try {
    command = parseKeysArgs(argv, io.now?.());
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`error: ${err.message}`);
    io.err(KEYS_USAGE);
    return 1;
  }
  if (command.command === "help") {
    io.out(KEYS_USAGE);
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
  const dynamodb = io.client(config, command.region);
  const ctx: KeysContext = {
    dynamodb,
    table: new Naming(config.environmentSuffix).table("merchantKeys"),
    region: `${command.region} region ${regionOf(config, command.region).region}`,
    cacheTtlSeconds: config.authCacheTtlSeconds,
    now: io.now,
  };
  let result: KeysResult;
  try {
    switch (command.command) {
      case "issue":
        result = await issueKey(ctx, command);
        break;
      case "list":
        result = await listKeys(ctx, command.merchantId);
        break;
      case "revoke":
        result = await revokeKey(ctx, command);
        break;
    }
  } catch (err) {
    // A region that does not answer, missing rights, no such table: one line, no stack trace.
    result = { exitCode: 1, lines: [], error: `${ctx.region}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` };
  } finally {
    dynamodb.destroy();
  }
  for (const line of result.lines) io.out(line);
  if (result.error) io.err(`error: ${result.error}`);
  return result.exitCode;
}
