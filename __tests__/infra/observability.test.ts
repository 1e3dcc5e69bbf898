/**
 * Observability on the real stacks: alarms, their coverage, the dashboard, log groups, alert
 * topics, CloudTrail and Route53 failover, as `primary` and `dr` synthesize them. The construct
 * tests (alert-topic, audit-trail, dns-failover) cover each construct alone; these cover how the
 * stack wires them to the resources it actually creates.
 */
import { Cloudtrail } from "@cdktf/provider-aws/lib/cloudtrail";
import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { DynamodbTableReplicaA } from "@cdktf/provider-aws/lib/dynamodb-table-replica";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { Route53HealthCheck } from "@cdktf/provider-aws/lib/route53-health-check";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { monitoringPlan } from "../../src/infra/observability/monitoring";
import { aliasFor, type Synth, synthAppToDisk, synthStacks } from "./support";

type Role = "primary" | "dr";
const ROLES: Role[] = ["primary", "dr"];
const REGION: Record<Role, string> = { primary: "ap-southeast-1", dr: "ap-southeast-2" };
const OTHER_REGION: Record<Role, string> = { primary: "ap-southeast-2", dr: "ap-southeast-1" };
const ALERT_TOPIC = "payment-alerts-dev";
const REMOTE_INPUT = "cross-stack-reference-input-primary";
const PRIMARY_CERT = "arn:aws:acm:ap-southeast-1:123456789012:certificate/11111111-2222-4333-8444-555555555555";
const DR_CERT = "arn:aws:acm:ap-southeast-2:123456789012:certificate/66666666-7777-4888-9999-000000000000";
/** A failover domain needs a certificate in each region (config refuses plain HTTP behind it). */
const DNS = {
  domainName: "api.example.com",
  hostedZoneId: "Z0123456789ABCDEFGHIJ",
  primaryCertificateArn: PRIMARY_CERT,
  drCertificateArn: DR_CERT,
};

// ---------------------------------------------------------------- synthesis, once per configuration

interface Stacks {
  /** Testing.synth output, for toHaveResourceWithProperties. */
  readonly text: Record<Role, string>;
  readonly json: Record<Role, Synth>;
}

function once<T>(produce: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= produce());
}

function stacks(context: Record<string, unknown> = {}): () => Stacks {
  return once(() => {
    const { primary, dr } = synthStacks(context);
    return { text: { primary, dr }, json: { primary: JSON.parse(primary), dr: JSON.parse(dr) } };
  });
}

const defaults = stacks();
const withLag30 = stacks({ replicationLagThresholdSeconds: 30 });
const withRetention731 = stacks({ logRetentionDays: 731 });
const withEmail = stacks({ alarmEmail: "oncall@example.com" });
const withDns = stacks(DNS);
const onDisk = once(() => synthAppToDisk());
const onDiskWithDns = once(() => synthAppToDisk(DNS));

// ---------------------------------------------------------------- helpers over synthesized JSON

function entries(stack: Synth, type: string): Array<[string, Synth]> {
  return Object.entries(stack.resource?.[type] ?? {}) as Array<[string, Synth]>;
}

/** Logical id of the one resource of `type` matching `where`; throws when not exactly one. */
function theId(stack: Synth, type: string, where: (r: Synth) => boolean = () => true): string {
  const found = entries(stack, type).filter(([, r]) => where(r));
  if (found.length !== 1) throw new Error(`expected one ${type} matching, found ${found.length}`);
  return found[0][0];
}

const ref = (type: string, id: string, attr: string): string => `\${${type}.${id}.${attr}}`;

interface Ref {
  readonly type: string;
  readonly id: string;
  readonly attr: string;
}
function parseRef(value: unknown): Ref | undefined {
  const m = typeof value === "string" ? /^\$\{(aws_[a-z0-9_]+)\.([\w-]+)\.([a-z0-9_]+)\}$/.exec(value) : null;
  return m ? { type: m[1], id: m[2], attr: m[3] } : undefined;
}

interface RemoteRef {
  readonly input: string;
  readonly output: string;
}
function parseRemote(value: unknown): RemoteRef | undefined {
  const m = typeof value === "string" ? /^\$\{data\.terraform_remote_state\.([\w-]+)\.outputs\.([\w-]+)\}$/.exec(value) : null;
  return m ? { input: m[1], output: m[2] } : undefined;
}

/** dr value read from primary's state: checks the remote-state read exists, returns primary's output value. */
function throughRemoteState(app: { primary: Synth; dr: Synth }, value: unknown): string {
  const remote = parseRemote(value);
  if (!remote) throw new Error(`not a remote-state reference: ${String(value)}`);
  expect(remote.input).toBe(REMOTE_INPUT);
  expect(app.dr.data?.terraform_remote_state?.[remote.input]).toBeDefined();
  const output = app.primary.output?.[remote.output];
  if (!output) throw new Error(`primary has no output ${remote.output}`);
  return output.value;
}

const alarmsOf = (stack: Synth): Synth[] => entries(stack, CloudwatchMetricAlarm.tfResourceType).map(([, a]) => a);
const monitoringAlarmsOf = (stack: Synth): Synth[] => alarmsOf(stack).filter((a) => !String(a.alarm_name).startsWith("payment-health-"));
const alertTopicArn = (stack: Synth): string =>
  ref(
    "aws_sns_topic",
    theId(stack, SnsTopic.tfResourceType, (t) => t.name === ALERT_TOPIC),
    "arn",
  );
/** The region's data key (the dr stack may also hold the us-east-1 Route53 alert key). */
const dataKeyArn = (stack: Synth): string =>
  ref(
    "aws_kms_key",
    theId(stack, KmsKey.tfResourceType, (k) => String(k.description).startsWith("Payment processing data key")),
    "arn",
  );
/** Each function's name as alarms read it: the function resource's function_name attribute. */
const functionNames = (stack: Synth): string[] =>
  entries(stack, LambdaFunction.tfResourceType).map(([id]) => ref(LambdaFunction.tfResourceType, id, "function_name"));

