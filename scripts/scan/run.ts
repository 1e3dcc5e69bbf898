/**
 * npm run scan — synthesizes the app, runs the pinned checkov (terraform_json framework) on every
 * stack, and fails on any failed check that scripts/scan/accepted.json does not accept, or on an
 * accepted entry that no longer matches anything (stale: remove it).
 *
 * Two synth profiles are scanned (./profiles.ts), so that optional features are checked too:
 *   default  `npm run synth` as is (cdktf.out/stacks)
 *   full     every optional feature on (DNS failover, HTTPS listeners, alarm e-mail, CORS), with
 *            placeholder ids (cdktf.out/scan-full/stacks)
 *
 * Options: --skip-setup (do not run scripts/scan/setup.sh first), --profile NAME (scan one only).
 * Writes the raw checkov reports and a summary to cdktf.out/scan/.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT, synthApp } from "../lib/synth";
import { type AcceptedException, loadAccepted, patternMatches } from "./accepted";
import { SCAN_PROFILES, type ScanProfile } from "./profiles";

const CHECKOV = path.join(ROOT, ".venv-scan", "bin", "checkov");
const REPORT_DIR = path.join(ROOT, "cdktf.out", "scan");

type Profile = ScanProfile;
const PROFILES = SCAN_PROFILES;

interface CheckovCheck {
  check_id: string;
  check_name: string;
  file_path: string;
  resource: string;
}

interface CheckovReport {
  check_type?: string;
  results?: { passed_checks?: CheckovCheck[]; failed_checks?: CheckovCheck[] };
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number; checkov_version?: string };
}

export interface Finding {
  readonly profile: string;
  readonly stack: string;
  /** `type.name` */
  readonly address: string;
  readonly checkId: string;
  readonly checkName: string;
  /** Index into the accepted list, when accepted. */
  readonly acceptedBy?: number;
}

