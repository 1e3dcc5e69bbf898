/**
 * npm run rehearse — deploys and destroys the whole app on moto (server mode) with Terraform itself:
 *
 *   1. synthesize (default profile) into .terraform-work/rehearse/synth
 *   2. copy each stack to .terraform-work/rehearse/work/<stack> (assets included), apply the
 *      checked-in exceptions (scripts/terraform/exceptions.json) and write *_override.tf.json files
 *      that point the providers, the backend and the terraform_remote_state reads at the emulator
 *   3. start moto_server on a free loopback port (.venv-moto, npm run setup:rehearse), create the
 *      documented prerequisite (the Aurora master secret named by the primary stack's dbSecretId)
 *   4. terraform apply each stack ONCE in deploy order (state, primary with its S3 backend in the
 *      emulated state bucket and S3-native locking, dr reading primary through remote state):
 *      a first apply that fails is a failed rehearsal
 *   5. terraform plan -detailed-exitcode on each stack: any change is a failure
 *   6. terraform destroy in reverse order (dr, primary, state: the state bucket is emptied first, as
 *      the README's bootstrap procedure says), then check that nothing is left: empty states, and no
 *      tagged resource, bucket, IAM role or customer policy in any region the stacks use
 *
 * Fails as well on an exception that matches nothing (stale) or an omitted resource still read.
 * Settings: TF_PROVIDER_MIRROR, TF_AWS_PROVIDER_VERSION (see ./terraform.ts); REHEARSE_BUDGET_SECONDS
 * (default 600: the time the whole run should fit in; going over it is reported, not failed, since
 * a wall-clock gate would fail on a busy machine rather than on a defect; a step still running at
 * twice the budget is taken as hung and stopped, and that fails).
 * Options: --skip-setup, --skip-synth, --keep (leave moto running at the end and print its
 * endpoint; stop it yourself), --interrupt (not in CI: the kill-and-recover step instead of the
 * primary's plain apply, see ./interrupt.ts; the dr stack is left out; REHEARSE_INTERRUPT_AFTER
 * sets after how many created resources the apply is killed, default 60; REHEARSE_BLIND_RERUN=0 leaves
 * out the blind re-run; the step's own exceptions are in ./interrupt-exceptions.json).
 * Logs: .terraform-work/rehearse/logs/; figures: .terraform-work/rehearse/summary.json.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { applyExceptions, loadExceptions, type RehearsalException } from "./exceptions";
import { type InterruptFigures, killAndRecover } from "./interrupt";
import { configureMoto, emptyBucket, jsonCall, type Moto, queryCall, s3Call, startMoto, xmlValues } from "./moto";
import {
  deployOrder,
  errorSummary,
  log,
  PROFILES,
  providerSource,
  ROOT,
  readStack,
  type StackJson,
  seconds,
  synth,
  terraform,
  WORK_ROOT,
  writeOverride,
} from "./terraform";

const REHEARSE_ROOT = path.join(WORK_ROOT, "rehearse");
const SYNTH_DIR = path.join(REHEARSE_ROOT, "synth");
const WORK_DIR = path.join(REHEARSE_ROOT, "work");
const LOG_DIR = path.join(REHEARSE_ROOT, "logs");

/** Services the stacks call (provider `endpoints` keys valid in AWS provider 5.100 and 6.x). */
const PROVIDER_ENDPOINTS = [
  "acm",
  "apigatewayv2",
  "cloudtrail",
  "cloudwatch",
  "cloudwatchlogs",
  "dynamodb",
  "ec2",
  "elbv2",
  "iam",
  "kms",
  "lambda",
  "rds",
  "route53",
  "s3",
  "scheduler",
  "secretsmanager",
  "sns",
  "sqs",
  "sts",
  "wafv2",
];
const CREDENTIALS = { access_key: "test", secret_key: "test" };

