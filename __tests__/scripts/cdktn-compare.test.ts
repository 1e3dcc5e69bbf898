import { readFileSync } from "node:fs";
import {
  appDifferences,
  type Difference,
  EXPECTED_FILE,
  type ExpectedDifference,
  formatReview,
  loadExpected,
  passed,
  review,
  stackDifferences,
  validateExpected,
} from "../../scripts/cdktn/compare";
import {
  leftoverImports,
  loadPins,
  PINS_FILE,
  rewriteCommand,
  rewriteImports,
  swapPackageJson,
  validatePins,
} from "../../scripts/cdktn/migration";

/** A small synthesized stack as cdktf writes it. */
function cdktfStack(): Record<string, any> {
  return {
    "//": { metadata: { backend: "s3", stackName: "primary", version: "0.21.0" } },
    provider: { aws: [{ region: "ap-southeast-1" }, { alias: "us-east-1", region: "us-east-1" }] },
    data: { aws_partition: { partition: {} } },
    resource: {
      aws_sqs_queue: { queue_A1: { name: "payment-queue-dev", tags: { Role: "queue" }, redrive_policy: "{}" } },
      aws_s3_bucket: { logs_B2: { bucket: "payment-logs-dev" } },
    },
    output: { queue_url: { value: "${aws_sqs_queue.queue_A1.url}" } },
    terraform: {
      backend: { s3: { bucket: "state", key: "dev/primary.tfstate", region: "ap-southeast-2" } },
      required_providers: { aws: { source: "aws", version: ">= 5.100.0, < 7.0.0" } },
    },
  };
}

/** The same stack as CDK Terrain writes it: only the metadata differs. */
function cdktnStack(): Record<string, any> {
  const json = cdktfStack();
  json["//"].metadata.version = "0.24.0";
  json.terraform.required_providers.aws.source = "hashicorp/aws";
  return json;
}

const reason = "CDK Terrain's bindings (AWS provider 6.66) default this argument where cdktf's left it unset.";