/** Names of the tables a stack holds: primary's own tables, or the tables dr's replicas join. */
function tableNames(stack: Synth, primary: Synth, app?: { primary: Synth; dr: Synth }): string[] {
  const own = entries(stack, DynamodbTable.tfResourceType).map(([, t]) => t.name as string);
  const replicated = entries(stack, DynamodbTableReplicaA.tfResourceType).map(([, replica]) => {
    // On disk the ARN is a remote-state read; in memory (no cross-stack preparation) it renders as primary's address.
    const arn = parseRemote(replica.global_table_arn) && app ? throughRemoteState(app, replica.global_table_arn) : replica.global_table_arn;
    const table = parseRef(arn);
    expect(table).toMatchObject({ type: "aws_dynamodb_table", attr: "arn" });
    return primary.resource.aws_dynamodb_table[table!.id].name as string;
  });
  return [...own, ...replicated];
}

const sameDimensions = (a: Record<string, string>, b: Record<string, string>): boolean =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

const alarmNamed = (stack: Synth, name: string): Synth => {
  const found = alarmsOf(stack).filter((a) => a.alarm_name === name);
  if (found.length !== 1) throw new Error(`expected one alarm ${name}, found ${found.length}`);
  return found[0];
};

// ---------------------------------------------------------------- 1. alarms

