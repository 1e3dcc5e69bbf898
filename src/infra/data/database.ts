import { DbSubnetGroup } from "@cdktf/provider-aws/lib/db-subnet-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { RdsCluster } from "@cdktf/provider-aws/lib/rds-cluster";
import { RdsClusterInstance } from "@cdktf/provider-aws/lib/rds-cluster-instance";
import { RdsClusterParameterGroup } from "@cdktf/provider-aws/lib/rds-cluster-parameter-group";
import { RdsGlobalCluster } from "@cdktf/provider-aws/lib/rds-global-cluster";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AURORA_PORT } from "../../contracts/ledger";
import { AwsStack } from "../core/aws-stack";
import { assumeRolePolicy, type IGrantable, type PolicyStatement } from "../core/iam";
import type { Network } from "../network/network";
import { EncryptedLogGroup } from "../observability/log-group";

export const AURORA_ENGINE = "aurora-mysql";
export const AURORA_LOG_EXPORTS = ["audit", "error", "general", "slowquery"];
export { AURORA_PORT };

/** Master credentials of the primary (writer) cluster. */
export interface MasterCredentials {
  /** Name or ARN of an existing Secrets Manager secret: JSON with a `password` key. */
  readonly secretId: string;
  readonly username: string;
  /** Version of the write-only password; increasing it re-sends the secret's current value. */
  readonly passwordVersion: number;
}

interface CommonProps {
  /** Private subnets hold the instances; the VPC's CIDR may reach port 3306. */
  readonly network: Network;
  readonly engineVersion: string;
  readonly instanceClass: string;
  readonly instanceCount: number;
  /** Regions whose clusters can hold the writer (both of the deployment): users are granted in each. */
  readonly writerRegions: readonly string[];
}

/** Burstable classes below medium have no Performance Insights. */
export function supportsPerformanceInsights(instanceClass: string): boolean {
  return !/^db\.(t2|t3)\.|^db\.t4g\.(micro|small)$/.test(instanceClass);
}

export type AuroraGlobalDatabaseProps = CommonProps &
  (
    | { readonly role: "primary"; readonly credentials: MasterCredentials }
    | {
        readonly role: "dr";
        /** The primary stack's database, whose global cluster this one joins. */
        readonly primary: AuroraGlobalDatabase;
      }
  );

/**
 * Aurora MySQL 3 (MySQL 8.0) as a Global Database. The primary stack owns the global cluster and
 * the writer cluster; the dr stack owns a headless-credential secondary cluster joined to it.
 */
export class AuroraGlobalDatabase extends Construct {
  readonly cluster: RdsCluster;
  readonly instances: RdsClusterInstance[];
  readonly globalCluster?: RdsGlobalCluster;
  readonly globalClusterIdentifier: string;
  readonly clusterIdentifier: string;
  readonly clusterArn: string;
  /** Writer endpoint (on the secondary: the endpoint that becomes the writer after promotion). */
  readonly endpoint: string;
  readonly readerEndpoint: string;
  /** The global database's writer endpoint: always the current writer, in whichever region. */
  readonly globalWriterEndpoint: string;
  readonly port = AURORA_PORT;
  readonly securityGroupId: string;
  /** Regions whose clusters can be the writer: database users are granted in both. */
  readonly regions: readonly string[];
  private readonly stack: AwsStack;

