/**
 * What every command group of the operator CLI shares: `<command> --help` (or `-h`) prints that
 * command's own usage and exits 0, wherever it stands among the flags, before any configuration
 * or AWS call.
 */
import { commandUsage, type ExitCode, usageCommands } from "../../src/ops/command-line";
import { DEPLOY_USAGE, runDeploy } from "../../src/ops/deploy/cli";
import { USAGE as DR_USAGE } from "../../src/ops/dr/args";
import { runDr } from "../../src/ops/dr/cli";
import { KEYS_USAGE, runKeys } from "../../src/ops/keys/cli";

interface Run {
  code: ExitCode;
  out: string[];
  err: string[];
}

const noAws = () => {
  throw new Error("help must not build an AWS client");
};

/** Each group with its usage and a runner whose configuration and clients fail if they are reached. */
const GROUPS: Record<string, { usage: string; run: (argv: string[]) => Promise<Run> }> = {
  dr: { usage: DR_USAGE, run: (argv) => capture((io) => runDr(argv, { ...io, clients: noAws, regionClients: noAws })) },
  keys: { usage: KEYS_USAGE, run: (argv) => capture((io) => runKeys(argv, { ...io, client: noAws })) },
  deploy: { usage: DEPLOY_USAGE, run: (argv) => capture((io) => runDeploy(argv, { ...io, clients: noAws })) },
};

async function capture(
  run: (io: {
    out: (l: string) => void;
    err: (l: string) => void;
    env: NodeJS.ProcessEnv;
    context: () => Record<string, unknown>;
  }) => Promise<ExitCode>,
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  // A configuration that fails to load: help must be answered before it is read.
  const code = await run({ out: (l) => out.push(l), err: (l) => err.push(l), env: { PRIMARY_REGION: "nowhere-1" }, context: () => ({}) });
  return { code, out, err };
}

const cases = Object.entries(GROUPS).flatMap(([group, { usage }]) => usageCommands(usage).map((command) => [group, command] as const));

test("every group lists its commands (the cases below are not vacuous)", () => {
  expect(cases.map(([g, c]) => `${g} ${c}`)).toEqual(
    expect.arrayContaining(["dr status", "dr reconcile", "dr redrive", "dr wait", "keys issue", "keys revoke", "deploy orphans"]),
  );
});

test.each(cases)("%s %s --help prints its own usage and exits 0", async (group, command) => {
  const { usage, run } = GROUPS[group]!;
  for (const flag of ["--help", "-h"]) {
    const result = await run([command, flag]);
    expect(result).toEqual({ code: 0, out: [commandUsage(usage, command)], err: [] });
  }
  const text = commandUsage(usage, command);
  expect(text.split("\n")[0]).toMatch(new RegExp(`^Usage: .*\\b${command} \\[flags\\]`));
  expect(text).toMatch(new RegExp(`^  ${command}(\\s|$)`, "m"));
  // Only this command's entry: no other command's.
  for (const other of usageCommands(usage).filter((c) => c !== command)) expect(text).not.toMatch(new RegExp(`^  ${other}(\\s|$)`, "m"));
});

test("--help after other flags (even unknown or incomplete ones) is still help", async () => {
  expect(await GROUPS.dr!.run(["reconcile", "--region", "dr", "--adopt", "--help"])).toMatchObject({ code: 0, err: [] });
  expect(await GROUPS.keys!.run(["issue", "--no-such-flag", "-h"])).toMatchObject({ code: 0, err: [] });
  expect(await GROUPS.deploy!.run(["orphans", "--help", "--stack"])).toMatchObject({ code: 0, err: [] });
});

test("an unknown flag without --help is still refused with the group's usage, exit 1", async () => {
  const result = await GROUPS.dr!.run(["reconcile", "--no-such-flag"]);
  expect(result.code).toBe(1);
  expect(result.err[0]).toBe('error: unknown flag "--no-such-flag" for reconcile');
  expect(result.err[1]).toBe(DR_USAGE);
});

test("a command's usage keeps the group's notes (regions, configuration)", () => {
  expect(commandUsage(DR_USAGE, "reconcile")).toContain("Configuration: cdktf.json");
  expect(commandUsage(KEYS_USAGE, "revoke")).toContain("--region picks the keys table");
});
