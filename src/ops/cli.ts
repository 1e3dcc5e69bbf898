/**
 * The operator CLI, one entry point with a command group per concern:
 *
 *   npm run ops -- dr <status|switchover|failover|wait|reconcile|redrive> [flags]   (or: npm run dr -- ...)
 *   npm run ops -- keys <issue|list|revoke> [flags]                  merchant API keys
 *   npm run ops -- deploy orphans --stack primary|dr [flags]         after an interrupted apply
 *
 * Every command reads the deployment configuration as synth does (cdktf.json context, then the
 * environment), works against either region, and changes nothing without `--yes`; every command
 * answers `--help` with its own usage.
 */

import { type ExitCode, isHelp } from "./command-line";
import { runDeploy } from "./deploy/cli";
import { runDr } from "./dr/cli";
import { runKeys } from "./keys/cli";

const GROUPS: Readonly<Record<string, (argv: readonly string[]) => Promise<ExitCode>>> = {
  dr: (argv) => runDr(argv),
  keys: (argv) => runKeys(argv),
  deploy: (argv) => runDeploy(argv),
};

export const USAGE = `Usage: npm run ops -- <group> <command> [flags]

Groups:
  dr        Aurora writer and Route53 health checks: status, switchover, failover, wait;
            the payments of a region: reconcile (stranded payments, adopt), redrive (DLQs)
            (npm run ops -- dr help)
  keys      Merchant API keys: issue (printed once), list, revoke
            (npm run ops -- keys help)
  deploy    After an interrupted apply or destroy: orphans (what no state holds, with the
            terraform import or delete line for each) (npm run ops -- deploy help)

Every command answers --help with its own usage.`;

export async function main(
  argv: readonly string[],
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<ExitCode> {
  const [group, ...rest] = argv;
  const run = group === undefined ? undefined : GROUPS[group];
  if (!run) {
    if (group !== undefined && !isHelp(group)) err(`error: unknown command group "${group}"`);
    err(USAGE);
    return isHelp(group) ? 0 : 1;
  }
  return run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
