import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { RdsClusterInstance } from "@cdktf/provider-aws/lib/rds-cluster-instance";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLoggingA } from "@cdktf/provider-aws/lib/s3-bucket-logging";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketReplicationConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-replication-configuration";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { Wafv2WebAcl } from "@cdktf/provider-aws/lib/wafv2-web-acl";
import { Wafv2WebAclAssociation } from "@cdktf/provider-aws/lib/wafv2-web-acl-association";
import { Wafv2WebAclLoggingConfiguration } from "@cdktf/provider-aws/lib/wafv2-web-acl-logging-configuration";
import { supportsPerformanceInsights } from "../../src/infra/data/database";
import { aliasFor, resourcesOf, type Synth, synthAppToDisk, synthStacks } from "./support";

const { primary, dr, state } = synthStacks();
const KEY = expect.stringMatching(/^\$\{aws_kms_key\.encryption_key_\w+\.arn\}$/);
const bucketIdOf = (stack: string, name: string) =>
  Object.entries(JSON.parse(stack).resource.aws_s3_bucket as Record<string, Synth>).find(([, b]) => b.bucket === name)![0];

describe("WAF on the public ALB", () => {
  const acl = () => resourcesOf(primary, Wafv2WebAcl.tfResourceType)[0];

  test("regional web ACL with the managed groups in order, then the per-IP and per-merchant rate limits", () => {
    expect(primary).toHaveResourceWithProperties(Wafv2WebAcl, {
      name: "payment-waf-dev",
      scope: "REGIONAL",
      default_action: { allow: {} },
    });
    const rules = acl().rule;
    expect(rules.map((r: Synth) => [r.priority, r.name])).toEqual([
      [0, "AWSManagedRulesAmazonIpReputationList"],
      [1, "AWSManagedRulesAnonymousIpList"],
      [2, "AWSManagedRulesCommonRuleSet"],
      [3, "AWSManagedRulesKnownBadInputsRuleSet"],
      [4, "rate-limit-per-ip"],
      [5, "rate-limit-per-merchant"],
    ]);
    for (const rule of rules.slice(0, 4)) {
      // Terraform's own block names: the provider binding leaves `statement` untyped.
      expect(rule.statement.managed_rule_group_statement).toMatchObject({ name: rule.name, vendor_name: "AWS" });
      expect(rule.override_action).toEqual({ none: {} });
    }
    expect(rules[4]).toMatchObject({
      action: { block: {} },
      statement: { rate_based_statement: { limit: 2000, aggregate_key_type: "IP" } },
    });
  });

  test("hosting-provider IPs are only counted: merchants call from clouds", () => {
    const anonymous = acl().rule.find((r: Synth) => r.name === "AWSManagedRulesAnonymousIpList");
    expect(anonymous.statement.managed_rule_group_statement.rule_action_override).toEqual([
      { name: "HostingProviderIPList", action_to_use: { count: {} } },
    ]);
  });

  test("per-merchant rate limit: keyed on the Authorization header (the API key), case and spacing folded", () => {
    const rule = acl().rule.find((r: Synth) => r.name === "rate-limit-per-merchant");
    expect(rule).toMatchObject({
      action: { block: {} },
      visibility_config: expect.objectContaining({ cloudwatch_metrics_enabled: true, metric_name: "payment-waf-dev-rate-limit-merchant" }),
    });
    expect(rule.statement.rate_based_statement).toEqual({
      limit: 1500,
      aggregate_key_type: "CUSTOM_KEYS",
      custom_key: [
        {
          header: {
            name: "authorization",
            text_transformation: [
              { priority: 0, type: "LOWERCASE" },
              { priority: 1, type: "COMPRESS_WHITE_SPACE" },
            ],
          },
        },
      ],
    });
  });

  test("rate limits follow configuration", () => {
    const custom = synthStacks({ wafRateLimitPer5Minutes: 500, wafRateLimitPerMerchantPer5Minutes: 300 });
    const rules = resourcesOf(custom.dr, Wafv2WebAcl.tfResourceType)[0].rule;
    expect(rules.find((r: Synth) => r.name === "rate-limit-per-ip").statement.rate_based_statement.limit).toBe(500);
    expect(rules.find((r: Synth) => r.name === "rate-limit-per-merchant").statement.rate_based_statement.limit).toBe(300);
  });

  test("associated with this stack's ALB, logging blocked and counted requests to a KMS-encrypted aws-waf-logs- group", () => {
    for (const stack of [primary, dr]) {
      expect(stack).toHaveResourceWithProperties(Wafv2WebAclAssociation, {
        resource_arn: expect.stringMatching(/^\$\{aws_lb\.alb_\w+\.arn\}$/),
        web_acl_arn: expect.stringMatching(/aws_wafv2_web_acl\.waf_acl_\w+\.arn/),
      });
      expect(stack).toHaveResourceWithProperties(CloudwatchLogGroup, {
        name: "aws-waf-logs-payment-waf-dev",
        kms_key_id: KEY,
        retention_in_days: 365,
      });
      expect(stack).toHaveResourceWithProperties(Wafv2WebAclLoggingConfiguration, {
        log_destination_configs: [expect.stringMatching(/aws_cloudwatch_log_group\.waf_logs_group_\w+\.arn/)],
        logging_filter: { default_behavior: "DROP", filter: [expect.objectContaining({ behavior: "KEEP", requirement: "MEETS_ANY" })] },
      });
    }
  });
});