describe("alarms: metric, statistic, threshold, actions", () => {
  const inStack = (role: Role) => {
    const { text, json } = defaults();
    const stack = json[role];
    const topic = alertTopicArn(stack);
    return { text: text[role], stack, common: { alarm_actions: [topic], ok_actions: [topic] } };
  };

  test.each(ROLES)("%s: Aurora writer connections > 80 and CPU > 80 (Average, 300 s, 2 periods, Role=WRITER)", (role) => {
    const { text, stack, common } = inStack(role);
    const cluster = entries(stack, "aws_rds_cluster").map(([, c]) => c.cluster_identifier);
    expect(cluster).toEqual([`payment-aurora-${role}-dev`]);
    const writer = { DBClusterIdentifier: cluster[0], Role: "WRITER" };
    for (const [name, metric] of [
      ["payment-aurora-connections-dev", "DatabaseConnections"],
      ["payment-aurora-cpu-dev", "CPUUtilization"],
    ]) {
      expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        ...common,
        alarm_name: name,
        namespace: "AWS/RDS",
        metric_name: metric,
        dimensions: writer,
        statistic: "Average",
        period: 300,
        evaluation_periods: 2,
        threshold: 80,
        comparison_operator: "GreaterThanThreshold",
        treat_missing_data: "notBreaching",
      });
    }
  });

  test("Aurora global replication lag: only in dr, on the secondary cluster, 5 s = 5000 ms by default, silence breaches", () => {
    const { text, json } = defaults();
    expect(alarmsOf(json.primary).filter((a) => a.metric_name === "AuroraGlobalDBReplicationLag")).toEqual([]);
    expect(text.dr).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
      alarm_name: "payment-aurora-replication-lag-dev",
      namespace: "AWS/RDS",
      metric_name: "AuroraGlobalDBReplicationLag",
      dimensions: { DBClusterIdentifier: "payment-aurora-dr-dev" },
      statistic: "Average",
      period: 60,
      evaluation_periods: 3,
      threshold: 5000,
      comparison_operator: "GreaterThanThreshold",
      treat_missing_data: "breaching",
      alarm_actions: [alertTopicArn(json.dr)],
      ok_actions: [alertTopicArn(json.dr)],
    });
  });

  test.each(ROLES)(
    "%s: payment-sweeper-pending fires when more than 10 payments stay pending past the sweeper's age for 5 minutes; silence breaches",
    (role) => {
      const { text, common } = inStack(role);
      expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        ...common,
        alarm_name: "payment-sweeper-pending-dev",
        namespace: "PaymentProcessing",
        metric_name: "PaymentsPending",
        dimensions: { service: "pending-sweeper" },
        statistic: "Maximum",
        period: 60,
        evaluation_periods: 5,
        threshold: 10,
        comparison_operator: "GreaterThanThreshold",
        // The sweeper reports every minute, 0 included: no data means it is not running.
        treat_missing_data: "breaching",
      });
    },
  );

  test.each(ROLES)(
    "%s: payment-key-conflicts fires on any Idempotency-Key accepted with two bodies (processor's PaymentsConflicted)",
    (role) => {
      const { text, common } = inStack(role);
      expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        ...common,
        alarm_name: "payment-key-conflicts-dev",
        namespace: "PaymentProcessing",
        metric_name: "PaymentsConflicted",
        dimensions: { service: "transaction-processor" },
        statistic: "Sum",
        period: 60,
        evaluation_periods: 1,
        threshold: 0,
        comparison_operator: "GreaterThanThreshold",
        treat_missing_data: "notBreaching",
      });
    },
  );

  test("the pending alarm's threshold follows sweeperPendingAlarmThreshold", () => {
    const resources = {
      database: { clusterIdentifier: "c", role: "primary" as const },
      loadBalancer: { arnSuffix: "lb", targetGroupArnSuffixes: [] },
      api: { apiId: "a", stage: "prod" },
      queues: [],
      functions: [],
      tables: [],
      replicaRegion: "ap-southeast-2",
    };
    const pendingAlarm = (threshold?: number) =>
      monitoringPlan(
        { ...resources, ...(threshold === undefined ? {} : { sweeper: { pendingAlarmThreshold: threshold } }) },
        5,
      ).alarms.find((a) => a.id === "sweeper-pending");
    expect(pendingAlarm(250)).toMatchObject({ threshold: 250, evaluationPeriods: 5 });
    expect(pendingAlarm()).toBeUndefined();
  });

  test("the replication lag threshold follows replicationLagThresholdSeconds (30 s -> 30000 ms)", () => {
    const { json } = withLag30();
    expect(alarmNamed(json.dr, "payment-aurora-replication-lag-dev").threshold).toBe(30_000);
    expect(alarmsOf(json.primary).filter((a) => a.metric_name === "AuroraGlobalDBReplicationLag")).toEqual([]);
  });

  test.each(ROLES)("%s: ALB response time > 1 s (60 s x 3) and ELB/target 5XX > 10 per 300 s on the stack's ALB", (role) => {
    const { text, stack, common } = inStack(role);
    const lb = { LoadBalancer: ref("aws_lb", theId(stack, "aws_lb"), "arn_suffix") };
    expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
      ...common,
      alarm_name: "payment-alb-response-time-dev",
      namespace: "AWS/ApplicationELB",
      metric_name: "TargetResponseTime",
      dimensions: lb,
      statistic: "Average",
      period: 60,
      evaluation_periods: 3,
      threshold: 1,
      comparison_operator: "GreaterThanThreshold",
      treat_missing_data: "notBreaching",
    });
    for (const [name, metric] of [
      ["payment-alb-5xx-dev", "HTTPCode_ELB_5XX_Count"],
      ["payment-alb-target-5xx-dev", "HTTPCode_Target_5XX_Count"],
    ]) {
      expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        ...common,
        alarm_name: name,
        namespace: "AWS/ApplicationELB",
        metric_name: metric,
        dimensions: lb,
        statistic: "Sum",
        period: 300,
        evaluation_periods: 1,
        threshold: 10,
        comparison_operator: "GreaterThanThreshold",
        treat_missing_data: "notBreaching",
      });
    }
  });

  test.each(ROLES)("%s: every ALB target group has a HealthyHostCount < 1 alarm (Minimum, 60 s x 2, missing data breaching)", (role) => {
    const { stack, common } = inStack(role);
    const lb = ref("aws_lb", theId(stack, "aws_lb"), "arn_suffix");
    const groups = entries(stack, "aws_lb_target_group").map(([id]) => ref("aws_lb_target_group", id, "arn_suffix"));
    expect(groups).toHaveLength(3);
    const healthy = alarmsOf(stack).filter((a) => a.metric_name === "HealthyHostCount");
    expect(healthy.map((a) => a.dimensions.TargetGroup).sort()).toEqual([...groups].sort());
    for (const alarm of healthy) {
      expect(alarm).toMatchObject({
        ...common,
        namespace: "AWS/ApplicationELB",
        dimensions: { LoadBalancer: lb, TargetGroup: expect.any(String) },
        statistic: "Minimum",
        period: 60,
        evaluation_periods: 2,
        threshold: 1,
        comparison_operator: "LessThanThreshold",
        treat_missing_data: "breaching",
      });
      expect(Object.keys(alarm.dimensions).sort()).toEqual(["LoadBalancer", "TargetGroup"]);
    }
  });

  test.each(ROLES)("%s: HTTP API 5xx > 10 per 300 s and Latency > 500 ms (60 s x 3) on the deployed stage", (role) => {
    const { text, stack, common } = inStack(role);
    const stage = entries(stack, "aws_apigatewayv2_stage").map(([, s]) => s.name);
    expect(stage).toHaveLength(1);
    const api = { ApiId: ref("aws_apigatewayv2_api", theId(stack, "aws_apigatewayv2_api"), "id"), Stage: stage[0] };
    expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
      ...common,
      alarm_name: "payment-api-5xx-dev",
      namespace: "AWS/ApiGateway",
      metric_name: "5xx",
      dimensions: api,
      statistic: "Sum",
      period: 300,
      evaluation_periods: 1,
      threshold: 10,
      comparison_operator: "GreaterThanThreshold",
      treat_missing_data: "notBreaching",
    });
    expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
      ...common,
      alarm_name: "payment-api-latency-dev",
      namespace: "AWS/ApiGateway",
      metric_name: "Latency",
      dimensions: api,
      statistic: "Average",
      period: 60,
      evaluation_periods: 3,
      threshold: 500,
      comparison_operator: "GreaterThanThreshold",
      treat_missing_data: "notBreaching",
    });
  });

  test.each(ROLES)("%s: both DLQs alarm on any message; the transaction queue on its oldest message > 300 s", (role) => {
    const { text, stack, common } = inStack(role);
    const queueId = (name: string) => theId(stack, SqsQueue.tfResourceType, (q) => q.name === name);
    for (const base of ["transaction", "notification"]) {
      const dlq = queueId(`payment-${base}-dlq-dev`);
      const queue = stack.resource.aws_sqs_queue[queueId(`payment-${base}-queue-dev`)];
      // It is the DLQ because the queue redrives into it.
      expect(JSON.parse(queue.redrive_policy).deadLetterTargetArn).toBe(ref("aws_sqs_queue", dlq, "arn"));
      expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        ...common,
        alarm_name: `payment-${base}-dlq-depth-dev`,
        namespace: "AWS/SQS",
        metric_name: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: ref("aws_sqs_queue", dlq, "name") },
        statistic: "Maximum",
        period: 60,
        evaluation_periods: 1,
        threshold: 0,
        comparison_operator: "GreaterThanThreshold",
        treat_missing_data: "notBreaching",
      });
    }
    expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
      ...common,
      alarm_name: "payment-transaction-queue-age-dev",
      namespace: "AWS/SQS",
      metric_name: "ApproximateAgeOfOldestMessage",
      dimensions: { QueueName: ref("aws_sqs_queue", queueId("payment-transaction-queue-dev"), "name") },
      statistic: "Maximum",
      period: 60,
      evaluation_periods: 5,
      threshold: 300,
      comparison_operator: "GreaterThanThreshold",
      treat_missing_data: "notBreaching",
    });
  });

  test.each(ROLES)("%s: Lambda Errors and Throttles > 0 per 300 s on each function by its name", (role) => {
    const { text, stack, common } = inStack(role);
    const names = functionNames(stack);
    // The ledger migrator runs in primary only.
    expect(names).toHaveLength(role === "primary" ? 7 : 6);
    for (const name of names) {
      for (const metric of ["Errors", "Throttles"]) {
        expect(text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
          ...common,
          namespace: "AWS/Lambda",
          metric_name: metric,
          dimensions: { FunctionName: name },
          statistic: "Sum",
          period: 300,
          evaluation_periods: 1,
          threshold: 0,
          comparison_operator: "GreaterThanThreshold",
          treat_missing_data: "notBreaching",
        });
      }
    }
  });

  test.each(ROLES)("%s: DynamoDB ReplicationLatency > 10 s per table toward the other region", (role) => {
    const { text, json } = defaults();
    const stack = json[role];
    const topic = alertTopicArn(stack);
    const tables =
      role === "primary"
        ? entries(stack, DynamodbTable.tfResourceType).map(([id]) => ref("aws_dynamodb_table", id, "name"))
        : ["payment-sessions-dev", "payment-transactions-dev", "payment-merchant-keys-dev"];
    expect(tables).toHaveLength(3);
    for (const table of tables) {
      expect(text[role]).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        alarm_actions: [topic],
        ok_actions: [topic],
        namespace: "AWS/DynamoDB",
        metric_name: "ReplicationLatency",
        dimensions: { TableName: table, ReceivingRegion: OTHER_REGION[role] },
        statistic: "Average",
        period: 60,
        evaluation_periods: 5,
        threshold: 10_000,
        comparison_operator: "GreaterThanThreshold",
        treat_missing_data: "notBreaching",
      });
    }
  });

  test.each(ROLES)("%s: every in-region alarm notifies the stack's own payment-alerts topic on ALARM and on OK", (role) => {
    const stack = defaults().json[role];
    const topic = alertTopicArn(stack);
    const inRegion = alarmsOf(stack).filter((a) => a.region === undefined);
    expect(inRegion.length).toBeGreaterThanOrEqual(24);
    for (const alarm of inRegion) {
      expect({ name: alarm.alarm_name, alarm: alarm.alarm_actions, ok: alarm.ok_actions }).toEqual({
        name: alarm.alarm_name,
        alarm: [topic],
        ok: [topic],
      });
    }
    // Only dr's S3 replication alarms live elsewhere (the source region).
    expect(
      alarmsOf(stack)
        .filter((a) => a.provider !== undefined)
        .map((a) => [a.alarm_name, regionOfProvider(a)])
        .sort(),
    ).toEqual(
      role === "dr"
        ? [
            ["payment-s3-replication-failed-dev", "ap-southeast-1"],
            ["payment-s3-replication-latency-dev", "ap-southeast-1"],
          ]
        : [],
    );
  });

  test("the alarm inventory of each stack", () => {
    const { json } = defaults();
    const common = [
      "aurora-connections",
      "aurora-cpu",
      "alb-response-time",
      "alb-5xx",
      "alb-target-5xx",
      "alb-healthy-hosts-1",
      "alb-healthy-hosts-2",
      "alb-healthy-hosts-3",
      "api-5xx",
      "api-latency",
      "transaction-dlq-depth",
      "transaction-queue-age",
      "notification-dlq-depth",
      "notification-queue-age",
      "gateway-errors",
      "gateway-throttles",
      "transaction-processor-errors",
      "transaction-processor-throttles",
      "notification-sender-errors",
      "notification-sender-throttles",
      "health-errors",
      "health-throttles",
      "balances-errors",
      "balances-throttles",
      "sweeper-errors",
      "sweeper-throttles",
      "sweeper-pending",
      "key-conflicts",
      "sessions-table-replication",
      "transactions-table-replication",
      "merchant-keys-table-replication",
    ];
    const names = (ids: string[]) => ids.map((id) => `payment-${id}-dev`).sort();
    expect(
      alarmsOf(json.primary)
        .map((a) => a.alarm_name)
        .sort(),
    ).toEqual(names([...common, "ledger-migrator-errors", "ledger-migrator-throttles"]));
    expect(
      alarmsOf(json.dr)
        .map((a) => a.alarm_name)
        .sort(),
    ).toEqual(names([...common, "aurora-replication-lag", "s3-replication-latency", "s3-replication-failed"]));
  });

  describe("S3 replication alarms (whole app on disk)", () => {
    const s3Alarms = (stack: Synth) => alarmsOf(stack).filter((a) => a.namespace === "AWS/S3");

    test("only dr has them, in the source (primary) region, on primary's bucket -> dr's bucket under the replication rule", () => {
      const app = onDisk();
      expect(s3Alarms(app.primary)).toEqual([]);
      const alarms = s3Alarms(app.dr);
      expect(alarms.map((a) => a.metric_name).sort()).toEqual(["OperationsFailedReplication", "ReplicationLatency"]);

      const primaryBucket = theId(app.primary, "aws_s3_bucket", (b) => b.bucket === "payment-transaction-logs-ap-southeast-1-dev");
      const drBucket = theId(app.dr, "aws_s3_bucket", (b) => b.bucket === "payment-transaction-logs-ap-southeast-2-dev");
      const replication = entries(app.dr, "aws_s3_bucket_replication_configuration")
        .map(([, r]) => r)
        .find((r) => r.rule[0].id === "transaction-logs-to-dr")!;
      const ruleIds = replication.rule.map((r: Synth) => r.id);
      expect(ruleIds).toHaveLength(1);

      for (const alarm of alarms) {
        expect(alarm).toMatchObject({
          provider: aliasFor(app.dr, "ap-southeast-1"),
          period: 300,
          evaluation_periods: 1,
          comparison_operator: "GreaterThanThreshold",
          treat_missing_data: "notBreaching",
        });
        expect(alarm.dimensions).toEqual({
          SourceBucket: expect.any(String),
          DestinationBucket: ref("aws_s3_bucket", drBucket, "bucket"),
          RuleId: ruleIds[0],
        });
        expect(throughRemoteState(app, alarm.dimensions.SourceBucket)).toBe(ref("aws_s3_bucket", primaryBucket, "bucket"));
      }
      expect(alarms.find((a) => a.metric_name === "ReplicationLatency")).toMatchObject({ statistic: "Maximum", threshold: 900 });
      expect(alarms.find((a) => a.metric_name === "OperationsFailedReplication")).toMatchObject({ statistic: "Sum", threshold: 0 });
    });

    test("they notify primary's alert topic (in the alarms' region) through remote state", () => {
      const app = onDisk();
      const primaryTopicId = theId(app.primary, SnsTopic.tfResourceType, (t) => t.name === ALERT_TOPIC);
      // In primary's own region: its default provider.
      expect(app.primary.resource.aws_sns_topic[primaryTopicId].provider).toBeUndefined();
      for (const alarm of s3Alarms(app.dr)) {
        expect(alarm.alarm_actions).toHaveLength(1);
        expect(alarm.ok_actions).toEqual(alarm.alarm_actions);
        expect(throughRemoteState(app, alarm.alarm_actions[0])).toBe(ref("aws_sns_topic", primaryTopicId, "arn"));
      }
      // Every other dr alarm stays on dr's own topic.
      const drTopic = alertTopicArn(app.dr);
      for (const alarm of alarmsOf(app.dr).filter((a) => a.namespace !== "AWS/S3")) expect(alarm.alarm_actions).toEqual([drTopic]);
    });
  });
});

