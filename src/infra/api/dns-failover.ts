import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { Route53HealthCheck } from "@cdktf/provider-aws/lib/route53-health-check";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import { Construct } from "constructs";
import { HEALTH_PATH } from "../../contracts/api";
import type { RegionRole } from "../../contracts/config";
import { ROUTE53_HOME_REGION } from "../../contracts/regions";
import { AwsStack } from "../core/aws-stack";
import { policyDocument } from "../core/iam";
import { AlertTopic } from "../observability/alert-topic";
import { ROOT_KEY_ACTIONS } from "../security/region-key";

/** One side of the failover pair: the region's ALB, as the load balancer resource reports it. */
export interface RegionEndpoint {
  readonly region: string;
  readonly albDnsName: string;
  /** `aws_lb.zone_id`: the ALB's canonical hosted zone, never a hard-coded value. */
  readonly albZoneId: string;
  /** The ALB has an HTTPS listener (certificate configured); otherwise HTTP on 80. */
  readonly https: boolean;
}

export interface DnsFailoverProps {
  readonly domainName: string;
  readonly hostedZoneId: string;
  readonly primary: RegionEndpoint;
  readonly secondary: RegionEndpoint;
  /** Route53 checker regions (at least 3); defaults to DEFAULT_HEALTH_CHECK_REGIONS. */
  readonly healthCheckRegions?: readonly string[];
  /** Subscribed to the us-east-1 health-check alert topic when set. */
  readonly alarmEmail?: string;
}

/** Regions Route53 can run health checkers from (the API's HealthCheckRegion values). */
export const ROUTE53_CHECKER_REGIONS: readonly string[] = [
  "us-east-1",
  "us-west-1",
  "us-west-2",
  "eu-west-1",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-northeast-1",
  "sa-east-1",
];

/** Checkers close to the default regions; Route53 needs at least three. */
export const DEFAULT_HEALTH_CHECK_REGIONS: readonly string[] = ["ap-southeast-1", "ap-southeast-2", "ap-northeast-1"];

/** Route53 publishes health-check metrics only in us-east-1, so the alarms and their topic live there. */
export const ROUTE53_METRICS_REGION = ROUTE53_HOME_REGION;
/** Fast checks: 10 s x 3 failures, about 30 s to declare a region down. */
export const HEALTH_CHECK_INTERVAL_SECONDS = 10;
export const HEALTH_CHECK_FAILURE_THRESHOLD = 3;

/** The failover pair: the primary region's record and the DR region's ("secondary") record. */
const SIDES = { primary: "primary", secondary: "dr" } as const satisfies Record<string, RegionRole>;
type Side = keyof typeof SIDES;

/**
 * Active-passive DNS failover for `domainName`: a fast Route53 health check on each region's
 * ALB `/health`, PRIMARY/SECONDARY alias records, and us-east-1 alarms on each check.
 */
export class DnsFailover extends Construct {
  readonly healthCheckIds: { readonly primary: string; readonly secondary: string };
  readonly healthChecks: { readonly primary: Route53HealthCheck; readonly secondary: Route53HealthCheck };
  readonly records: { readonly primary: Route53Record; readonly secondary: Route53Record };
  readonly alarms: { readonly primary: CloudwatchMetricAlarm; readonly secondary: CloudwatchMetricAlarm };
  readonly recordFqdn: string;
  readonly alertTopic: AlertTopic;
  readonly alertKey: KmsKey;

