/** Command line of the DR CLI: strict, so a typo never turns into a different operation. */
import type { RegionRole } from "../../contracts/config";
import type { QueueId } from "../../contracts/functions";
import { isHelp, parseIsoTime, parseRole, readFlags, UsageError } from "../command-line";
import { type LedgerEndpoint, parseEndpoint } from "./ledger-reconcile";
import { DEFAULT_POLL_SECONDS, DEFAULT_TIMEOUT_SECONDS } from "./operations";
import { DEFAULT_REDRIVE_MAX, DEFAULT_SINCE_HOURS } from "./payments";

export type Command =
  | { readonly command: "help" }
  | { readonly command: "status" }
  | { readonly command: "switchover"; readonly to: RegionRole; readonly yes: boolean }
  | { readonly command: "failover"; readonly to: RegionRole; readonly yes: boolean; readonly allowDataLoss: boolean }
  | {
      readonly command: "wait";
      readonly to: RegionRole;
      readonly timeoutSeconds: number;
      readonly pollSeconds: number;
      readonly writerOnly: boolean;
    }
  | {
      readonly command: "reconcile";
      readonly region: RegionRole;
      /** @default the deployment's sweeperAgeSeconds */
      readonly olderThanSeconds?: number;
      /** Start of the counted window; @default DEFAULT_SINCE_HOURS ago */
      readonly since?: Date;
      readonly adopt: boolean;
      readonly yes: boolean;
      /** --ledger: the items against the Aurora ledger instead (src/ops/dr/ledger-reconcile.ts); --yes re-posts. */
      readonly ledger?: LedgerMode;
    }
  | { readonly command: "redrive"; readonly region: RegionRole; readonly queue: QueueId; readonly max: number; readonly yes: boolean };

/** `reconcile --ledger`: endpoints not given are read from RDS (the writer only with --yes). */
export interface LedgerMode {
  readonly since: Date;
  readonly snapshot?: LedgerEndpoint;
  readonly readerEndpoint?: LedgerEndpoint;
  readonly writerEndpoint?: LedgerEndpoint;
}

export const USAGE = `Usage: npm run dr -- <command> [flags]   (npm run ops -- dr <command> [flags])

Commands:
  status                      Global cluster writer and members, both clusters, replication lag,
                              Route53 health checks. Exit 0 healthy, 2 degraded.
  switchover [--to dr|primary] [--yes]
                              Planned switchover (RPO 0) of the Aurora writer to --to (default dr).
                              Needs the global cluster and every member available. Without --yes:
                              dry run, prints the exact API call, exit 1.
  failover [--to dr|primary] --yes --allow-data-loss
                              Unplanned failover (region lost) to --to (default dr), data loss
                              allowed; prints the last known lag as the RPO estimate first.
  wait [--to dr|primary] [--timeout-seconds N] [--poll-seconds N] [--writer-only]
                              Polls until --to (default dr) is the writer and every member is
                              available (--writer-only: only the writer). Default timeout ${DEFAULT_TIMEOUT_SECONDS} s,
                              poll every ${DEFAULT_POLL_SECONDS} s. Exit 2 on timeout.
  reconcile [--region primary|dr] [--older-than SECONDS] [--since ISO] [--adopt] [--yes]
                              Payments of that region's table: accepted since --since (default
                              ${DEFAULT_SINCE_HOURS} h ago), posted in the ledger, notified; and every payment still
                              RECEIVED after --older-than (default sweeperAgeSeconds), from the
                              pending index. Exit 0 none stranded, 2 some. --adopt enqueues those
                              into that region's transaction queue (any region's, any age): dry run
                              without --yes (exit 1).
            --ledger --since ISO [--snapshot HOST[:PORT]] [--reader-endpoint HOST[:PORT]]
                     [--writer-endpoint HOST[:PORT]] [--yes]
                              Instead: that region's items posted since --since against the Aurora
                              ledger (read through the region's reader endpoint): missing entries,
                              entries with no item, disagreements. Exit 0 all agree, 2 otherwise.
                              --yes re-posts the missing ones from their items through the global
                              writer (never twice). --snapshot: the old writer's restored snapshot
                              against the new writer; --yes re-posts what only it holds when the
                              item agrees. Run inside the VPC (the ledger is private).
  redrive [--region primary|dr] [--queue transaction|notification] [--max N] [--yes]
                              Moves up to --max (default ${DEFAULT_REDRIVE_MAX}) messages from the queue's DLQ
                              back to the queue (default transaction). Without --yes: counts and
                              the first messages only, exit 1.
  help                        This text.

--region (default primary) picks the region whose table and queues are used; every call goes to
that region only, so both work while the other region is down.

Configuration: cdktf.json "context" and environment variables, as for synth (src/contracts/config.ts).
AWS credentials: the usual SDK chain (AWS_PROFILE, environment, SSO, instance role).`;

