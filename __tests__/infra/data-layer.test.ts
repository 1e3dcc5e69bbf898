import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DbSubnetGroup } from "@cdktf/provider-aws/lib/db-subnet-group";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { DynamodbTableReplicaA } from "@cdktf/provider-aws/lib/dynamodb-table-replica";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { RdsCluster } from "@cdktf/provider-aws/lib/rds-cluster";
import { RdsClusterInstance } from "@cdktf/provider-aws/lib/rds-cluster-instance";
import { RdsClusterParameterGroup } from "@cdktf/provider-aws/lib/rds-cluster-parameter-group";
import { RdsGlobalCluster } from "@cdktf/provider-aws/lib/rds-global-cluster";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketReplicationConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-replication-configuration";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { aliasFor, onlyResource, resourcesOf, type Synth, synthAppToDisk, synthStacks } from "./support";

const { primary, dr } = synthStacks();
const KEY = expect.stringMatching(/^\$\{aws_kms_key\.encryption_key_\w+\.arn\}$/);
const REMOTE = /^\$\{data\.terraform_remote_state\.cross-stack-reference-input-primary\.outputs\./;

describe("Aurora global database", () => {
  test("primary owns the global cluster: aurora-mysql 8.0 (3.x), encrypted, destroyable", () => {
    expect(primary).toHaveResourceWithProperties(RdsGlobalCluster, {
      global_cluster_identifier: "payment-aurora-global-dev",
      engine: "aurora-mysql",
      engine_version: expect.stringMatching(/^8\.0\.mysql_aurora\.3\./),
      storage_encrypted: true,
      deletion_protection: false,
    });
    expect(resourcesOf(dr, RdsGlobalCluster.tfResourceType)).toHaveLength(0);
  });

  const commonCluster = {
    engine: "aurora-mysql",
    storage_encrypted: true,
    kms_key_id: KEY,
    backup_retention_period: 7,
    preferred_backup_window: "03:00-04:00",
    enabled_cloudwatch_logs_exports: ["audit", "error", "general", "slowquery"],
    iam_database_authentication_enabled: true,
    copy_tags_to_snapshot: true,
    deletion_protection: false,
    skip_final_snapshot: true,
  };

  test("primary writer cluster joins the global cluster with a write-only password from an ephemeral secret read", () => {
    expect(primary).toHaveResourceWithProperties(RdsCluster, {
      ...commonCluster,
      cluster_identifier: "payment-aurora-primary-dev",
      global_cluster_identifier: expect.stringMatching(/aws_rds_global_cluster\.database_global/),
      master_username: "payadmin",
      master_password_wo: '${jsondecode(ephemeral.aws_secretsmanager_secret_version.aurora_master.secret_string)["password"]}',
      master_password_wo_version: 1,
    });
    const cluster = onlyResource(primary, RdsCluster.tfResourceType);
    expect(cluster.master_password).toBeUndefined();
    expect(cluster.manage_master_user_password).toBeUndefined();
    expect(JSON.parse(primary).ephemeral).toEqual({
      aws_secretsmanager_secret_version: { aurora_master: { secret_id: "payment-processing/aurora-master-dev" } },
    });
  });

  test("the secret comes from configuration", () => {
    const arn = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:payments/aurora-AbCdEf";
    const custom = synthStacks({ dbSecretId: arn, dbPasswordVersion: 3 });
    expect(JSON.parse(custom.primary).ephemeral.aws_secretsmanager_secret_version.aurora_master.secret_id).toBe(arn);
    expect(custom.primary).toHaveResourceWithProperties(RdsCluster, { master_password_wo_version: 3 });
  });

  test("dr secondary cluster: own key, source region, no credentials, ignores replication drift", () => {
    expect(dr).toHaveResourceWithProperties(RdsCluster, {
      ...commonCluster,
      cluster_identifier: "payment-aurora-dr-dev",
      source_region: "ap-southeast-1",
      lifecycle: { ignore_changes: ["replication_source_identifier", "global_cluster_identifier"] },
    });
    const cluster = onlyResource(dr, RdsCluster.tfResourceType);
    for (const credential of ["master_username", "master_password", "master_password_wo", "manage_master_user_password"]) {
      expect(cluster[credential]).toBeUndefined();
    }
    expect(JSON.parse(dr).ephemeral).toBeUndefined();
  });

  test("two instances in primary, at least one in dr, private and of the configured class", () => {
    const p = resourcesOf(primary, RdsClusterInstance.tfResourceType);
    const d = resourcesOf(dr, RdsClusterInstance.tfResourceType);
    expect(p).toHaveLength(2);
    expect(d.length).toBeGreaterThanOrEqual(1);
    for (const i of [...p, ...d]) {
      expect(i).toMatchObject({ instance_class: "db.t4g.medium", publicly_accessible: false, engine: "aurora-mysql" });
    }
    expect(p.map((i) => i.identifier)).toEqual(["payment-aurora-primary-dev-1", "payment-aurora-primary-dev-2"]);
  });

  test("private subnets over 3 AZs, no inline ingress (only the ledger clients' rule), TLS required", () => {
    const subnets = onlyResource(primary, DbSubnetGroup.tfResourceType).subnet_ids;
    expect(subnets).toHaveLength(3);
    for (const s of subnets) expect(s).toMatch(/aws_subnet\.network_private-subnet/);
    expect(dr).toHaveResourceWithProperties(SecurityGroup, { name: "payment-aurora-sg-dev", egress: [] });
    expect(primary).toHaveResourceWithProperties(RdsClusterParameterGroup, {
      family: "aurora-mysql8.0",
      parameter: expect.arrayContaining([expect.objectContaining({ name: "require_secure_transport", value: "ON" })]),
    });
  });

  test("exported logs go to KMS-encrypted log groups the stack owns", () => {
    for (const log of ["audit", "error", "general", "slowquery"]) {
      expect(primary).toHaveResourceWithProperties(CloudwatchLogGroup, {
        name: `/aws/rds/cluster/payment-aurora-primary-dev/${log}`,
        kms_key_id: KEY,
        retention_in_days: 365,
      });
    }
  });
});

describe("DynamoDB global tables", () => {
  const tables = [
    { name: "payment-sessions-dev", hash_key: "session_id" },
    { name: "payment-transactions-dev", hash_key: "transaction_id" },
    { name: "payment-merchant-keys-dev", hash_key: "key_id" },
  ];
  const table = (name: string) => resourcesOf(primary, DynamodbTable.tfResourceType).find((t) => t.name === name)!;

  test.each(tables)("primary $name: on-demand, streams, CMK, PITR, replicas managed elsewhere", ({ name, hash_key }) => {
    expect(primary).toHaveResourceWithProperties(DynamodbTable, {
      name,
      hash_key,
      billing_mode: "PAY_PER_REQUEST",
      stream_enabled: true,
      stream_view_type: "NEW_AND_OLD_IMAGES",
      server_side_encryption: { enabled: true, kms_key_arn: KEY },
      point_in_time_recovery: { enabled: true },
      deletion_protection_enabled: false,
      lifecycle: { ignore_changes: ["replica"] },
    });
    expect(table(name).replica).toBeUndefined();
  });

  test("sessions: user_id index and TTL", () => {
    expect(table("payment-sessions-dev").global_secondary_index).toEqual([
      expect.objectContaining({ name: "user_id-index", hash_key: "user_id", projection_type: "ALL" }),
    ]);
    expect(table("payment-sessions-dev").ttl).toEqual({ attribute_name: "expires_at", enabled: true });
  });

  test("transactions: only a sparse pending index by shard and acceptance time, for a sweeper (no index copies every write)", () => {
    const t = table("payment-transactions-dev");
    expect(t.global_secondary_index).toEqual([
      {
        name: "pending-index",
        hash_key: "pending_shard",
        range_key: "pending_since",
        projection_type: "INCLUDE",
        non_key_attributes: ["accepted_region"],
      },
    ]);
    expect(t.attribute).toEqual(
      expect.arrayContaining([
        { name: "pending_shard", type: "S" },
        { name: "pending_since", type: "S" },
      ]),
    );
  });

  test("merchant keys: hashed by key id, listed by merchant without copying the secret hash into the index", () => {
    const t = table("payment-merchant-keys-dev");
    expect(t.attribute).toEqual([
      { name: "key_id", type: "S" },
      { name: "merchant_id", type: "S" },
    ]);
    expect(t.global_secondary_index).toEqual([
      {
        name: "merchant_id-index",
        hash_key: "merchant_id",
        projection_type: "INCLUDE",
        non_key_attributes: ["created_at", "expires_at", "revoked_at"],
      },
    ]);
    expect(t.ttl).toBeUndefined();
  });

  test("no idempotency table: the transaction item is its own idempotency record", () => {
    expect(resourcesOf(primary, DynamodbTable.tfResourceType).map((t) => t.name)).not.toContain("payment-idempotency-dev");
  });

  test("the merchant-keys replica in dr uses the dr key and PITR, so keys issued before a failover keep working", () => {
    const replicas = JSON.parse(dr).resource.aws_dynamodb_table_replica as Synth;
    const id = Object.keys(replicas).find((k) => k.startsWith("tables_merchantKeys-replica_"));
    expect(replicas[id!]).toMatchObject({ point_in_time_recovery: true, kms_key_arn: KEY, deletion_protection_enabled: false });
  });

  test("dr holds a replica of every table and no table of its own", () => {
    expect(resourcesOf(dr, DynamodbTable.tfResourceType)).toHaveLength(0);
    expect(resourcesOf(dr, DynamodbTableReplicaA.tfResourceType)).toHaveLength(3);
  });

  test("every DynamoDB replica has PITR and the dr region's CMK", () => {
    const replicas = resourcesOf(dr, DynamodbTableReplicaA.tfResourceType);
    expect(replicas.length).toBeGreaterThan(0);
    for (const replica of replicas) {
      expect(replica.point_in_time_recovery).toBe(true);
      expect(replica.kms_key_arn).toEqual(KEY);
    }
  });
});

describe("transaction-log buckets", () => {
  test.each([
    ["primary", "ap-southeast-1"],
    ["dr", "ap-southeast-2"],
  ])("%s bucket is versioned, SSE-KMS with bucket key, private, TLS-only, tiered", (role, region) => {
    const stack = role === "primary" ? primary : dr;
    expect(stack).toHaveResourceWithProperties(S3Bucket, { bucket: `payment-transaction-logs-${region}-dev`, force_destroy: true });
    expect(stack).toHaveResourceWithProperties(S3BucketVersioningA, { versioning_configuration: { status: "Enabled" } });
    expect(stack).toHaveResourceWithProperties(S3BucketServerSideEncryptionConfigurationA, {
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: KEY }, bucket_key_enabled: true }],
    });
    expect(stack).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    const logsPolicy = resourcesOf(stack, S3BucketPolicy.tfResourceType).find((p) => /transaction-logs_bucket/.test(p.bucket));
    const policy = JSON.parse(logsPolicy!.policy);
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Condition: { Bool: { "aws:SecureTransport": false } },
      }),
    );
    expect(stack).toHaveResourceWithProperties(S3BucketLifecycleConfiguration, {
      bucket: expect.stringMatching(/aws_s3_bucket\.transaction-logs_bucket/),
      rule: [
        expect.objectContaining({
          status: "Enabled",
          transition: [
            { days: 30, storage_class: "STANDARD_IA" },
            { days: 90, storage_class: "GLACIER" },
          ],
          noncurrent_version_expiration: [{ noncurrent_days: 90 }],
        }),
      ],
    });
  });

  test("replication is owned by dr, configured in the primary region, with RTC, metrics and the dr key", () => {
    expect(resourcesOf(primary, S3BucketReplicationConfigurationA.tfResourceType)).toHaveLength(0);
    expect(dr).toHaveResourceWithProperties(S3BucketReplicationConfigurationA, {
      provider: aliasFor(dr, "ap-southeast-1"),
      rule: [
        expect.objectContaining({
          status: "Enabled",
          delete_marker_replication: { status: "Enabled" },
          source_selection_criteria: { sse_kms_encrypted_objects: { status: "Enabled" } },
          destination: expect.objectContaining({
            bucket: expect.stringMatching(/aws_s3_bucket\.transaction-logs_bucket/),
            encryption_configuration: { replica_kms_key_id: KEY },
            replication_time: { status: "Enabled", time: { minutes: 15 } },
            metrics: { status: "Enabled", event_threshold: { minutes: 15 } },
          }),
        }),
      ],
      depends_on: [expect.stringMatching(/^aws_s3_bucket_versioning\.transaction-logs_versioning/)],
    });
  });

  test("the replication role holds only the S3 and KMS rights replication needs", () => {
    const policy = resourcesOf(dr, IamRolePolicy.tfResourceType).find((p) => p.name === "replicate-transaction-logs")!;
    const actions = JSON.parse(policy.policy)
      .Statement.flatMap((s: any) => s.Action)
      .sort();
    expect(actions).toEqual([
      "kms:Decrypt",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionForReplication",
      "s3:GetObjectVersionTagging",
      "s3:GetReplicationConfiguration",
      "s3:ListBucket",
      "s3:ReplicateDelete",
      "s3:ReplicateObject",
      "s3:ReplicateTags",
    ]);
  });
});