describe("comparing the cdktf and the CDK Terrain synth", () => {
  test("the metadata differences are found, grouped and reported without needing an entry", () => {
    const differences = stackDifferences("default", "primary", cdktfStack(), cdktnStack());
    expect(differences.map((d) => [d.group, d.address, d.attribute, d.before, d.after])).toEqual([
      ["metadata", "//", "metadata.version", "0.21.0", "0.24.0"],
      ["metadata", "terraform", "required_providers.aws.source", "aws", "hashicorp/aws"],
    ]);
    const result = review(differences, []);
    expect(passed(result)).toBe(true);
    expect(result.reported).toHaveLength(2);
    expect(result.unlisted).toEqual([]);
  });

  test("a changed provider version constraint is its own group", () => {
    const after = cdktnStack();
    after.terraform.required_providers.aws.version = "6.66.0";
    const [constraint] = stackDifferences("default", "primary", cdktfStack(), after).filter((d) => d.group === "provider-constraint");
    expect(constraint).toMatchObject({
      address: "terraform",
      attribute: "required_providers.aws.version",
      before: ">= 5.100.0, < 7.0.0",
      after: "6.66.0",
    });
  });

  test("a resource attribute difference that is not listed fails, naming the resource and the attribute", () => {
    const after = cdktnStack();
    after.resource.aws_sqs_queue.queue_A1.tags.Role = "messaging";
    after.resource.aws_sqs_queue.queue_A1.sqs_managed_sse_enabled = true;
    const result = review(stackDifferences("default", "primary", cdktfStack(), after), []);
    expect(passed(result)).toBe(false);
    expect(result.unlisted.map((d) => `${d.address} ${d.attribute}`)).toEqual([
      "aws_sqs_queue.queue_A1 sqs_managed_sse_enabled",
      "aws_sqs_queue.queue_A1 tags.Role",
    ]);
    expect(formatReview(result)).toContainEqual(
      expect.stringMatching(/^ {2}UNLISTED aws_sqs_queue\.queue_A1 tags\.Role: "queue" -> "messaging"/),
    );
  });

  test("a listed difference passes, with its reason printed", () => {
    const after = cdktnStack();
    after.resource.aws_sqs_queue.queue_A1.sqs_managed_sse_enabled = true;
    const expected: ExpectedDifference[] = [{ address: "aws_sqs_queue.queue_*", attribute: "sqs_managed_sse_enabled", reason }];
    const result = review(stackDifferences("default", "primary", cdktfStack(), after), expected);
    expect(passed(result)).toBe(true);
    expect(result.listed.map((l) => l.difference.address)).toEqual(["aws_sqs_queue.queue_A1"]);
    expect(formatReview(result)).toContain(`           why: ${reason}`);
  });

  test("an entry for other stacks, or another attribute, does not cover the difference", () => {
    const after = cdktnStack();
    after.resource.aws_sqs_queue.queue_A1.sqs_managed_sse_enabled = true;
    const differences = stackDifferences("default", "primary", cdktfStack(), after);
    expect(passed(review(differences, [{ address: "aws_sqs_queue.*", stacks: ["dr"], reason }]))).toBe(false);
    expect(passed(review(differences, [{ address: "aws_sqs_queue.*", attribute: "tags.*", reason }]))).toBe(false);
  });

  test("an entry that matches nothing is stale and fails", () => {
    const result = review(stackDifferences("default", "primary", cdktfStack(), cdktnStack()), [
      { address: "aws_rds_cluster.database_cluster_*", attribute: "password_wo", reason },
    ]);
    expect(result.stale).toHaveLength(1);
    expect(passed(result)).toBe(false);
    expect(formatReview(result).at(-1)).toMatch(/^STALE entry .*aws_rds_cluster\.database_cluster_\* password_wo$/);
  });

  test("resources, data sources, providers (by alias), outputs and the backend all need an entry", () => {
    const after = cdktnStack();
    delete after.resource.aws_s3_bucket;
    after.data.aws_partition.partition = { id: "x" };
    after.provider.aws = [{ alias: "us-east-1", region: "us-east-2" }, { region: "ap-southeast-1" }];
    after.output.queue_url.sensitive = true;
    after.terraform.backend.s3.key = "dev/primary-v2.tfstate";
    const unlisted = review(stackDifferences("default", "primary", cdktfStack(), after), []).unlisted;
    expect(unlisted.map((d) => `${d.address} ${d.attribute}`.trim())).toEqual([
      "aws_s3_bucket.logs_B2",
      "data.aws_partition.partition id",
      "output.queue_url sensitive",
      "provider.aws.us-east-1 region",
      "terraform backend.s3.key",
    ]);
    // Reordered providers are not a difference: only the alias's region is.
    expect(unlisted.filter((d) => d.address === "provider.aws")).toEqual([]);
  });

  test("a stack synthesized by one side only is a difference", () => {
    const differences = appDifferences("full", { primary: cdktfStack(), dr: cdktfStack() }, { primary: cdktnStack() });
    const missing = differences.find((d) => d.address === "(stack)") as Difference;
    expect(missing).toMatchObject({ profile: "full", stack: "dr", before: "synthesized", after: undefined });
    expect(passed(review(differences, []))).toBe(false);
  });

  test("the same difference in several stacks is printed once, naming them", () => {
    const differences = [
      ...stackDifferences("default", "primary", cdktfStack(), cdktnStack()),
      ...stackDifferences("default", "dr", cdktfStack(), cdktnStack()),
    ];
    const lines = formatReview(review(differences, [])).filter((l) => l.includes("metadata.version"));
    expect(lines).toEqual(['  info     // metadata.version: "0.21.0" -> "0.24.0"  [default/primary, default/dr]']);
  });
});