export interface StackFigures {
  profile: string;
  stack: string;
  passed: number;
  failed: number;
  accepted: number;
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** The stack a checkov result belongs to: file_path is `/<stack>/cdk.tf.json`. */
function stackOf(check: CheckovCheck): string {
  return check.file_path.split("/").filter(Boolean)[0] ?? "?";
}

/**
 * checkov's terraform_json runner reports some resources as `resource.<name>` without the type;
 * cdktf logical ids are unique within a stack, so the type is looked up in the stack's JSON.
 */
function resolveAddress(resource: string, stackJson: Record<string, any>): string {
  const parts = resource.split(".");
  if (parts.length === 2 && parts[0] !== "resource") return resource;
  const name = parts.slice(1).join(".");
  const types = Object.keys(stackJson.resource ?? {}).filter((type) => name in stackJson.resource[type]);
  return types.length === 1 ? `${types[0]}.${name}` : resource;
}

function runCheckov(profile: Profile): CheckovReport {
  const stacksDir = path.join(ROOT, profile.outdir, "stacks");
  const result = spawnSync(
    CHECKOV,
    ["-d", stacksDir, "--framework", "terraform_json", "--output", "json", "--compact", "--soft-fail", "--skip-download"],
    {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      // Offline: no guideline/severity look-ups (they need a Prisma Cloud API), no version check.
      env: { ...process.env, BC_SKIP_MAPPING: "TRUE", CHECKOV_SKIP_VERSION_CHECK: "1", PYTHONWARNINGS: "ignore" },
    },
  );
  if (result.status !== 0) {
    throw new Error(`checkov exited with ${result.status ?? result.signal} on ${stacksDir}:\n${result.stderr}`);
  }
  writeFileSync(path.join(REPORT_DIR, `checkov-${profile.name}.json`), result.stdout);
  const parsed = JSON.parse(result.stdout) as CheckovReport | CheckovReport[];
  const reports = Array.isArray(parsed) ? parsed : [parsed];
  const report = reports.find((r) => r.check_type === "terraform_json") ?? reports[0];
  if (!report?.summary) throw new Error(`unexpected checkov output for ${stacksDir}`);
  if (report.summary.parsing_errors > 0) {
    throw new Error(
      `checkov could not parse ${report.summary.parsing_errors} file(s) in ${stacksDir}; see cdktf.out/scan/checkov-${profile.name}.json`,
    );
  }
  return report;
}

/** Classifies a profile's results against the accepted list. */
export function classify(
  profile: string,
  report: CheckovReport,
  stackJson: (stack: string) => Record<string, any>,
  accepted: readonly AcceptedException[],
): { findings: Finding[]; figures: StackFigures[] } {
  const figures = new Map<string, StackFigures>();
  const figuresOf = (stack: string): StackFigures => {
    const f = figures.get(stack) ?? { profile, stack, passed: 0, failed: 0, accepted: 0 };
    figures.set(stack, f);
    return f;
  };
  for (const check of report.results?.passed_checks ?? []) figuresOf(stackOf(check)).passed++;
  const findings: Finding[] = [];
  for (const check of report.results?.failed_checks ?? []) {
    const stack = stackOf(check);
    const address = resolveAddress(check.resource, stackJson(stack));
    const index = accepted.findIndex(
      (entry) => entry.id === check.check_id && entry.resources.some((p) => patternMatches(p, stack, address)),
    );
    findings.push({
      profile,
      stack,
      address,
      checkId: check.check_id,
      checkName: check.check_name,
      ...(index >= 0 ? { acceptedBy: index } : {}),
    });
    if (index >= 0) figuresOf(stack).accepted++;
    else figuresOf(stack).failed++;
  }
  return { findings, figures: [...figures.values()].sort((a, b) => a.profile.localeCompare(b.profile) || a.stack.localeCompare(b.stack)) };
}

/** Accepted patterns that match no failure in any scanned profile. */
export function stalePatterns(findings: readonly Finding[], accepted: readonly AcceptedException[]): { id: string; pattern: string }[] {
  const stale: { id: string; pattern: string }[] = [];
  for (const entry of accepted) {
    for (const pattern of entry.resources) {
      const used = findings.some((f) => f.checkId === entry.id && patternMatches(pattern, f.stack, f.address));
      if (!used) stale.push({ id: entry.id, pattern });
    }
  }
  return stale;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((cell, i) => (i === 0 || i === 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "))
    .join("\n");
}

function main(): void {
  const argv = process.argv.slice(2);
  const only = argv.includes("--profile") ? argv[argv.indexOf("--profile") + 1] : undefined;
  const profiles = only ? PROFILES.filter((p) => p.name === only) : PROFILES;
  if (profiles.length === 0) throw new Error(`unknown profile ${only}; known: ${PROFILES.map((p) => p.name).join(", ")}`);

  const started = Date.now();
  if (!argv.includes("--skip-setup")) execFileSync("bash", [path.join(__dirname, "setup.sh")], { stdio: "inherit" });
  if (!existsSync(CHECKOV)) throw new Error("checkov is not installed: run npm run setup:scan");
  const accepted = loadAccepted();
  mkdirSync(REPORT_DIR, { recursive: true });

  const findings: Finding[] = [];
  const figures: StackFigures[] = [];
  let version = "?";
  for (const profile of profiles) {
    log(`synthesizing profile "${profile.name}" -> ${profile.outdir}/stacks`);
    synthApp(path.join(ROOT, profile.outdir), profile.env);
    log(`checkov on ${profile.outdir}/stacks`);
    const report = runCheckov(profile);
    version = report.summary.checkov_version ?? version;
    const cache = new Map<string, Record<string, any>>();
    const stackJson = (stack: string): Record<string, any> => {
      if (!cache.has(stack))
        cache.set(stack, JSON.parse(readFileSync(path.join(ROOT, profile.outdir, "stacks", stack, "cdk.tf.json"), "utf8")));
      return cache.get(stack)!;
    };
    const result = classify(profile.name, report, stackJson, accepted);
    findings.push(...result.findings);
    figures.push(...result.figures);
  }

  const total = (key: "passed" | "failed" | "accepted", profile?: string): number =>
    figures.filter((f) => !profile || f.profile === profile).reduce((sum, f) => sum + f[key], 0);
  const rows = [["profile", "stack", "passed", "failed", "accepted"]];
  for (const f of figures) rows.push([f.profile, f.stack, String(f.passed), String(f.failed), String(f.accepted)]);
  for (const p of profiles)
    rows.push([p.name, "(total)", String(total("passed", p.name)), String(total("failed", p.name)), String(total("accepted", p.name))]);
  log(`\ncheckov ${version} (terraform_json) — failed = not accepted in scripts/scan/accepted.json\n`);
  log(table(rows));

  const unaccepted = findings.filter((f) => f.acceptedBy === undefined);
  const stale = only ? [] : stalePatterns(findings, accepted);
  if (unaccepted.length) {
    log(`\nUnaccepted failures (${unaccepted.length}): fix them, or accept one with a reason in scripts/scan/accepted.json`);
    const byCheck = new Map<string, Finding[]>();
    for (const f of unaccepted) byCheck.set(`${f.checkId} ${f.checkName}`, [...(byCheck.get(`${f.checkId} ${f.checkName}`) ?? []), f]);
    for (const [check, list] of [...byCheck.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      log(`  ${check}`);
      const seen = new Set<string>();
      list.sort((a, b) => a.stack.localeCompare(b.stack) || a.address.localeCompare(b.address) || a.profile.localeCompare(b.profile));
      for (const f of list) {
        const where = `${f.stack}/${f.address}`;
        const profilesOf = list.filter((g) => `${g.stack}/${g.address}` === where).map((g) => g.profile);
        if (!seen.has(where)) log(`    - ${where}  [${profilesOf.join(", ")}]`);
        seen.add(where);
      }
    }
  }
  if (stale.length) {
    log(`\nStale exceptions (${stale.length}): these scripts/scan/accepted.json patterns match no failure any more — remove them:`);
    for (const s of stale) log(`  - ${s.id} ${s.pattern}`);
  }

  const summary = {
    checkov: version,
    profiles: profiles.map((p) => ({
      profile: p.name,
      passed: total("passed", p.name),
      failed: total("failed", p.name),
      accepted: total("accepted", p.name),
    })),
    stacks: figures,
    unaccepted: unaccepted.map(({ profile, stack, address, checkId, checkName }) => ({ profile, stack, address, checkId, checkName })),
    stale,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  writeFileSync(path.join(REPORT_DIR, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  log(`\nReports: cdktf.out/scan/ (${summary.seconds} s)`);
  if (unaccepted.length || stale.length) {
    log(`scan FAILED: ${unaccepted.length} unaccepted failure(s), ${stale.length} stale exception(s)`);
    process.exitCode = 1;
  } else {
    log("scan passed: every failed check is fixed or accepted with a reason");
  }
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`scan error: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}