describe("access logs", () => {
  test("each region has an SSE-S3 access-log bucket (log delivery cannot use KMS), private and expiring", () => {
    for (const [stack, region] of [
      [primary, "ap-southeast-1"],
      [dr, "ap-southeast-2"],
    ] as const) {
      const id = bucketIdOf(stack, `payment-access-logs-${region}-dev`);
      const sse = resourcesOf(stack, S3BucketServerSideEncryptionConfigurationA.tfResourceType).find((c) => c.bucket.includes(id))!;
      expect(sse.rule).toEqual([{ apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } }]);
    }
  });

  test("the access-log bucket admits only ALB log delivery for this account and S3 server access logs from this account", () => {
    const id = bucketIdOf(primary, "payment-access-logs-ap-southeast-1-dev");
    const policy = JSON.parse(resourcesOf(primary, S3BucketPolicy.tfResourceType).find((p) => p.bucket.includes(id))!.policy);
    const allows = policy.Statement.filter((s: Synth) => s.Effect === "Allow");
    expect(allows.map((s: Synth) => [s.Sid, s.Action])).toEqual([
      ["S3ServerAccessLogs", "s3:PutObject"],
      ["AlbAccessLogsFromElbAccount", "s3:PutObject"],
      ["AlbAccessLogsFromLogDelivery", "s3:PutObject"],
    ]);
    expect(allows[0]).toMatchObject({
      Principal: { Service: "logging.s3.amazonaws.com" },
      Condition: { StringEquals: { "aws:SourceAccount": expect.stringMatching(/aws_caller_identity/) } },
    });
    expect(allows[0].Resource).toMatch(/\/s3\/\*$/);
    expect(allows[1].Principal.AWS).toMatch(/^\$\{data\.aws_elb_service_account\.\S+\.arn\}$/);
    for (const s of allows.slice(1))
      expect(s.Resource).toMatch(/\/alb\/AWSLogs\/\$\{data\.aws_caller_identity\.account\.account_id\}\/\*$/);
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": false } } }),
    );
  });

  test("the ALB writes access logs there, after the bucket policy exists", () => {
    const lb = resourcesOf(primary, Lb.tfResourceType)[0];
    expect(lb.access_logs).toEqual({
      bucket: expect.stringMatching(/aws_s3_bucket\.access-logs_bucket_\w+\.bucket/),
      prefix: "alb",
      enabled: true,
    });
    expect(lb.depends_on).toEqual([expect.stringMatching(/^aws_s3_bucket_policy\.access-logs_policy/)]);
  });

  test("every data bucket sends S3 server access logs to the access-log bucket under its own prefix", () => {
    const logged = (stack: string) =>
      Object.fromEntries(
        resourcesOf(stack, S3BucketLoggingA.tfResourceType).map((l) => [l.bucket.match(/aws_s3_bucket\.([\w-]+?)_bucket/)[1], l]),
      );
    const p = logged(primary);
    expect(Object.keys(p).sort()).toEqual(["audit-trail", "transaction-logs"]);
    expect(p["transaction-logs"]).toMatchObject({
      target_bucket: expect.stringMatching(/access-logs_bucket/),
      target_prefix: "s3/payment-transaction-logs-ap-southeast-1-dev/",
    });
    expect(Object.keys(logged(dr)).sort()).toEqual(["audit-log-replica", "transaction-logs"]);
    // The state bucket logs into the state stack's own access-log bucket (it may share the DR region).
    expect(state).toHaveResourceWithProperties(S3Bucket, { bucket: "payment-state-access-logs-ap-southeast-2-dev" });
    expect(state).toHaveResourceWithProperties(S3BucketLoggingA, { target_prefix: "s3/payment-processing-tfstate-dev/" });
  });
});

