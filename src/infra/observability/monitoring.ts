import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, PAYMENT_METRICS, SWEEPER } from "../../contracts/functions";
import { AwsStack } from "../core/aws-stack";
import { EncryptedLogGroup } from "./log-group";

/** One CloudWatch metric, as both an alarm and a dashboard widget read it. */
export interface MetricSpec {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly statistic: "Average" | "Sum" | "Minimum" | "Maximum" | "SampleCount";
  readonly periodSeconds: number;
  /** Region the metric is published in, when not the stack's (S3 replication metrics). */
  readonly region?: string;
  readonly label: string;
}

export type Comparison = "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" | "LessThanThreshold" | "LessThanOrEqualToThreshold";

export interface AlarmSpec {
  /** Short id, unique in the stack: also the alarm name's stem. */
  readonly id: string;
  readonly description: string;
  readonly metric: MetricSpec;
  readonly comparison: Comparison;
  readonly threshold: number;
  readonly evaluationPeriods: number;
  /** Chosen per alarm: "breaching" where silence means trouble, "notBreaching" where it means no traffic. */
  readonly treatMissingData: "breaching" | "notBreaching" | "ignore" | "missing";
}

export interface DashboardSection {
  readonly title: string;
  readonly metrics: MetricSpec[];
}

/** Monitored things of a region, handed over with the names their metrics are keyed by. */
export interface MonitoredResources {
  readonly database: { readonly clusterIdentifier: string; readonly role: "primary" | "dr" };
  readonly loadBalancer: { readonly arnSuffix: string; readonly targetGroupArnSuffixes: readonly string[] };
  readonly api: { readonly apiId: string; readonly stage: string };
  /** `key` is a short, stable id used in alarm names; `name` is what the metric is keyed by. */
  readonly queues: ReadonlyArray<{ readonly key: string; readonly name: string; readonly dlqName: string; readonly maxAgeSeconds: number }>;
  readonly functions: ReadonlyArray<{ readonly key: string; readonly name: string }>;
  readonly tables: ReadonlyArray<{ readonly key: string; readonly name: string }>;
  /** The pending-payment sweeper: its PaymentsPending gauge is alarmed above this threshold. */
  readonly sweeper?: { readonly pendingAlarmThreshold: number };
  /** Region the tables replicate to (DynamoDB ReplicationLatency's ReceivingRegion). */
  readonly replicaRegion: string;
  /** S3 replication owned by this stack: metrics live in the source region. */
  readonly bucketReplication?: {
    readonly sourceRegion: string;
    readonly sourceBucket: string;
    readonly destinationBucket: string;
    readonly ruleId: string;
  };
}

export interface MonitoringProps {
  readonly resources: MonitoredResources;
  /** Alert topic in this region. */
  readonly alarmTopicArn: string;
  /** Alert topic in the S3 replication source region (alarm actions must be in the alarm's region). */
  readonly sourceRegionAlarmTopicArn?: string;
  readonly replicationLagThresholdSeconds: number;
}

const minute = 60;

/**
 * Alarms and the dashboard of one region, built from one list of metric definitions so that
 * what pages someone and what they look at can never disagree.
 */
export class Monitoring extends Construct {
  readonly alarms: AlarmSpec[];
  readonly sections: DashboardSection[];
  readonly alarmResources: CloudwatchMetricAlarm[];
  readonly dashboardName: string;
  readonly applicationLogGroupName: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { naming, region } = AwsStack.of(this);
    const { alarms, sections } = monitoringPlan(props.resources, props.replicationLagThresholdSeconds);
    this.alarms = alarms;
    this.sections = sections;

    this.alarmResources = alarms.map((alarm) => {
      const elsewhere = alarm.metric.region !== undefined && alarm.metric.region !== region;
      const topic = elsewhere ? props.sourceRegionAlarmTopicArn : props.alarmTopicArn;
      if (!topic) throw new Error(`Alarm ${alarm.id} is in ${alarm.metric.region} but no alert topic there was given.`);
      return new CloudwatchMetricAlarm(this, alarm.id, {
        ...(elsewhere ? { provider: AwsStack.of(this).providerFor(alarm.metric.region!) } : {}),
        alarmName: naming.name(`payment-${alarm.id}`),
        alarmDescription: alarm.description,
        namespace: alarm.metric.namespace,
        metricName: alarm.metric.metricName,
        dimensions: { ...alarm.metric.dimensions },
        statistic: alarm.metric.statistic,
        period: alarm.metric.periodSeconds,
        evaluationPeriods: alarm.evaluationPeriods,
        threshold: alarm.threshold,
        comparisonOperator: alarm.comparison,
        treatMissingData: alarm.treatMissingData,
        alarmActions: [topic],
        okActions: [topic],
      });
    });

