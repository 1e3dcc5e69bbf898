/**
 * npm run validate — Terraform itself checks the synthesized configuration with the real AWS
 * provider: for each profile (default, and full = every optional feature on, as the checkov scan
 * uses), synthesize into .terraform-work/validate/<profile>, then on every stack
 * `terraform init -backend=false` and `terraform validate`.
 *
 * The provider comes from a filesystem mirror when there is one (TF_PROVIDER_MIRROR, default
 * /opt/tf-plugins when present; "none" downloads from the registry) and is pinned to the version
 * under test (TF_AWS_PROVIDER_VERSION, default the newest in the mirror) with an override file.
 * Each stack must also declare the supported range `>= 5.100.0, < 7.0.0` itself.
 *
 * Options: --profile NAME (one profile only), --skip-synth (reuse the last synth).
 * Fails (exit 1) on any validate error or a wrong provider constraint; warnings are printed.
 */

import { readdirSync } from "node:fs";
import * as path from "node:path";
import {
  log,
  PROFILES,
  type ProviderSource,
  providerConstraintProblems,
  providerSource,
  readStack,
  seconds,
  synth,
  terraform,
  WORK_ROOT,
} from "./terraform";

interface Diagnostic {
  severity: "error" | "warning";
  summary: string;
  detail?: string;
  address?: string;
  range?: { filename: string; start: { line: number } };
}

export interface StackResult {
  profile: string;
  stack: string;
  ok: boolean;
  errors: string[];
  warnings: string[];
  ms: number;
}

function describe(d: Diagnostic): string {
  const where = d.address ?? (d.range ? `${d.range.filename}:${d.range.start.line}` : "");
  return `${d.summary}${where ? ` [${where}]` : ""}${d.detail ? `: ${d.detail.split("\n")[0]}` : ""}`;
}

/** `terraform init -backend=false` and `terraform validate` of the stack in `dir` (also used by `npm run check:cdktn`). */
export async function validateStack(
  profile: string,
  stack: string,
  dir: string,
  providers: ProviderSource,
  logDir: string = path.join(WORK_ROOT, "validate"),
): Promise<StackResult> {
  const started = Date.now();
  const logFile = path.join(logDir, `${profile}-${stack}.log`);
  const errors = providerConstraintProblems(stack, readStack(dir));
  const warnings: string[] = [];
  providers.pin(dir);
  const { env } = providers;
  const init = await terraform(["init", "-backend=false", "-input=false", "-no-color"], { cwd: dir, env, logFile });
  if (init.code !== 0) {
    errors.push(
      `terraform init failed (see ${path.relative(process.cwd(), logFile)}):\n${init.output.trim().split("\n").slice(-15).join("\n")}`,
    );
    return { profile, stack, ok: false, errors, warnings, ms: Date.now() - started };
  }
  const run = await terraform(["validate", "-json", "-no-color"], { cwd: dir, env, logFile });
  let diagnostics: Diagnostic[];
  try {
    diagnostics = (JSON.parse(run.output) as { diagnostics: Diagnostic[] }).diagnostics ?? [];
  } catch {
    diagnostics = [{ severity: "error", summary: `terraform validate printed no JSON: ${run.output.slice(0, 500)}` }];
  }
  for (const d of diagnostics) (d.severity === "error" ? errors : warnings).push(describe(d));
  if (run.code !== 0 && !diagnostics.some((d) => d.severity === "error")) errors.push(`terraform validate exited ${run.code}`);
  return { profile, stack, ok: errors.length === 0, errors, warnings, ms: Date.now() - started };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const only = argv.includes("--profile") ? argv[argv.indexOf("--profile") + 1] : undefined;
  const profiles = only ? PROFILES.filter((p) => p.name === only) : PROFILES;
  if (!profiles.length) throw new Error(`unknown profile ${only}; known: ${PROFILES.map((p) => p.name).join(", ")}`);
  const started = Date.now();

  const providers = providerSource();

  const results: StackResult[] = [];
  for (const profile of profiles) {
    const outdir = path.join(WORK_ROOT, "validate", profile.name);
    let stacks: string[];
    if (argv.includes("--skip-synth")) {
      stacks = readdirSync(path.join(outdir, "stacks")).sort();
    } else {
      log(`synthesizing profile "${profile.name}" -> ${path.relative(process.cwd(), outdir)}/stacks`);
      stacks = synth(outdir, profile);
    }
    for (const stack of stacks) {
      const result = await validateStack(profile.name, stack, path.join(outdir, "stacks", stack), providers);
      log(
        `  ${profile.name.padEnd(8)} ${stack.padEnd(8)} ${result.ok ? "valid" : "INVALID"}  ${result.errors.length} error(s), ${result.warnings.length} warning(s)  ${seconds(result.ms)}`,
      );
      results.push(result);
    }
  }

  for (const r of results) {
    for (const e of r.errors) log(`\nERROR   ${r.profile}/${r.stack}: ${e}`);
    for (const w of r.warnings) log(`warning ${r.profile}/${r.stack}: ${w}`);
  }
  const failed = results.filter((r) => !r.ok);
  log(`\n${results.length - failed.length} passed, ${failed.length} failed (${seconds(Date.now() - started)})`);
  if (failed.length) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`validate error: ${(error as Error).message}\n`);
    process.exitCode = 2;
  });
}