const FLAGS: Record<Exclude<Command["command"], "help">, Record<string, boolean>> = {
  // flag -> takes a value
  status: {},
  switchover: { "--to": true, "--yes": false },
  failover: { "--to": true, "--yes": false, "--allow-data-loss": false },
  wait: { "--to": true, "--timeout-seconds": true, "--poll-seconds": true, "--writer-only": false },
  reconcile: {
    "--region": true,
    "--older-than": true,
    "--since": true,
    "--adopt": false,
    "--yes": false,
    "--ledger": false,
    "--snapshot": true,
    "--reader-endpoint": true,
    "--writer-endpoint": true,
  },
  redrive: { "--region": true, "--queue": true, "--max": true, "--yes": false },
};

function endpoint(flag: string, value: string | undefined): LedgerEndpoint | undefined {
  if (value === undefined) return undefined;
  const parsed = parseEndpoint(value);
  if (!parsed) throw new UsageError(`invalid ${flag} "${value}": expected HOST or HOST:PORT`);
  return parsed;
}

/** Each mode of reconcile has its own flags: --adopt and --older-than (stranded payments) or --ledger and its endpoints. */
function parseLedgerMode(values: Map<string, string | undefined>): LedgerMode | undefined {
  const ledgerOnly = ["--snapshot", "--reader-endpoint", "--writer-endpoint"].filter((f) => values.has(f));
  if (!values.has("--ledger")) {
    if (ledgerOnly.length > 0) throw new UsageError(`${ledgerOnly[0]} needs --ledger`);
    if (values.has("--yes") && !values.has("--adopt")) {
      throw new UsageError(
        "--yes needs --adopt (enqueue stranded payments) or --ledger (re-post missing entries): reconcile alone changes nothing",
      );
    }
    return undefined;
  }
  const other = ["--adopt", "--older-than"].find((f) => values.has(f));
  if (other) throw new UsageError(`${other} is for the stranded-payments report, not with --ledger`);
  const since = values.get("--since");
  if (since === undefined) throw new UsageError("--ledger needs --since: where the window to compare starts (before the failover)");
  return {
    since: parseIsoTime("--since", since, "2030-01-31T00:00:00Z"),
    snapshot: endpoint("--snapshot", values.get("--snapshot")),
    readerEndpoint: endpoint("--reader-endpoint", values.get("--reader-endpoint")),
    writerEndpoint: endpoint("--writer-endpoint", values.get("--writer-endpoint")),
  };
}

function parseQueue(value: string | undefined): QueueId {
  if (value === undefined) return "transaction";
  if (value === "transaction" || value === "notification") return value;
  throw new UsageError(`invalid --queue "${value}": expected transaction or notification`);
}

function parseInteger(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`invalid ${flag} "${value}": expected an integer from ${min} to ${max}`);
  return n;
}

function parseSeconds(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`invalid ${flag} "${value}": expected a number of seconds from ${min} to ${max}`);
  return n;
}

export function parseArgs(argv: readonly string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError("missing command");
  if (isHelp(command)) {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" after ${command}`);
    return { command: "help" };
  }
  if (!Object.hasOwn(FLAGS, command)) throw new UsageError(`unknown command "${command}"`);
  const name = command as keyof typeof FLAGS;
  const values = readFlags(name, rest, FLAGS[name]);
  const to = () => parseRole("--to", values.get("--to"), "dr");
  const region = () => parseRole("--region", values.get("--region"), "primary");
  const since = values.get("--since");

  switch (name) {
    case "status":
      return { command: "status" };
    case "switchover":
      return { command: "switchover", to: to(), yes: values.has("--yes") };
    case "failover":
      return {
        command: "failover",
        to: to(),
        yes: values.has("--yes"),
        allowDataLoss: values.has("--allow-data-loss"),
      };
    case "wait":
      return {
        command: "wait",
        to: to(),
        timeoutSeconds: parseSeconds("--timeout-seconds", values.get("--timeout-seconds"), DEFAULT_TIMEOUT_SECONDS, 1, 86_400),
        pollSeconds: parseSeconds("--poll-seconds", values.get("--poll-seconds"), DEFAULT_POLL_SECONDS, 0.01, 3_600),
        writerOnly: values.has("--writer-only"),
      };
    case "reconcile": {
      const ledger = parseLedgerMode(values);
      return {
        command: "reconcile",
        region: region(),
        olderThanSeconds: parseInteger("--older-than", values.get("--older-than"), 0, 30 * 86_400),
        since: since === undefined ? undefined : parseIsoTime("--since", since, "2030-01-31T00:00:00Z"),
        adopt: values.has("--adopt"),
        yes: values.has("--yes"),
        ...(ledger ? { ledger } : {}),
      };
    }
    case "redrive":
      return {
        command: "redrive",
        region: region(),
        queue: parseQueue(values.get("--queue")),
        max: parseInteger("--max", values.get("--max"), 1, 100_000) ?? DEFAULT_REDRIVE_MAX,
        yes: values.has("--yes"),
      };
  }
}
