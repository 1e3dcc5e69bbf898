import { Construct } from "constructs";
import { Naming } from "../naming";
import { SecureBucket } from "./secure-bucket";

export interface TransactionLogBucketProps {
  readonly naming: Naming;
  readonly region: string;
  readonly kmsKeyArn: string;
  /** Bucket receiving this bucket's S3 server access logs. */
  readonly accessLogsBucketName: string;
}

/**
 * The region's transaction-log bucket `payment-transaction-logs-{region}-{suffix}`: private,
 * versioned, SSE-KMS with the region key, TLS-only, tiered to IA at 30 days and Glacier at 90.
 */
export class TransactionLogBucket extends SecureBucket {
  constructor(scope: Construct, id: string, props: TransactionLogBucketProps) {
    super(scope, id, {
      bucketName: props.naming.regional("payment-transaction-logs", props.region, "s3Bucket"),
      region: props.region,
      kmsKeyArn: props.kmsKeyArn,
      forceDestroy: true,
      accessLogs: { bucketName: props.accessLogsBucketName, prefix: `s3/${props.naming.regional("payment-transaction-logs", props.region)}/` },
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