/** Provider override: every `aws` provider block (default and aliases) talks to the emulator. */
export function providerOverride(json: StackJson, endpoint: string): object {
  const blocks: Record<string, unknown>[] = [].concat(json.provider?.aws ?? []);
  return {
    provider: {
      aws: blocks.map((block) => ({
        ...(block.alias ? { alias: block.alias } : {}),
        ...CREDENTIALS,
        skip_credentials_validation: true,
        skip_metadata_api_check: true,
        skip_region_validation: true,
        s3_use_path_style: true,
        endpoints: [Object.fromEntries(PROVIDER_ENDPOINTS.map((service) => [service, endpoint]))],
      })),
    },
  };
}

/** S3 backend / terraform_remote_state settings that reach the emulated state bucket. */
function s3BackendSettings(endpoint: string): Record<string, unknown> {
  return {
    ...CREDENTIALS,
    endpoints: { s3: endpoint, sts: endpoint, iam: endpoint },
    use_path_style: true,
    skip_credentials_validation: true,
    skip_requesting_account_id: true,
    skip_metadata_api_check: true,
    skip_region_validation: true,
  };
}

/** Backend and remote-state override: the S3 backend (with its lock file) and every S3 remote-state read go to the emulator; a local backend keeps its state in the copy. */
export function backendOverride(json: StackJson, endpoint: string): object | undefined {
  const backend = json.terraform?.backend ?? {};
  const override: Record<string, any> = {};
  if (backend.s3) override.terraform = { backend: { s3: { ...backend.s3, ...s3BackendSettings(endpoint) } } };
  else if (backend.local) override.terraform = { backend: { local: { path: "terraform.tfstate" } } };
  const reads = Object.entries<any>(json.data?.terraform_remote_state ?? {}).filter(([, r]) => r.backend === "s3");
  if (reads.length) {
    override.data = {
      terraform_remote_state: Object.fromEntries(
        reads.map(([name, r]) => [name, { config: { ...r.config, ...s3BackendSettings(endpoint) } }]),
      ),
    };
  }
  return Object.keys(override).length ? override : undefined;
}

/** Regions a stack's providers use. */
function regionsOf(json: StackJson): string[] {
  return ([].concat(json.provider?.aws ?? []) as Record<string, unknown>[]).map((p) => String(p.region));
}

function defaultRegion(json: StackJson): string {
  const provider = ([].concat(json.provider?.aws ?? []) as Record<string, unknown>[]).find((p) => p.alias === undefined);
  return String(provider?.region);
}

interface StackFigures {
  stack: string;
  planned?: number;
  created?: number;
  applySeconds?: number;
  planChanges?: boolean;
  destroyed?: number;
  destroySeconds?: number;
}

const figureOf = (output: string, pattern: RegExp): number | undefined => {
  const m = pattern.exec(output);
  return m ? Number(m[1]) : undefined;
};

class RehearsalFailure extends Error {}

