import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { App } from "cdktf";
import { applyExceptions, EXCEPTIONS_FILE, exceptionMatches, loadExceptions, validateExceptions } from "../../scripts/terraform/exceptions";
import { deployOrder } from "../../scripts/terraform/terraform";
import { loadConfig } from "../../src/contracts/config";
import { buildApp } from "../../src/infra/app";

const omitPolicy = {
  resource: "aws_sqs_queue_redrive_allow_policy",
  effect: "omit",
  limitation: "moto never returns RedriveAllowPolicy from GetQueueAttributes, so the provider waits forever.",
};
const ignoreRedrive = {
  resource: "aws_sqs_queue",
  effect: "ignore_changes",
  attributes: ["redrive_policy"],
  limitation: "moto returns RedrivePolicy re-serialized with spaces, so every plan shows a whitespace update.",
};

/** A small synthesized stack: two queues, a redrive allow policy, a replica read by a policy and an output. */
function stacks(): Record<string, any> {
  return {
    primary: {
      provider: { aws: [{ region: "ap-southeast-1" }] },
      resource: {
        aws_sqs_queue: { queue_A1: { name: "q", redrive_policy: "{}" }, dlq_B2: { name: "d" } },
        aws_sqs_queue_redrive_allow_policy: { allow_C3: { queue_url: "${aws_sqs_queue.dlq_B2.url}" } },
      },
    },
    dr: {
      provider: { aws: [{ region: "ap-southeast-2" }, { alias: "ap-southeast-1", region: "ap-southeast-1" }] },
      resource: {
        aws_dynamodb_table_replica: { tables_replica_D4: { global_table_arn: "${data.terraform_remote_state.primary.outputs.table_arn}" } },
        aws_iam_role_policy: {
          fn_policy_E5: {
            policy:
              '{"Statement":[{"Resource":["${aws_dynamodb_table_replica.tables_replica_D4.arn}","${aws_dynamodb_table_replica.tables_replica_D4.arn}/index/*"]}]}',
            depends_on: ["aws_dynamodb_table_replica.tables_replica_D4"],
          },
        },
      },
      output: { table_arn: { value: "${aws_dynamodb_table_replica.tables_replica_D4.arn}" } },
    },
  };
}

const omitReplica = {
  resource: "aws_dynamodb_table_replica",
  stacks: ["dr"],
  effect: "omit",
  references: { arn: 'replace({{global_table_arn}}, "/:dynamodb:[a-z0-9-]+:/", ":dynamodb:{{region}}:")' },
  limitation: "moto ignores UpdateTable ReplicaUpdates, so a replica never appears and the provider waits.",
};

describe("scripts/terraform/exceptions.json", () => {
  const data = JSON.parse(readFileSync(EXCEPTIONS_FILE, "utf8"));

  test("every entry names the resources, the effect and the moto limitation that forces it", () => {
    expect(validateExceptions(data)).toEqual([]);
    expect(loadExceptions().length).toBeGreaterThan(0);
  });

  test("a malformed entry is refused with a message naming the field", () => {
    const problems = (entry: object) => validateExceptions({ exceptions: [entry] });
    expect(problems(omitPolicy)).toEqual([]);
    expect(problems(ignoreRedrive)).toEqual([]);
    expect(problems(omitReplica)).toEqual([]);
    expect(problems({ ...omitPolicy, resource: "sqs_queue" })).toEqual([expect.stringContaining('"resource"')]);
    expect(problems({ ...omitPolicy, effect: "skip" })).toEqual([expect.stringContaining('"effect"')]);
    expect(problems({ ...omitPolicy, attributes: ["x"] })).toEqual([expect.stringContaining("do not go with effect omit")]);
    expect(problems({ ...ignoreRedrive, attributes: [] })).toEqual([expect.stringContaining('"attributes"')]);
    expect(problems({ ...ignoreRedrive, attributes: ["Redrive Policy"] })).toEqual([expect.stringContaining('"attributes"')]);
    expect(problems({ ...ignoreRedrive, effect: "omit_attribute", attributes: ["rule[0].filter"] })).toEqual([
      expect.stringContaining("top-level"),
    ]);
    expect(problems({ ...ignoreRedrive, references: { arn: "x" } })).toEqual([expect.stringContaining("only goes with effect omit")]);
    expect(problems({ ...omitPolicy, stacks: [] })).toEqual([expect.stringContaining('"stacks"')]);
    expect(problems({ ...omitPolicy, limitation: "moto" })).toEqual([expect.stringContaining('"limitation"')]);
    expect(problems({ ...omitPolicy, reason: "x" })).toEqual([expect.stringContaining("unknown field")]);
    expect(validateExceptions({ exceptions: [omitPolicy, omitPolicy] })).toEqual([expect.stringContaining("listed twice")]);
    expect(validateExceptions([omitPolicy])).toEqual([expect.stringContaining('"exceptions" array')]);
  });
});

