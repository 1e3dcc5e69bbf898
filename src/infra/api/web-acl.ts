import { Wafv2WebAcl } from "@cdktf/provider-aws/lib/wafv2-web-acl";
import { Wafv2WebAclAssociation } from "@cdktf/provider-aws/lib/wafv2-web-acl-association";
import { Wafv2WebAclLoggingConfiguration } from "@cdktf/provider-aws/lib/wafv2-web-acl-logging-configuration";
import { Construct } from "constructs";
import { AUTH_HEADER } from "../../contracts/api";
import { AwsStack } from "../core/aws-stack";
import { EncryptedLogGroup } from "../observability/log-group";

export interface PaymentWebAclProps {
  /** The internet-facing load balancer to protect. */
  readonly loadBalancerArn: string;
  /** Requests per 5 minutes from one IP before it is blocked. */
  readonly rateLimitPer5Minutes: number;
  /** Requests per 5 minutes with one credential (the `Authorization` header) before it is blocked. */
  readonly merchantRateLimitPer5Minutes: number;
}

/** AWS managed rule groups, in evaluation order. */
export const MANAGED_RULE_GROUPS = [
  "AWSManagedRulesAmazonIpReputationList",
  "AWSManagedRulesAnonymousIpList",
  "AWSManagedRulesCommonRuleSet",
  "AWSManagedRulesKnownBadInputsRuleSet",
] as const;

/**
 * Rules of those groups that only count: merchants call the API server-to-server from cloud
 * hosting providers, which HostingProviderIPList would block.
 */
export const COUNT_ONLY_RULES: Readonly<Record<string, readonly string[]>> = {
  AWSManagedRulesAnonymousIpList: ["HostingProviderIPList"],
};

/**
 * WAF in front of the public ALB: AWS IP reputation, anonymous-IP, common and known-bad-input
 * (Log4j) rules, a per-IP and a per-credential (merchant API key) rate limit, and logs of blocked and counted requests in a KMS-encrypted
 * log group.
 */
export class PaymentWebAcl extends Construct {
  readonly webAcl: Wafv2WebAcl;
  readonly arn: string;

  constructor(scope: Construct, id: string, props: PaymentWebAclProps) {
    super(scope, id);
    const name = AwsStack.of(this).naming.name("payment-waf");
    const visibility = (metricName: string) => ({ cloudwatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName });

    this.webAcl = new Wafv2WebAcl(this, "acl", {
      name,
      description: "Payment ALB: managed rules, per-IP and per-merchant rate limits",
      scope: "REGIONAL",
      defaultAction: { allow: {} },
      visibilityConfig: visibility(name),
      rule: [
        ...MANAGED_RULE_GROUPS.map((group, i) => ({
          name: group,
          priority: i,
          overrideAction: { none: {} },
          // `statement` is untyped in the provider bindings (too deep): written in Terraform's snake_case.
          statement: {
            managed_rule_group_statement: {
              name: group,
              vendor_name: "AWS",
              rule_action_override: (COUNT_ONLY_RULES[group] ?? []).map((rule) => ({ name: rule, action_to_use: { count: {} } })),
            },
          },
          visibilityConfig: visibility(`${name}-${group}`),
        })),
        {
          name: "rate-limit-per-ip",
          priority: MANAGED_RULE_GROUPS.length,
          action: { block: {} },
          statement: { rate_based_statement: { limit: props.rateLimitPer5Minutes, aggregate_key_type: "IP" } },
          visibilityConfig: visibility(`${name}-rate-limit`),
        },
        {
          // One merchant's flood is blocked before it takes the gateway's concurrency from the
          // others. Requests without the header are not counted here (the per-IP rule covers them);
          // a forged header buys nothing: the gateway refuses it, and the per-IP rule still counts it.
          name: "rate-limit-per-merchant",
          priority: MANAGED_RULE_GROUPS.length + 1,
          action: { block: {} },
          statement: {
            rate_based_statement: {
              limit: props.merchantRateLimitPer5Minutes,
              aggregate_key_type: "CUSTOM_KEYS",
              // Lower-cased and spaces compressed, so `bearer` or extra spaces do not open a new bucket
              // for the same key (a lower-cased 256-bit secret still tells merchants apart).
              custom_key: [
                {
                  header: {
                    name: AUTH_HEADER,
                    text_transformation: [
                      { priority: 0, type: "LOWERCASE" },
                      { priority: 1, type: "COMPRESS_WHITE_SPACE" },
                    ],
                  },
                },
              ],
            },
          },
          visibilityConfig: visibility(`${name}-rate-limit-merchant`),
        },
      ],
    });
    this.arn = this.webAcl.arn;
    new Wafv2WebAclAssociation(this, "alb", { resourceArn: props.loadBalancerArn, webAclArn: this.webAcl.arn });

    // WAF only delivers to log groups whose name starts with "aws-waf-logs-".
    const logs = new EncryptedLogGroup(this, "logs", {
      name: `aws-waf-logs-${name}`,
    });
    new Wafv2WebAclLoggingConfiguration(this, "logging", {
      resourceArn: this.webAcl.arn,
      logDestinationConfigs: [logs.arn],
      // Keep only what a responder needs: blocked and counted requests.
      loggingFilter: {
        defaultBehavior: "DROP",
        filter: [
          {
            behavior: "KEEP",
            requirement: "MEETS_ANY",
            condition: [{ actionCondition: { action: "BLOCK" } }, { actionCondition: { action: "COUNT" } }],
          },
        ],
      },
    });
  }
}