describe("scripts/cdktn/expected-differences.json", () => {
  test("the committed list is valid", () => {
    expect(validateExpected(JSON.parse(readFileSync(EXPECTED_FILE, "utf8")))).toEqual([]);
    expect(Array.isArray(loadExpected())).toBe(true);
  });

  test("an entry without a reason, with a bad address or an unknown field is refused", () => {
    const problems = validateExpected({
      differences: [
        { address: "aws_sqs_queue.queue_*", reason: "short" },
        { address: "sqs queue", reason },
        { address: "aws_sqs_queue.queue_*", attribute: "tags.Role", reason, accepted: true },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^differences\[0\].*"reason"/),
      expect.stringMatching(/^differences\[1\].*"address"/),
      expect.stringMatching(/^differences\[2\].*unknown field\(s\) accepted/),
    ]);
  });
});

describe("the move to CDK Terrain (scripts/cdktn/migration.ts)", () => {
  const pins = loadPins(PINS_FILE);

  test("the committed pins are valid and swap the three cdktf packages", () => {
    expect(validatePins(JSON.parse(readFileSync(PINS_FILE, "utf8")))).toEqual([]);
    expect(pins.swaps.map((s) => s.from).sort()).toEqual(["@cdktf/provider-aws", "cdktf", "cdktf-cli"]);
  });

  test("import specifiers are renamed, subpaths kept; other strings naming cdktf are left alone", () => {
    const source = [
      'import { App, Testing } from "cdktf";',
      'import "cdktf/lib/testing/adapters/jest";',
      'import type { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";',
      'const lazy = require("cdktf");',
      'const tags = { ManagedBy: "cdktf" };',
      'const file = path.join(root, "cdktf.json");',
      'import { other } from "cdktf-extras";',
    ].join("\n");
    const { text, count } = rewriteImports(source, pins.swaps);
    expect(count).toBe(4);
    expect(text.split("\n")).toEqual([
      'import { App, Testing } from "cdktn";',
      'import "cdktn/lib/testing/adapters/jest";',
      'import type { SqsQueue } from "@cdktn/provider-aws/lib/sqs-queue";',
      'const lazy = require("cdktn");',
      'const tags = { ManagedBy: "cdktf" };',
      'const file = path.join(root, "cdktf.json");',
      'import { other } from "cdktf-extras";',
    ]);
    expect(leftoverImports(source, pins.swaps)).toEqual([
      "cdktf",
      "cdktf/lib/testing/adapters/jest",
      "@cdktf/provider-aws/lib/sqs-queue",
      "cdktf",
    ]);
    expect(leftoverImports(text, pins.swaps)).toEqual([]);
  });

  test("package.json: each package swapped in its own section, constructs aligned, the CLI command renamed", () => {
    const pkg = {
      scripts: { synth: "CHECKPOINT_DISABLE=1 cdktf synth", diagram: "tsx scripts/diagram.ts" },
      dependencies: { "@cdktf/provider-aws": "21.22.1", cdktf: "0.21.0", constructs: "10.8.1", zod: "4.6.7" },
      devDependencies: { "cdktf-cli": "0.21.0", jest: "30.5.2" },
    };
    const swapped = swapPackageJson(pkg, pins);
    expect(swapped.dependencies).toEqual({ "@cdktn/provider-aws": "25.7.0", cdktn: "0.24.0", constructs: "10.7.2", zod: "4.6.7" });
    expect(swapped.devDependencies).toEqual({ "cdktn-cli": "0.24.0", jest: "30.5.2" });
    expect(swapped.scripts).toEqual({ synth: "CHECKPOINT_DISABLE=1 cdktn synth", diagram: "tsx scripts/diagram.ts" });
    expect(pkg.dependencies.cdktf).toBe("0.21.0");
    expect(() => swapPackageJson({ dependencies: {} }, pins)).toThrow(/no dependency on cdktf/);
  });

  test("only the command word is renamed", () => {
    expect(rewriteCommand("npx cdktf deploy primary dr && cdktf diff", pins.swaps)).toBe("npx cdktn deploy primary dr && cdktn diff");
    expect(rewriteCommand("node --import tsx main.ts", pins.swaps)).toBe("node --import tsx main.ts");
    expect(rewriteCommand("ls cdktf.out", pins.swaps)).toBe("ls cdktf.out");
  });
});
