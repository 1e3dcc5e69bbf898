import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { Route53HealthCheck } from "@cdktf/provider-aws/lib/route53-health-check";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { TerraformOutput, Testing } from "cdktf";
import { DEFAULT_HEALTH_CHECK_REGIONS, DnsFailover, type DnsFailoverProps } from "../../src/infra/api/dns-failover";
import { ROOT_KEY_ACTIONS } from "../../src/infra/security/region-key";
import { aliasFor, bareStack, onlyResource, resourcesOf, wildcardAllows } from "./support";

interface Options {
  readonly primaryHttps?: boolean;
  readonly secondaryHttps?: boolean;
  readonly extra?: Partial<DnsFailoverProps>;
}

/** A dr-like stack with two real ALBs, so the alias targets are aws_lb tokens as in the app. */
function synth(options: Options = {}): string {
  const stack = bareStack("ap-southeast-2", "dr", { key: false });
  const primaryAlb = new Lb(stack, "primary-alb", {
    name: "payment-alb-p-test",
    region: "ap-southeast-1",
    subnets: ["subnet-1", "subnet-2"],
  });
  const drAlb = new Lb(stack, "dr-alb", { name: "payment-alb-d-test", subnets: ["subnet-3", "subnet-4"] });
  const failover = new DnsFailover(stack, "dns", {
    domainName: "api.example.com",
    hostedZoneId: "Z0123456789ABCDEFGHIJ",
    primary: {
      region: "ap-southeast-1",
      albDnsName: primaryAlb.dnsName,
      albZoneId: primaryAlb.zoneId,
      https: options.primaryHttps ?? true,
    },
    secondary: { region: "ap-southeast-2", albDnsName: drAlb.dnsName, albZoneId: drAlb.zoneId, https: options.secondaryHttps ?? false },
    ...options.extra,
  });
  new TerraformOutput(stack, "primary_health_check_id", { value: failover.healthCheckIds.primary });
  new TerraformOutput(stack, "secondary_health_check_id", { value: failover.healthCheckIds.secondary });
  new TerraformOutput(stack, "record_fqdn", { value: failover.recordFqdn });
  return Testing.synth(stack);
}

/** The resource of `type` whose construct id (the key in the synth) contains `part`. */
function named(stack: string, type: string, part: string): any {
  const entries = Object.entries(JSON.parse(stack).resource?.[type] ?? {}).filter(([key]) => key.includes(part));
  if (entries.length !== 1) throw new Error(`expected one ${type} matching ${part}, found ${entries.length}`);
  return entries[0][1];
}

/** Terraform reference key (`type.name`) of the resource whose id contains `part`. */
function refOf(stack: string, type: string, part: string): string {
  const key = Object.keys(JSON.parse(stack).resource?.[type] ?? {}).find((k) => k.includes(part));
  if (!key) throw new Error(`no ${type} matching ${part}`);
  return `${type}.${key}`;
}

