/**
 * `npm run rehearse -- --interrupt`: the kill-and-recover step. The primary stack's first apply is
 * killed (SIGKILL to terraform and its providers, as a CI runner's timeout does) once it has
 * created REHEARSE_INTERRUPT_AFTER resources (default 60), and then recovered the way the runbook
 * says ("Interrupted apply or destroy", src/ops/README.md): read the lock, a plan that fails on it,
 * `force-unlock -force`, the orphan finder (`npm run ops -- deploy orphans`), its import lines and
 * delete commands run as printed, the finder again (nothing outside the state), the apply, and a
 * plan that must show no change. Returns the figures; throws on any step that does not go as the
 * runbook says it will.
 *
 * With `blindRerun` (REHEARSE_BLIND_RERUN, default on) the unlock is followed by the mistake the
 * issue saw and the runbook warns against: the apply run again as it is. It fails on every name the
 * killed run already took, and records in state the second copies of what has no unique name (KMS
 * key, VPC and its parts, HTTP API); the finder must then tell the operator to delete the first
 * copies and import the rest. The delete commands run with the AWS CLI (`aws` on PATH).
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { s3Call, xmlValues } from "./moto";
import { errorSummary, log, ROOT, type RunResult, seconds } from "./terraform";

export interface InterruptFigures {
  /** Resources created when the kill was sent (the threshold). */
  readonly killAfterCreated: number;
  readonly createdBeforeKill: number;
  /** Seconds from the start of the apply to the kill. */
  readonly killedAfterSeconds: number;
  /** Whether the killed apply had saved any state. */
  readonly stateSaved: boolean;
  readonly lock: { readonly id: string; readonly who: string; readonly created: string; readonly operation: string };
  /** The blind re-run, when made: its errors (names taken) and what it created beside the orphans. */
  readonly blindRerun?: { readonly errors: number; readonly created: number; readonly seconds: number };
  readonly imports: number;
  readonly importSeconds: number;
  readonly orphansDeleted: number;
  readonly reapplyCreated?: number;
  readonly reapplySeconds: number;
  /** From the kill to a plan with no change and a finder with nothing outside the state. */
  readonly recoverSeconds: number;
}

export interface InterruptContext {
  readonly stack: string;
  /** The stack's working copy (relative paths in the finder's lines start at ROOT). */
  readonly dir: string;
  readonly endpoint: string;
  readonly backend: { readonly bucket: string; readonly key: string; readonly region: string };
  readonly logDir: string;
  /** The synth profile's settings (the operator CLI reads the configuration as synth does). */
  readonly profileEnv: Readonly<Record<string, string>>;
  /** terraform with exactly these arguments in the stack's directory (logged to its log). */
  readonly terraform: (args: string[], killWhen?: (output: string) => boolean) => Promise<RunResult>;
  readonly killAfterCreated: number;
  readonly blindRerun: boolean;
}

export class InterruptFailure extends Error {}

const CREATED = /: Creation complete after/g;

/** The AWS CLI that runs the finder's delete commands: `aws` on PATH, else the pinned one installed into .venv-awscli/. */
const AWS_CLI_VERSION = "1.45.11";
async function awsCliPath(): Promise<string> {
  const onPath = await runCommand("bash", ["-c", "command -v aws"], process.env);
  if (onPath.code === 0) return "";
  const venv = path.join(ROOT, ".venv-awscli");
  const install = await runCommand(
    "bash",
    [path.join(ROOT, "scripts/python-tool.sh"), venv, "awscli", AWS_CLI_VERSION, `awscli==${AWS_CLI_VERSION}`, "99"],
    process.env,
  );
  if (install.code !== 0)
    throw new InterruptFailure(`installing the AWS CLI for the delete commands failed:\n${install.output.slice(-1000)}`);
  return path.join(venv, "bin");
}
const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

/** Runs a command (no shell unless asked), with the emulator as every SDK's and the AWS CLI's endpoint. */
function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

