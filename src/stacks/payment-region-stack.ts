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
import { QueueWithDlq } from "../constructs/queue";
import { NotificationTopic } from "../constructs/notification-topic";
import { PaymentFunctions } from "../constructs/payment-functions";
import { PaymentHttpApi } from "../constructs/http-api";
import { PaymentLoadBalancer } from "../constructs/load-balancer";
import { AlertTopic } from "../constructs/alert-topic";
import { AuditTrail, auditTrailName } from "../constructs/audit-trail";
import { Monitoring } from "../constructs/monitoring";
import { DnsFailover } from "../constructs/dns-failover";
import { AccessLogBucket, ACCESS_LOG_PREFIX } from "../constructs/access-log-bucket";
import { AuditLogBucket } from "../constructs/audit-trail";
import { PaymentWebAcl } from "../constructs/web-acl";
import { API_STAGE } from "../constructs/http-api";

export interface PaymentRegionStackProps {
  readonly config: DeploymentConfig;
  readonly role: RegionRole;
  /** The primary stack, for the DR side's cross-region links (references flow primary -> dr). */
  readonly primary?: PaymentRegionStack;
}

const DAY_SECONDS = 86_400;

/** One region of the deployment. Thin: reads config, wires constructs. */
export class PaymentRegionStack extends TerraformStack {
  readonly role: RegionRole;
  readonly region: string;
  readonly naming: Naming;
  readonly provider: AwsProvider;
  readonly accountId: string;
  readonly partition: string;
  readonly encryption: Encryption;
  readonly network: Network;
  readonly database: AuroraGlobalDatabase;
  readonly tables: PaymentTables;
  readonly transactionLogs: TransactionLogBucket;
  /** S3 replication primary -> dr (dr stack only). */
  readonly logReplication?: BucketReplication;
  readonly transactionQueue: QueueWithDlq;
  readonly notificationQueue: QueueWithDlq;
  readonly notificationTopic: NotificationTopic;
  readonly functions: PaymentFunctions;
  readonly api: PaymentHttpApi;
  readonly loadBalancer: PaymentLoadBalancer;
  readonly webAcl: PaymentWebAcl;
  readonly accessLogs: AccessLogBucket;
  /** DR copy of the CloudTrail bucket and its replication (dr stack only). */
  readonly auditLogReplica?: AuditLogBucket;
  readonly alerts: AlertTopic;
  readonly monitoring: Monitoring;
  /** The one CloudTrail trail (primary stack only). */
  readonly auditTrail?: AuditTrail;
  /** Route53 failover (dr stack only, when a domain and hosted zone are configured). */
  readonly dnsFailover?: DnsFailover;