// ---------------------------------------------------------------- 2 + 3. coverage

describe("alarm coverage: nothing is added without alarms", () => {
  test.each(ROLES)("%s: every Lambda function has an Errors and a Throttles alarm on its function_name", (role) => {
    const stack = defaults().json[role];
    const names = functionNames(stack);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      for (const metric of ["Errors", "Throttles"]) {
        const matching = alarmsOf(stack).filter(
          (a) => a.namespace === "AWS/Lambda" && a.metric_name === metric && a.dimensions?.FunctionName === name,
        );
        expect({ name, metric, alarms: matching.length }).toEqual({ name, metric, alarms: 1 });
      }
    }
    // And no alarm watches a function the stack does not have.
    for (const alarm of alarmsOf(stack).filter((a) => a.namespace === "AWS/Lambda")) expect(names).toContain(alarm.dimensions.FunctionName);
  });

  test.each(ROLES)("%s: every SQS queue (queues and DLQs) has at least one alarm on its name", (role) => {
    const stack = defaults().json[role];
    const queues = entries(stack, SqsQueue.tfResourceType);
    expect(queues).toHaveLength(4);
    const watched = new Set(
      alarmsOf(stack)
        .filter((a) => a.namespace === "AWS/SQS")
        .map((a) => a.dimensions.QueueName),
    );
    for (const [id, queue] of queues)
      expect({ queue: queue.name, alarmed: watched.has(ref("aws_sqs_queue", id, "name")) }).toEqual({ queue: queue.name, alarmed: true });
    for (const value of watched) expect(stack.resource.aws_sqs_queue[parseRef(value)!.id]).toBeDefined();
  });

  test.each(ROLES)("%s: every DynamoDB table / replica has a ReplicationLatency alarm toward the other region", (role) => {
    const app = onDisk();
    const stack = app[role];
    const latency = alarmsOf(stack).filter((a) => a.namespace === "AWS/DynamoDB" && a.metric_name === "ReplicationLatency");
    const expected =
      role === "primary"
        ? entries(stack, DynamodbTable.tfResourceType).map(([id]) => ref("aws_dynamodb_table", id, "name"))
        : tableNames(stack, app.primary, app);
    expect(expected).toHaveLength(3);
    if (role === "dr") expect(expected.sort()).toEqual(["payment-merchant-keys-dev", "payment-sessions-dev", "payment-transactions-dev"]);
    for (const table of expected) {
      const matching = latency.filter((a) => a.dimensions.TableName === table && a.dimensions.ReceivingRegion === OTHER_REGION[role]);
      expect({ table, alarms: matching.length }).toEqual({ table, alarms: 1 });
    }
    expect(latency).toHaveLength(expected.length);
  });

  const everyConfig: Array<[string, () => Stacks]> = [
    ["default", defaults],
    ["with Route53 failover", withDns],
  ];
  test.each(everyConfig)("%s: every alarm has a description and an explicit treat_missing_data", (_label, config) => {
    for (const role of ROLES) {
      const alarms = alarmsOf(config().json[role]);
      expect(alarms.length).toBeGreaterThan(0);
      for (const alarm of alarms) {
        expect({
          name: alarm.alarm_name,
          description: typeof alarm.alarm_description === "string" && alarm.alarm_description.trim().length > 10,
        }).toEqual({ name: alarm.alarm_name, description: true });
        expect(["breaching", "notBreaching", "ignore", "missing"]).toContain(alarm.treat_missing_data);
      }
    }
  });
});

