import { Construct } from "constructs";
import { ITerraformDependable } from "cdktf";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { S3BucketReplicationConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-replication-configuration";
import { assumeRolePolicy, policyDocument } from "../iam";
import { Naming } from "../naming";

export interface ReplicatedBucket {
  readonly bucketName: string;
  readonly arn: string;
  readonly kmsKeyArn: string;
  readonly region: string;
}

export interface BucketReplicationProps {
  readonly naming: Naming;
  /** What is replicated, e.g. "transaction-logs": names the role, its policy and the rule. */
  readonly name: string;
  readonly source: ReplicatedBucket;
  /**
   * The source bucket's versioning resource id (the bucket name). Using it, rather than the
   * bucket, makes the configuration wait for versioning, which replication requires.
   */
  readonly sourceVersionedBucket: string;
  readonly destination: ReplicatedBucket;
  /** The destination's versioning resource, in this stack. */
  readonly destinationVersioning: ITerraformDependable;
}

/**
 * S3 replication source -> destination with Replication Time Control (15 minutes, metrics on) and
 * SSE-KMS objects re-encrypted with the destination region's key. Owned by the dr stack; the
 * configuration itself lives in the source region (provider v6 per-resource `region`).
 */
export class BucketReplication extends Construct {
  readonly role: IamRole;
  readonly ruleId: string;

  constructor(scope: Construct, id: string, props: BucketReplicationProps) {
    super(scope, id);
    const { source, destination } = props;
    this.ruleId = `${props.name}-to-dr`;
    this.role = new IamRole(this, "role", {
      name: props.naming.name(`payment-${props.name}-replication`, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("s3.amazonaws.com"),
    });
    new IamRolePolicy(this, "policy", {
      role: this.role.id,
      name: `replicate-${props.name}`,
      policy: policyDocument([
        { Sid: "ReadReplicationConfiguration", Effect: "Allow", Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource: source.arn },
        {
          Sid: "ReadSourceVersions",
          Effect: "Allow",
          Action: ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
          Resource: `${source.arn}/*`,
        },
        { Sid: "WriteReplicas", Effect: "Allow", Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"], Resource: `${destination.arn}/*` },
        {
          Sid: "DecryptSourceObjects",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: source.kmsKeyArn,
          Condition: { StringEquals: { "kms:ViaService": `s3.${source.region}.amazonaws.com` } },
        },
        {
          Sid: "EncryptReplicas",
          Effect: "Allow",
          Action: ["kms:Encrypt", "kms:GenerateDataKey"],
          Resource: destination.kmsKeyArn,
          Condition: { StringEquals: { "kms:ViaService": `s3.${destination.region}.amazonaws.com` } },
        },
      ]),
    });

    new S3BucketReplicationConfigurationA(this, "configuration", {
      region: source.region,
      bucket: props.sourceVersionedBucket,
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
            encryptionConfiguration: { replicaKmsKeyId: destination.kmsKeyArn },
            // RTC and its metrics must be enabled together.
            replicationTime: { status: "Enabled", time: { minutes: 15 } },
            metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
          },
        },
      ],
      dependsOn: [props.destinationVersioning],
    });
  }
}