export async function killAndRecover(ctx: InterruptContext): Promise<InterruptFigures> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...ctx.profileEnv,
    AWS_ENDPOINT_URL: ctx.endpoint,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_PAGER: "",
  };
  const must = async (step: string, args: string[]) => {
    const result = await ctx.terraform(args);
    if (result.code !== 0) throw new InterruptFailure(`${ctx.stack}: terraform ${step} failed:\n${errorSummary(result.output)}`);
    return result;
  };
  const finderLog = path.join(ctx.logDir, "orphans.log");
  const finder = async (label: string) => {
    const stackDir = path.relative(ROOT, ctx.dir);
    const args = ["--import", "tsx", "src/ops/cli.ts", "deploy", "orphans", "--stack", ctx.stack, "--stack-dir", stackDir];
    const result = await runCommand(process.execPath, args, env);
    writeFileSync(
      finderLog,
      `\n$ npm run ops -- deploy orphans --stack ${ctx.stack} --stack-dir ${stackDir}   (${label})\n${result.output}[exit ${result.code}]\n`,
      {
        flag: "a",
      },
    );
    if (result.code === 1)
      throw new InterruptFailure(`deploy orphans failed (${label}; log ${path.relative(ROOT, finderLog)}):\n${result.output.slice(-2000)}`);
    return result;
  };

  // 1. The apply, killed midway.
  log(`  ${ctx.stack.padEnd(8)} apply, killed (SIGKILL) once ${ctx.killAfterCreated} resources are created`);
  const killed = await ctx.terraform(
    ["apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=30"],
    (output) => count(output, CREATED) >= ctx.killAfterCreated,
  );
  const killedAt = Date.now();
  if (killed.code === 0)
    throw new InterruptFailure(
      `${ctx.stack}: the apply finished before ${ctx.killAfterCreated} resources were created: nothing to interrupt`,
    );
  const createdBeforeKill = count(killed.output, CREATED);
  const objects = xmlValues(
    await s3Call(
      ctx.endpoint,
      ctx.backend.region,
      "GET",
      `/${ctx.backend.bucket}?list-type=2&prefix=${encodeURIComponent(ctx.backend.key)}`,
    ),
    "Key",
  );
  const stateSaved = objects.includes(ctx.backend.key);
  log(
    `  ${ctx.stack.padEnd(8)} killed after ${seconds(killed.ms)} with ${createdBeforeKill} resources created; state saved: ${stateSaved ? "yes" : "NO"}; lock object: ${objects.includes(`${ctx.backend.key}.tflock`) ? "present" : "absent"}`,
  );

  // 2. Runbook step 1: who holds the lock (here: the killed run).
  const lockObject = JSON.parse(await s3Call(ctx.endpoint, ctx.backend.region, "GET", `/${ctx.backend.bucket}/${ctx.backend.key}.tflock`));
  const lock = {
    id: String(lockObject.ID),
    who: String(lockObject.Who),
    created: String(lockObject.Created),
    operation: String(lockObject.Operation),
  };
  log(`  ${ctx.stack.padEnd(8)} lock ${lock.id}: Who ${lock.who}, Created ${lock.created}, Operation ${lock.operation}`);
  const blocked = await ctx.terraform(["plan", "-input=false", "-no-color", "-lock-timeout=0s"]);
  const shownId = /^\s*ID:\s+(\S+)/m.exec(blocked.output)?.[1];
  if (blocked.code === 0 || !/Error acquiring the state lock/.test(blocked.output) || shownId !== lock.id) {
    throw new InterruptFailure(
      `${ctx.stack}: expected the plan to fail on lock ${lock.id}, got exit ${blocked.code}:\n${errorSummary(blocked.output)}`,
    );
  }

  // 3. Runbook step 2: unlock (no terminal: -force).
  await must("force-unlock", ["force-unlock", "-force", lock.id]);

  // The issue's mistake: the apply again, before looking for orphans.
  let blindRerun: InterruptFigures["blindRerun"];
  if (ctx.blindRerun) {
    const rerun = await ctx.terraform(["apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=30"]);
    const errors = count(rerun.output, /^│ Error: /gm) || count(rerun.output, /^Error: /gm);
    blindRerun = { errors, created: count(rerun.output, CREATED), seconds: rerun.ms / 1000 };
    log(
      `  ${ctx.stack.padEnd(8)} blind re-run (exit ${rerun.code}) in ${seconds(rerun.ms)}: ${errors} errors, ${blindRerun.created} created beside the orphans (a second KMS key, VPC, HTTP API, ...)`,
    );
    if (rerun.code === 0) throw new InterruptFailure(`${ctx.stack}: the blind re-run succeeded: the killed run left nothing that collides`);
  }

  // 4. Runbook steps 3 and 4: the orphan finder, its imports and deletes, as printed.
  const first = await finder("after the kill");
  const lines = first.output.split("\n");
  const imports = lines.flatMap((l) => {
    const m = /^\s+terraform -chdir='([^']+)' import '([^']+)' '([^']+)'/.exec(l);
    return m ? [{ dir: m[1]!, address: m[2]!, id: m[3]! }] : [];
  });
  const deletes = lines.flatMap((l) => {
    const m = /^\s+(aws \S.*?)\s{4}# /.exec(l);
    return m ? [m[1]!] : [];
  });
  log(
    `  ${ctx.stack.padEnd(8)} deploy orphans (exit ${first.code}): ${imports.length} to import, ${deletes.length} to delete (log: ${path.relative(ROOT, finderLog)})`,
  );
  if (first.code !== 2 || imports.length === 0)
    throw new InterruptFailure(`deploy orphans found nothing to recover after the kill (exit ${first.code})`);
  if (ctx.blindRerun && deletes.length === 0)
    throw new InterruptFailure("deploy orphans found no second copy to delete after the blind re-run");
  const importStarted = Date.now();
  for (const i of imports) {
    if (path.resolve(ROOT, i.dir) !== ctx.dir) throw new InterruptFailure(`import line for another directory: ${i.dir}`);
    await must(`import ${i.address}`, ["import", "-input=false", "-no-color", i.address, i.id]);
  }
  const importSeconds = (Date.now() - importStarted) / 1000;
  log(`  ${ctx.stack.padEnd(8)} imported ${imports.length} resources in ${seconds(importSeconds * 1000)}`);
  const awsBin = deletes.length ? await awsCliPath() : "";
  for (const command of deletes) {
    const result = await runCommand("bash", ["-c", command], awsBin ? { ...env, PATH: `${awsBin}:${env.PATH}` } : env);
    writeFileSync(finderLog, `\n$ ${command}\n${result.output}[exit ${result.code}]\n`, { flag: "a" });
    if (result.code !== 0) throw new InterruptFailure(`delete command failed: ${command}\n${result.output.slice(-1000)}`);
  }
  if (deletes.length) log(`  ${ctx.stack.padEnd(8)} deleted ${deletes.length} orphans with the printed commands`);
  const again = await finder("after imports and deletes");
  if (again.code !== 0)
    throw new InterruptFailure(
      `deploy orphans still finds resources outside the state after the imports and deletes:\n${again.output.slice(-2000)}`,
    );

  // 5. Runbook step 5: plan (read it), apply, plan again: no change.
  const review = await ctx.terraform(["plan", "-input=false", "-no-color", "-parallelism=30"]);
  if (review.code !== 0) throw new InterruptFailure(`${ctx.stack}: plan after the imports failed:\n${errorSummary(review.output)}`);
  const replaced = review.output.split("\n").filter((l) => /^\s+# .* must be replaced/.test(l));
  const updated = review.output.split("\n").filter((l) => /^\s+# .* will be updated in-place/.test(l));
  log(`  ${ctx.stack.padEnd(8)} plan after the imports: ${/Plan: [^\n]*/.exec(review.output)?.[0] ?? "no changes"}`);
  for (const l of updated) log(`      ${l.trim()}`);
  if (replaced.length) throw new InterruptFailure(`the plan after the imports replaces imported resources:\n${replaced.join("\n")}`);
  const reapply = await must("apply", ["apply", "-input=false", "-no-color", "-auto-approve", "-parallelism=30"]);
  const reapplyCreated = Number(/Apply complete! Resources: (\d+) added/.exec(reapply.output)?.[1]);
  log(`  ${ctx.stack.padEnd(8)} re-applied: ${reapplyCreated} created in ${seconds(reapply.ms)}`);
  const plan = await ctx.terraform(["plan", "-input=false", "-no-color", "-detailed-exitcode", "-parallelism=30"]);
  if (plan.code !== 0) {
    const changes = plan.output.split("\n").filter((l) => /^\s+# .* (will|must) be /.test(l));
    throw new InterruptFailure(
      `${ctx.stack}: plan after the recovery is not empty (exit ${plan.code}):\n${changes.join("\n") || errorSummary(plan.output)}`,
    );
  }
  const last = await finder("after the re-apply");
  if (last.code !== 0)
    throw new InterruptFailure(`deploy orphans finds resources outside the state after the recovery:\n${last.output.slice(-2000)}`);
  const recoverSeconds = (Date.now() - killedAt) / 1000;
  log(`  ${ctx.stack.padEnd(8)} recovered in ${seconds(recoverSeconds * 1000)}: plan shows no change, nothing outside the state`);
  return {
    killAfterCreated: ctx.killAfterCreated,
    createdBeforeKill,
    killedAfterSeconds: killed.ms / 1000,
    stateSaved,
    lock,
    blindRerun,
    imports: imports.length,
    importSeconds,
    orphansDeleted: deletes.length,
    reapplyCreated,
    reapplySeconds: reapply.ms / 1000,
    recoverSeconds,
  };
}