/** Region of a resource placed through an aliased provider (`aws.<region>`); undefined on the default provider. */
function regionOfProvider(resource: Synth): string | undefined {
  return typeof resource.provider === "string" ? resource.provider.replace(/^aws\./, "") : undefined;
}

// ---------------------------------------------------------------- 4. dashboard

interface WidgetMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
  readonly options: Synth;
}

function dashboardOf(stack: Synth): { widgets: Synth[] } {
  const dashboards = entries(stack, CloudwatchDashboard.tfResourceType).map(([, d]) => d);
  expect(dashboards.map((d) => d.dashboard_name)).toEqual(["payment-processing-dev"]);
  return JSON.parse(dashboards[0].dashboard_body);
}

function widgetMetrics(widget: Synth): WidgetMetric[] {
  return widget.properties.metrics.map((row: unknown[]) => {
    const options = row[row.length - 1] as Synth;
    const pairs = row.slice(2, -1) as string[];
    expect(typeof row[0]).toBe("string");
    expect(typeof row[1]).toBe("string");
    expect(options).toEqual(expect.objectContaining({ stat: expect.any(String), period: expect.any(Number) }));
    expect(pairs.length % 2).toBe(0);
    const dimensions: Record<string, string> = {};
    for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i]] = pairs[i + 1];
    return { namespace: row[0] as string, name: row[1] as string, dimensions, options };
  });
}