describe("DnsFailover", () => {
  const stack = synth({ extra: { alarmEmail: "oncall@example.com" } });
  const parsed = JSON.parse(stack);

  test("fast health checks on each region's ALB /health from the default checker regions", () => {
    const checks = resourcesOf(stack, Route53HealthCheck.tfResourceType);
    expect(checks).toHaveLength(2);
    for (const check of checks) {
      expect(check).toMatchObject({
        resource_path: "/health",
        request_interval: 10,
        failure_threshold: 3,
        measure_latency: true,
        regions: [...DEFAULT_HEALTH_CHECK_REGIONS],
      });
      expect(check.regions.length).toBeGreaterThanOrEqual(3);
    }
    expect(named(stack, Route53HealthCheck.tfResourceType, "primary").fqdn).toBe(
      `\${${refOf(stack, Lb.tfResourceType, "primary-alb")}.dns_name}`,
    );
    expect(named(stack, Route53HealthCheck.tfResourceType, "secondary").fqdn).toBe(
      `\${${refOf(stack, Lb.tfResourceType, "dr-alb")}.dns_name}`,
    );
  });

  test("an HTTPS endpoint gets an HTTPS check on 443 with SNI; an HTTP one an HTTP check on 80", () => {
    const primary = named(stack, Route53HealthCheck.tfResourceType, "primary");
    const secondary = named(stack, Route53HealthCheck.tfResourceType, "secondary");
    expect(primary).toMatchObject({
      type: "HTTPS",
      port: 443,
      enable_sni: true,
      tags: { Name: "payment-health-primary-ap-southeast-1-test" },
    });
    expect(secondary).toMatchObject({ type: "HTTP", port: 80, tags: { Name: "payment-health-secondary-ap-southeast-2-test" } });
    expect(secondary.enable_sni).toBeUndefined();

    const flipped = synth({ primaryHttps: false, secondaryHttps: true });
    expect(named(flipped, Route53HealthCheck.tfResourceType, "primary")).toMatchObject({ type: "HTTP", port: 80 });
    expect(named(flipped, Route53HealthCheck.tfResourceType, "secondary")).toMatchObject({ type: "HTTPS", port: 443, enable_sni: true });
  });

  test("PRIMARY and SECONDARY alias records point at each ALB through its aws_lb zone_id", () => {
    const sides = [
      ["primary", "PRIMARY", "primary-alb"],
      ["secondary", "SECONDARY", "dr-alb"],
    ] as const;
    for (const [side, type, alb] of sides) {
      const record = named(stack, Route53Record.tfResourceType, side);
      expect(record).toMatchObject({
        zone_id: "Z0123456789ABCDEFGHIJ",
        name: "api.example.com",
        type: "A",
        set_identifier: expect.stringMatching(new RegExp(`^payment-${side}-ap-southeast-[12]-test$`)),
        failover_routing_policy: { type },
        health_check_id: `\${${refOf(stack, Route53HealthCheck.tfResourceType, side)}.id}`,
        alias: {
          name: `\${${refOf(stack, Lb.tfResourceType, alb)}.dns_name}`,
          zone_id: `\${${refOf(stack, Lb.tfResourceType, alb)}.zone_id}`,
          evaluate_target_health: true,
        },
      });
    }
  });

  test("each check has a us-east-1 HealthCheckStatus alarm that treats missing data as down", () => {
    const topicRef = refOf(stack, SnsTopic.tfResourceType, "alerts");
    for (const side of ["primary", "secondary"]) {
      expect(named(stack, CloudwatchMetricAlarm.tfResourceType, side)).toMatchObject({
        provider: aliasFor(stack, "us-east-1"),
        namespace: "AWS/Route53",
        metric_name: "HealthCheckStatus",
        dimensions: { HealthCheckId: `\${${refOf(stack, Route53HealthCheck.tfResourceType, side)}.id}` },
        statistic: "Minimum",
        comparison_operator: "LessThanThreshold",
        threshold: 1,
        period: 60,
        evaluation_periods: 1,
        treat_missing_data: "breaching",
        alarm_actions: [`\${${topicRef}.arn}`],
        ok_actions: [`\${${topicRef}.arn}`],
      });
    }
  });

  test("alarm topic lives in us-east-1, encrypted with a us-east-1 key, published to only by us-east-1 alarms", () => {
    const keyRef = refOf(stack, KmsKey.tfResourceType, "alert-key");
    expect(stack).toHaveResourceWithProperties(SnsTopic, {
      name: "payment-dns-alerts-test",
      provider: aliasFor(stack, "us-east-1"),
      kms_master_key_id: `\${${keyRef}.arn}`,
    });
    const topicPolicy = JSON.parse(onlyResource(stack, SnsTopicPolicy.tfResourceType).policy);
    const allow = topicPolicy.Statement.find((s: any) => s.Effect === "Allow");
    expect(allow.Principal).toEqual({ Service: "cloudwatch.amazonaws.com" });
    expect(allow.Condition.ArnLike["aws:SourceArn"]).toBe("arn:aws:cloudwatch:us-east-1:111122223333:alarm:*");
    expect(stack).toHaveResourceWithProperties(SnsTopicSubscription, {
      provider: "aws.us-east-1",
      protocol: "email",
      endpoint: "oncall@example.com",
    });
  });

  test("alert key is a rotating us-east-1 key usable by the account and by CloudWatch/SNS for this account only", () => {
    const key = onlyResource(stack, KmsKey.tfResourceType);
    expect(key).toMatchObject({ provider: aliasFor(stack, "us-east-1"), enable_key_rotation: true });
    expect(key).not.toHaveProperty("region");
    expect(stack).toHaveResourceWithProperties(KmsAlias, { provider: "aws.us-east-1", name: "alias/payment-dns-alerts-test" });
    const policy = JSON.parse(key.policy);
    const root = policy.Statement.find((s: any) => s.Principal.AWS === "arn:aws:iam::111122223333:root");
    expect(root.Action).toEqual(ROOT_KEY_ACTIONS);
    const services = policy.Statement.find((s: any) => s.Principal.Service);
    expect([...services.Principal.Service].sort()).toEqual(["cloudwatch.amazonaws.com", "sns.amazonaws.com"]);
    expect([...services.Action].sort()).toEqual(["kms:Decrypt", "kms:GenerateDataKey"]);
    expect(services.Condition).toEqual({ StringEquals: { "aws:SourceAccount": "111122223333" } });
    expect(policy.Statement).toHaveLength(2);
  });

  test("no e-mail subscription without an alarm address", () => {
    expect(resourcesOf(synth(), SnsTopicSubscription.tfResourceType)).toHaveLength(0);
  });

  test("outputs resolve to both health check ids and the record's FQDN", () => {
    expect(parsed.output.primary_health_check_id.value).toBe(`\${${refOf(stack, Route53HealthCheck.tfResourceType, "primary")}.id}`);
    expect(parsed.output.secondary_health_check_id.value).toBe(`\${${refOf(stack, Route53HealthCheck.tfResourceType, "secondary")}.id}`);
    expect(parsed.output.record_fqdn.value).toBe(`\${${refOf(stack, Route53Record.tfResourceType, "primary")}.fqdn}`);
  });

  test("custom checker regions are used; fewer than three or unknown ones fail synth", () => {
    const custom = synth({ extra: { healthCheckRegions: ["us-east-1", "eu-west-1", "us-west-2"] } });
    for (const check of resourcesOf(custom, Route53HealthCheck.tfResourceType)) {
      expect(check.regions).toEqual(["us-east-1", "eu-west-1", "us-west-2"]);
    }
    expect(() => synth({ extra: { healthCheckRegions: ["us-east-1", "eu-west-1"] } })).toThrow(/at least 3/);
    expect(() => synth({ extra: { healthCheckRegions: ["us-east-1", "eu-west-1", "ap-south-1"] } })).toThrow(/checker regions/);
  });

  test("no policy allows a wildcard action", () => {
    const { statements, wildcards } = wildcardAllows(stack);
    expect(statements).toBeGreaterThanOrEqual(4);
    expect(wildcards).toEqual([]);
  });
});
