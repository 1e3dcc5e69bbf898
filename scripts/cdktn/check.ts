/**
 * npm run check:cdktn — the way off the deprecated cdktf, kept proven: the same commit moved to
 * CDK Terrain (cdktn, the community fork) in a scratch copy, and what changes.
 *
 *   snapshot   `git archive` of the commit (default HEAD, `--ref <rev>`) into two copies in a scratch
 *              folder outside the project: cdktf/ (this project's node_modules linked in) and
 *              cdktn/. Uncommitted changes are not part of it.
 *   install    in cdktn/: package.json with the packages of packages.json swapped (and the packages
 *              they force to move aligned), `npm install` against the commit's lock file. Reused
 *              when package.json and the lock are unchanged since the last run.
 *   rewrite    import specifiers `cdktf` -> `cdktn`, `@cdktf/provider-aws/...` -> `@cdktn/provider-aws/...`
 *              (nothing else), the CLI command in package.json scripts and cdktf.json's app; then
 *              no specifier of a cdktf package may be left.
 *   typecheck  tsc --noEmit over the whole copy, as `npm run typecheck`.
 *   synth      both copies, every stack, both profiles `npm run validate` uses (default, full), by
 *              the cdktf.json app command as `cdktf synth` runs it.
 *   cli        `cdktn synth` itself (cdktn-cli) on the default profile: its output must equal the
 *              app command's. The CLI needs a newer Node.js than 20; on an older machine it runs on
 *              the pinned Node.js package from the npm registry (packages.json `cliNode`).
 *   compare    every difference between the cdktf and the CDK Terrain JSON, grouped; fails on one
 *              that expected-differences.json does not list with its reason, and on a stale entry.
 *   tests      the tests that need only synth (SYNTH_TESTS) in the CDK Terrain copy; one that fails
 *              there is run in the cdktf copy too, and failing there as well it is the commit's own
 *              failure (printed; `npm test` catches it), not the move's.
 *   validate   terraform init -backend=false and terraform validate of every CDK Terrain stack, as
 *              `npm run validate` (provider mirror and version pin: scripts/terraform/terraform.ts).
 *
 * Options: --ref <rev> (the commit to check, default HEAD), --clean (remove the copies and installs
 * at the end, as CI does; the next run installs again).
 * Prints each phase's time. Fails (exit 1) when any phase fails. Scratch folder: CDKTN_CHECK_DIR,
 * default <tmpdir>/cdktn-check-<hash of this project's path> (outside the project, so that node's
 * module lookup cannot fall back to the project's node_modules and its cdktf); logs in its logs/.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { synthApp } from "../lib/synth";
import { log, PROFILES, providerSource, ROOT, readStack, type StackJson, seconds } from "../terraform/terraform";
import { validateStack } from "../terraform/validate";
import { appDifferences, formatReview, loadExpected, passed, review, stackDifferences } from "./compare";
import { leftoverImports, loadPins, type Pins, rewriteCommand, rewriteImports, swapPackageJson } from "./migration";

/** The tests that need only synth: no emulator, no MariaDB, no network. */
export const SYNTH_TESTS = [
  "__tests__/infra",
  "__tests__/contracts/naming.test.ts",
  "__tests__/scripts/diagram.test.ts",
  "__tests__/scripts/scan-config.test.ts",
  "__tests__/scripts/terraform-exceptions.test.ts",
];
/** Every stack the app must synthesize on both sides. */
export const STACKS = ["dr", "primary", "state"];
const SOURCE_EXTENSIONS = /\.(ts|tsx|mts|cts|js|cjs|mjs)$/;
const SKIPPED_FOLDERS = new Set(["node_modules", ".build", "cdktf.out", ".git"]);

const WORK =
  process.env.CDKTN_CHECK_DIR?.trim() || path.join(tmpdir(), `cdktn-check-${createHash("sha256").update(ROOT).digest("hex").slice(0, 8)}`);
const CDKTF_DIR = path.join(WORK, "cdktf");
const CDKTN_DIR = path.join(WORK, "cdktn");
const OUT_DIR = path.join(WORK, "out");
const LOG_DIR = path.join(WORK, "logs");
const STAMP = path.join(CDKTN_DIR, "node_modules", ".cdktn-check-stamp");

// ------------------------------------------------------------------ helpers

interface RunResult {
  readonly code: number;
  readonly output: string;
}