/** Resource type a dimension value may reference, by dimension. */
const DIMENSION_TYPES: Record<string, string[]> = {
  LoadBalancer: ["aws_lb"],
  TargetGroup: ["aws_lb_target_group"],
  ApiId: ["aws_apigatewayv2_api"],
  QueueName: ["aws_sqs_queue"],
  TableName: ["aws_dynamodb_table"],
  FunctionName: ["aws_lambda_function"],
  DBClusterIdentifier: ["aws_rds_cluster"],
  SourceBucket: ["aws_s3_bucket"],
  DestinationBucket: ["aws_s3_bucket"],
};

/** Whether a dimension value names something this stack has (or, on disk, that dr reads from primary). */
function resolves(key: string, value: string, role: Role, stack: Synth, primary: Synth, app?: { primary: Synth; dr: Synth }): boolean {
  const token = parseRef(value);
  if (token) return (DIMENSION_TYPES[key] ?? []).includes(token.type) && stack.resource?.[token.type]?.[token.id] !== undefined;
  if (parseRemote(value)) {
    if (!app || role !== "dr") return false;
    const target = parseRef(throughRemoteState(app, value));
    return !!target && (DIMENSION_TYPES[key] ?? []).includes(target.type) && app.primary.resource?.[target.type]?.[target.id] !== undefined;
  }
  const plain: Record<string, () => string[]> = {
    FunctionName: () => functionNames(stack),
    TableName: () => tableNames(stack, primary, app),
    DBClusterIdentifier: () => entries(stack, "aws_rds_cluster").map(([, c]) => c.cluster_identifier),
    Stage: () => entries(stack, "aws_apigatewayv2_stage").map(([, s]) => s.name),
    Role: () => ["WRITER"],
    // Powertools' service dimension: the POWERTOOLS_SERVICE_NAME of a function of this stack.
    service: () => entries(stack, "aws_lambda_function").map(([, f]) => f.environment.variables.POWERTOOLS_SERVICE_NAME),
    ReceivingRegion: () => [OTHER_REGION[role]],
    RuleId: () => entries(stack, "aws_s3_bucket_replication_configuration").flatMap(([, r]) => r.rule.map((x: Synth) => x.id)),
  };
  return plain[key]?.().includes(value) ?? false;
}

describe("dashboard", () => {
  const variants: Array<[string, () => { primary: Synth; dr: Synth; app?: { primary: Synth; dr: Synth } }]> = [
    ["in memory", () => defaults().json],
    ["on disk", () => ({ ...onDisk(), app: onDisk() })],
  ];

  describe.each(variants)("%s", (_label, load) => {
    test.each(ROLES)("%s: payment-processing-dev parses; every widget is in the stack's region", (role) => {
      const { widgets } = dashboardOf(load()[role]);
      expect(widgets.length).toBeGreaterThanOrEqual(5);
      for (const widget of widgets) {
        expect(widget.type).toBe("metric");
        expect(widget.properties.region).toBe(REGION[role]);
        expect(widget.properties.metrics.length).toBeGreaterThan(0);
      }
    });

    test.each(ROLES)("%s: every widget metric is an alarmed metric or names only resources of this stack", (role) => {
      const loaded = load();
      const stack = loaded[role];
      const alarms = alarmsOf(stack);
      const metrics = dashboardOf(stack).widgets.flatMap(widgetMetrics);
      expect(metrics.length).toBeGreaterThanOrEqual(20);
      for (const m of metrics) {
        const alarmed = alarms.some(
          (a) => a.namespace === m.namespace && a.metric_name === m.name && sameDimensions(a.dimensions, m.dimensions),
        );
        const unresolved = Object.entries(m.dimensions)
          .filter(([k, v]) => !resolves(k, v, role, stack, loaded.primary, loaded.app))
          .map(([k]) => k);
        expect({ metric: `${m.namespace} ${m.name} ${JSON.stringify(m.dimensions)}`, ok: alarmed || unresolved.length === 0 }).toEqual({
          metric: `${m.namespace} ${m.name} ${JSON.stringify(m.dimensions)}`,
          ok: true,
        });
      }
    });

    test.each(ROLES)("%s: every alarmed metric is on the dashboard with the alarm's statistic, period and region", (role) => {
      const stack = load()[role];
      const metrics = dashboardOf(stack).widgets.flatMap(widgetMetrics);
      for (const alarm of monitoringAlarmsOf(stack)) {
        const shown = metrics.filter(
          (m) =>
            m.namespace === alarm.namespace &&
            m.name === alarm.metric_name &&
            sameDimensions(m.dimensions, alarm.dimensions) &&
            m.options.stat === alarm.statistic &&
            m.options.period === alarm.period &&
            m.options.region === regionOfProvider(alarm),
        );
        expect({ alarm: alarm.alarm_name, shown: shown.length }).toEqual({ alarm: alarm.alarm_name, shown: 1 });
      }
    });
  });

  test.each(ROLES)(
    "%s: a Payments widget counts accepted, deferred and refused payments of the gateway, processed, failed and conflicted of the processor, pending, swept and adopted of the sweeper",
    (role) => {
      const payments = dashboardOf(defaults().json[role]).widgets.find((w) => w.properties.title === "Payments");
      const shown = payments!.properties.metrics.map((m: any[]) => `${m[0]} ${m[1]} ${m[2]}=${m[3]} ${m[4].stat}`);
      expect(shown).toEqual([
        "PaymentProcessing PaymentsAccepted service=payment-gateway Sum",
        "PaymentProcessing PaymentsRefused service=payment-gateway Sum",
        "PaymentProcessing PaymentsDeferred service=payment-gateway Sum",
        "PaymentProcessing PaymentsProcessed service=transaction-processor Sum",
        "PaymentProcessing PaymentsFailed service=transaction-processor Sum",
        "PaymentProcessing PaymentsConflicted service=transaction-processor Sum",
        "PaymentProcessing PaymentsPending service=pending-sweeper Maximum",
        "PaymentProcessing PaymentsSwept service=pending-sweeper Sum",
        "PaymentProcessing PaymentsAdopted service=pending-sweeper Sum",
      ]);
    },
  );

  test("on disk, dr's S3 replication widgets read primary's bucket through remote state", () => {
    const app = onDisk();
    const s3 = dashboardOf(app.dr)
      .widgets.flatMap(widgetMetrics)
      .filter((m) => m.namespace === "AWS/S3");
    expect(s3).toHaveLength(2);
    const primaryBucket = theId(app.primary, "aws_s3_bucket", (b) => b.bucket === "payment-transaction-logs-ap-southeast-1-dev");
    for (const m of s3) {
      expect(m.options.region).toBe("ap-southeast-1");
      expect(throughRemoteState(app, m.dimensions.SourceBucket)).toBe(ref("aws_s3_bucket", primaryBucket, "bucket"));
    }
    expect(
      dashboardOf(app.primary)
        .widgets.flatMap(widgetMetrics)
        .filter((m) => m.namespace === "AWS/S3"),
    ).toEqual([]);
  });
});