  constructor(scope: Construct, id: string, props: DnsFailoverProps) {
    super(scope, id);
    const { naming } = AwsStack.of(this);
    const checkerRegions = [...(props.healthCheckRegions ?? DEFAULT_HEALTH_CHECK_REGIONS)];
    const unknown = checkerRegions.filter((r) => !ROUTE53_CHECKER_REGIONS.includes(r));
    if (checkerRegions.length < 3 || unknown.length > 0 || new Set(checkerRegions).size !== checkerRegions.length) {
      throw new Error(
        `healthCheckRegions must be at least 3 distinct Route53 checker regions (${ROUTE53_CHECKER_REGIONS.join(", ")}); got ${checkerRegions.join(", ") || "none"}.`,
      );
    }

    this.alertKey = this.buildAlertKey();
    this.alertTopic = new AlertTopic(this, "alerts", {
      // Distinct from the regional `payment-alerts` topic, which is also in us-east-1 when a stack is.
      baseName: "payment-dns-alerts",
      kmsKeyArn: this.alertKey.arn,
      region: ROUTE53_METRICS_REGION,
      email: props.alarmEmail,
    });

    const build = (side: Side, endpoint: RegionEndpoint) => {
      const healthCheck = new Route53HealthCheck(this, `${side}-health-check`, {
        type: endpoint.https ? "HTTPS" : "HTTP",
        fqdn: endpoint.albDnsName,
        port: endpoint.https ? 443 : 80,
        resourcePath: HEALTH_PATH,
        requestInterval: HEALTH_CHECK_INTERVAL_SECONDS,
        failureThreshold: HEALTH_CHECK_FAILURE_THRESHOLD,
        measureLatency: true,
        regions: checkerRegions,
        // Without SNI the ALB answers the TLS handshake with its default certificate only.
        ...(endpoint.https ? { enableSni: true } : {}),
        tags: { Name: naming.healthCheck(SIDES[side], endpoint.region) },
      });
      const record = new Route53Record(this, `${side}-record`, {
        zoneId: props.hostedZoneId,
        name: props.domainName,
        type: "A",
        setIdentifier: naming.name(`payment-${side}-${endpoint.region}`),
        failoverRoutingPolicy: { type: side === "primary" ? "PRIMARY" : "SECONDARY" },
        healthCheckId: healthCheck.id,
        alias: { name: endpoint.albDnsName, zoneId: endpoint.albZoneId, evaluateTargetHealth: true },
      });
      const alarm = new CloudwatchMetricAlarm(this, `${side}-health-alarm`, {
        provider: AwsStack.of(this).providerFor(ROUTE53_METRICS_REGION),
        alarmName: naming.healthCheck(SIDES[side], endpoint.region),
        alarmDescription: `Route53 health check of the ${side} region (${endpoint.region}) /health is failing: DNS fails over.`,
        namespace: "AWS/Route53",
        metricName: "HealthCheckStatus",
        dimensions: { HealthCheckId: healthCheck.id },
        statistic: "Minimum",
        period: 60,
        evaluationPeriods: 1,
        comparisonOperator: "LessThanThreshold",
        threshold: 1,
        // No data means no checker reached the endpoint: treat as down.
        treatMissingData: "breaching",
        alarmActions: [this.alertTopic.topicArn],
        okActions: [this.alertTopic.topicArn],
      });
      return { healthCheck, record, alarm };
    };

    const primary = build("primary", props.primary);
    const secondary = build("secondary", props.secondary);
    this.healthChecks = { primary: primary.healthCheck, secondary: secondary.healthCheck };
    this.healthCheckIds = { primary: primary.healthCheck.id, secondary: secondary.healthCheck.id };
    this.records = { primary: primary.record, secondary: secondary.record };
    this.alarms = { primary: primary.alarm, secondary: secondary.alarm };
    this.recordFqdn = primary.record.fqdn;
  }

  /** A small us-east-1 key for the alert topic: the regional CMKs cannot encrypt a topic there. */
  private buildAlertKey(): KmsKey {
    const { accountId, partition, naming } = AwsStack.of(this);
    const sameAccount = { StringEquals: { "aws:SourceAccount": accountId } };
    const key = new KmsKey(this, "alert-key", {
      provider: AwsStack.of(this).providerFor(ROUTE53_METRICS_REGION),
      description: `Route53 health-check alert topic key (${naming.suffix}, ${ROUTE53_METRICS_REGION})`,
      enableKeyRotation: true,
      deletionWindowInDays: 7,
      policy: policyDocument([
        {
          Sid: "AccountRootAdministersAndDelegates",
          Effect: "Allow",
          Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
          Action: ROOT_KEY_ACTIONS,
          Resource: "*",
        },
        {
          // CloudWatch alarms publish to the encrypted topic; SNS decrypts to deliver.
          Sid: "CloudWatchAndSnsUseKeyForThisAccount",
          Effect: "Allow",
          Principal: { Service: ["cloudwatch.amazonaws.com", "sns.amazonaws.com"] },
          Action: ["kms:GenerateDataKey", "kms:Decrypt"],
          Resource: "*",
          Condition: sameAccount,
        },
      ]),
    });
    new KmsAlias(this, "alert-key-alias", {
      provider: AwsStack.of(this).providerFor(ROUTE53_METRICS_REGION),
      name: `alias/${naming.name("payment-dns-alerts")}`,
      targetKeyId: key.keyId,
    });
    return key;
  }
}