/** Runs a command, its output appended to `logFile` and returned; never throws on a non-zero exit. */
function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const logStream = createWriteStream(options.logFile, { flags: "a" });
  logStream.write(`\n$ ${command} ${args.join(" ")}   (in ${options.cwd})\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      logStream.write(chunk);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (error) => {
      logStream.end();
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      logStream.end(`[exit ${code ?? signal}]\n`);
      resolve({ code: code ?? 1, output });
    });
  });
}

function git(args: readonly string[]): Promise<RunResult> {
  return run("git", ["-C", ROOT, ...args], { cwd: ROOT, logFile: path.join(LOG_DIR, "git.log") });
}

const readJson = (file: string): any => JSON.parse(readFileSync(file, "utf8"));
const tail = (text: string, lines = 30) => text.trim().split("\n").slice(-lines).join("\n");

/** The lowest version a `>=x.y.z` engines range admits; undefined for any other form. */
export function minimumVersion(range: string | undefined): number[] | undefined {
  const match = range?.trim().match(/^>=\s*v?(\d+)\.(\d+)\.(\d+)$/);
  return match ? match.slice(1, 4).map(Number) : undefined;
}

/** Is `version` (x.y.z) at least `minimum`? */
export function atLeast(version: string, minimum: readonly number[]): boolean {
  const v = version.replace(/^v/, "").split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((v[i] ?? 0) !== minimum[i]) return (v[i] ?? 0) > minimum[i];
  return true;
}

function stacksOf(outdir: string): Record<string, StackJson> {
  const dir = path.join(outdir, "stacks");
  return Object.fromEntries(
    readdirSync(dir)
      .filter((s) => existsSync(path.join(dir, s, "cdk.tf.json")))
      .map((s) => [s, readStack(path.join(dir, s))]),
  );
}

/** Every source file of a copy (relative paths), outside node_modules, bundles and synth output. */
function sourceFiles(root: string, dir = ""): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED_FOLDERS.has(entry.name) ? [] : sourceFiles(root, rel);
    return entry.isFile() && SOURCE_EXTENSIONS.test(entry.name) ? [rel] : [];
  });
}

// ------------------------------------------------------------------ phases

/** A phase failed; the check goes on where the later phases do not depend on it. */
class PhaseFailure extends Error {}
/** The check cannot go on. */
class StopCheck extends Error {}

interface PhaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly note: string;
}

const results: PhaseResult[] = [];

/**
 * Runs one phase and prints its time. A phase returns its one-line note, or throws PhaseFailure (the
 * check goes on where later phases do not depend on it) or another error (the check stops).
 */
async function phase(name: string, body: () => Promise<string> | string, options: { fatal?: boolean } = {}): Promise<boolean> {
  log(`\n== ${name}`);
  const started = Date.now();
  try {
    const note = await body();
    results.push({ name, ok: true, ms: Date.now() - started, note });
    log(`-- ${name}: ok, ${seconds(Date.now() - started)}${note ? ` (${note})` : ""}`);
    return true;
  } catch (error) {
    const message = (error as Error).message;
    results.push({ name, ok: false, ms: Date.now() - started, note: message.split("\n")[0] });
    log(`${message}\n-- ${name}: FAILED, ${seconds(Date.now() - started)}`);
    if (options.fatal || !(error instanceof PhaseFailure)) throw new StopCheck();
    return false;
  }
}

async function snapshot(ref: string): Promise<string> {
  const resolved = await git(["rev-parse", "--verify", `${ref}^{commit}`]);
  if (resolved.code !== 0) throw new PhaseFailure(`no commit ${ref}: ${resolved.output.trim()}`);
  const commit = resolved.output.trim();
  const status = await git(["status", "--porcelain", "--untracked-files=no"]);
  if (path.resolve(WORK).startsWith(`${ROOT}${path.sep}`)) {
    throw new PhaseFailure(`the scratch folder ${WORK} is inside the project: node would find the project's cdktf there`);
  }
  const tarball = path.join(WORK, "source.tar");
  mkdirSync(WORK, { recursive: true });
  const archive = await git(["archive", "--format=tar", "-o", tarball, commit]);
  if (archive.code !== 0) throw new PhaseFailure(`git archive failed: ${archive.output.trim()}`);
  rmSync(CDKTF_DIR, { recursive: true, force: true });
  mkdirSync(CDKTF_DIR, { recursive: true });
  const untar = await run("tar", ["-xf", tarball, "-C", CDKTF_DIR], { cwd: WORK, logFile: path.join(LOG_DIR, "snapshot.log") });
  if (untar.code !== 0) throw new PhaseFailure(`tar failed: ${untar.output.trim()}`);
  // The CDK Terrain copy keeps only its node_modules from the last run; the cdktf copy uses this project's.
  mkdirSync(CDKTN_DIR, { recursive: true });
  for (const entry of readdirSync(CDKTN_DIR))
    if (entry !== "node_modules") rmSync(path.join(CDKTN_DIR, entry), { recursive: true, force: true });
  for (const entry of readdirSync(CDKTF_DIR)) cpSync(path.join(CDKTF_DIR, entry), path.join(CDKTN_DIR, entry), { recursive: true });
  symlinkSync(path.join(ROOT, "node_modules"), path.join(CDKTF_DIR, "node_modules"), "dir");
  log(`commit ${commit} (${ref})${status.output.trim() ? "; uncommitted changes in the working tree are not part of it" : ""}`);
  log(`scratch folder ${WORK}`);
  return commit.slice(0, 12);
}