  constructor(scope: Construct, id: string, props: PaymentRegionStackProps) {
    super(scope, id);
    const { config, role, primary } = props;
    if ((role === "dr") !== (primary !== undefined)) {
      throw new Error(`The ${role} stack ${role === "dr" ? "needs" : "must not have"} a primary stack to link to.`);
    }
    const { region, vpcCidr, certificateArn } = regionOf(config, role);
    this.role = role;
    this.region = region;
    const naming = (this.naming = new Naming(config.environmentSuffix));

    const backend = new S3Backend(this, {
      bucket: config.stateBucket,
      key: `${config.stateKeyPrefix}/${id}.tfstate`,
      region: config.stateBucketRegion,
      encrypt: true,
    });
    // S3-native locking (Terraform >= 1.10); cdktf's S3Backend has no typed field for it.
    backend.addOverride("use_lockfile", true);

    this.provider = new AwsProvider(this, "aws", { region, defaultTags: [{ tags: defaultTags(config, role) }] });
    this.accountId = new DataAwsCallerIdentity(this, "account", {}).accountId;
    this.partition = new DataAwsPartition(this, "partition", {}).partition;

    this.encryption = new Encryption(this, "encryption", {
      naming,
      region,
      accountId: this.accountId,
      partition: this.partition,
      cloudTrailName: role === "primary" ? auditTrailName(naming) : undefined,
    });
    const kmsKeyArn = this.encryption.keyArn;
    this.network = new Network(this, "network", {
      naming,
      region,
      cidr: vpcCidr,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
      accountId: this.accountId,
    });

    this.accessLogs = new AccessLogBucket(this, "access-logs", {
      naming,
      region,
      accountId: this.accountId,
      loadBalancerLogs: true,
      retentionDays: config.logRetentionDays,
    });
    const accessLogsBucketName = this.accessLogs.bucketName;

    // --- data layer
    this.database = this.buildDatabase(config, primary);
    this.tables = new PaymentTables(this, "tables", {
      naming,
      region,
      kmsKeyArn,
      ...(primary ? { role: "dr" as const, primaryTableArns: primaryTableArns(primary) } : { role: "primary" as const }),
    });
    this.transactionLogs = new TransactionLogBucket(this, "transaction-logs", { naming, region, kmsKeyArn, accessLogsBucketName });
    if (primary) {
      this.logReplication = new BucketReplication(this, "transaction-log-replication", {
        naming,
        name: "transaction-logs",
        source: primary.transactionLogs,
        destination: this.transactionLogs,
      });
    }

    // --- services
    this.transactionQueue = new QueueWithDlq(this, "transaction-queue", {
      naming,
      region,
      kmsKeyArn,
      baseName: "payment-transaction",
      visibilityTimeoutSeconds: 300,
      retentionSeconds: 4 * DAY_SECONDS,
      maxReceiveCount: 3,
    });
    this.notificationQueue = new QueueWithDlq(this, "notification-queue", {
      naming,
      region,
      kmsKeyArn,
      baseName: "payment-notification",
      visibilityTimeoutSeconds: 60,
      retentionSeconds: 4 * DAY_SECONDS,
      maxReceiveCount: 5,
    });
    this.notificationTopic = new NotificationTopic(this, "notification-topic", { naming, region, kmsKeyArn });
    this.functions = new PaymentFunctions(this, "functions", {
      naming,
      region,
      vpcId: this.network.vpcId,
      vpcCidr,
      privateSubnetIds: this.network.privateSubnetIds,
      gatewayPrefixListIds: this.network.gatewayPrefixListIds,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
      memoryMb: config.lambdaMemoryMb,
      reservedConcurrency: config.lambdaReservedConcurrency,
      tables: this.tables,
      transactionQueue: this.transactionQueue,
      notificationQueue: this.notificationQueue,
      notificationTopic: this.notificationTopic,
      transactionLogs: this.transactionLogs,
      database: { endpoint: this.database.endpoint, port: this.database.port },
      maxPaymentAmountMinor: config.maxPaymentAmountMinor,
      riskLimitMinor: config.riskLimitMinor,
      allowedCurrencies: config.allowedCurrencies,
      corsAllowOrigin: config.corsAllowOrigin,
    });
    const { gateway, health } = this.functions;
    this.api = new PaymentHttpApi(this, "api", {
      naming,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
      throttlingRateLimit: config.apiThrottleRateLimit,
      throttlingBurstLimit: config.apiThrottleBurstLimit,
      corsAllowOrigin: config.corsAllowOrigin,
      routes: [
        { routeKey: "POST /transactions", target: gateway },
        { routeKey: "GET /transactions/{id}", target: gateway },
        { routeKey: "GET /health", target: health },
      ],
    });
    this.loadBalancer = new PaymentLoadBalancer(this, "alb", {
      naming,
      vpcId: this.network.vpcId,
      publicSubnetIds: this.network.publicSubnetIds,
      defaultTarget: gateway,
      healthTarget: health,
      certificateArn,
      accessLogs: { bucketName: accessLogsBucketName, prefix: ACCESS_LOG_PREFIX.alb, ready: this.accessLogs.policy },
    });
    this.webAcl = new PaymentWebAcl(this, "waf", {
      naming,
      loadBalancerArn: this.loadBalancer.arn,
      rateLimitPer5Minutes: config.wafRateLimitPer5Minutes,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
    });

    // --- observability, audit, failover
    this.alerts = new AlertTopic(this, "alerts", {
      naming,
      region,
      kmsKeyArn,
      accountId: this.accountId,
      partition: this.partition,
      email: config.alarmEmail,
    });
    this.monitoring = new Monitoring(this, "monitoring", {
      naming,
      region,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
      replicationLagThresholdSeconds: config.replicationLagThresholdSeconds,
      alarmTopicArn: this.alerts.topicArn,
      sourceRegionAlarmTopicArn: primary?.alerts.topicArn,
      resources: {
        database: { clusterIdentifier: this.database.clusterIdentifier, role },
        loadBalancer: { arnSuffix: this.loadBalancer.arnSuffix, targetGroupArnSuffixes: this.loadBalancer.targetGroups.map((tg) => tg.arnSuffix) },
        api: { apiId: this.api.apiId, stage: API_STAGE },
        queues: [
          { key: "transaction", name: this.transactionQueue.name, dlqName: this.transactionQueue.dlqName, maxAgeSeconds: 300 },
          { key: "notification", name: this.notificationQueue.name, dlqName: this.notificationQueue.dlqName, maxAgeSeconds: 300 },
        ],
        functions: this.functions.all.map((fn) => ({ key: fn.node.id.replace(/^payment-/, ""), name: fn.functionName })),
        tables: TABLE_IDS.map((key) => ({ key, name: this.tables.tables[key].name })),
        replicaRegion: role === "primary" ? config.drRegion : config.primaryRegion,
        bucketReplication: primary && this.logReplication
          ? { sourceRegion: primary.region, sourceBucket: primary.transactionLogs.bucketName, destinationBucket: this.transactionLogs.bucketName, ruleId: this.logReplication.ruleId }
          : undefined,
      },
    });
    if (role === "primary") {
      this.auditTrail = new AuditTrail(this, "audit-trail", {
        naming,
        region,
        kmsKeyArn,
        accountId: this.accountId,
        partition: this.partition,
        logRetentionDays: config.logRetentionDays,
        accessLogsBucketName,
      });
    }
    if (primary?.auditTrail) {
      // PCI DSS 10.5: a copy of the audit trail outside the region it describes.
      this.auditLogReplica = new AuditLogBucket(this, "audit-log-replica", { naming, region, kmsKeyArn, accessLogsBucketName });
      new BucketReplication(this, "audit-log-replication", { naming, name: "audit-logs", source: primary.auditTrail.bucket, destination: this.auditLogReplica });
    }
    if (primary && config.domainName && config.hostedZoneId) {
      this.dnsFailover = new DnsFailover(this, "dns-failover", {
        naming,
        domainName: config.domainName,
        hostedZoneId: config.hostedZoneId,
        primary: { region: primary.region, albDnsName: primary.loadBalancer.dnsName, albZoneId: primary.loadBalancer.zoneId, https: primary.loadBalancer.https },
        secondary: { region, albDnsName: this.loadBalancer.dnsName, albZoneId: this.loadBalancer.zoneId, https: this.loadBalancer.https },
        accountId: this.accountId,
        partition: this.partition,
        alarmEmail: config.alarmEmail,
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
      region: this.region,
      partition: this.partition,
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

  /** Operator-facing outputs: every attribute a runbook would look up. */
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
      transaction_queue_url: this.transactionQueue.url,
      transaction_dlq_arn: this.transactionQueue.dlqArn,
      notification_queue_url: this.notificationQueue.url,
      notification_topic_arn: this.notificationTopic.arn,
      api_endpoint: this.api.endpoint,
      alb_dns_name: this.loadBalancer.dnsName,
      alert_topic_arn: this.alerts.topicArn,
      dashboard_name: this.monitoring.dashboardName,
    };
    if (this.auditTrail) outputs.audit_trail_arn = this.auditTrail.trailArn;
    if (this.dnsFailover) outputs.failover_record_fqdn = this.dnsFailover.recordFqdn;
    for (const id of TABLE_IDS) {
      outputs[`${id}_table_name`] = this.tables.tables[id].name;
      outputs[`${id}_table_arn`] = this.tables.tables[id].arn;
    }
    if (this.tables.transactionsStreamArn) outputs.transactions_stream_arn = this.tables.transactionsStreamArn;
    for (const fn of this.functions.all) outputs[`${fn.node.id.replace(/-/g, "_")}_function_name`] = fn.functionName;
    for (const [name, value] of Object.entries(outputs)) new TerraformOutput(this, name, { value });
  }
}

function primaryTableArns(primary: PaymentRegionStack): Record<TableId, string> {
  return Object.fromEntries(TABLE_IDS.map((id) => [id, primary.tables.tables[id].arn])) as Record<TableId, string>;
}