describe("applying exceptions to the rehearsal's copies", () => {
  test("a resource type, a type.name glob and stacks select what an entry covers", () => {
    const entry = { ...omitPolicy, resource: "aws_s3_bucket_policy.state-bucket_policy_*", stacks: ["state"] } as any;
    expect(exceptionMatches(entry, "state", "aws_s3_bucket_policy", "state-bucket_policy_7580CD97")).toBe(true);
    expect(exceptionMatches(entry, "state", "aws_s3_bucket_policy", "access-logs_policy_2426E534")).toBe(false);
    expect(exceptionMatches(entry, "primary", "aws_s3_bucket_policy", "state-bucket_policy_7580CD97")).toBe(false);
    expect(exceptionMatches(omitPolicy as any, "dr", "aws_sqs_queue_redrive_allow_policy", "anything")).toBe(true);
  });

  test("omit leaves the resource out; ignore_changes adds the paths to lifecycle.ignore_changes", () => {
    const copies = stacks();
    const result = applyExceptions(copies, [omitPolicy as any, ignoreRedrive as any]);
    expect(copies.primary.resource.aws_sqs_queue_redrive_allow_policy).toBeUndefined();
    expect(copies.primary.resource.aws_sqs_queue.queue_A1.lifecycle).toEqual({ ignore_changes: ["redrive_policy"] });
    expect(result.applied).toEqual([
      { entry: 1, stack: "primary", address: "aws_sqs_queue.queue_A1" },
      { entry: 1, stack: "primary", address: "aws_sqs_queue.dlq_B2" },
      { entry: 0, stack: "primary", address: "aws_sqs_queue_redrive_allow_policy.allow_C3" },
    ]);
    expect(result.stale).toEqual([]);
    expect(result.problems).toEqual([]);
  });

  test("readers of an omitted resource get its stand-in expression, and depends_on on it goes", () => {
    const copies = stacks();
    const result = applyExceptions(copies, [omitReplica as any]);
    expect(result.problems).toEqual([]);
    const standIn =
      '(replace(data.terraform_remote_state.primary.outputs.table_arn, "/:dynamodb:[a-z0-9-]+:/", ":dynamodb:ap-southeast-2:"))';
    expect(copies.dr.resource.aws_dynamodb_table_replica).toBeUndefined();
    expect(copies.dr.output.table_arn.value).toBe(`\${${standIn}}`);
    const policy = copies.dr.resource.aws_iam_role_policy.fn_policy_E5;
    expect(policy.policy).toBe(`{"Statement":[{"Resource":["\${${standIn}}","\${${standIn}}/index/*"]}]}`);
    expect(policy.depends_on).toBeUndefined();
  });

  test("an omitted resource that is still read without a stand-in is a problem", () => {
    const { references: _, ...withoutStandIn } = omitReplica;
    const result = applyExceptions(stacks(), [withoutStandIn as any]);
    expect(result.problems).toEqual([expect.stringContaining("aws_dynamodb_table_replica.tables_replica_D4 is omitted but")]);
  });

  test("an entry that matches nothing is stale", () => {
    const staleOmit = { ...omitPolicy, resource: "aws_sqs_queue_redrive_allow_policy", stacks: ["dr"] };
    const staleAttribute = { ...ignoreRedrive, effect: "omit_attribute", attributes: ["kms_master_key_id"] };
    const result = applyExceptions(stacks(), [omitPolicy as any, staleOmit as any, staleAttribute as any]);
    expect(result.stale).toEqual([1, 2]);
  });
});

describe("the checked-in exceptions against the synthesized app", () => {
  test("every entry still matches a resource of the default synth, and no omitted resource is read without a stand-in", () => {
    const outdir = mkdtempSync(path.join(tmpdir(), "payment-rehearsal-exceptions-"));
    try {
      const app = new App({ outdir });
      buildApp(app, loadConfig({}, {}));
      app.synth();
      const synthesized = Object.fromEntries(
        ["state", "primary", "dr"].map((stack) => [
          stack,
          JSON.parse(readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8")),
        ]),
      );
      // The kill-and-recover step (npm run rehearse -- --interrupt) adds its own file to the same list.
      const exceptions = [
        ...loadExceptions(),
        ...loadExceptions(path.resolve(__dirname, "../../scripts/terraform/interrupt-exceptions.json")),
      ];
      const result = applyExceptions(synthesized, exceptions);
      expect(result.stale.map((i) => exceptions[i].resource)).toEqual([]);
      expect(result.problems).toEqual([]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("deploy order", () => {
  test("local-backend stacks first, then each stack after the stacks it reads through remote state", () => {
    const backend = (key: string) => ({ terraform: { backend: { s3: { bucket: "b", key } } } });
    const order = deployOrder({
      dr: {
        ...backend("p/dr.tfstate"),
        data: { terraform_remote_state: { primary: { backend: "s3", config: { bucket: "b", key: "p/primary.tfstate" } } } },
      },
      primary: backend("p/primary.tfstate"),
      state: { terraform: { backend: { local: { path: "x" } } } },
    });
    expect(order).toEqual(["state", "primary", "dr"]);
  });
});