async function install(pins: Pins): Promise<string> {
  const swapped = swapPackageJson(readJson(path.join(CDKTN_DIR, "package.json")), pins);
  const text = `${JSON.stringify(swapped, null, 2)}\n`;
  writeFileSync(path.join(CDKTN_DIR, "package.json"), text);
  const lock = readFileSync(path.join(CDKTN_DIR, "package-lock.json"), "utf8");
  const stamp = createHash("sha256").update(text).update(lock).digest("hex");
  for (const s of pins.swaps) log(`  ${s.from} -> ${s.to} ${s.version}`);
  for (const a of pins.align) log(`  ${a.package} -> ${a.version}: ${a.reason}`);
  let how = "reused the last install (same package.json and lock file)";
  if (!existsSync(STAMP) || readFileSync(STAMP, "utf8") !== stamp) {
    rmSync(STAMP, { force: true });
    const npm = await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], {
      cwd: CDKTN_DIR,
      logFile: path.join(LOG_DIR, "npm-install.log"),
      env: { ...process.env, npm_config_update_notifier: "false" },
    });
    if (npm.code !== 0) throw new Error(`npm install failed (${path.join(LOG_DIR, "npm-install.log")}):\n${tail(npm.output)}`);
    writeFileSync(STAMP, stamp);
    how = "npm install";
  }
  const problems: string[] = [];
  const modules = path.join(CDKTN_DIR, "node_modules");
  for (const s of pins.swaps) {
    const installed = existsSync(path.join(modules, s.to, "package.json")) ? readJson(path.join(modules, s.to, "package.json")) : undefined;
    if (installed?.version !== s.version) problems.push(`${s.to}: installed ${installed?.version ?? "nothing"}, pinned ${s.version}`);
    if (existsSync(path.join(modules, s.from))) problems.push(`${s.from} is still installed`);
    const engines = installed?.engines?.node;
    const minimum = minimumVersion(engines);
    if (minimum && !atLeast(process.versions.node, minimum))
      log(`  note: ${s.to} declares node ${engines}; this machine runs ${process.version}`);
    const provider = installed?.cdktf?.provider;
    if (provider) {
      const was = readJson(path.join(ROOT, "node_modules", s.from, "package.json"));
      log(
        `  ${s.to} ${s.version} is generated from ${provider.name} ${provider.version} (${s.from} ${was.version}: ${was.cdktf?.provider?.version ?? "?"})`,
      );
    }
  }
  if (problems.length) throw new Error(problems.join("\n"));
  return how;
}

