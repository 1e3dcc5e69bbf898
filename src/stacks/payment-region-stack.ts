import { Construct } from "constructs";
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DeploymentConfig, RegionRole, regionOf } from "../config";
import { Naming, defaultTags } from "../naming";
import { Encryption } from "../constructs/encryption";
import { Network } from "../constructs/network";
import { AuroraGlobalDatabase } from "../constructs/database";
import { PaymentTables, TABLE_IDS, TableId } from "../constructs/tables";
import { TransactionLogBucket } from "../constructs/transaction-log-bucket";
import { BucketReplication } from "../constructs/bucket-replication";

export interface PaymentRegionStackProps {
  readonly config: DeploymentConfig;
  readonly role: RegionRole;
  /** The primary stack, for the DR side's cross-region links (references flow primary -> dr). */
  readonly primary?: PaymentRegionStack;
}

/** One region of the deployment. Thin: reads config, wires constructs. */
export class PaymentRegionStack extends TerraformStack {
  readonly role: RegionRole;
  readonly region: string;
  readonly naming: Naming;
  readonly provider: AwsProvider;
  readonly encryption: Encryption;
  readonly network: Network;
  readonly database: AuroraGlobalDatabase;
  readonly tables: PaymentTables;
  readonly transactionLogs: TransactionLogBucket;
  /** S3 replication primary -> dr (dr stack only). */
  readonly logReplication?: BucketReplication;

  constructor(scope: Construct, id: string, props: PaymentRegionStackProps) {
    super(scope, id);
    const { config, role } = props;
    if ((role === "dr") !== (props.primary !== undefined)) {
      throw new Error(`The ${role} stack ${role === "dr" ? "needs" : "must not have"} a primary stack to link to.`);
    }
    const { region, vpcCidr } = regionOf(config, role);
    this.role = role;
    this.region = region;
    this.naming = new Naming(config.environmentSuffix);

    const backend = new S3Backend(this, {
      bucket: config.stateBucket,
      key: `${config.stateKeyPrefix}/${id}.tfstate`,
      region: config.stateBucketRegion,
      encrypt: true,
    });
    // S3-native locking (Terraform >= 1.10); cdktf's S3Backend has no typed field for it.
    backend.addOverride("use_lockfile", true);

    this.provider = new AwsProvider(this, "aws", { region, defaultTags: [{ tags: defaultTags(config, role) }] });
    const account = new DataAwsCallerIdentity(this, "account", {});
    const partition = new DataAwsPartition(this, "partition", {});

    this.encryption = new Encryption(this, "encryption", {
      naming: this.naming,
      region,
      accountId: account.accountId,
      partition: partition.partition,
      allowCloudTrail: role === "primary",
    });
    this.network = new Network(this, "network", {
      naming: this.naming,
      region,
      cidr: vpcCidr,
      kmsKeyArn: this.encryption.keyArn,
      logRetentionDays: config.logRetentionDays,
      accountId: account.accountId,
    });

    this.database = this.buildDatabase(config, props.primary);
    this.tables = new PaymentTables(this, "tables", {
      naming: this.naming,
      kmsKeyArn: this.encryption.keyArn,
      ...(props.primary
        ? { role: "dr" as const, primaryTableArns: primaryTableArns(props.primary) }
        : { role: "primary" as const }),
    });
    this.transactionLogs = new TransactionLogBucket(this, "transaction-logs", {
      naming: this.naming,
      region,
      kmsKeyArn: this.encryption.keyArn,
    });
    if (props.primary) {
      const source = props.primary.transactionLogs;
      this.logReplication = new BucketReplication(this, "transaction-log-replication", {
        naming: this.naming,
        source: { bucketName: source.bucketName, arn: source.arn, kmsKeyArn: source.kmsKeyArn, region: props.primary.region },
        sourceVersionedBucket: source.versioning.bucket,
        destination: { bucketName: this.transactionLogs.bucketName, arn: this.transactionLogs.arn, kmsKeyArn: this.encryption.keyArn, region },
        destinationVersioning: this.transactionLogs.versioning,
      });
    }

    this.addOutputs();
  }

  private buildDatabase(config: DeploymentConfig, primary?: PaymentRegionStack): AuroraGlobalDatabase {
    const common = {
      naming: this.naming,
      vpcId: this.network.vpcId,
      vpcCidr: this.network.vpcCidr,
      privateSubnetIds: this.network.privateSubnetIds,
      kmsKeyArn: this.encryption.keyArn,
      engineVersion: config.auroraEngineVersion,
      instanceClass: config.dbInstanceClass,
      logRetentionDays: config.logRetentionDays,
    };
    return primary
      ? new AuroraGlobalDatabase(this, "database", {
          ...common,
          role: "dr",
          instanceCount: config.drDbInstanceCount,
          globalClusterIdentifier: primary.database.globalClusterIdentifier,
          sourceRegion: primary.region,
        })
      : new AuroraGlobalDatabase(this, "database", {
          ...common,
          role: "primary",
          instanceCount: config.primaryDbInstanceCount,
          credentials: { secretId: config.dbSecretId, username: config.dbMasterUsername, passwordVersion: config.dbPasswordVersion },
        });
  }

  /** Operator-facing outputs: every attribute someone runbook-driven would look up. */
  private addOutputs(): void {
    const outputs: Record<string, string | string[]> = {
      kms_key_arn: this.encryption.keyArn,
      vpc_id: this.network.vpcId,
      private_subnet_ids: this.network.privateSubnetIds,
      public_subnet_ids: this.network.publicSubnetIds,
      aurora_cluster_identifier: this.database.clusterIdentifier,
      aurora_global_cluster_identifier: this.database.globalClusterIdentifier,
      aurora_writer_endpoint: this.database.endpoint,
      aurora_reader_endpoint: this.database.readerEndpoint,
      transaction_log_bucket: this.transactionLogs.bucketName,
    };
    for (const id of TABLE_IDS) {
      outputs[`${id}_table_name`] = this.tables.tables[id].name;
      outputs[`${id}_table_arn`] = this.tables.tables[id].arn;
    }
    if (this.tables.transactionsStreamArn) outputs.transactions_stream_arn = this.tables.transactionsStreamArn;
    for (const [name, value] of Object.entries(outputs)) new TerraformOutput(this, name, { value });
  }
}

function primaryTableArns(primary: PaymentRegionStack): Record<TableId, string> {
  return Object.fromEntries(TABLE_IDS.map((id) => [id, primary.tables.tables[id].arn])) as Record<TableId, string>;
}
