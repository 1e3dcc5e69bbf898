import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import {
  S3BucketLifecycleConfiguration,
  type S3BucketLifecycleConfigurationRule,
} from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketLoggingA } from "@cdktf/provider-aws/lib/s3-bucket-logging";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import { type IGrantable, type PolicyStatement, policyDocument } from "../core/iam";
import type { RegionKey } from "../security/region-key";

/** Key prefixes inside an access-log bucket: ALB logs, and S3 server access logs per source bucket. */
export const ACCESS_LOG_PREFIX = { alb: "alb", s3: "s3/" } as const;

/**
 * "region-key": SSE-KMS with the stack's key (the default). "aws-kms": SSE-KMS with the
 * AWS-managed S3 key, for a stack without a region key (the state bootstrap). "s3-managed"
 * (SSE-S3) only for buckets that AWS log delivery writes to: ALB access logs and S3 server access
 * logs cannot be delivered to SSE-KMS buckets.
 */
export type BucketEncryption = "region-key" | "aws-kms" | "s3-managed";

export interface SecureBucketProps {
  readonly bucketName: string;
  /** @default "region-key" */
  readonly encryption?: BucketEncryption;
  /**
   * The access-log bucket receiving this bucket's S3 server access logs (under `s3/<this
   * bucket>/`); logging is configured only once that bucket's policy lets the logging service in.
   */
  readonly accessLogs?: SecureBucket;
  /** Empty the bucket on destroy (environments are destroyable); false for Terraform state. */
  readonly forceDestroy: boolean;
  readonly lifecycleRules?: S3BucketLifecycleConfigurationRule[];
  /** Extra bucket-policy statements (e.g. a service's delivery rights); a TLS-only deny is always added. */
  readonly policyStatements?: (bucketArn: string) => PolicyStatement[];
}

/**
 * An S3 bucket that is private, versioned, KMS-encrypted with a bucket key and TLS-only:
 * the baseline every bucket of this project shares.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly bucketName: string;
  readonly arn: string;
  /** Replication needs versioning in place first. */
  readonly versioning: S3BucketVersioningA;
  readonly policy: S3BucketPolicy;
  /** The region key objects are encrypted with (undefined: AWS-managed key or SSE-S3). */
  readonly key?: RegionKey;
  readonly region: string;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    const stack = AwsStack.of(this);
    const encryption = props.encryption ?? "region-key";
    this.key = encryption === "region-key" ? stack.key : undefined;
    this.region = stack.region;
    this.bucket = new S3Bucket(this, "bucket", { bucket: props.bucketName, forceDestroy: props.forceDestroy });
    this.bucketName = this.bucket.bucket;
    this.arn = this.bucket.arn;

    this.versioning = new S3BucketVersioningA(this, "versioning", {
      bucket: this.bucket.id,
      versioningConfiguration: { status: "Enabled" },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: this.bucket.id,
      rule: [
        encryption === "s3-managed"
          ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }
          : { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: this.key?.arn }, bucketKeyEnabled: true },
      ],
    });
    const publicAccess = new S3BucketPublicAccessBlock(this, "public-access", {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", {
      bucket: this.bucket.id,
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });
    if (props.accessLogs) {
      new S3BucketLoggingA(this, "access-logging", {
        bucket: this.bucket.id,
        targetBucket: props.accessLogs.bucketName,
        targetPrefix: `${ACCESS_LOG_PREFIX.s3}${props.bucketName}/`,
        // PutBucketLogging fails until the target grants logging.s3.amazonaws.com.
        dependsOn: [props.accessLogs.policy],
      });
    }
    if (props.lifecycleRules?.length) {
      new S3BucketLifecycleConfiguration(this, "lifecycle", {
        bucket: this.bucket.id,
        rule: props.lifecycleRules,
        dependsOn: [this.versioning],
      });
    }
    this.policy = new S3BucketPolicy(this, "policy", {
      bucket: this.bucket.id,
      policy: policyDocument([
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [this.bucket.arn, `${this.bucket.arn}/*`],
          Condition: { Bool: { "aws:SecureTransport": false } },
        },
        ...(props.policyStatements?.(this.bucket.arn) ?? []),
      ]),
      // The account-level block must exist before a policy is attached.
      dependsOn: [publicAccess],
    });
  }

  /** Write new objects under `keyPattern` (no reads, no deletes), encrypting them with the bucket's key. */
  grantPut(grantee: IGrantable, keyPattern = "*"): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["s3:PutObject"], Resource: `${this.arn}/${keyPattern}` });
    this.key?.grantUse(grantee, "s3", ["kms:GenerateDataKey", "kms:Decrypt"]);
  }
}