function rewrite(pins: Pins): string {
  let specifiers = 0;
  let files = 0;
  const leftovers: string[] = [];
  for (const file of sourceFiles(CDKTN_DIR)) {
    const full = path.join(CDKTN_DIR, file);
    const { text, count } = rewriteImports(readFileSync(full, "utf8"), pins.swaps);
    if (count) {
      writeFileSync(full, text);
      specifiers += count;
      files++;
    }
    for (const s of leftoverImports(text, pins.swaps)) leftovers.push(`${file}: "${s}"`);
  }
  const cdktfJson = readJson(path.join(CDKTN_DIR, "cdktf.json"));
  const app = rewriteCommand(cdktfJson.app, pins.swaps);
  if (app !== cdktfJson.app) {
    log(`  cdktf.json app: ${cdktfJson.app} -> ${app}`);
    writeFileSync(path.join(CDKTN_DIR, "cdktf.json"), `${JSON.stringify({ ...cdktfJson, app }, null, 2)}\n`);
  } else {
    log(`  cdktf.json app unchanged: ${app}`);
  }
  const before = readJson(path.join(CDKTF_DIR, "package.json")).scripts ?? {};
  const after = readJson(path.join(CDKTN_DIR, "package.json")).scripts ?? {};
  for (const [name, command] of Object.entries<string>(after))
    if (before[name] !== command) log(`  package.json script ${name}: ${before[name]} -> ${command}`);
  if (leftovers.length) throw new PhaseFailure(`imports of a cdktf package left after the rewrite:\n  ${leftovers.join("\n  ")}`);
  return `${specifiers} import specifiers in ${files} files`;
}

async function typecheck(): Promise<string> {
  const tsc = await run(process.execPath, [path.join("node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", "tsconfig.json"], {
    cwd: CDKTN_DIR,
    logFile: path.join(LOG_DIR, "typecheck.log"),
  });
  if (tsc.code !== 0) throw new PhaseFailure(`tsc found errors in the CDK Terrain copy:\n${tail(tsc.output, 40)}`);
  return "no error";
}

function synthBoth(): string {
  const problems: string[] = [];
  for (const profile of PROFILES) {
    for (const [side, root] of [
      ["cdktf", CDKTF_DIR],
      ["cdktn", CDKTN_DIR],
    ] as const) {
      const started = Date.now();
      let stacks: string[];
      try {
        stacks = synthApp(path.join(OUT_DIR, side, profile.name), profile.env, root);
      } catch (error) {
        throw new Error(`${side} synth of profile ${profile.name} failed: ${(error as Error).message.split("\n")[0]}`);
      }
      log(`  ${side} ${profile.name.padEnd(8)} ${stacks.join(", ")}  ${seconds(Date.now() - started)}`);
      if (stacks.join() !== STACKS.join())
        problems.push(`${side}/${profile.name} synthesized ${stacks.join(", ")}; expected ${STACKS.join(", ")}`);
    }
  }
  if (problems.length) throw new Error(problems.join("\n"));
  return `${STACKS.length} stacks x ${PROFILES.length} profiles x 2`;
}

/** The node binary for the CDK Terrain CLI: this one when new enough, else the pinned package's. */
async function cliNode(pins: Pins, engines: string | undefined): Promise<{ binary?: string; note: string }> {
  const minimum = minimumVersion(engines);
  if (!minimum || atLeast(process.versions.node, minimum)) return { binary: process.execPath, note: `node ${process.version}` };
  const wanted = pins.cliNode;
  const platform = `${process.platform}-${process.arch}`;
  if (!wanted || wanted.platform !== platform) {
    return {
      note: `skipped: the CLI needs node ${engines}, this is ${process.version}, and packages.json has no Node.js package for ${platform}`,
    };
  }
  const dir = path.join(WORK, "cli-node");
  const binary = path.join(dir, "node_modules", wanted.package, "bin", "node");
  const installed = existsSync(path.join(dir, "node_modules", wanted.package, "package.json"))
    ? readJson(path.join(dir, "node_modules", wanted.package, "package.json")).version
    : undefined;
  if (installed !== wanted.version || !existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "package.json"), '{ "private": true }\n');
    const npm = await run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--no-save", `${wanted.package}@${wanted.version}`],
      {
        cwd: dir,
        logFile: path.join(LOG_DIR, "cli-node.log"),
      },
    );
    if (npm.code !== 0 || !existsSync(binary))
      throw new PhaseFailure(`installing ${wanted.package}@${wanted.version} failed:\n${tail(npm.output)}`);
  }
  return { binary, note: `node ${wanted.version} from ${wanted.package} (the CLI needs ${engines}; this is ${process.version})` };
}

