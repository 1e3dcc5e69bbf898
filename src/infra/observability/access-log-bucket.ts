import { DataAwsElbServiceAccount } from "@cdktf/provider-aws/lib/data-aws-elb-service-account";
import type { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import type { PolicyStatement } from "../core/iam";
import { ACCESS_LOG_PREFIX, SecureBucket } from "../data/secure-bucket";

export { ACCESS_LOG_PREFIX };

export interface AccessLogBucketProps {
  /** Accept ALB access logs under `alb/` (region stacks; the state stack has no ALB). */
  readonly loadBalancerLogs: boolean;
  /** @default "payment-access-logs"; the state stack uses its own name (it may share the DR region). */
  readonly baseName?: string;
}

/**
 * The region's access-log bucket: ALB access logs and S3 server access logs of the other
 * buckets. SSE-S3, because neither log delivery can write to an SSE-KMS bucket; otherwise the
 * same private, versioned, TLS-only baseline, expiring after the retention period.
 */
export class AccessLogBucket extends SecureBucket {
  constructor(scope: Construct, id: string, props: AccessLogBucketProps) {
    const { accountId, naming, region, logRetentionDays } = AwsStack.of(scope);
    // Regions from before August 2022 deliver ALB logs as an AWS-owned ELB account.
    const elbAccount = props.loadBalancerLogs ? new DataAwsElbServiceAccount(scope, `${id}-elb-account`, {}) : undefined;
    super(scope, id, {
      bucketName: naming.regional(props.baseName ?? "payment-access-logs", region, "s3Bucket"),
      encryption: "s3-managed",
      forceDestroy: true,
      lifecycleRules: [
        {
          id: "expire-after-retention",
          status: "Enabled",
          filter: [{ prefix: "" }],
          expiration: [{ days: logRetentionDays }],
          noncurrentVersionExpiration: [{ noncurrentDays: 30 }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
      ],
      policyStatements: (bucketArn): PolicyStatement[] => [
        {
          Sid: "S3ServerAccessLogs",
          Effect: "Allow",
          Principal: { Service: "logging.s3.amazonaws.com" },
          Action: "s3:PutObject",
          Resource: `${bucketArn}/${ACCESS_LOG_PREFIX.s3}*`,
          Condition: { StringEquals: { "aws:SourceAccount": accountId } },
        },
        ...(elbAccount
          ? ([
              {
                Sid: "AlbAccessLogsFromElbAccount",
                Effect: "Allow",
                Principal: { AWS: elbAccount.arn },
                Action: "s3:PutObject",
                Resource: `${bucketArn}/${ACCESS_LOG_PREFIX.alb}/AWSLogs/${accountId}/*`,
              },
              {
                Sid: "AlbAccessLogsFromLogDelivery",
                Effect: "Allow",
                Principal: { Service: "logdelivery.elasticloadbalancing.amazonaws.com" },
                Action: "s3:PutObject",
                Resource: `${bucketArn}/${ACCESS_LOG_PREFIX.alb}/AWSLogs/${accountId}/*`,
              },
            ] satisfies PolicyStatement[])
          : []),
      ],
    });
  }
}
