import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { S3BucketReplicationConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-replication-configuration";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import { assumeRolePolicy, PolicyStatements } from "../core/iam";
import type { SecureBucket } from "./secure-bucket";

export interface BucketReplicationProps {
  /** What is replicated, e.g. "transaction-logs": names the role, its policy and the rule. */
  readonly name: string;
  /** Versioned, KMS-encrypted source bucket (in the other stack: read through remote state). */
  readonly source: SecureBucket;
  /** Versioned, KMS-encrypted destination bucket in this stack. */
  readonly destination: SecureBucket;
}

/**
 * S3 replication source -> destination with Replication Time Control (15 minutes, metrics on) and
 * SSE-KMS objects re-encrypted with the destination region's key. Owned by the dr stack; the
 * configuration itself lives in the source region (the stack's aliased provider for that region).
 */
export class BucketReplication extends Construct {
  readonly role: IamRole;
  readonly ruleId: string;

  constructor(scope: Construct, id: string, props: BucketReplicationProps) {
    super(scope, id);
    const { source, destination } = props;
    if (!source.key || !destination.key)
      throw new Error(`Replication ${props.name} needs buckets encrypted with region keys on both sides.`);
    this.ruleId = `${props.name}-to-dr`;
    this.role = new IamRole(this, "role", {
      name: AwsStack.of(this).naming.name(`payment-${props.name}-replication`, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("s3.amazonaws.com"),
    });
    new IamRolePolicy(this, "policy", {
      role: this.role.id,
      name: `replicate-${props.name}`,
      policy: replicationPolicy(source, destination),
    });

    new S3BucketReplicationConfigurationA(this, "configuration", {
      provider: AwsStack.of(this).providerFor(source.region),
      // Through the versioning resource: replication needs versioning on first.
      bucket: source.versioning.bucket,
      role: this.role.arn,
      rule: [
        {
          id: this.ruleId,
          status: "Enabled",
          priority: 1,
          filter: { prefix: "" },
          deleteMarkerReplication: { status: "Enabled" },
          sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
          destination: {
            bucket: destination.arn,
            storageClass: "STANDARD",
            encryptionConfiguration: { replicaKmsKeyId: destination.key.arn },
            // RTC and its metrics must be enabled together.
            replicationTime: { status: "Enabled", time: { minutes: 15 } },
            metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
          },
        },
      ],
      dependsOn: [destination.versioning],
    });
  }
}

/** The replication role may only read the source's versions, replicate into the destination, and use each key through S3. */
function replicationPolicy(source: SecureBucket, destination: SecureBucket): string {
  const policy = new PolicyStatements();
  policy.addToPolicy({
    Sid: "ReadReplicationConfiguration",
    Effect: "Allow",
    Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
    Resource: source.arn,
  });
  policy.addToPolicy({
    Sid: "ReadSourceVersions",
    Effect: "Allow",
    Action: ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
    Resource: `${source.arn}/*`,
  });
  policy.addToPolicy({
    Sid: "WriteReplicas",
    Effect: "Allow",
    Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
    Resource: `${destination.arn}/*`,
  });
  source.key?.grantUse(policy, "s3", ["kms:Decrypt"], "DecryptSourceObjects");
  destination.key?.grantUse(policy, "s3", ["kms:Encrypt", "kms:GenerateDataKey"], "EncryptReplicas");
  return policy.toJson();
}
