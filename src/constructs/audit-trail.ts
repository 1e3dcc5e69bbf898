import { Construct } from "constructs";
import { Cloudtrail } from "@cdktf/provider-aws/lib/cloudtrail";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { PolicyStatement, assumeRolePolicy, policyDocument } from "../iam";
import { Naming } from "../naming";
import { EncryptedLogGroup } from "./log-group";
import { SecureBucket } from "./secure-bucket";

export interface AuditTrailProps {
  readonly naming: Naming;
  /** Home region of the trail (the primary region); its bucket and log group live here. */
  readonly region: string;
  /** The home region's CMK; its policy must let cloudtrail.amazonaws.com use it (Encryption cloudTrailName). */
  readonly kmsKeyArn: string;
  readonly accountId: string;
  readonly partition: string;
  readonly logRetentionDays: number;
  /** Bucket receiving the audit bucket's S3 server access logs. */
  readonly accessLogsBucketName: string;
}

/** The trail's name; the region's KMS key policy names it before the trail exists. */
export function auditTrailName(naming: Naming): string {
  return naming.name("payment-audit-trail");
}

/** Days audit log objects (current and noncurrent versions) are kept (PCI DSS 10.5.1: one year). */
export const AUDIT_LOG_RETENTION_DAYS = 365;

export interface AuditLogBucketProps {
  readonly naming: Naming;
  readonly region: string;
  readonly kmsKeyArn: string;
  readonly accessLogsBucketName: string;
  readonly policyStatements?: (bucketArn: string) => PolicyStatement[];
}

/**
 * `payment-audit-logs-{region}-{suffix}`: CloudTrail's bucket in the primary region, and its
 * replica in the DR region. Kept one year (PCI DSS 10.5.1), KMS-encrypted, private, TLS-only.
 */
export class AuditLogBucket extends SecureBucket {
  constructor(scope: Construct, id: string, props: AuditLogBucketProps) {
    super(scope, id, {
      bucketName: props.naming.regional("payment-audit-logs", props.region, "s3Bucket"),
      region: props.region,
      kmsKeyArn: props.kmsKeyArn,
      forceDestroy: true,
      accessLogs: { bucketName: props.accessLogsBucketName, prefix: `s3/${props.naming.regional("payment-audit-logs", props.region)}/` },
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
    const { naming, region, accountId, partition } = props;
    this.trailName = auditTrailName(naming);
    // Built as a string: the bucket policy names the trail, and the trail depends on the policy.
    const trailArn = `arn:${partition}:cloudtrail:${region}:${accountId}:trail/${this.trailName}`;

    this.bucket = new AuditLogBucket(this, "bucket", {
      naming,
      region,
      kmsKeyArn: props.kmsKeyArn,
      accessLogsBucketName: props.accessLogsBucketName,
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
      kmsKeyArn: props.kmsKeyArn,
      retentionDays: props.logRetentionDays,
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
      kmsKeyId: props.kmsKeyArn,
      // CloudTrail wants the log group ARN with the ":*" stream wildcard.
      cloudWatchLogsGroupArn: `${this.logGroup.arn}:*`,
      cloudWatchLogsRoleArn: role.arn,
      // CreateTrail checks bucket delivery and the role right away.
      dependsOn: [this.bucket.policy, rolePolicy],
    });
    this.trailArn = this.trail.arn;
  }
}