async function cliSynth(pins: Pins): Promise<string> {
  const swap = pins.swaps.find((s) => s.bin);
  if (!swap?.bin) return "skipped: no CLI among the swaps";
  const cliPackage = readJson(path.join(CDKTN_DIR, "node_modules", swap.to, "package.json"));
  const entry = typeof cliPackage.bin === "string" ? cliPackage.bin : cliPackage.bin?.[swap.bin.to];
  const node = await cliNode(pins, cliPackage.engines?.node);
  if (!node.binary) return node.note;
  const profile = PROFILES[0];
  const outdir = path.join(OUT_DIR, "cli", profile.name);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(path.dirname(outdir), { recursive: true });
  const cli = await run(node.binary, [path.join(CDKTN_DIR, "node_modules", swap.to, entry), "synth", "--output", outdir], {
    cwd: CDKTN_DIR,
    logFile: path.join(LOG_DIR, "cli-synth.log"),
    // The app command's `node` is the CLI's too.
    env: {
      ...process.env,
      ...profile.env,
      PATH: `${path.dirname(node.binary)}${path.delimiter}${process.env.PATH}`,
      CHECKPOINT_DISABLE: "1",
    },
  });
  if (cli.code !== 0 || !existsSync(path.join(outdir, "stacks")))
    throw new PhaseFailure(`${swap.bin.to} synth failed:\n${tail(cli.output)}`);
  const fromCli = stacksOf(outdir);
  const fromApp = stacksOf(path.join(OUT_DIR, "cdktn", profile.name));
  const differences = [...new Set([...Object.keys(fromCli), ...Object.keys(fromApp)])].flatMap((stack) =>
    stackDifferences(profile.name, stack, fromApp[stack] ?? {}, fromCli[stack] ?? {}),
  );
  if (differences.length) {
    const lines = differences.map(
      (d) => `  ${d.stack} ${d.address} ${d.attribute}: ${JSON.stringify(d.before)} -> ${JSON.stringify(d.after)}`,
    );
    throw new PhaseFailure(`\`${swap.bin.to} synth\` differs from the app command's synth:\n${lines.join("\n")}`);
  }
  return `${swap.bin.to} synth (${Object.keys(fromCli).sort().join(", ")}) equals the app command's, on ${node.note}`;
}

function compare(): string {
  const synthesized = PROFILES.map((p) => ({
    profile: p.name,
    cdktf: stacksOf(path.join(OUT_DIR, "cdktf", p.name)),
    cdktn: stacksOf(path.join(OUT_DIR, "cdktn", p.name)),
  }));
  const differences = synthesized.flatMap(({ profile, cdktf, cdktn }) => appDifferences(profile, cdktf, cdktn));
  const result = review(differences, loadExpected());
  for (const line of formatReview(result)) log(`  ${line}`);
  const constraints = new Set(
    synthesized.flatMap(({ cdktn }) =>
      Object.values(cdktn).flatMap((json: any) =>
        Object.entries<any>(json.terraform?.required_providers ?? {}).map(([name, p]) => `${name} ${JSON.stringify(p.version)}`),
      ),
    ),
  );
  log(`  provider constraints declared by the CDK Terrain stacks: ${[...constraints].join("; ") || "none"}`);
  const summary = `${result.differences.length} differences: ${result.reported.length} reported only, ${result.listed.length} listed, ${result.unlisted.length} unlisted; ${result.stale.length} stale entries`;
  if (!passed(result))
    throw new PhaseFailure(
      `${summary}\nList each expected difference with its reason in scripts/cdktn/expected-differences.json, or fix the app; remove stale entries.`,
    );
  return summary;
}

/** Runs jest in `root` on `files`; returns the failed tests (`file › full name`, or `file (suite)` when a suite could not run). */
async function jestFailures(
  root: string,
  files: readonly string[],
  name: string,
): Promise<{ failed: string[]; summary: string; output: string }> {
  const report = path.join(WORK, `${name}-jest.json`);
  rmSync(report, { force: true });
  const jest = await run(
    process.execPath,
    [path.join("node_modules", "jest", "bin", "jest.js"), "--ci", "--json", `--outputFile=${report}`, ...files],
    {
      cwd: root,
      logFile: path.join(LOG_DIR, `${name}-jest.log`),
      env: { ...process.env, CI: "true" },
    },
  );
  if (!existsSync(report)) throw new PhaseFailure(`jest wrote no report in ${root}:\n${tail(jest.output, 40)}`);
  const result = readJson(report);
  const failed = (result.testResults as any[]).flatMap((suite) => {
    const file = path.relative(root, suite.name);
    const tests = (suite.assertionResults as any[]).filter((t) => t.status === "failed").map((t) => `${file} › ${t.fullName}`);
    return tests.length === 0 && suite.status === "failed" ? [`${file} (suite)`] : tests;
  });
  const summary = `${result.numPassedTests} passed, ${result.numFailedTests} failed in ${result.numTotalTestSuites} suites`;
  return { failed, summary, output: jest.output };
}

