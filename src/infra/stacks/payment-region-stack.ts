import { S3Backend, TerraformOutput } from "cdktf";
import type { Construct } from "constructs";
import { API_STAGE } from "../../contracts/api";
import { type DeploymentConfig, type RegionRole, type RegionSettings, regionOf, subnetCidrs } from "../../contracts/config";
import { QUEUES } from "../../contracts/functions";
import { defaultTags, Naming } from "../../contracts/names";
import { TABLE_IDS, tableSlug } from "../../contracts/tables";
import { DnsFailover } from "../api/dns-failover";
import { PaymentHttpApi } from "../api/http-api";
import { PaymentLoadBalancer } from "../api/load-balancer";
import { PaymentWebAcl } from "../api/web-acl";
import { LedgerMigrator } from "../compute/ledger-migrator";
import { PaymentFunctions } from "../compute/payment-functions";
import { PendingSweeper } from "../compute/pending-sweeper";
import { AwsStack } from "../core/aws-stack";
import { BucketReplication } from "../data/bucket-replication";
import { AuroraGlobalDatabase, type MasterCredentials } from "../data/database";
import { PaymentTables } from "../data/tables";
import { TransactionLogBucket } from "../data/transaction-log-bucket";
import { NotificationTopic } from "../messaging/notification-topic";
import { QueueWithDlq } from "../messaging/queue";
import { Network } from "../network/network";
import { RegionPeering } from "../network/region-peering";
import { ACCESS_LOG_PREFIX, AccessLogBucket } from "../observability/access-log-bucket";
import { AlertTopic } from "../observability/alert-topic";
import { Monitoring } from "../observability/monitoring";
import { AuditLogBucket, AuditTrail, auditTrailName } from "../security/audit-trail";
import { RegionKey } from "../security/region-key";

export interface PaymentRegionStackProps {
  readonly config: DeploymentConfig;
  readonly role: RegionRole;
  /** The primary stack, for the DR side's cross-region links (references flow primary -> dr). */
  readonly primary?: PaymentRegionStack;
}

/** The region's data: what survives a failover through replication. */
export interface DataLayer {
  readonly database: AuroraGlobalDatabase;
  readonly tables: PaymentTables;
  readonly transactionLogs: TransactionLogBucket;
  /** S3 replication primary -> dr (dr stack only). */
  readonly logReplication?: BucketReplication;
  /** The master user's secret (primary stack only: the DR cluster has no credentials of its own). */
  readonly credentials?: MasterCredentials;
}

/** The region's payment services: queues, functions and the two front doors. */
export interface Services {
  readonly transactionQueue: QueueWithDlq;
  readonly notificationQueue: QueueWithDlq;
  readonly notificationTopic: NotificationTopic;
  readonly functions: PaymentFunctions;
  /** Re-enqueues payments left RECEIVED, once a minute. */
  readonly sweeper: PendingSweeper;
  readonly api: PaymentHttpApi;
  readonly loadBalancer: PaymentLoadBalancer;
  readonly webAcl: PaymentWebAcl;
  /** Applies the ledger's migrations at deploy (primary stack only). */
  readonly migrator?: LedgerMigrator;
}

/** Logs, alarms, audit and failover routing of the region. */
export interface Observability {
  readonly alerts: AlertTopic;
  readonly monitoring: Monitoring;
  /** The one CloudTrail trail (primary stack only). */
  readonly auditTrail?: AuditTrail;
  /** DR copy of the CloudTrail bucket (dr stack only). */
  readonly auditLogReplica?: AuditLogBucket;
  /** Route53 failover (dr stack only, when a domain and hosted zone are configured). */
  readonly dnsFailover?: DnsFailover;
}

