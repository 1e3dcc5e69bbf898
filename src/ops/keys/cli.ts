/**
 * `keys` commands of the operator CLI: issue, list and revoke merchant API keys, in either
 * region (`--region primary|dr`, default primary). Parses the command line, loads the
 * deployment config, builds one DynamoDB client for the region and prints what
 * `operations.ts` returns. Nothing changes without `--yes`. Rights: src/ops/README.md.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type DeploymentConfig, type RegionRole, regionOf } from "../../contracts/config";
import { Naming } from "../../contracts/names";
import {
  CLIENT_OPTIONS,
  type CommandIo,
  type ExitCode,
  isHelp,
  parseIsoTime,
  parseRole,
  prepareCommand,
  processIo,
  readFlags,
  runOperation,
  UsageError,
} from "../command-line";
import { issueKey, type KeysContext, listKeys, revokeKey } from "./operations";

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
  if (isHelp(command)) return { command: "help" };
  if (!Object.hasOwn(FLAGS, command)) throw new UsageError(`unknown command "${command}"`);
  const name = command as keyof typeof FLAGS;
  const values = readFlags(name, rest, FLAGS[name]);
  const required = (flag: string): string => {
    const v = values.get(flag);
    if (v === undefined) throw new UsageError(`${name} needs ${flag}`);
    return v;
  };
  const region = parseRole("--region", values.get("--region"), "primary");
  switch (name) {
    case "issue": {
      const at = values.get("--expires-at");
      const days = values.get("--expires-in-days");
      if (at !== undefined && days !== undefined) throw new UsageError("give --expires-at or --expires-in-days, not both");
      let expiresAt: Date | undefined;
      if (at !== undefined) expiresAt = parseIsoTime("--expires-at", at, "2027-01-31T00:00:00Z");
      else if (days !== undefined) {
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

export function buildKeysClient(config: DeploymentConfig, role: RegionRole): DynamoDBClient {
  return new DynamoDBClient({ region: regionOf(config, role).region, ...CLIENT_OPTIONS });
}

export interface KeysIo extends CommandIo {
  readonly client: (config: DeploymentConfig, role: RegionRole) => DynamoDBClient;
  readonly now?: () => Date;
}

const defaultIo: KeysIo = { ...processIo, client: buildKeysClient };

/** Runs one `keys` command and returns its exit code. */
export async function runKeys(argv: readonly string[], io: KeysIo = defaultIo): Promise<ExitCode> {
  const prepared = prepareCommand(() => parseKeysArgs(argv, io.now?.()), KEYS_USAGE, io);
  if (typeof prepared === "number") return prepared;
  const { command, config } = prepared;
  const dynamodb = io.client(config, command.region);
  const ctx: KeysContext = {
    dynamodb,
    table: new Naming(config.environmentSuffix).table("merchantKeys"),
    region: `${command.region} region ${regionOf(config, command.region).region}`,
    cacheTtlSeconds: config.authCacheTtlSeconds,
    now: io.now,
  };
  const operation = () => {
    switch (command.command) {
      case "issue":
        return issueKey(ctx, command);
      case "list":
        return listKeys(ctx, command.merchantId);
      case "revoke":
        return revokeKey(ctx, command);
    }
  };
  return runOperation(ctx.region, operation, io, () => dynamodb.destroy());
}