/**
 * The synth tests in the CDK Terrain copy. A test that fails there is run again in the cdktf copy:
 * failing with cdktf too, it is the commit's own failure (printed; `npm test` fails on it), not the
 * move's, and does not fail this phase.
 */
async function tests(): Promise<string> {
  const cdktn = await jestFailures(CDKTN_DIR, SYNTH_TESTS, "cdktn");
  if (!cdktn.failed.length) return cdktn.summary;
  const files = [...new Set(cdktn.failed.map((f) => f.split(/ › | \(suite\)/)[0]))];
  const cdktf = await jestFailures(CDKTF_DIR, files, "cdktf");
  const moveOnly = cdktn.failed.filter((f) => !cdktf.failed.includes(f));
  for (const f of cdktn.failed)
    log(`  ${moveOnly.includes(f) ? "FAILS with CDK Terrain only" : "fails with cdktf too (the commit's own failure)"}: ${f}`);
  if (moveOnly.length)
    throw new PhaseFailure(
      `${moveOnly.length} test(s) fail with CDK Terrain only (${path.join(LOG_DIR, "cdktn-jest.log")}):\n${tail(cdktn.output, 60)}`,
    );
  return `${cdktn.summary}; every failure fails with cdktf too`;
}

async function validate(): Promise<string> {
  const providers = providerSource();
  const failures: string[] = [];
  let count = 0;
  for (const profile of PROFILES) {
    for (const stack of STACKS) {
      const result = await validateStack(
        profile.name,
        stack,
        path.join(OUT_DIR, "cdktn", profile.name, "stacks", stack),
        providers,
        path.join(LOG_DIR, "validate"),
      );
      count++;
      log(
        `  ${profile.name.padEnd(8)} ${stack.padEnd(8)} ${result.ok ? "valid" : "INVALID"}  ${result.errors.length} error(s), ${result.warnings.length} warning(s)  ${seconds(result.ms)}`,
      );
      for (const w of result.warnings) log(`    warning: ${w}`);
      for (const e of result.errors) failures.push(`${profile.name}/${stack}: ${e}`);
    }
  }
  if (failures.length) throw new PhaseFailure(failures.join("\n"));
  return `${count} stacks valid with AWS provider ${providers.version ?? "(registry)"}`;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const ref = argv.includes("--ref") ? argv[argv.indexOf("--ref") + 1] : "HEAD";
  if (!ref) throw new Error("--ref needs a commit");
  const started = Date.now();
  const pins = loadPins();
  loadExpected(); // a malformed list fails before any work
  rmSync(LOG_DIR, { recursive: true, force: true });
  try {
    await phase("snapshot", () => snapshot(ref), { fatal: true });
    await phase("install", () => install(pins), { fatal: true });
    await phase("rewrite", () => rewrite(pins));
    await phase("typecheck", typecheck);
    await phase("synth", synthBoth, { fatal: true });
    await phase("cli synth", () => cliSynth(pins));
    await phase("compare", compare);
    await phase("tests", tests);
    await phase("validate", validate);
  } catch (error) {
    if (!(error instanceof StopCheck)) throw error;
    log("\n(stopped: the phases after this one need it)");
  }
  log("\nphase       result  time");
  for (const r of results) log(`${r.name.padEnd(11)} ${(r.ok ? "ok" : "FAILED").padEnd(7)} ${seconds(r.ms).padStart(7)}  ${r.note}`);
  const failed = results.filter((r) => !r.ok);
  log(
    `\ncheck:cdktn ${failed.length ? "FAILED" : "passed"}: ${results.length - failed.length} passed, ${failed.length} failed (${seconds(Date.now() - started)}); logs in ${LOG_DIR}`,
  );
  if (failed.length) process.exitCode = 1;
  if (argv.includes("--clean")) {
    // The installs are most of the scratch folder (about 1 GB); the logs and the synth output stay.
    for (const dir of [CDKTN_DIR, CDKTF_DIR, path.join(WORK, "cli-node")]) rmSync(dir, { recursive: true, force: true });
    log(`removed the copies and installs under ${WORK} (--clean)`);
  }
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`check:cdktn error: ${(error as Error).message}\n`);
    process.exitCode = 2;
  });
}