/** One region of the deployment. Thin: reads config, wires constructs. */
export class PaymentRegionStack extends AwsStack {
  readonly role: RegionRole;
  readonly settings: RegionSettings;
  /** The other region's settings (its CIDR and zones are known from the configuration). */
  readonly peer: RegionSettings;
  /** The peering that lets either region's functions reach the writer (dr stack only). */
  readonly peering?: RegionPeering;
  readonly network: Network;
  readonly accessLogs: AccessLogBucket;
  readonly data: DataLayer;
  readonly services: Services;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: PaymentRegionStackProps) {
    const { config, role, primary } = props;
    const settings = regionOf(config, role);
    super(scope, id, {
      region: settings.region,
      naming: new Naming(config.environmentSuffix),
      tags: defaultTags(config, role),
      logRetentionDays: config.logRetentionDays,
    });
    if ((role === "dr") !== (primary !== undefined)) {
      throw new Error(`The ${role} stack ${role === "dr" ? "needs" : "must not have"} a primary stack to link to.`);
    }
    this.role = role;
    this.settings = settings;
    this.peer = regionOf(config, role === "primary" ? "dr" : "primary");

    const backend = new S3Backend(this, {
      bucket: config.stateBucket,
      key: `${config.stateKeyPrefix}/${id}.tfstate`,
      region: config.stateBucketRegion,
      encrypt: true,
    });
    // S3-native locking (Terraform >= 1.10); cdktf's S3Backend has no typed field for it.
    backend.addOverride("use_lockfile", true);

    this.key = new RegionKey(this, "encryption", { cloudTrailName: role === "primary" ? auditTrailName(this.naming) : undefined });
    this.network = new Network(this, "network", { cidr: settings.vpcCidr, zoneIds: settings.zoneIds });
    if (primary) {
      this.peering = new RegionPeering(this, "region-peering", { local: this.network, peer: primary.network, peerRegion: primary.region });
    }
    this.accessLogs = new AccessLogBucket(this, "access-logs", { loadBalancerLogs: true });

    this.data = this.buildDataLayer(config, primary);
    this.services = this.buildServices(config);
    this.observability = this.buildObservability(config, primary);
    this.addOutputs();
  }

  private buildDataLayer(config: DeploymentConfig, primary?: PaymentRegionStack): DataLayer {
    const common = {
      network: this.network,
      engineVersion: config.auroraEngineVersion,
      instanceClass: config.dbInstanceClass,
      instanceCount: this.settings.dbInstanceCount,
      writerRegions: [config.primaryRegion, config.drRegion],
    };
    const credentials = primary
      ? undefined
      : { secretId: config.dbSecretId, username: config.dbMasterUsername, passwordVersion: config.dbPasswordVersion };
    const database = primary
      ? new AuroraGlobalDatabase(this, "database", {
          ...common,
          role: "dr",
          primary: primary.data.database,
        })
      : new AuroraGlobalDatabase(this, "database", {
          ...common,
          role: "primary",
          credentials: credentials!,
        });
    const tables = new PaymentTables(this, "tables", primary ? { role: "dr", primary: primary.data.tables } : { role: "primary" });
    const transactionLogs = new TransactionLogBucket(this, "transaction-logs", { accessLogs: this.accessLogs });
    const logReplication = primary
      ? new BucketReplication(this, "transaction-log-replication", {
          name: "transaction-logs",
          source: primary.data.transactionLogs,
          destination: transactionLogs,
        })
      : undefined;
    return { database, tables, transactionLogs, logReplication, credentials };
  }

  private buildServices(config: DeploymentConfig): Services {
    const transactionQueue = new QueueWithDlq(this, "transaction-queue", { queueId: "transaction" });
    const notificationQueue = new QueueWithDlq(this, "notification-queue", { queueId: "notification" });
    const notificationTopic = new NotificationTopic(this, "notification-topic");
    const functions = new PaymentFunctions(this, "functions", {
      network: this.network,
      tables: this.data.tables,
      transactionQueue,
      notificationQueue,
      notificationTopic,
      transactionLogs: this.data.transactionLogs,
      database: this.data.database,
      memoryMb: config.lambdaMemoryMb,
      reservedConcurrency: config.lambdaReservedConcurrency,
      processorMaxConcurrency: config.processorMaxConcurrency,
      balancesMaxConcurrency: config.balancesMaxConcurrency,
      peerPrivateCidrs: subnetCidrs(this.peer.vpcCidr, this.peer.zoneIds.length).private,
      maxPaymentAmountMinor: config.maxPaymentAmountMinor,
      riskLimitMinor: config.riskLimitMinor,
      allowedCurrencies: config.allowedCurrencies,
      corsAllowOrigin: config.corsAllowOrigin,
      authCacheTtlSeconds: config.authCacheTtlSeconds,
    });
    const sweeper = new PendingSweeper(this, "sweeper", {
      tables: this.data.tables,
      transactionQueue,
      vpc: { subnetIds: this.network.privateSubnetIds, securityGroupIds: [functions.securityGroupId] },
      memoryMb: config.lambdaMemoryMb,
      ageSeconds: config.sweeperAgeSeconds,
      adoptAgeSeconds: config.sweeperAdoptAgeSeconds,
      maxPerRun: config.sweeperMaxPerRun,
    });
    const api = new PaymentHttpApi(this, "api", {
      functions: functions.all,
      throttlingRateLimit: config.apiThrottleRateLimit,
      throttlingBurstLimit: config.apiThrottleBurstLimit,
      corsAllowOrigin: config.corsAllowOrigin,
    });
    const loadBalancer = new PaymentLoadBalancer(this, "alb", {
      network: this.network,
      functions: functions.all,
      certificateArn: this.settings.certificateArn,
      accessLogs: { bucketName: this.accessLogs.bucketName, prefix: ACCESS_LOG_PREFIX.alb, ready: this.accessLogs.policy },
    });
    const webAcl = new PaymentWebAcl(this, "waf", {
      loadBalancerArn: loadBalancer.arn,
      rateLimitPer5Minutes: config.wafRateLimitPer5Minutes,
      merchantRateLimitPer5Minutes: config.wafRateLimitPerMerchantPer5Minutes,
    });
    const migrator = this.data.credentials
      ? new LedgerMigrator(this, "ledger-migrator", {
          database: this.data.database,
          credentials: this.data.credentials,
          vpc: functions.ledgerPlacement,
          memoryMb: config.lambdaMemoryMb,
        })
      : undefined;
    return { transactionQueue, notificationQueue, notificationTopic, functions, sweeper, api, loadBalancer, webAcl, migrator };
  }

  private buildObservability(config: DeploymentConfig, primary?: PaymentRegionStack): Observability {
    const { data, services } = this;
    const alerts = new AlertTopic(this, "alerts", { email: config.alarmEmail });
    const monitoring = new Monitoring(this, "monitoring", {
      replicationLagThresholdSeconds: config.replicationLagThresholdSeconds,
      alarmTopicArn: alerts.topicArn,
      sourceRegionAlarmTopicArn: primary?.observability.alerts.topicArn,
      resources: {
        database: { clusterIdentifier: data.database.clusterIdentifier, role: this.role },
        loadBalancer: {
          arnSuffix: services.loadBalancer.arnSuffix,
          targetGroupArnSuffixes: services.loadBalancer.targetGroups.map((tg) => tg.arnSuffix),
        },
        api: { apiId: services.api.apiId, stage: API_STAGE },
        queues: [services.transactionQueue, services.notificationQueue].map((q) => ({
          key: q.queueId,
          name: q.name,
          dlqName: q.dlqName,
          maxAgeSeconds: QUEUES[q.queueId].maxAgeSeconds,
        })),
        functions: [...services.functions.all, services.sweeper.function, ...(services.migrator ? [services.migrator.function] : [])].map(
          (fn) => ({
            key: fn.contract.key,
            name: fn.functionName,
          }),
        ),
        sweeper: { pendingAlarmThreshold: config.sweeperPendingAlarmThreshold },
        tables: TABLE_IDS.map((id) => ({ key: tableSlug(id), name: data.tables.tables[id].name })),
        replicaRegion: this.role === "primary" ? config.drRegion : config.primaryRegion,
        bucketReplication:
          primary && data.logReplication
            ? {
                sourceRegion: primary.region,
                sourceBucket: primary.data.transactionLogs.bucketName,
                destinationBucket: data.transactionLogs.bucketName,
                ruleId: data.logReplication.ruleId,
              }
            : undefined,
      },
    });
    const auditTrail = this.role === "primary" ? new AuditTrail(this, "audit-trail", { accessLogs: this.accessLogs }) : undefined;
    let auditLogReplica: AuditLogBucket | undefined;
    if (primary?.observability.auditTrail) {
      // PCI DSS 10.5: a copy of the audit trail outside the region it describes.
      auditLogReplica = new AuditLogBucket(this, "audit-log-replica", { accessLogs: this.accessLogs });
      new BucketReplication(this, "audit-log-replication", {
        name: "audit-logs",
        source: primary.observability.auditTrail.bucket,
        destination: auditLogReplica,
      });
    }
    const dnsFailover =
      primary && config.domainName && config.hostedZoneId
        ? new DnsFailover(this, "dns-failover", {
            domainName: config.domainName,
            hostedZoneId: config.hostedZoneId,
            primary: primary.services.loadBalancer.endpoint(primary.region),
            secondary: services.loadBalancer.endpoint(this.region),
            alarmEmail: config.alarmEmail,
          })
        : undefined;
    return { alerts, monitoring, auditTrail, auditLogReplica, dnsFailover };
  }

  /** Operator-facing outputs: every attribute a runbook would look up. */
  private addOutputs(): void {
    const { data, services, observability } = this;
    const outputs: Record<string, string | string[]> = {
      kms_key_arn: this.key.arn,
      vpc_id: this.network.vpcId,
      private_subnet_ids: this.network.privateSubnetIds,
      public_subnet_ids: this.network.publicSubnetIds,
      aurora_cluster_identifier: data.database.clusterIdentifier,
      aurora_global_cluster_identifier: data.database.globalClusterIdentifier,
      aurora_writer_endpoint: data.database.endpoint,
      aurora_reader_endpoint: data.database.readerEndpoint,
      transaction_log_bucket: data.transactionLogs.bucketName,
      transaction_queue_url: services.transactionQueue.url,
      transaction_dlq_arn: services.transactionQueue.dlqArn,
      notification_queue_url: services.notificationQueue.url,
      notification_topic_arn: services.notificationTopic.arn,
      api_endpoint: services.api.endpoint,
      alb_dns_name: services.loadBalancer.dnsName,
      alert_topic_arn: observability.alerts.topicArn,
      dashboard_name: observability.monitoring.dashboardName,
    };
    if (observability.auditTrail) outputs.audit_trail_arn = observability.auditTrail.trailArn;
    if (observability.dnsFailover) outputs.failover_record_fqdn = observability.dnsFailover.recordFqdn;
    for (const id of TABLE_IDS) {
      const prefix = tableSlug(id).replaceAll("-", "_");
      outputs[`${prefix}_table_name`] = data.tables.tables[id].name;
      outputs[`${prefix}_table_arn`] = data.tables.tables[id].arn;
    }
    if (data.tables.transactionsStreamArn) outputs.transactions_stream_arn = data.tables.transactionsStreamArn;
    for (const fn of [...services.functions.all, services.sweeper.function]) {
      outputs[`${fn.contract.handler.replaceAll("-", "_")}_function_name`] = fn.functionName;
    }
    outputs.sweeper_schedule_name = services.sweeper.scheduleName;
    for (const [name, value] of Object.entries(outputs)) new TerraformOutput(this, name, { value });
  }
}
