import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { App, Testing } from "cdktf";
import { type DeploymentConfig, loadConfig } from "../../src/contracts/config";
import { Naming } from "../../src/contracts/names";
import { buildApp, type PaymentApp } from "../../src/infra/app";
import { AwsStack } from "../../src/infra/core/aws-stack";
import { RegionKey } from "../../src/infra/security/region-key";

export type Synth = Record<string, any>;

export function testConfig(context: Record<string, unknown> = {}): DeploymentConfig {
  return loadConfig(context, {});
}

/** Builds the app in memory (no cross-stack preparation) and synthesizes each stack alone. */
export function synthStacks(context: Record<string, unknown> = {}): { app: PaymentApp; primary: string; dr: string; state: string } {
  const app = buildApp(Testing.app(), testConfig(context));
  return { app, primary: Testing.synth(app.primary), dr: Testing.synth(app.dr), state: Testing.synth(app.state) };
}

/**
 * Synthesizes the whole app to disk, as `cdktf synth` does, so cross-stack references become
 * remote-state reads and outputs. Returns each stack's parsed cdk.tf.json.
 */
export function synthAppToDisk(context: Record<string, unknown> = {}): { primary: Synth; dr: Synth; state: Synth; outdir: string } {
  const outdir = mkdtempSync(path.join(tmpdir(), "payment-synth-"));
  const app = new App({ outdir, skipValidation: false });
  buildApp(app, testConfig(context));
  app.synth();
  const read = (stack: string) => JSON.parse(readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8")) as Synth;
  return { primary: read("primary"), dr: read("dr"), state: read("state"), outdir };
}

/** All resources of one type in a synthesized stack JSON string or object. */
export function resourcesOf(stack: string | Synth, type: string): Synth[] {
  const parsed = typeof stack === "string" ? JSON.parse(stack) : stack;
  return Object.values(parsed.resource?.[type] ?? {});
}

export function dataOf(stack: string | Synth, type: string): Synth[] {
  const parsed = typeof stack === "string" ? JSON.parse(stack) : stack;
  return Object.values(parsed.data?.[type] ?? {});
}

export function onlyResource(stack: string | Synth, type: string): Synth {
  const all = resourcesOf(stack, type);
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

/** Every IAM-style policy document (JSON string with a Statement) anywhere in a synthesized stack. */
export function policiesIn(stack: string | Synth): any[] {
  const found: any[] = [];
  const walk = (node: unknown): void => {
    if (typeof node === "string") {
      if (node.trimStart().startsWith("{") && node.includes("Statement")) found.push(JSON.parse(node));
    } else if (node && typeof node === "object") {
      Object.values(node).forEach(walk);
    }
  };
  walk(typeof stack === "string" ? JSON.parse(stack) : stack);
  return found;
}

/** Allow statements of a synthesized stack that name a wildcard action (should be none), and how many statements there are. */
export function wildcardAllows(stack: string | Synth): { statements: number; wildcards: any[] } {
  const statements = policiesIn(stack).flatMap((p) => p.Statement);
  const wildcards = statements.filter((s: any) => s.Effect === "Allow" && ([] as string[]).concat(s.Action).some((a) => a.includes("*")));
  return { statements: statements.length, wildcards };
}

export const TEST_ACCOUNT = "111122223333";

/**
 * A bare stack as a construct finds it inside the app (region, naming `test`, a known account,
 * and the region key), for testing one construct alone.
 */
export function bareStack(region = "ap-southeast-1", id = "test", options: { key?: boolean } = {}): AwsStack {
  const stack = new AwsStack(Testing.app(), id, {
    region,
    naming: new Naming("test"),
    tags: {},
    logRetentionDays: 365,
    account: TEST_ACCOUNT,
    partition: "aws",
  });
  if (options.key ?? true) stack.key = new RegionKey(stack, "key");
  return stack;
}

/** The synthesized reference to the bare stack's region key ARN. */
export const KEY_ARN_REF = expect.stringMatching(/^\$\{aws_kms_key\.key_[A-Z0-9]+\.arn\}$/);

/**
 * The `provider` value of resources that live in `region` through the stack's aliased provider,
 * after checking that the stack declares that alias for that region (never a resource-level
 * `region`, which only provider 6 understands).
 */
export function aliasFor(stack: string | Synth, region: string): string {
  const parsed = typeof stack === "string" ? JSON.parse(stack) : stack;
  const aliased = ([] as Synth[]).concat(parsed.provider?.aws ?? []).filter((p) => p.alias === region);
  expect(aliased).toEqual([expect.objectContaining({ alias: region, region })]);
  return `aws.${region}`;
}