/** What might be left in the emulator: tagged resources per region, buckets, IAM roles and customer policies. */
async function inventory(endpoint: string, regions: string[], tag: { key: string; value: string }): Promise<string[]> {
  const found: string[] = [];
  for (const region of regions) {
    let token: string | undefined;
    do {
      const page = await jsonCall(endpoint, "tagging", region, "ResourceGroupsTaggingAPI_20170126.GetResources", {
        TagFilters: [{ Key: tag.key, Values: [tag.value] }],
        ...(token ? { PaginationToken: token } : {}),
      });
      for (const r of page.ResourceTagMappingList ?? []) found.push(`${region} ${r.ResourceARN}`);
      token = page.PaginationToken || undefined;
    } while (token);
  }
  const home = regions[0];
  for (const bucket of xmlValues(await s3Call(endpoint, home, "GET", "/"), "Name")) found.push(`s3 bucket ${bucket}`);
  for (const role of xmlValues(await queryCall(endpoint, "iam", "us-east-1", { Action: "ListRoles", Version: "2010-05-08" }), "RoleName"))
    found.push(`iam role ${role}`);
  for (const policy of xmlValues(
    await queryCall(endpoint, "iam", "us-east-1", { Action: "ListPolicies", Scope: "Local", Version: "2010-05-08" }),
    "PolicyName",
  )) {
    found.push(`iam policy ${policy}`);
  }
  return found.sort();
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const started = Date.now();
  const budgetSeconds = Number(process.env.REHEARSE_BUDGET_SECONDS ?? 600);
  if (!argv.includes("--skip-setup")) execFileSync("bash", [path.join(__dirname, "setup.sh")], { stdio: "inherit" });

  const providers = providerSource({ AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_EC2_METADATA_DISABLED: "true" });

  // 1. synth
  const profile = PROFILES.find((p) => p.name === "default")!;
  if (!argv.includes("--skip-synth")) {
    log(`synthesizing -> ${path.relative(ROOT, SYNTH_DIR)}/stacks`);
    synth(SYNTH_DIR, profile);
  }
  const stackNames = readdirSync(path.join(SYNTH_DIR, "stacks")).filter((s) =>
    existsSync(path.join(SYNTH_DIR, "stacks", s, "cdk.tf.json")),
  );
  const synthesized = Object.fromEntries(stackNames.map((s) => [s, readStack(path.join(SYNTH_DIR, "stacks", s))]));
  const interrupt = argv.includes("--interrupt");
  const fullOrder = deployOrder(synthesized);
  // The kill-and-recover rehearsal stops at the primary stack (the one whose killed apply the issue saw).
  const order = interrupt ? fullOrder.slice(0, fullOrder.indexOf("primary") + 1) : fullOrder;
  log(
    `deploy order: ${order.join(" -> ")}${interrupt ? ` (--interrupt: ${fullOrder.slice(order.length).join(", ") || "nothing"} left out)` : ""}`,
  );

  // 2. copies with the exceptions applied
  // --interrupt adds what only the kill-and-recover step meets (its own file, so the first-time rehearsal stays as strict).
  const exceptions = [...loadExceptions(), ...(interrupt ? loadExceptions(path.join(__dirname, "interrupt-exceptions.json")) : [])];
  const copies: Record<string, StackJson> = JSON.parse(JSON.stringify(synthesized));
  const { applied, stale, problems } = applyExceptions(copies, exceptions);
  log(
    `\nexceptions (scripts/terraform/exceptions.json${interrupt ? ", interrupt-exceptions.json" : ""}): ${exceptions.length} entries, ${applied.length} change(s)`,
  );
  exceptions.forEach((e: RehearsalException, i) => {
    const where = applied.filter((a) => a.entry === i);
    log(
      `  [${i}] ${e.effect} ${e.resource}${e.attributes ? ` ${e.attributes.join(", ")}` : ""}: ${where.length ? where.map((a) => `${a.stack}/${a.address.split(".")[1]}`).join(", ") : "STALE (matches nothing)"}`,
    );
  });
  if (stale.length || problems.length) {
    for (const i of stale)
      log(`stale exception [${i}] ${exceptions[i].effect} ${exceptions[i].resource}: matches nothing any more, remove it`);
    for (const p of problems) log(`exception problem: ${p}`);
    throw new RehearsalFailure(`${stale.length} stale exception(s), ${problems.length} problem(s)`);
  }

  rmSync(WORK_DIR, { recursive: true, force: true });
  rmSync(LOG_DIR, { recursive: true, force: true });
  mkdirSync(LOG_DIR, { recursive: true });
  const moto: Moto = await startMoto(path.join(LOG_DIR, "moto.log"));
  log(`\nmoto_server on ${moto.endpoint}`);
  const figures: StackFigures[] = order.map((stack) => ({ stack }));
  const fig = (stack: string) => figures.find((f) => f.stack === stack)!;
  let failure: Error | undefined;
  let interrupted: InterruptFigures | undefined;
  const leftovers: string[] = [];
  try {
    await configureMoto(moto.endpoint, { lambda: { use_docker: false } });
    const { env } = providers;
    for (const stack of order) {
      const dir = path.join(WORK_DIR, stack);
      const source = path.join(SYNTH_DIR, "stacks", stack);
      // Not a .terraform/ left by an earlier init (the work root's own name starts with .terraform too).
      cpSync(source, dir, { recursive: true, filter: (src) => !path.relative(source, src).startsWith(".terraform") });
      writeFileSync(path.join(dir, "cdk.tf.json"), `${JSON.stringify(copies[stack], null, 2)}\n`);
      writeOverride(dir, "rehearsal_provider", providerOverride(copies[stack], moto.endpoint));
      const backend = backendOverride(copies[stack], moto.endpoint);
      if (backend) writeOverride(dir, "rehearsal_backend", backend);
      providers.pin(dir);
    }

    // 3. prerequisites: the Aurora master secret every ephemeral secret read names.
    for (const stack of order) {
      for (const read of Object.values<any>(copies[stack].ephemeral?.aws_secretsmanager_secret_version ?? {})) {
        const region = defaultRegion(copies[stack]);
        await jsonCall(moto.endpoint, "secretsmanager", region, "secretsmanager.CreateSecret", {
          Name: read.secret_id,
          SecretString: JSON.stringify({ username: "payadmin", password: "rehearsal-Passw0rd-not-secret" }),
        });
        log(`prerequisite: secret ${read.secret_id} in ${region}`);
      }
    }
    const regions = [...new Set(order.flatMap((s) => regionsOf(copies[s])))];
    const tags = ([].concat(copies[order[0]].provider?.aws ?? []) as any[])[0]?.default_tags?.[0]?.tags ?? {};
    const projectTag = { key: "Project", value: String(tags.Project ?? "") };
    const baseline = await inventory(moto.endpoint, regions, projectTag);

    const parallelism = `-parallelism=${Number(process.env.REHEARSE_PARALLELISM ?? 30)}`;
    const flags: Record<string, string[]> = {
      init: ["-input=false", "-no-color"],
      apply: ["-input=false", "-no-color", "-auto-approve", parallelism],
      plan: ["-input=false", "-no-color", "-detailed-exitcode", parallelism],
      // The plan just refreshed every resource and found no change: destroy from the state as it is.
      destroy: ["-input=false", "-no-color", "-auto-approve", "-refresh=false", parallelism],
    };
    // A step still running well past the budget is hung (a provider waiting for something moto never reports): stop it.
    const deadline = started + 2 * budgetSeconds * 1000;
    const run = (stack: string, args: string[]) =>
      terraform([...args, ...(flags[args[0]] ?? [])], {
        cwd: path.join(WORK_DIR, stack),
        env,
        logFile: path.join(LOG_DIR, `${stack}.log`),
        deadline,
      });
    const must = async (stack: string, step: string, args: string[]) => {
      const result = await run(stack, args);
      if (result.code !== 0)
        throw new RehearsalFailure(
          `${stack}: terraform ${step} failed (log: ${path.relative(ROOT, path.join(LOG_DIR, `${stack}.log`))}):\n${errorSummary(result.output)}`,
        );
      return result;
    };

    // 4. apply, once each
    log("\napply");
    const initialized = new Map<string, Promise<unknown>>();
    const init = (stack: string) => {
      if (!initialized.has(stack)) initialized.set(stack, must(stack, "init", ["init"]));
      return initialized.get(stack)!;
    };
    for (const stack of order) {
      await init(stack);
      if (interrupt && stack === "primary") {
        const s3 = copies[stack].terraform.backend.s3;
        interrupted = await killAndRecover({
          stack,
          dir: path.join(WORK_DIR, stack),
          endpoint: moto.endpoint,
          backend: { bucket: s3.bucket, key: s3.key, region: s3.region },
          logDir: LOG_DIR,
          profileEnv: profile.env,
          terraform: (args, killWhen) =>
            terraform(args, { cwd: path.join(WORK_DIR, stack), env, logFile: path.join(LOG_DIR, `${stack}.log`), deadline, killWhen }),
          killAfterCreated: Number(process.env.REHEARSE_INTERRUPT_AFTER ?? 60),
          blindRerun: process.env.REHEARSE_BLIND_RERUN !== "0",
        });
        Object.assign(fig(stack), { created: interrupted.reapplyCreated, applySeconds: interrupted.reapplySeconds });
        continue;
      }
      const apply = await must(stack, "apply", ["apply"]);
      // The next stacks' S3 backends can initialize once the state bucket exists.
      if (stack === order[0]) for (const next of order.slice(1)) void init(next).catch(() => undefined);
      const f = fig(stack);
      f.planned = figureOf(apply.output, /Plan: (\d+) to add/) ?? 0;
      f.created = figureOf(apply.output, /Apply complete! Resources: (\d+) added/);
      f.applySeconds = apply.ms / 1000;
      log(`  ${stack.padEnd(8)} applied: ${f.created}/${f.planned} resources created in ${seconds(apply.ms)}`);
    }

    // 5. nothing left to change
    log("\nplan after apply (-detailed-exitcode)");
    const drifting: string[] = [];
    // Read-only: all stacks at once.
    const plans = await Promise.all(order.map((stack) => run(stack, ["plan"])));
    for (const [i, stack] of order.entries()) {
      const plan = plans[i];
      if (plan.code === 1) throw new RehearsalFailure(`${stack}: terraform plan failed:\n${errorSummary(plan.output)}`);
      fig(stack).planChanges = plan.code === 2;
      const changes = plan.output
        .split("\n")
        .filter((l) => /^\s+# .* (will|must) be /.test(l))
        .map((l) => l.trim());
      log(`  ${stack.padEnd(8)} ${plan.code === 0 ? "no changes" : `${changes.length} CHANGE(S):\n      ${changes.join("\n      ")}`}`);
      if (plan.code === 2) drifting.push(stack);
    }

    // 6. destroy in reverse order
    log("\ndestroy");
    for (const stack of [...order].reverse()) {
      const json = copies[stack];
      // The bootstrap keeps its bucket when it holds state (force_destroy = false): empty it first, as the README says.
      const stateBuckets = Object.values<any>(json.resource?.aws_s3_bucket ?? {})
        .filter((b) => b.force_destroy === false)
        .map((b) => String(b.bucket));
      for (const bucket of stateBuckets) {
        const count = await emptyBucket(moto.endpoint, defaultRegion(json), bucket);
        log(`  ${stack.padEnd(8)} emptied ${bucket} (${count} object versions: the stacks' state)`);
      }
      const destroy = await must(stack, "destroy", ["destroy"]);
      const f = fig(stack);
      f.destroyed = figureOf(destroy.output, /Destroy complete! Resources: (\d+) destroyed/);
      f.destroySeconds = destroy.ms / 1000;
      const state = await must(stack, "state list", ["state", "list"]);
      const remaining = state.output.split("\n").filter((l) => l.trim() && !l.startsWith("data."));
      log(
        `  ${stack.padEnd(8)} destroyed: ${f.destroyed} resources in ${seconds(destroy.ms)}${remaining.length ? `; STILL IN STATE: ${remaining.join(", ")}` : ""}`,
      );
      if (remaining.length) throw new RehearsalFailure(`${stack}: resources still in state after destroy: ${remaining.join(", ")}`);
    }
    const after = (await inventory(moto.endpoint, regions, projectTag)).filter((x) => !baseline.includes(x));
    const expected: string[] = [];
    for (const item of after) {
      const [region, arn] = item.split(" ");
      if (/^arn:aws:kms:/.test(arn ?? "")) {
        // As on AWS: destroying a KMS key schedules its deletion after the waiting period.
        const key = await jsonCall(moto.endpoint, "kms", region, "TrentService.DescribeKey", { KeyId: arn });
        if (key.KeyMetadata?.KeyState === "PendingDeletion") {
          expected.push(`${item} (KMS key pending deletion, as destroy leaves it on AWS)`);
          continue;
        }
      }
      const peering = /:vpc-peering-connection\/(pcx-[0-9a-f]+)$/.exec(arn ?? "");
      if (peering) {
        // As on AWS: a deleted peering connection stays listed, in state "deleted", for a while.
        const xml = await queryCall(moto.endpoint, "ec2", region!, {
          Action: "DescribeVpcPeeringConnections",
          Version: "2016-11-15",
          "VpcPeeringConnectionId.1": peering[1]!,
        });
        if (/<code>deleted<\/code>/.test(xml)) {
          expected.push(`${item} (peering connection in state deleted, as AWS lists it for a while after deletion)`);
          continue;
        }
      }
      if (/:cluster-snapshot:rds:/.test(arn ?? "")) {
        // moto keeps a cluster's automated snapshot after DeleteDBCluster; AWS deletes automated backups with the cluster.
        expected.push(`${item} (automated snapshot moto keeps after DeleteDBCluster; AWS deletes it with the cluster)`);
        continue;
      }
      leftovers.push(item);
    }
    if (expected.length) log(`\nstill listed, as expected:\n  ${expected.join("\n  ")}`);
    if (leftovers.length) log(`\nLEFT BEHIND in the emulator:\n  ${leftovers.join("\n  ")}`);
    else log(`\nnothing left behind (tagged resources in ${regions.join(", ")}, buckets, IAM roles and customer policies)`);
    if (drifting.length) throw new RehearsalFailure(`plan after apply shows changes in ${drifting.join(", ")}`);
    if (leftovers.length) throw new RehearsalFailure(`${leftovers.length} resource(s) left behind after destroy`);
  } catch (error) {
    failure = error as Error;
  } finally {
    if (argv.includes("--keep")) log(`moto left running on ${moto.endpoint} (stop it yourself)`);
    else await moto.stop();
  }

  const totalSeconds = (Date.now() - started) / 1000;
  log("\nstack     planned  created  apply     destroyed  destroy   plan after apply");
  for (const f of figures) {
    log(
      `${f.stack.padEnd(9)} ${String(f.planned ?? "-").padStart(7)}  ${String(f.created ?? "-").padStart(7)}  ${f.applySeconds !== undefined ? seconds(f.applySeconds * 1000).padStart(8) : "       -"}  ` +
        `${String(f.destroyed ?? "-").padStart(9)}  ${f.destroySeconds !== undefined ? seconds(f.destroySeconds * 1000).padStart(8) : "       -"}  ${f.planChanges === undefined ? "-" : f.planChanges ? "CHANGES" : "no changes"}`,
    );
  }
  const overBudget = totalSeconds > budgetSeconds;
  log(
    `total rehearsal time: ${totalSeconds.toFixed(1)} s (budget ${budgetSeconds} s${overBudget ? `: OVER BUDGET by ${(totalSeconds - budgetSeconds).toFixed(0)} s, is the machine busy?` : ""})`,
  );
  mkdirSync(REHEARSE_ROOT, { recursive: true });
  writeFileSync(
    path.join(REHEARSE_ROOT, "summary.json"),
    `${JSON.stringify({ providerVersion: providers.version, order, stacks: figures, interrupted, exceptions: exceptions.length, applied, leftovers, totalSeconds, budgetSeconds, overBudget, failure: failure?.message }, null, 2)}\n`,
  );
  if (failure) {
    log(`\nrehearsal FAILED: ${failure.message}`);
    process.exitCode = 1;
  } else if (interrupted) {
    const i = interrupted;
    log(
      `\nkill-and-recover passed: killed after ${i.killedAfterSeconds.toFixed(1)} s with ${i.createdBeforeKill} created (state saved: ${i.stateSaved ? "yes" : "no"}); ` +
        (i.blindRerun ? `blind re-run: ${i.blindRerun.errors} errors, ${i.blindRerun.created} created; ` : "") +
        `${i.imports} imported in ${i.importSeconds.toFixed(1)} s, ${i.orphansDeleted} orphans deleted, ${i.reapplyCreated} created by the re-apply; ` +
        `recovered in ${i.recoverSeconds.toFixed(1)} s (no change planned, nothing outside the state), then destroyed cleanly`,
    );
  } else {
    log("\nrehearsal passed: every stack applied first time, planned no changes and destroyed cleanly");
  }
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`rehearse error: ${(error as Error).message}\n`);
    process.exitCode = error instanceof RehearsalFailure ? 1 : 2;
  });
}
