import { loadConfig } from "../../src/contracts/config";
import { defaultTags, NAME_LIMITS, Naming, resourceName } from "../../src/contracts/names";
import { KNOWN_REGIONS } from "../../src/contracts/regions";
import { resourcesOf, synthStacks } from "../infra/support";

const LONGEST_SUFFIX = "abcdefghij"; // 10 characters: the most the config allows
const LONGEST_REGION = KNOWN_REGIONS.reduce((a, b) => (b.length > a.length ? b : a));

describe("naming", () => {
  test("every name ends with the environment suffix", () => {
    expect(new Naming("prod").name("payment-alb")).toBe("payment-alb-prod");
  });

  test("a name over its AWS limit fails synth with the limit in the message", () => {
    expect(() => resourceName("payment-application-load-balancer", "abcdefghij", "alb")).toThrow(/at most 32 for alb/);
    expect(() => resourceName("Payment", "dev", "s3Bucket")).toThrow(/lower-case/);
  });

  test("names of the longest suffix and longest region fit their limits", () => {
    const n = new Naming(LONGEST_SUFFIX);
    expect(n.name("payment-alb", "alb").length).toBeLessThanOrEqual(NAME_LIMITS.alb);
    expect(n.regional("payment-transaction-logs", LONGEST_REGION, "s3Bucket").length).toBeLessThanOrEqual(63);
    expect(n.regional("payment-flow-logs", LONGEST_REGION, "iamRole").length).toBeLessThanOrEqual(64);
  });

  test("every synthesized name at the longest suffix respects its AWS limit", () => {
    const { primary, dr } = synthStacks({ environmentSuffix: LONGEST_SUFFIX });
    const limits: Array<[string, string, number]> = [
      ["aws_lb", "name", 32],
      ["aws_lb_target_group", "name", 32],
      ["aws_s3_bucket", "bucket", 63],
      ["aws_iam_role", "name", 64],
      ["aws_lambda_function", "function_name", 64],
      ["aws_sqs_queue", "name", 80],
      ["aws_rds_cluster", "cluster_identifier", 63],
    ];
    let checked = 0;
    for (const stack of [primary, dr]) {
      for (const [type, attribute, limit] of limits) {
        for (const r of resourcesOf(stack, type)) {
          expect(`${r[attribute]}`.length).toBeLessThanOrEqual(limit);
          expect(r[attribute]).toContain(LONGEST_SUFFIX);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  test("default tags carry environment, project and cost center", () => {
    expect(defaultTags(loadConfig({}, { COST_CENTER: "cc-42" }), "primary")).toMatchObject({
      Environment: "dev",
      Project: "payment-processing-dr",
      CostCenter: "cc-42",
    });
  });
});
