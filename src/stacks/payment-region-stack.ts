import { Construct } from "constructs";
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DeploymentConfig, RegionRole, regionOf } from "../config";
import { Naming, defaultTags } from "../naming";
import { Encryption } from "../constructs/encryption";
import { Network } from "../constructs/network";

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

    new TerraformOutput(this, "kms_key_arn", { value: this.encryption.keyArn });
    new TerraformOutput(this, "vpc_id", { value: this.network.vpcId });
    new TerraformOutput(this, "private_subnet_ids", { value: this.network.privateSubnetIds });
    new TerraformOutput(this, "public_subnet_ids", { value: this.network.publicSubnetIds });
  }
}