    this.dashboardName = naming.dashboard();
    new CloudwatchDashboard(this, "dashboard", {
      dashboardName: this.dashboardName,
      dashboardBody: JSON.stringify(dashboardBody(sections, region)),
    });

    this.applicationLogGroupName = new EncryptedLogGroup(this, "application-logs", {
      name: `/aws/payment-processing/${naming.suffix}`,
    }).name;
  }
}

/** The alarms and dashboard sections for a region's resources (pure: tested without synth). */
export function monitoringPlan(
  r: MonitoredResources,
  replicationLagThresholdSeconds: number,
): { alarms: AlarmSpec[]; sections: DashboardSection[] } {
  const alarms: AlarmSpec[] = [];
  const sections: DashboardSection[] = [];
  const metric = (
    namespace: string,
    metricName: string,
    dimensions: Record<string, string>,
    statistic: MetricSpec["statistic"],
    periodSeconds: number,
    label: string,
    region?: string,
  ): MetricSpec => ({
    namespace,
    metricName,
    dimensions,
    statistic,
    periodSeconds,
    label,
    ...(region ? { region } : {}),
  });

  // Database: writer health in both regions (the DR writer exists after promotion), replication lag in DR.
  const writer = { DBClusterIdentifier: r.database.clusterIdentifier, Role: "WRITER" };
  const dbConnections = metric("AWS/RDS", "DatabaseConnections", writer, "Average", 5 * minute, "Writer connections");
  const dbCpu = metric("AWS/RDS", "CPUUtilization", writer, "Average", 5 * minute, "Writer CPU %");
  alarms.push(
    {
      id: "aurora-connections",
      description: "Aurora writer has more than 80 connections (5-minute average, 2 periods): connection pool exhaustion ahead.",
      metric: dbConnections,
      comparison: "GreaterThanThreshold",
      threshold: 80,
      evaluationPeriods: 2,
      treatMissingData: "notBreaching",
    },
    {
      id: "aurora-cpu",
      description: "Aurora writer CPU above 80% (5-minute average, 2 periods).",
      metric: dbCpu,
      comparison: "GreaterThanThreshold",
      threshold: 80,
      evaluationPeriods: 2,
      treatMissingData: "notBreaching",
    },
  );
  const dbMetrics = [dbConnections, dbCpu];
  if (r.database.role === "dr") {
    const lag = metric(
      "AWS/RDS",
      "AuroraGlobalDBReplicationLag",
      { DBClusterIdentifier: r.database.clusterIdentifier },
      "Average",
      minute,
      "Global replication lag (ms)",
    );
    alarms.push({
      id: "aurora-replication-lag",
      description: `Aurora Global Database lag to this region above ${replicationLagThresholdSeconds} s (3 minutes): an unplanned failover now would lose that much. Missing data means replication stopped.`,
      metric: lag,
      comparison: "GreaterThanThreshold",
      threshold: replicationLagThresholdSeconds * 1000,
      evaluationPeriods: 3,
      treatMissingData: "breaching",
    });
    dbMetrics.push(lag);
  }
  sections.push({ title: "Database (Aurora)", metrics: dbMetrics });

  // Load balancer.
  const lb = { LoadBalancer: r.loadBalancer.arnSuffix };
  const responseTime = metric("AWS/ApplicationELB", "TargetResponseTime", lb, "Average", minute, "Target response time (s)");
  const elb5xx = metric("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum", 5 * minute, "ALB 5XX");
  const target5xx = metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum", 5 * minute, "Target 5XX");
  alarms.push(
    {
      id: "alb-response-time",
      description: "ALB target response time above 1 s (1-minute average, 3 periods).",
      metric: responseTime,
      comparison: "GreaterThanThreshold",
      threshold: 1,
      evaluationPeriods: 3,
      treatMissingData: "notBreaching",
    },
    {
      id: "alb-5xx",
      description: "ALB itself answered more than 10 5XX in 5 minutes (targets failing or unreachable).",
      metric: elb5xx,
      comparison: "GreaterThanThreshold",
      threshold: 10,
      evaluationPeriods: 1,
      treatMissingData: "notBreaching",
    },
    {
      id: "alb-target-5xx",
      description: "Functions behind the ALB answered more than 10 5XX in 5 minutes.",
      metric: target5xx,
      comparison: "GreaterThanThreshold",
      threshold: 10,
      evaluationPeriods: 1,
      treatMissingData: "notBreaching",
    },
  );
  const lbMetrics = [responseTime, elb5xx, target5xx];
  r.loadBalancer.targetGroupArnSuffixes.forEach((tg, i) => {
    const healthy = metric(
      "AWS/ApplicationELB",
      "HealthyHostCount",
      { ...lb, TargetGroup: tg },
      "Minimum",
      minute,
      `Healthy targets (group ${i + 1})`,
    );
    alarms.push({
      id: `alb-healthy-hosts-${i + 1}`,
      description: `Target group ${i + 1} has no healthy target (2 minutes). Silence counts as unhealthy.`,
      metric: healthy,
      comparison: "LessThanThreshold",
      threshold: 1,
      evaluationPeriods: 2,
      treatMissingData: "breaching",
    });
    lbMetrics.push(healthy);
  });
  sections.push({ title: "Load balancer", metrics: lbMetrics });

  // HTTP API.
  const api = { ApiId: r.api.apiId, Stage: r.api.stage };
  const api5xx = metric("AWS/ApiGateway", "5xx", api, "Sum", 5 * minute, "API 5XX");
  const apiLatency = metric("AWS/ApiGateway", "Latency", api, "Average", minute, "API latency (ms)");
  alarms.push(
    {
      id: "api-5xx",
      description: "HTTP API answered more than 10 5XX in 5 minutes.",
      metric: api5xx,
      comparison: "GreaterThanThreshold",
      threshold: 10,
      evaluationPeriods: 1,
      treatMissingData: "notBreaching",
    },
    {
      id: "api-latency",
      description: "HTTP API latency above 500 ms (1-minute average, 3 periods).",
      metric: apiLatency,
      comparison: "GreaterThanThreshold",
      threshold: 500,
      evaluationPeriods: 3,
      treatMissingData: "notBreaching",
    },
  );
  sections.push({
    title: "HTTP API",
    metrics: [api5xx, apiLatency, metric("AWS/ApiGateway", "Count", api, "Sum", minute, "API requests")],
  });

  // Queues: anything in a DLQ needs a human; an old message means the consumer is stuck.
  const queueMetrics: MetricSpec[] = [];
  for (const q of r.queues) {
    const dlqDepth = metric(
      "AWS/SQS",
      "ApproximateNumberOfMessagesVisible",
      { QueueName: q.dlqName },
      "Maximum",
      minute,
      `${q.key} DLQ depth`,
    );
    const age = metric(
      "AWS/SQS",
      "ApproximateAgeOfOldestMessage",
      { QueueName: q.name },
      "Maximum",
      minute,
      `${q.key} queue oldest message (s)`,
    );
    alarms.push(
      {
        id: `${q.key}-dlq-depth`,
        description: `Messages in the ${q.key} dead-letter queue: work that failed every retry. Inspect and redrive.`,
        metric: dlqDepth,
        comparison: "GreaterThanThreshold",
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
      },
      {
        id: `${q.key}-queue-age`,
        description: `Oldest message in the ${q.key} queue older than ${q.maxAgeSeconds} s for 5 minutes: its consumer is stuck or throttled.`,
        metric: age,
        comparison: "GreaterThanThreshold",
        threshold: q.maxAgeSeconds,
        evaluationPeriods: 5,
        treatMissingData: "notBreaching",
      },
    );
    queueMetrics.push(
      age,
      dlqDepth,
      metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", { QueueName: q.name }, "Maximum", minute, `${q.key} queue depth`),
    );
  }
  sections.push({ title: "Queues", metrics: queueMetrics });

  // Functions.
  const fnMetrics: MetricSpec[] = [];
  for (const { key, name } of r.functions) {
    const errors = metric("AWS/Lambda", "Errors", { FunctionName: name }, "Sum", 5 * minute, `${key} errors`);
    const throttles = metric("AWS/Lambda", "Throttles", { FunctionName: name }, "Sum", 5 * minute, `${key} throttles`);
    alarms.push(
      {
        id: `${key}-errors`,
        description: `${name} had failed invocations in 5 minutes (uncaught errors, timeouts).`,
        metric: errors,
        comparison: "GreaterThanThreshold",
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
      },
      {
        id: `${key}-throttles`,
        description: `${name} was throttled in 5 minutes: reserved concurrency reached.`,
        metric: throttles,
        comparison: "GreaterThanThreshold",
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
      },
    );
    fnMetrics.push(errors, throttles, metric("AWS/Lambda", "Duration", { FunctionName: name }, "Average", minute, `${key} duration (ms)`));
  }
  sections.push({ title: "Functions", metrics: fnMetrics });

  // Payments, from the handlers' embedded metrics.
  const payments = Object.fromEntries(
    Object.entries(PAYMENT_METRICS).map(([id, m]) => [
      id,
      metric(METRICS_NAMESPACE, m.name, { service: m.service }, m.statistic, minute, `payments ${m.label}`),
    ]),
  ) as Record<keyof typeof PAYMENT_METRICS, MetricSpec>;
  if (r.sweeper) {
    alarms.push({
      id: "sweeper-pending",
      description: `More than ${r.sweeper.pendingAlarmThreshold} payments still RECEIVED past the sweeper's age for ${SWEEPER.pendingAlarmMinutes} minutes: they are not being posted (processor or ledger failing, or another region's payments waiting for adoption). Run npm run dr -- reconcile. The sweeper reports every minute, so silence means it is not running.`,
      metric: payments.pending,
      comparison: "GreaterThanThreshold",
      threshold: r.sweeper.pendingAlarmThreshold,
      evaluationPeriods: SWEEPER.pendingAlarmMinutes,
      treatMissingData: "breaching",
    });
  }
  alarms.push({
    id: "key-conflicts",
    description:
      'An Idempotency-Key was accepted with two different bodies (two regions within the replication delay): the ledger holds one, the item follows it and records the other as conflict. Tell the merchant: GET /transactions/{id} shows both. Logs: "accepted with two bodies".',
    metric: payments.conflicted,
    comparison: "GreaterThanThreshold",
    threshold: 0,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
  });
  sections.push({ title: "Payments", metrics: Object.values(payments) });

  // Replication.
  const replicationMetrics: MetricSpec[] = [];
  for (const { key, name } of r.tables) {
    const latency = metric(
      "AWS/DynamoDB",
      "ReplicationLatency",
      { TableName: name, ReceivingRegion: r.replicaRegion },
      "Average",
      minute,
      `${key} replication to ${r.replicaRegion} (ms)`,
    );
    alarms.push({
      id: `${key}-table-replication`,
      description: `The ${key} table takes over 10 s on average to replicate to ${r.replicaRegion} (5 minutes).`,
      metric: latency,
      comparison: "GreaterThanThreshold",
      threshold: 10_000,
      evaluationPeriods: 5,
      treatMissingData: "notBreaching",
    });
    replicationMetrics.push(latency);
  }
  if (r.bucketReplication) {
    const b = r.bucketReplication;
    const dims = { SourceBucket: b.sourceBucket, DestinationBucket: b.destinationBucket, RuleId: b.ruleId };
    const latency = metric("AWS/S3", "ReplicationLatency", dims, "Maximum", 5 * minute, "S3 replication latency (s)", b.sourceRegion);
    const failed = metric(
      "AWS/S3",
      "OperationsFailedReplication",
      dims,
      "Sum",
      5 * minute,
      "S3 objects failed to replicate",
      b.sourceRegion,
    );
    alarms.push(
      {
        id: "s3-replication-latency",
        description: "Transaction-log replication slower than its 15-minute RTC target.",
        metric: latency,
        comparison: "GreaterThanThreshold",
        threshold: 900,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
      },
      {
        id: "s3-replication-failed",
        description: "Transaction-log objects failed to replicate to the DR bucket.",
        metric: failed,
        comparison: "GreaterThanThreshold",
        threshold: 0,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
      },
    );
    replicationMetrics.push(latency, failed);
  }
  sections.push({ title: "Replication", metrics: replicationMetrics });

  return { alarms, sections };
}

/** CloudWatch dashboard JSON: a text header and one graph per section, 2 per row. */
export function dashboardBody(sections: DashboardSection[], region: string): { widgets: object[] } {
  const widgets: object[] = [];
  sections.forEach((section, i) => {
    widgets.push({
      type: "metric",
      x: (i % 2) * 12,
      y: Math.floor(i / 2) * 6,
      width: 12,
      height: 6,
      properties: {
        title: section.title,
        region,
        view: "timeSeries",
        stacked: false,
        metrics: section.metrics.map((m) => [
          m.namespace,
          m.metricName,
          ...Object.entries(m.dimensions).flat(),
          { stat: m.statistic, period: m.periodSeconds, label: m.label, ...(m.region ? { region: m.region } : {}) },
        ]),
      },
    });
  });
  return { widgets };
}