describe("cross-stack wiring on the synthesized app", () => {
  const app = synthAppToDisk();
  const first = (stack: any, type: string) => Object.values(stack.resource[type])[0] as any;

  test("dr reads primary's state from the same encrypted backend, and primary reads nothing from dr", () => {
    const remote = app.dr.data.terraform_remote_state["cross-stack-reference-input-primary"];
    expect(remote).toMatchObject({
      backend: "s3",
      config: { key: "payment-processing/dev/primary.tfstate", bucket: "payment-processing-tfstate-dev", encrypt: true },
    });
    expect(app.primary.data.terraform_remote_state).toBeUndefined();
  });

  test("dr's secondary cluster joins the global cluster that primary outputs", () => {
    const ref = first(app.dr, "aws_rds_cluster").global_cluster_identifier;
    expect(ref).toMatch(REMOTE);
    const outputName = /outputs\.([^}]+)\}/.exec(ref)![1];
    expect(app.primary.output[outputName].value).toMatch(/^\$\{aws_rds_global_cluster\.database_global_\w+\.id\}$/);
  });

  test("dr's table replicas join primary's table ARNs", () => {
    const replicas = Object.values(app.dr.resource.aws_dynamodb_table_replica) as any[];
    expect(replicas).toHaveLength(3);
    for (const replica of replicas) {
      expect(replica.global_table_arn).toMatch(REMOTE);
      const outputName = /outputs\.([^}]+)\}/.exec(replica.global_table_arn)![1];
      expect(app.primary.output[outputName].value).toMatch(/^\$\{aws_dynamodb_table\.tables_\w+\.arn\}$/);
    }
  });

  test("dr's replication reads primary's bucket (through its versioning) and key", () => {
    const replication = (Object.values(app.dr.resource.aws_s3_bucket_replication_configuration) as any[]).find(
      (r) => r.rule[0].id === "transaction-logs-to-dr",
    );
    expect(replication.bucket).toMatch(REMOTE);
    const bucketOutput = /outputs\.([^}]+)\}/.exec(replication.bucket)![1];
    expect(app.primary.output[bucketOutput].value).toMatch(/^\$\{aws_s3_bucket_versioning\.transaction-logs_versioning_\w+\.bucket\}$/);
    const role = (Object.values(app.dr.resource.aws_iam_role_policy) as any[]).find((p) => p.name === "replicate-transaction-logs");
    const policy = JSON.parse(role.policy);
    const decrypt = policy.Statement.find((s: any) => s.Sid === "DecryptSourceObjects");
    expect(decrypt.Resource).toMatch(REMOTE);
    expect(decrypt.Condition.StringEquals["kms:ViaService"]).toBe("s3.ap-southeast-1.amazonaws.com");
  });

  test("operators get the data-layer outputs", () => {
    for (const name of [
      "aurora_writer_endpoint",
      "aurora_reader_endpoint",
      "transactions_table_name",
      "transactions_stream_arn",
      "transaction_log_bucket",
    ]) {
      expect(app.primary.output[name]).toBeDefined();
    }
    expect(app.dr.output.aurora_global_cluster_identifier.value).toMatch(REMOTE);
  });
});
