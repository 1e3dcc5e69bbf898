/**
 * Shared by `npm run validate` and `npm run rehearse`: synthesis of the app into a directory of our
 * own, the Terraform CLI configuration (provider filesystem mirror), override files, and running
 * terraform with its output logged and timed.
 *
 * Independent of where the cdktf app code lives: synthesis runs the cdktf.json app command (as
 * `cdktf synth` does) with CDKTF_OUTDIR and profile settings as environment variables, and
 * everything else reads the resulting `<outdir>/stacks/<stack>/cdk.tf.json`.
 *
 * Settings (environment variables):
 *   TF_PROVIDER_MIRROR      provider filesystem mirror root (the folder above registry.terraform.io);
 *                           unset: /opt/tf-plugins when it holds one; "none": no mirror, terraform
 *                           init downloads from the registry as usual
 *   TF_AWS_PROVIDER_VERSION exact AWS provider version to run (pinned with an override file);
 *                           unset: the newest one in the mirror, or no pin without a mirror
 *   TERRAFORM               the terraform binary (default: terraform on PATH)
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT, synthApp } from "../lib/synth";
import { SCAN_PROFILES } from "../scan/profiles";

export { ROOT };
/** Everything these scripts write: synth outputs, working copies, logs (gitignored; outside cdktf.out, which `cdktf synth` rewrites while CI runs the rehearsal beside the other steps). */
export const WORK_ROOT = path.join(ROOT, ".terraform-work");

/** AWS provider versions every stack must declare (`required_providers.aws.version`). */
export const SUPPORTED_AWS_PROVIDER_VERSIONS = ">= 5.100.0, < 7.0.0";
export const AWS_PROVIDER = "registry.terraform.io/hashicorp/aws";
const DEFAULT_MIRROR = "/opt/tf-plugins";

/** A way of synthesizing the app: settings as environment variables (src/contracts/config.ts names). */
export interface Profile {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
}

/** default (as configured) and full (every optional feature on), the profiles the checkov scan uses. */
export const PROFILES: readonly Profile[] = SCAN_PROFILES.map(({ name, env }) => ({ name, env }));

