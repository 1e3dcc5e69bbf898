import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { App } from "cdktf";
import { ACCEPTED_FILE, loadAccepted, patternMatches, validateAccepted } from "../../scripts/scan/accepted";
import { SCAN_PROFILES } from "../../scripts/scan/profiles";
import { classify, stalePatterns } from "../../scripts/scan/run";
import { loadConfig } from "../../src/contracts/config";
import { buildApp } from "../../src/infra/app";

const valid = {
  id: "CKV_AWS_139",
  resources: ["aws_rds_cluster.database_cluster_*"],
  reason: "Every environment must be destroyable, so deletion protection stays off.",
};

describe("scripts/scan/accepted.json", () => {
  const data = JSON.parse(readFileSync(ACCEPTED_FILE, "utf8"));

  test("every entry names a check id, the resources it covers and a real reason", () => {
    expect(validateAccepted(data)).toEqual([]);
    expect(loadAccepted().length).toBeGreaterThan(0);
  });

  test("a malformed entry is refused with a message naming the field", () => {
    const problems = (entry: object) => validateAccepted({ accepted: [entry] });
    expect(problems(valid)).toEqual([]);
    expect(problems({ ...valid, id: "CKV_GCP_1" })).toEqual([expect.stringContaining('"id"')]);
    expect(problems({ ...valid, resources: [] })).toEqual([expect.stringContaining('"resources"')]);
    expect(problems({ ...valid, resources: ["database_cluster"] })).toEqual([expect.stringContaining("is not")]);
    expect(problems({ ...valid, reason: "destroyable" })).toEqual([expect.stringContaining('"reason"')]);
    expect(problems({ ...valid, note: "x" })).toEqual([expect.stringContaining("unknown field")]);
    expect(validateAccepted({ accepted: [valid, valid] })).toEqual([expect.stringContaining("listed twice")]);
    expect(validateAccepted([valid])).toEqual([expect.stringContaining('"accepted" array')]);
  });

  test("every accepted pattern still names a resource of the synthesized app (default or full profile)", () => {
    const addresses: { stack: string; address: string }[] = [];
    for (const profile of SCAN_PROFILES) {
      const outdir = mkdtempSync(path.join(tmpdir(), "payment-scan-config-"));
      try {
        const app = new App({ outdir });
        buildApp(app, loadConfig({}, { ...profile.env }));
        app.synth();
        for (const stack of ["primary", "dr", "state"]) {
          const json = JSON.parse(readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));
          for (const [type, byName] of Object.entries<object>(json.resource ?? {})) {
            for (const name of Object.keys(byName)) addresses.push({ stack, address: `${type}.${name}` });
          }
        }
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    }
    const unmatched = loadAccepted().flatMap((entry) =>
      entry.resources.filter((p) => !addresses.some((a) => patternMatches(p, a.stack, a.address))).map((p) => `${entry.id} ${p}`),
    );
    expect(unmatched).toEqual([]);
  });
});

describe("scan classification", () => {
  const accepted = [
    valid,
    { id: "CKV_AWS_144", resources: ["primary/aws_s3_bucket.logs_*"], reason: "Replicated by the dr stack, which checkov does not see." },
  ];
  const stackJson = () => ({ resource: { aws_rds_cluster: { database_cluster_AB12CD34: {} }, aws_s3_bucket: { logs_bucket_1: {} } } });
  const check = (id: string, stack: string, resource: string) => ({
    check_id: id,
    check_name: id,
    file_path: `/${stack}/cdk.tf.json`,
    resource,
  });
  const report = (failed: ReturnType<typeof check>[]) => ({
    results: { passed_checks: [check("CKV_AWS_1", "primary", "aws_s3_bucket.logs_bucket_1")], failed_checks: failed },
    summary: { passed: 1, failed: failed.length, skipped: 0, parsing_errors: 0 },
  });

  test("a failure is accepted only when the check id and the resource (and stack, when given) match", () => {
    const { findings, figures } = classify(
      "default",
      report([
        check("CKV_AWS_139", "dr", "resource.database_cluster_AB12CD34"),
        check("CKV_AWS_144", "primary", "aws_s3_bucket.logs_bucket_1"),
        check("CKV_AWS_144", "dr", "aws_s3_bucket.logs_bucket_1"),
        check("CKV_AWS_18", "primary", "aws_s3_bucket.logs_bucket_1"),
      ]),
      stackJson,
      accepted,
    );
    expect(findings.map((f) => [f.stack, f.address, f.checkId, f.acceptedBy])).toEqual([
      ["dr", "aws_rds_cluster.database_cluster_AB12CD34", "CKV_AWS_139", 0],
      ["primary", "aws_s3_bucket.logs_bucket_1", "CKV_AWS_144", 1],
      ["dr", "aws_s3_bucket.logs_bucket_1", "CKV_AWS_144", undefined],
      ["primary", "aws_s3_bucket.logs_bucket_1", "CKV_AWS_18", undefined],
    ]);
    expect(figures).toEqual([
      { profile: "default", stack: "dr", passed: 0, failed: 1, accepted: 1 },
      { profile: "default", stack: "primary", passed: 1, failed: 1, accepted: 1 },
    ]);
  });

  test("an accepted pattern that matches no failure is reported as stale", () => {
    const { findings } = classify(
      "default",
      report([check("CKV_AWS_139", "primary", "resource.database_cluster_AB12CD34")]),
      stackJson,
      accepted,
    );
    expect(stalePatterns(findings, accepted)).toEqual([{ id: "CKV_AWS_144", pattern: "primary/aws_s3_bucket.logs_*" }]);
  });
});
