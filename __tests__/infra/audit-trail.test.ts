import { Cloudtrail } from "@cdktf/provider-aws/lib/cloudtrail";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { TerraformOutput, Testing } from "cdktf";
import { AccessLogBucket } from "../../src/infra/observability/access-log-bucket";
import { AuditTrail, type AuditTrailProps } from "../../src/infra/security/audit-trail";
import { bareStack, KEY_ARN_REF as KEY, onlyResource, wildcardAllows } from "./support";

const TRAIL_ARN = "arn:aws:cloudtrail:ap-southeast-1:111122223333:trail/payment-audit-trail-test";

function synth(): { json: string; trail: AuditTrail } {
  const stack = bareStack();
  const props: AuditTrailProps = { accessLogs: new AccessLogBucket(stack, "access-logs", { loadBalancerLogs: false }) };
  const trail = new AuditTrail(stack, "audit", props);
  new TerraformOutput(stack, "trail_arn", { value: trail.trailArn });
  new TerraformOutput(stack, "bucket_name", { value: trail.bucketName });
  new TerraformOutput(stack, "log_group_name", { value: trail.logGroupName });
  return { json: Testing.synth(stack), trail };
}

describe("AuditTrail", () => {
  const { json: stack } = synth();
  const parsed = JSON.parse(stack);
  const trailResource = onlyResource(stack, Cloudtrail.tfResourceType);
  /** The audit bucket's resource of a type (the stack also holds the access-log bucket). */
  const auditBucketResource = (type: string) => {
    const [id, resource] = Object.entries<any>(parsed.resource[type]).find(([key]) => key.startsWith("audit_bucket"))!;
    expect(id).toMatch(/^audit_bucket_/);
    return resource;
  };

  test("one multi-region trail with global events, log file validation and the CMK", () => {
    expect(stack).toHaveResourceWithProperties(Cloudtrail, {
      name: "payment-audit-trail-test",
      is_multi_region_trail: true,
      include_global_service_events: true,
      enable_log_file_validation: true,
      enable_logging: true,
      kms_key_id: KEY,
      s3_bucket_name: expect.stringMatching(/^\$\{aws_s3_bucket\.audit_bucket_[0-9A-F]+\.bucket\}$/),
    });
  });

  test("audit bucket is named per region and suffix, versioned, private and destroyable", () => {
    expect(stack).toHaveResourceWithProperties(S3Bucket, { bucket: "payment-audit-logs-ap-southeast-1-test", force_destroy: true });
    expect(stack).toHaveResourceWithProperties(S3BucketVersioningA, { versioning_configuration: { status: "Enabled" } });
    expect(stack).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
  });

  test("audit objects and their old versions expire after 365 days", () => {
    const [rule] = auditBucketResource(S3BucketLifecycleConfiguration.tfResourceType).rule;
    expect(rule.status).toBe("Enabled");
    expect(rule.expiration).toEqual([{ days: 365 }]);
    expect(rule.noncurrent_version_expiration).toEqual([{ noncurrent_days: 365 }]);
  });

  test("bucket policy lets only this trail check the ACL and write this account's logs, over TLS", () => {
    const policy = JSON.parse(auditBucketResource(S3BucketPolicy.tfResourceType).policy);
    const byAction = (action: string) => policy.Statement.find((s: any) => s.Action === action);
    expect(byAction("s3:GetBucketAcl")).toMatchObject({
      Effect: "Allow",
      Principal: { Service: "cloudtrail.amazonaws.com" },
      Resource: expect.stringMatching(/^\$\{aws_s3_bucket\.audit_bucket_[0-9A-F]+\.arn\}$/),
      Condition: { StringEquals: { "aws:SourceArn": TRAIL_ARN } },
    });
    expect(byAction("s3:PutObject")).toMatchObject({
      Effect: "Allow",
      Principal: { Service: "cloudtrail.amazonaws.com" },
      Resource: expect.stringMatching(/\.arn\}\/AWSLogs\/111122223333\/\*$/),
      Condition: { StringEquals: { "s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": TRAIL_ARN } },
    });
    expect(byAction("s3:*")).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": false } } });
    // The ARN the policy names is the ARN the trail will have.
    expect(TRAIL_ARN.endsWith(`trail/${trailResource.name}`)).toBe(true);
  });

  test("trail waits for its bucket policy and its delivery role's policy", () => {
    const policyId = Object.keys(parsed.resource.aws_s3_bucket_policy).find((id) => id.startsWith("audit_bucket"));
    const rolePolicyId = Object.keys(parsed.resource.aws_iam_role_policy)[0];
    expect(trailResource.depends_on).toEqual(
      expect.arrayContaining([`aws_s3_bucket_policy.${policyId}`, `aws_iam_role_policy.${rolePolicyId}`]),
    );
  });

  test("trail also delivers to an encrypted log group with the configured retention", () => {
    expect(stack).toHaveResourceWithProperties(CloudwatchLogGroup, {
      name: "/aws/cloudtrail/payment-audit-trail-test",
      kms_key_id: KEY,
      retention_in_days: 365,
    });
    expect(trailResource.cloud_watch_logs_group_arn).toMatch(/^\$\{aws_cloudwatch_log_group\.audit_log-group_[0-9A-F]+\.arn\}:\*$/);
    expect(trailResource.cloud_watch_logs_role_arn).toMatch(/^\$\{aws_iam_role\.audit_logs-role_[0-9A-F]+\.arn\}$/);
  });

  test("delivery role is assumable only by CloudTrail and may only write that group's streams", () => {
    const role = onlyResource(stack, IamRole.tfResourceType);
    const trust = JSON.parse(role.assume_role_policy);
    expect(trust.Statement).toEqual([
      expect.objectContaining({ Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "sts:AssumeRole" }),
    ]);
    const policy = JSON.parse(onlyResource(stack, IamRolePolicy.tfResourceType).policy);
    expect(policy.Statement).toEqual([
      {
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: expect.stringMatching(/^\$\{aws_cloudwatch_log_group\.audit_log-group_[0-9A-F]+\.arn\}:log-stream:\*$/),
      },
    ]);
  });

  test("outputs resolve to the trail ARN, the bucket name and the log group name", () => {
    expect(parsed.output.trail_arn.value).toMatch(/^\$\{aws_cloudtrail\.audit_trail_[0-9A-F]+\.arn\}$/);
    expect(parsed.output.bucket_name.value).toMatch(/^\$\{aws_s3_bucket\.audit_bucket_[0-9A-F]+\.bucket\}$/);
    expect(parsed.output.log_group_name.value).toMatch(/^\$\{aws_cloudwatch_log_group\.audit_log-group_[0-9A-F]+\.name\}$/);
  });

  test("no policy allows a wildcard action", () => {
    const { statements, wildcards } = wildcardAllows(stack);
    expect(statements).toBeGreaterThanOrEqual(4);
    expect(wildcards).toEqual([]);
  });
});