export function log(message = ""): void {
  process.stdout.write(`${message}\n`);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Synthesizes the app into `outdir` with the profile's settings; returns the stack names written. */
export function synth(outdir: string, profile: Profile): string[] {
  return synthApp(outdir, profile.env);
}

/** A synthesized stack's Terraform JSON. */
export type StackJson = Record<string, any>;

export function readStack(dir: string): StackJson {
  return JSON.parse(readFileSync(path.join(dir, "cdk.tf.json"), "utf8")) as StackJson;
}

/**
 * Deploy order: stacks without a remote backend first (the state bootstrap), then each stack after
 * the stacks whose state it reads through terraform_remote_state (matched by backend bucket + key).
 */
export function deployOrder(stacks: Readonly<Record<string, StackJson>>): string[] {
  const keyOf = (json: StackJson): string | undefined => {
    const s3 = json.terraform?.backend?.s3;
    return s3 ? `${s3.bucket}/${s3.key}` : undefined;
  };
  const byKey = new Map(Object.entries(stacks).flatMap(([name, json]) => (keyOf(json) ? [[keyOf(json)!, name]] : [])));
  const reads = (json: StackJson): string[] =>
    Object.values<any>(json.data?.terraform_remote_state ?? {})
      .filter((r) => r.backend === "s3")
      .map((r) => byKey.get(`${r.config.bucket}/${r.config.key}`))
      .filter((n): n is string => n !== undefined);
  const order: string[] = [];
  const local = Object.keys(stacks)
    .filter((n) => !keyOf(stacks[n]))
    .sort();
  order.push(...local);
  const remaining = new Set(Object.keys(stacks).filter((n) => !order.includes(n)));
  while (remaining.size) {
    const ready = [...remaining].sort().find((n) => reads(stacks[n]).every((dep) => order.includes(dep)));
    if (!ready) throw new Error(`cyclic terraform_remote_state reads among ${[...remaining].join(", ")}`);
    order.push(ready);
    remaining.delete(ready);
  }
  return order;
}

// ------------------------------------------------------------------ provider mirror, CLI config

/**
 * The provider filesystem mirror to install from: TF_PROVIDER_MIRROR (a path, or "none"), else
 * /opt/tf-plugins when it holds a mirror, else none (terraform init downloads as usual).
 */
export function providerMirror(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = env.TF_PROVIDER_MIRROR?.trim();
  const isMirror = (dir: string) => existsSync(path.join(dir, "registry.terraform.io")) && statSync(dir).isDirectory();
  if (setting === "none" || setting === "off") return undefined;
  if (setting) {
    const dir = path.resolve(setting);
    if (!isMirror(dir)) throw new Error(`TF_PROVIDER_MIRROR=${setting}: no registry.terraform.io folder there (expected the mirror root)`);
    return dir;
  }
  return existsSync(DEFAULT_MIRROR) && isMirror(DEFAULT_MIRROR) ? DEFAULT_MIRROR : undefined;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Versions of `provider` (e.g. registry.terraform.io/hashicorp/aws) in an unpacked mirror, newest first. */
export function mirroredVersions(mirror: string, provider = AWS_PROVIDER): string[] {
  const dir = path.join(mirror, ...provider.split("/"));
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => /^\d+\.\d+\.\d+/.test(v))
    .sort(compareVersions)
    .reverse();
}

/** The exact AWS provider version to run: TF_AWS_PROVIDER_VERSION, else the newest in the mirror. */
export function awsProviderVersion(mirror: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = env.TF_AWS_PROVIDER_VERSION?.trim();
  if (setting) return setting;
  if (!mirror) return undefined;
  const versions = mirroredVersions(mirror);
  if (!versions.length) throw new Error(`the provider mirror ${mirror} holds no ${AWS_PROVIDER}`);
  return versions[0];
}

/** Writes a Terraform CLI configuration that installs providers from `mirror` only; returns its path. */
export function writeCliConfig(file: string, mirror: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    [
      "# Written by scripts/terraform: providers come from the filesystem mirror only.",
      "provider_installation {",
      "  filesystem_mirror {",
      `    path = ${JSON.stringify(mirror)}`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  return file;
}

/**
 * The environment terraform runs with: no prompts, no checkpoint calls, and TF_CLI_CONFIG_FILE set
 * to `cliConfig` when there is a mirror (without one, the caller's own CLI configuration applies).
 */
export function terraformEnv(cliConfig: string | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    CHECKPOINT_DISABLE: "1",
    ...(cliConfig ? { TF_CLI_CONFIG_FILE: cliConfig } : {}),
    ...extra,
  };
}

// ------------------------------------------------------------------ override files

/** Writes `<dir>/<name>_override.tf.json` (Terraform merges it over the stack's own blocks). */
export function writeOverride(dir: string, name: string, content: object): string {
  const file = path.join(dir, `${name}_override.tf.json`);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return file;
}

/** Override pinning the AWS provider to exactly `version` (the one under test). */
export function providerVersionOverride(version: string): object {
  return { terraform: { required_providers: { aws: { source: "hashicorp/aws", version } } } };
}

/** The AWS provider a run uses: where it comes from, the environment terraform runs in, and the pin. */
export interface ProviderSource {
  readonly version: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Pins the stack in `dir` to `version` (a no-op when the registry chooses). */
  pin(dir: string): void;
}

/** Resolves the provider mirror and version for this run (and says which); `extraEnv` is added to terraform's environment. */
export function providerSource(extraEnv: Record<string, string> = {}): ProviderSource {
  const mirror = providerMirror();
  const version = awsProviderVersion(mirror);
  const cliConfig = mirror ? writeCliConfig(path.join(WORK_ROOT, "terraformrc"), mirror) : undefined;
  log(`AWS provider ${version ?? "(newest the constraint allows)"} from ${mirror ? `the filesystem mirror ${mirror}` : "the registry"}`);
  return {
    version,
    env: terraformEnv(cliConfig, extraEnv),
    pin: (dir) => {
      if (version) writeOverride(dir, "provider_version", providerVersionOverride(version));
    },
  };
}

/** Problems with a stack's declared AWS provider constraint (it must be the supported range). */
export function providerConstraintProblems(stack: string, json: StackJson): string[] {
  const declared = json.terraform?.required_providers?.aws?.version;
  if (declared === SUPPORTED_AWS_PROVIDER_VERSIONS) return [];
  return [`${stack}: required_providers.aws.version is ${JSON.stringify(declared)}, expected "${SUPPORTED_AWS_PROVIDER_VERSIONS}"`];
}

// ------------------------------------------------------------------ running terraform

export interface RunResult {
  readonly code: number;
  readonly ms: number;
  readonly output: string;
}

/**
 * Runs `terraform <args>` in `cwd`, appending its output to `logFile`; prints it too when `echo`.
 * Never throws on a non-zero exit: the caller decides.
 */
export function terraform(
  args: readonly string[],
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    logFile: string;
    echo?: boolean /** epoch ms: stop terraform (exit 124) if still running then */;
    deadline?: number;
    /** Checked on each output chunk: once true, terraform and its providers get SIGKILL (as a CI runner's timeout kills a job). */
    killWhen?: (output: string) => boolean;
  },
): Promise<RunResult> {
  const started = Date.now();
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const logStream = createWriteStream(options.logFile, { flags: "a" });
  logStream.write(`\n$ terraform ${args.join(" ")}   (in ${path.relative(ROOT, options.cwd)})\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(options.env.TERRAFORM ?? "terraform", ["-chdir=" + options.cwd, ...args], {
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that a kill reaches the provider plugins too.
      detached: options.killWhen !== undefined,
    });
    let output = "";
    let killed = false;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      logStream.write(text);
      if (options.echo) process.stdout.write(text);
      if (options.killWhen && !killed && options.killWhen(output)) {
        killed = true;
        logStream.write("\n[SIGKILL sent to terraform and its providers]\n");
        process.kill(-child.pid!, "SIGKILL");
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    let timedOut = false;
    const timer =
      options.deadline === undefined
        ? undefined
        : setTimeout(
            () => {
              timedOut = true;
              onData(Buffer.from(`\nError: stopped: terraform ${args[0]} still running at the deadline\n`));
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
            },
            Math.max(0, options.deadline - Date.now()),
          );
    child.on("error", (error) => {
      logStream.end();
      reject(new Error(`cannot run terraform: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const ms = Date.now() - started;
      logStream.write(`[exit ${code ?? signal} after ${seconds(ms)}]\n`);
      logStream.end();
      resolve({ code: timedOut ? 124 : (code ?? 1), ms, output });
    });
  });
}

/** The last error block of terraform's (plain, -no-color) output, for a one-screen failure message. */
export function errorSummary(output: string, maxLines = 40): string {
  const lines = output.split("\n");
  const first = lines.findIndex((l) => /^(│ )?Error: /.test(l.trim()) || l.startsWith("╷"));
  const slice = first >= 0 ? lines.slice(first) : lines.slice(-maxLines);
  return slice.slice(0, maxLines).join("\n");
}