  constructor(scope: Construct, id: string, props: AuroraGlobalDatabaseProps) {
    super(scope, id);
    this.stack = AwsStack.of(this);
    const { naming, region, partition, key } = this.stack;
    const { network } = props;
    this.clusterIdentifier = naming.auroraCluster(props.role);

    const subnets = new DbSubnetGroup(this, "subnets", {
      name: naming.name("payment-aurora"),
      description: "Private subnets over three AZs",
      subnetIds: network.privateSubnetIds,
    });
    const securityGroup = new SecurityGroup(this, "security-group", {
      name: naming.name("payment-aurora-sg"),
      // Ingress: one rule per client (allowConnectionsFrom), nothing else.
      description: "MySQL from the ledger clients only",
      vpcId: network.vpcId,
      egress: [],
      revokeRulesOnDelete: true,
    });
    this.securityGroupId = securityGroup.id;

    const parameters = new RdsClusterParameterGroup(this, "parameters", {
      name: this.clusterIdentifier,
      family: "aurora-mysql8.0",
      description: "TLS-only connections, audit and slow-query logging",
      parameter: [
        { name: "require_secure_transport", value: "ON" },
        { name: "tls_version", value: "TLSv1.2,TLSv1.3", applyMethod: "pending-reboot" },
        { name: "server_audit_logging", value: "1" },
        { name: "server_audit_events", value: "CONNECT,QUERY_DCL,QUERY_DDL" },
        { name: "slow_query_log", value: "1" },
        { name: "long_query_time", value: "1" },
      ],
    });

    // RDS would create these itself, unencrypted and kept forever; owning them sets KMS and retention.
    const logGroups = AURORA_LOG_EXPORTS.map(
      (log) =>
        new EncryptedLogGroup(this, `log-${log}`, {
          name: `/aws/rds/cluster/${this.clusterIdentifier}/${log}`,
        }).logGroup,
    );

    const common = {
      clusterIdentifier: this.clusterIdentifier,
      engine: AURORA_ENGINE,
      engineVersion: props.engineVersion,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [securityGroup.id],
      dbClusterParameterGroupName: parameters.name,
      storageEncrypted: true,
      kmsKeyId: key.arn,
      backupRetentionPeriod: 7,
      preferredBackupWindow: "03:00-04:00",
      preferredMaintenanceWindow: "sun:04:30-sun:05:30",
      enabledCloudwatchLogsExports: AURORA_LOG_EXPORTS,
      iamDatabaseAuthenticationEnabled: true,
      copyTagsToSnapshot: true,
      // Every environment must be destroyable (user requirement): no protection, no final snapshot.
      deletionProtection: false,
      skipFinalSnapshot: true,
      dependsOn: logGroups,
    };

    if (props.role === "primary") {
      this.globalCluster = new RdsGlobalCluster(this, "global", {
        globalClusterIdentifier: naming.auroraGlobalCluster(),
        engine: AURORA_ENGINE,
        engineVersion: props.engineVersion,
        storageEncrypted: true,
        deletionProtection: false,
      });
      this.globalClusterIdentifier = this.globalCluster.id;
      this.globalWriterEndpoint = this.globalCluster.endpoint;
      this.regions = props.writerRegions;
      const secret = ephemeralSecret(this, "aurora_master", props.credentials.secretId);
      this.cluster = new RdsCluster(this, "cluster", {
        ...common,
        globalClusterIdentifier: this.globalCluster.id,
        masterUsername: props.credentials.username,
        // Write-only (Terraform >= 1.11): read ephemerally from Secrets Manager, never stored in state.
        masterPasswordWo: `\${jsondecode(${secret}.secret_string)["password"]}`,
        masterPasswordWoVersion: props.credentials.passwordVersion,
        lifecycle: { ignoreChanges: ["global_cluster_identifier"] },
      });
    } else {
      const { primary } = props;
      this.globalClusterIdentifier = primary.globalClusterIdentifier;
      this.globalWriterEndpoint = primary.globalWriterEndpoint;
      this.regions = props.writerRegions;
      this.cluster = new RdsCluster(this, "cluster", {
        ...common,
        globalClusterIdentifier: primary.globalClusterIdentifier,
        sourceRegion: primary.stack.region,
        // Replication state changes on switchover/failover; Terraform must not fight it.
        lifecycle: { ignoreChanges: ["replication_source_identifier", "global_cluster_identifier"] },
      });
    }

    // Enhanced monitoring (OS metrics every 60 s) through the AWS-managed RDS monitoring policy.
    const monitoringRole = new IamRole(this, "monitoring-role", {
      name: naming.regional("payment-rds-monitoring", region, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("monitoring.rds.amazonaws.com"),
    });
    const monitoringPolicy = new IamRolePolicyAttachment(this, "monitoring-policy", {
      role: monitoringRole.name,
      policyArn: `arn:${partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole`,
    });
    const insights = supportsPerformanceInsights(props.instanceClass)
      ? { performanceInsightsEnabled: true, performanceInsightsKmsKeyId: key.arn, performanceInsightsRetentionPeriod: 7 }
      : {};

    this.instances = Array.from(
      { length: props.instanceCount },
      (_, i) =>
        new RdsClusterInstance(this, `instance-${i + 1}`, {
          identifier: `${this.clusterIdentifier}-${i + 1}`,
          clusterIdentifier: this.cluster.id,
          instanceClass: props.instanceClass,
          engine: AURORA_ENGINE,
          engineVersion: props.engineVersion,
          dbSubnetGroupName: subnets.name,
          publiclyAccessible: false,
          autoMinorVersionUpgrade: true,
          copyTagsToSnapshot: true,
          promotionTier: i,
          monitoringInterval: 60,
          monitoringRoleArn: monitoringRole.arn,
          ...insights,
          dependsOn: [monitoringPolicy],
        }),
    );

    this.clusterArn = this.cluster.arn;
    this.endpoint = this.cluster.endpoint;
    this.readerEndpoint = this.cluster.readerEndpoint;
  }

  /** MySQL from the members of a security group (the functions that use the ledger), nothing else. */
  allowConnectionsFrom(id: string, securityGroupId: string, description: string): VpcSecurityGroupIngressRule {
    return new VpcSecurityGroupIngressRule(this, `ingress-${id}`, {
      securityGroupId: this.securityGroupId,
      referencedSecurityGroupId: securityGroupId,
      ipProtocol: "tcp",
      fromPort: AURORA_PORT,
      toPort: AURORA_PORT,
      description,
    });
  }

  /**
   * MySQL from the other region's private subnets, where its ledger clients run (security groups
   * cannot be referenced across regions), over the regions' peering.
   */
  allowConnectionsFromCidrs(id: string, cidrs: readonly string[], description: string): VpcSecurityGroupIngressRule[] {
    return cidrs.map(
      (cidr, i) =>
        new VpcSecurityGroupIngressRule(this, `ingress-${id}-${i}`, {
          securityGroupId: this.securityGroupId,
          cidrIpv4: cidr,
          ipProtocol: "tcp",
          fromPort: AURORA_PORT,
          toPort: AURORA_PORT,
          description,
        }),
    );
  }

  /**
   * IAM database authentication as one database user. The writer moves between the regions'
   * clusters, whose resource ids the other stack cannot know: the grant names the user in any
   * cluster of this account in the deployment's regions (or only `regions`, for a reader of this
   * region's cluster).
   */
  grantConnect(grantee: IGrantable, user: string, regions: readonly string[] = this.regions): PolicyStatement {
    const { partition, accountId } = this.stack;
    const statement: PolicyStatement = {
      Sid: "ConnectAsLedgerUser",
      Effect: "Allow",
      Action: ["rds-db:connect"],
      Resource: regions.map((r) => `arn:${partition}:rds-db:${r}:${accountId}:dbuser:*/${user}`),
    };
    grantee.addToPolicy(statement);
    return statement;
  }
}

/**
 * Declares `ephemeral "aws_secretsmanager_secret_version"` (Terraform >= 1.10), which cdktf 0.21
 * has no class for, and returns its address for use in write-only arguments.
 */
function ephemeralSecret(scope: Construct, name: string, secretId: string): string {
  TerraformStack.of(scope).addOverride(`ephemeral.aws_secretsmanager_secret_version.${name}`, { secret_id: secretId });
  return `ephemeral.aws_secretsmanager_secret_version.${name}`;
}
