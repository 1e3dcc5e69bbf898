import type { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import { SecureBucket } from "./secure-bucket";

export interface TransactionLogBucketProps {
  /** Bucket receiving this bucket's S3 server access logs. */
  readonly accessLogs: SecureBucket;
}

/**
 * The region's transaction-log bucket `payment-transaction-logs-{region}-{suffix}`: private,
 * versioned, SSE-KMS with the region key, TLS-only, tiered to IA at 30 days and Glacier at 90.
 */
export class TransactionLogBucket extends SecureBucket {
  constructor(scope: Construct, id: string, props: TransactionLogBucketProps) {
    const { naming, region } = AwsStack.of(scope);
    const bucketName = naming.transactionLogBucket(region);
    super(scope, id, {
      bucketName,
      forceDestroy: true,
      accessLogs: props.accessLogs,
      lifecycleRules: [
        {
          id: "tier-and-expire-old-versions",
          status: "Enabled",
          filter: [{ prefix: "" }],
          transition: [
            { days: 30, storageClass: "STANDARD_IA" },
            { days: 90, storageClass: "GLACIER" },
          ],
          noncurrentVersionExpiration: [{ noncurrentDays: 90 }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
      ],
    });
  }
}