// ---------------------------------------------------------------- 5. log groups

describe("log groups", () => {
  const logGroups = (stack: Synth) => entries(stack, CloudwatchLogGroup.tfResourceType);

  test.each(ROLES)("%s: /aws/payment-processing/dev, 365 days by default, encrypted with the stack's key", (role) => {
    const { text, json } = defaults();
    expect(text[role]).toHaveResourceWithProperties(CloudwatchLogGroup, {
      name: "/aws/payment-processing/dev",
      retention_in_days: 365,
      kms_key_id: dataKeyArn(json[role]),
    });
  });

  test.each(ROLES)("%s: every function logs to its own encrypted /aws/lambda/<function_name> group", (role) => {
    const stack = defaults().json[role];
    const key = dataKeyArn(stack);
    const functions = entries(stack, LambdaFunction.tfResourceType);
    expect(functions).toHaveLength(role === "primary" ? 7 : 6);
    for (const [, fn] of functions) {
      const [id, group] = logGroups(stack).find(([, g]) => g.name === `/aws/lambda/${fn.function_name}`) ?? [];
      expect({ fn: fn.function_name, group }).toEqual({
        fn: fn.function_name,
        group: expect.objectContaining({ kms_key_id: key, retention_in_days: 365 }),
      });
      expect(fn.logging_config.log_group).toBe(ref("aws_cloudwatch_log_group", id!, "name"));
    }
  });

  test("retention follows logRetentionDays in both stacks (731)", () => {
    const { json } = withRetention731();
    for (const role of ROLES) {
      const groups = logGroups(json[role]).map(([, g]) => g);
      const app = groups.find((g) => g.name === "/aws/payment-processing/dev");
      expect(app?.retention_in_days).toBe(731);
      for (const [, fn] of entries(json[role], LambdaFunction.tfResourceType))
        expect(groups.find((g) => g.name === `/aws/lambda/${fn.function_name}`)?.retention_in_days).toBe(731);
      expect(groups.filter((g) => g.retention_in_days !== 731).map((g) => g.name)).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------- 6. alert topic

describe("alert topic", () => {
  test.each(ROLES)("%s: payment-alerts-dev in the stack's region, encrypted with the stack's key", (role) => {
    const { text, json } = defaults();
    expect(text[role]).toHaveResourceWithProperties(SnsTopic, { name: ALERT_TOPIC, kms_master_key_id: dataKeyArn(json[role]) });
    const topics = entries(json[role], SnsTopic.tfResourceType).filter(([, t]) => t.name === ALERT_TOPIC);
    expect(topics).toHaveLength(1);
    // The stack's default provider, whose region is the stack's.
    expect(topics[0]![1].provider).toBeUndefined();
    expect(json[role].provider.aws.find((p: Synth) => p.alias === undefined).region).toBe(REGION[role]);
  });

  test("no subscription without alarmEmail", () => {
    for (const role of ROLES) expect(entries(defaults().json[role], SnsTopicSubscription.tfResourceType)).toEqual([]);
  });

  test.each(ROLES)("%s: with alarmEmail, one e-mail subscription to the stack's alert topic", (role) => {
    const { json } = withEmail();
    const subscriptions = entries(json[role], SnsTopicSubscription.tfResourceType).map(([, s]) => s);
    expect(subscriptions).toEqual([
      expect.objectContaining({
        protocol: "email",
        endpoint: "oncall@example.com",
        topic_arn: alertTopicArn(json[role]),
      }),
    ]);
  });
});

// ---------------------------------------------------------------- 7. CloudTrail

describe("CloudTrail and the key policy", () => {
  const keyPolicy = (stack: Synth): Synth[] => {
    const key = stack.resource.aws_kms_key[parseRef(dataKeyArn(stack))!.id];
    return JSON.parse(key.policy).Statement;
  };
  const isCloudTrail = (s: Synth) => [s.Principal?.Service].flat().includes("cloudtrail.amazonaws.com");

  test("one trail, in primary only: multi-region, global events, log file validation, primary's key", () => {
    const { text, json } = defaults();
    expect(entries(json.primary, Cloudtrail.tfResourceType)).toHaveLength(1);
    expect(entries(json.dr, Cloudtrail.tfResourceType)).toHaveLength(0);
    expect(text.primary).toHaveResourceWithProperties(Cloudtrail, {
      name: "payment-audit-trail-dev",
      is_multi_region_trail: true,
      include_global_service_events: true,
      enable_log_file_validation: true,
      enable_logging: true,
      kms_key_id: dataKeyArn(json.primary),
    });
  });

  test("primary's key lets only that trail GenerateDataKey and Decrypt", () => {
    const { json } = defaults();
    const statements = keyPolicy(json.primary).filter(isCloudTrail);
    expect(statements).toHaveLength(1);
    const [statement] = statements;
    expect(statement.Effect).toBe("Allow");
    expect(statement.Action).toEqual(expect.arrayContaining(["kms:GenerateDataKey", "kms:Decrypt"]));
    const trailName = entries(json.primary, Cloudtrail.tfResourceType)[0][1].name;
    expect(statement.Condition.StringEquals["aws:SourceArn"]).toMatch(
      new RegExp(
        `^arn:\\$\\{data\\.aws_partition\\.\\w+\\.partition\\}:cloudtrail:ap-southeast-1:\\$\\{data\\.aws_caller_identity\\.\\w+\\.account_id\\}:trail/${trailName}$`,
      ),
    );
    expect(trailName).toBe("payment-audit-trail-dev");
  });

  test("dr's key has no CloudTrail statement", () => {
    const statements = keyPolicy(defaults().json.dr);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.filter(isCloudTrail)).toEqual([]);
    expect(JSON.stringify(statements)).not.toContain("cloudtrail");
  });
});

// ---------------------------------------------------------------- 8. Route53 failover

describe("Route53 failover", () => {
  const route53Types = (stack: Synth) => Object.keys(stack.resource ?? {}).filter((t) => t.startsWith("aws_route53_"));
  const recordOf = (stack: Synth, type: "PRIMARY" | "SECONDARY"): Synth => {
    const found = entries(stack, Route53Record.tfResourceType)
      .map(([, r]) => r)
      .filter((r) => r.failover_routing_policy?.type === type);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const checkOf = (stack: Synth, record: Synth): Synth => {
    const target = parseRef(record.health_check_id);
    expect(target).toMatchObject({ type: "aws_route53_health_check", attr: "id" });
    return stack.resource.aws_route53_health_check[target!.id];
  };

  test("without a domain and hosted zone, no Route53 resources in either stack", () => {
    const { json } = defaults();
    expect(route53Types(json.primary)).toEqual([]);
    expect(route53Types(json.dr)).toEqual([]);
  });

  test("primary never holds Route53 resources, with or without a domain", () => {
    expect(route53Types(withDns().json.primary)).toEqual([]);
    expect(route53Types(onDiskWithDns().primary)).toEqual([]);
  });

  test("dr: two fast HTTPS checks (SNI, port 443) of /health, one per region, and PRIMARY/SECONDARY records", () => {
    const { text, json } = withDns();
    const checks = entries(json.dr, Route53HealthCheck.tfResourceType).map(([, c]) => c);
    expect(checks).toHaveLength(2);
    for (const check of checks) {
      expect(check).toMatchObject({
        type: "HTTPS",
        port: 443,
        enable_sni: true,
        request_interval: 10,
        failure_threshold: 3,
        resource_path: "/health",
        measure_latency: true,
      });
    }
    expect(text.dr).toHaveResourceWithProperties(Route53Record, {
      name: "api.example.com",
      zone_id: DNS.hostedZoneId,
      type: "A",
      failover_routing_policy: { type: "PRIMARY" },
    });
    expect(text.dr).toHaveResourceWithProperties(Route53Record, {
      name: "api.example.com",
      zone_id: DNS.hostedZoneId,
      type: "A",
      failover_routing_policy: { type: "SECONDARY" },
    });
    // The certificates sit on the ALBs of their own regions.
    expect(
      entries(json.primary, "aws_lb_listener")
        .map(([, l]) => l.certificate_arn)
        .filter(Boolean),
    ).toEqual([PRIMARY_CERT]);
    expect(
      entries(json.dr, "aws_lb_listener")
        .map(([, l]) => l.certificate_arn)
        .filter(Boolean),
    ).toEqual([DR_CERT]);
  });

  test("a failover domain without both certificates is refused at synth", () => {
    expect(() => synthStacks({ domainName: "api.example.com", hostedZoneId: "Z0123456789ABCDEFGHIJ", drCertificateArn: DR_CERT })).toThrow(
      /needs primaryCertificateArn and drCertificateArn/,
    );
  });

  test("PRIMARY aliases primary's ALB through remote state; SECONDARY aliases dr's ALB directly (aws_lb zone_id)", () => {
    const app = onDiskWithDns();
    const primaryLb = theId(app.primary, "aws_lb");
    const drLb = theId(app.dr, "aws_lb");

    const primary = recordOf(app.dr, "PRIMARY");
    expect(primary.alias.evaluate_target_health).toBe(true);
    expect(throughRemoteState(app, primary.alias.zone_id)).toBe(ref("aws_lb", primaryLb, "zone_id"));
    expect(throughRemoteState(app, primary.alias.name)).toBe(ref("aws_lb", primaryLb, "dns_name"));
    expect(checkOf(app.dr, primary).fqdn).toBe(primary.alias.name);

    const secondary = recordOf(app.dr, "SECONDARY");
    expect(secondary.alias).toEqual({
      zone_id: ref("aws_lb", drLb, "zone_id"),
      name: ref("aws_lb", drLb, "dns_name"),
      evaluate_target_health: true,
    });
    expect(checkOf(app.dr, secondary).fqdn).toBe(ref("aws_lb", drLb, "dns_name"));

    for (const record of [primary, secondary]) expect(record).toMatchObject({ zone_id: DNS.hostedZoneId, name: DNS.domainName, type: "A" });
    expect(primary.set_identifier).not.toBe(secondary.set_identifier);
  });

  test("each health check has a us-east-1 HealthCheckStatus alarm to the us-east-1 DNS alert topic", () => {
    const app = onDiskWithDns();
    const checks = entries(app.dr, Route53HealthCheck.tfResourceType).map(([id]) => ref("aws_route53_health_check", id, "id"));
    const alarms = alarmsOf(app.dr).filter((a) => a.namespace === "AWS/Route53");
    expect(alarms.map((a) => a.dimensions.HealthCheckId).sort()).toEqual([...checks].sort());
    const topicId = theId(app.dr, SnsTopic.tfResourceType, (t) => t.name === "payment-dns-alerts-dev");
    expect(regionOfProvider(app.dr.resource.aws_sns_topic[topicId])).toBe("us-east-1");
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        provider: aliasFor(app.dr, "us-east-1"),
        metric_name: "HealthCheckStatus",
        statistic: "Minimum",
        comparison_operator: "LessThanThreshold",
        threshold: 1,
        treat_missing_data: "breaching",
        alarm_actions: [ref("aws_sns_topic", topicId, "arn")],
        ok_actions: [ref("aws_sns_topic", topicId, "arn")],
      });
    }
  });
});