describe("Aurora monitoring", () => {
  test("every instance has enhanced monitoring (60 s) and KMS-encrypted Performance Insights", () => {
    for (const stack of [primary, dr]) {
      const instances = resourcesOf(stack, RdsClusterInstance.tfResourceType);
      expect(instances.length).toBeGreaterThan(0);
      for (const i of instances) {
        expect(i).toMatchObject({
          monitoring_interval: 60,
          monitoring_role_arn: expect.stringMatching(/aws_iam_role\.database_monitoring-role_\w+\.arn/),
          performance_insights_enabled: true,
          performance_insights_kms_key_id: KEY,
          performance_insights_retention_period: 7,
        });
      }
      expect(stack).toHaveResourceWithProperties(IamRolePolicyAttachment, {
        policy_arn: expect.stringMatching(/:iam::aws:policy\/service-role\/AmazonRDSEnhancedMonitoringRole$/),
      });
    }
  });

  test("Performance Insights is left off for the burstable classes that lack it", () => {
    expect(supportsPerformanceInsights("db.t4g.medium")).toBe(true);
    expect(supportsPerformanceInsights("db.r6g.large")).toBe(true);
    expect(supportsPerformanceInsights("db.t4g.small")).toBe(false);
    expect(supportsPerformanceInsights("db.t3.medium")).toBe(false);
    const small = synthStacks({ dbInstanceClass: "db.t3.medium" });
    for (const i of resourcesOf(small.primary, RdsClusterInstance.tfResourceType)) {
      expect(i.performance_insights_enabled).toBeUndefined();
      expect(i.monitoring_interval).toBe(60);
    }
  });
});

describe("audit log copy in the DR region", () => {
  test("dr replicates primary's CloudTrail bucket into its own KMS-encrypted audit bucket", () => {
    const app = synthAppToDisk();
    const replication = (Object.values(app.dr.resource[S3BucketReplicationConfigurationA.tfResourceType]) as Synth[]).find(
      (r) => r.rule[0].id === "audit-logs-to-dr",
    )!;
    expect(replication).toMatchObject({
      provider: aliasFor(app.dr, "ap-southeast-1"),
      rule: [
        expect.objectContaining({
          status: "Enabled",
          source_selection_criteria: { sse_kms_encrypted_objects: { status: "Enabled" } },
          destination: expect.objectContaining({
            bucket: expect.stringMatching(/^\$\{aws_s3_bucket\.audit-log-replica_bucket_\w+\.arn\}$/),
            encryption_configuration: { replica_kms_key_id: expect.stringMatching(/^\$\{aws_kms_key\.encryption_key_\w+\.arn\}$/) },
          }),
        }),
      ],
    });
    const sourceOutput = /outputs\.([^}]+)\}/.exec(replication.bucket)![1];
    expect(app.primary.output[sourceOutput].value).toMatch(/^\$\{aws_s3_bucket_versioning\.audit-trail_bucket_versioning_\w+\.bucket\}$/);
    const replica = (Object.values(app.dr.resource.aws_s3_bucket) as Synth[]).map((b) => b.bucket);
    expect(replica).toContain("payment-audit-logs-ap-southeast-2-dev");
    const role = (Object.values(app.dr.resource[IamRolePolicy.tfResourceType]) as Synth[]).find((p) => p.name === "replicate-audit-logs")!;
    expect(JSON.parse(role.policy).Statement.find((s: Synth) => s.Sid === "WriteReplicas").Resource).toMatch(
      /audit-log-replica_bucket_\w+\.arn\}\/\*$/,
    );
  });
});

describe("security group descriptions", () => {
  // EC2 refuses any other character in a VPC security group's or rule's description (the AWS
  // provider checks rules at apply, nothing checks the group's before EC2 does).
  const EC2_DESCRIPTION = /^[0-9A-Za-z_ .:/()#,@[\]+=&;{}!$*-]{0,255}$/;

  test.each([
    ["primary", primary],
    ["dr", dr],
  ])("%s: every group and rule description uses only the characters EC2 allows", (_, stack) => {
    const groups = resourcesOf(stack, "aws_security_group");
    const descriptions = [
      ...groups.map((g) => g.description),
      ...groups.flatMap((g) => [...(g.ingress ?? []), ...(g.egress ?? [])].map((r: Synth) => r.description)),
      ...["aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule", "aws_security_group_rule"].flatMap((type) =>
        resourcesOf(stack, type).map((r) => r.description),
      ),
    ].filter((d) => d !== undefined);
    expect(groups.length).toBeGreaterThan(0);
    expect(descriptions.length).toBeGreaterThan(groups.length);
    expect(descriptions.filter((d) => !EC2_DESCRIPTION.test(d))).toEqual([]);
  });
});
