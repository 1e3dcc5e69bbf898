import { Cloudtrail } from "@cdktf/provider-aws/lib/cloudtrail";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { Construct } from "constructs";
import type { Naming } from "../../contracts/names";
import { AwsStack } from "../core/aws-stack";
import { assumeRolePolicy, type PolicyStatement, policyDocument } from "../core/iam";
import { SecureBucket } from "../data/secure-bucket";
import { EncryptedLogGroup } from "../observability/log-group";

/**
 * The trail lives in its stack's region (the primary), encrypted with that region's key, whose
 * policy must let cloudtrail.amazonaws.com use it (RegionKey `cloudTrailName`).
 */
export interface AuditTrailProps {
  /** Bucket receiving the audit bucket's S3 server access logs. */
  readonly accessLogs: SecureBucket;
}

/** The trail's name; the region's KMS key policy names it before the trail exists. */
export function auditTrailName(naming: Naming): string {
  return naming.name("payment-audit-trail");
}

/** Days audit log objects (current and noncurrent versions) are kept (PCI DSS 10.5.1: one year). */
export const AUDIT_LOG_RETENTION_DAYS = 365;

export interface AuditLogBucketProps {
  readonly accessLogs: SecureBucket;
  readonly policyStatements?: (bucketArn: string) => PolicyStatement[];
}

/**
 * `payment-audit-logs-{region}-{suffix}`: CloudTrail's bucket in the primary region, and its
 * replica in the DR region. Kept one year (PCI DSS 10.5.1), KMS-encrypted, private, TLS-only.
 */
export class AuditLogBucket extends SecureBucket {
  constructor(scope: Construct, id: string, props: AuditLogBucketProps) {
    const { naming, region } = AwsStack.of(scope);
    const bucketName = naming.regional("payment-audit-logs", region, "s3Bucket");
    super(scope, id, {
      bucketName,
      forceDestroy: true,
      accessLogs: props.accessLogs,
      lifecycleRules: [
        {
          id: "expire-after-retention",
          status: "Enabled",
          filter: [{ prefix: "" }],
          expiration: [{ days: AUDIT_LOG_RETENTION_DAYS }],
          noncurrentVersionExpiration: [{ noncurrentDays: AUDIT_LOG_RETENTION_DAYS }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
      ],
      policyStatements: props.policyStatements,
    });
  }
}

/**
 * The deployment's one CloudTrail trail: every region, global service events, log file
 * validation, KMS-encrypted, delivered to a dedicated audit bucket and to CloudWatch Logs.
 */
export class AuditTrail extends Construct {
  readonly trail: Cloudtrail;
  readonly trailArn: string;
  readonly trailName: string;
  readonly bucket: AuditLogBucket;
  readonly bucketName: string;
  readonly logGroup: EncryptedLogGroup;
  readonly logGroupName: string;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    const { naming, region, accountId, partition, key } = AwsStack.of(this);
    this.trailName = auditTrailName(naming);
    // Built as a string: the bucket policy names the trail, and the trail depends on the policy.
    const trailArn = `arn:${partition}:cloudtrail:${region}:${accountId}:trail/${this.trailName}`;

    this.bucket = new AuditLogBucket(this, "bucket", {
      accessLogs: props.accessLogs,
      policyStatements: (bucketArn): PolicyStatement[] => [
        {
          Sid: "CloudTrailChecksBucketAcl",
          Effect: "Allow",
          Principal: { Service: "cloudtrail.amazonaws.com" },
          Action: "s3:GetBucketAcl",
          Resource: bucketArn,
          Condition: { StringEquals: { "aws:SourceArn": trailArn } },
        },
        {
          Sid: "CloudTrailWritesThisAccountsLogs",
          Effect: "Allow",
          Principal: { Service: "cloudtrail.amazonaws.com" },
          Action: "s3:PutObject",
          Resource: `${bucketArn}/AWSLogs/${accountId}/*`,
          Condition: { StringEquals: { "s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trailArn } },
        },
      ],
    });
    this.bucketName = this.bucket.bucketName;

    this.logGroup = new EncryptedLogGroup(this, "log-group", {
      name: `/aws/cloudtrail/${this.trailName}`,
    });
    this.logGroupName = this.logGroup.name;

    const role = new IamRole(this, "logs-role", {
      name: naming.regional("payment-cloudtrail-logs", region, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("cloudtrail.amazonaws.com"),
    });
    const rolePolicy = new IamRolePolicy(this, "logs-role-policy", {
      role: role.id,
      name: "deliver-trail-to-log-group",
      policy: policyDocument([
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: `${this.logGroup.arn}:log-stream:*`,
        },
      ]),
    });

    this.trail = new Cloudtrail(this, "trail", {
      name: this.trailName,
      s3BucketName: this.bucket.bucketName,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableLogFileValidation: true,
      enableLogging: true,
      kmsKeyId: key.arn,
      // CloudTrail wants the log group ARN with the ":*" stream wildcard.
      cloudWatchLogsGroupArn: `${this.logGroup.arn}:*`,
      cloudWatchLogsRoleArn: role.arn,
      // CreateTrail checks bucket delivery and the role right away.
      dependsOn: [this.bucket.policy, rolePolicy],
    });
    this.trailArn = this.trail.arn;
  }
}
