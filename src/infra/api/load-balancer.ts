import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
import { LbListenerRule } from "@cdktf/provider-aws/lib/lb-listener-rule";
import { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
import { LbTargetGroupAttachment } from "@cdktf/provider-aws/lib/lb-target-group-attachment";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { API_ROUTES, DEFAULT_ROUTE_HANDLER, HEALTH_PATH } from "../../contracts/api";
import type { NodejsFunction } from "../compute/nodejs-function";
import { AwsStack } from "../core/aws-stack";
import type { Network } from "../network/network";
import type { RegionEndpoint } from "./dns-failover";

export interface PaymentLoadBalancerProps {
  /** The ALB sits in the public subnets. */
  readonly network: Network;
  /**
   * The functions behind the routes (src/contracts/api.ts), found by their handler folder: the
   * default route's function gets every path not routed elsewhere, the others a listener rule each.
   */
  readonly functions: readonly NodejsFunction[];
  /** ACM certificate: HTTPS on 443 and HTTP redirected to it; without one, plain HTTP only. */
  readonly certificateArn?: string;
  /** Access logs: the bucket (SSE-S3, with a policy for ELB log delivery) and what to wait for. */
  readonly accessLogs: { readonly bucketName: string; readonly prefix: string; readonly ready: ITerraformDependable };
}

/**
 * Target groups by function key: their names (32 characters at most with the suffix) and the
 * priority of their listener rule. Ids and names are kept stable so that no group is replaced.
 */
const TARGET_GROUPS: Readonly<Record<string, { readonly name: string; readonly priority?: number }>> = {
  gateway: { name: "pay-gw" },
  health: { name: "pay-health", priority: 10 },
  balances: { name: "pay-balances", priority: 20 },
};

export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/**
 * Internet-facing ALB `payment-alb-{suffix}` in front of the Lambda functions: drops invalid
 * headers, strictest desync mitigation, TLS 1.2+ when a certificate is configured.
 */
export class PaymentLoadBalancer extends Construct {
  readonly lb: Lb;
  readonly arn: string;
  readonly arnSuffix: string;
  readonly dnsName: string;
  /** Canonical hosted zone of the ALB, for Route53 alias records. */
  readonly zoneId: string;
  readonly https: boolean;
  readonly targetGroups: LbTargetGroup[];

  constructor(scope: Construct, id: string, props: PaymentLoadBalancerProps) {
    super(scope, id);
    const { naming } = AwsStack.of(this);
    this.https = props.certificateArn !== undefined;

    const securityGroup = new SecurityGroup(this, "security-group", {
      name: naming.name("payment-alb-sg"),
      description: "HTTP and HTTPS from the internet to the payment ALB",
      vpcId: props.network.vpcId,
      ingress: [80, 443].map((port) => ({
        description: `port ${port} from the internet`,
        protocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrBlocks: ["0.0.0.0/0"],
      })),
      // Lambda targets are invoked by the service, not through the ALB's network interfaces.
      egress: [],
      revokeRulesOnDelete: true,
    });
    this.lb = new Lb(this, "alb", {
      name: naming.name("payment-alb", "alb"),
      internal: false,
      loadBalancerType: "application",
      securityGroups: [securityGroup.id],
      subnets: props.network.publicSubnetIds,
      dropInvalidHeaderFields: true,
      desyncMitigationMode: "strictest",
      enableDeletionProtection: false,
      accessLogs: { bucket: props.accessLogs.bucketName, prefix: props.accessLogs.prefix, enabled: true },
      // The ALB checks that it may write its logs when it is created.
      dependsOn: [props.accessLogs.ready],
    });
    this.arn = this.lb.arn;
    this.arnSuffix = this.lb.arnSuffix;
    this.dnsName = this.lb.dnsName;
    this.zoneId = this.lb.zoneId;

    const routed = [...new Set(API_ROUTES.map((r) => r.handler))];
    const targetOf = (handler: string): NodejsFunction => {
      const fn = props.functions.find((f) => f.contract.handler === handler);
      if (!fn) throw new Error(`No function for the ALB's routes to ${handler}`);
      return fn;
    };
    const groups = new Map(
      [DEFAULT_ROUTE_HANDLER, ...routed.filter((h) => h !== DEFAULT_ROUTE_HANDLER)].map((handler) => {
        const fn = targetOf(handler);
        const spec = TARGET_GROUPS[fn.contract.key];
        if (!spec) throw new Error(`No ALB target group name for ${fn.contract.key}`);
        return [handler, { group: this.lambdaTargetGroup(fn.contract.key, spec.name, fn), priority: spec.priority }] as const;
      }),
    );
    this.targetGroups = [...groups.values()].map((g) => g.group);
    const gateway = groups.get(DEFAULT_ROUTE_HANDLER)!.group;

    const forwardToGateway = [{ type: "forward", targetGroupArn: gateway.arn }];
    let listener: LbListener;
    if (this.https) {
      listener = new LbListener(this, "https", {
        loadBalancerArn: this.lb.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: TLS_POLICY,
        certificateArn: props.certificateArn,
        defaultAction: forwardToGateway,
      });
      new LbListener(this, "http-redirect", {
        loadBalancerArn: this.lb.arn,
        port: 80,
        protocol: "HTTP",
        defaultAction: [{ type: "redirect", redirect: { port: "443", protocol: "HTTPS", statusCode: "HTTP_301" } }],
      });
    } else {
      listener = new LbListener(this, "http", {
        loadBalancerArn: this.lb.arn,
        port: 80,
        protocol: "HTTP",
        defaultAction: forwardToGateway,
      });
    }
    for (const [handler, { group, priority }] of groups) {
      if (handler === DEFAULT_ROUTE_HANDLER) continue;
      const fn = targetOf(handler);
      // The routes' paths, `{param}` segments as wildcards.
      const paths = API_ROUTES.filter((r) => r.handler === handler).map((r) => r.path.replace(/\{[^}]+\}/g, "*"));
      new LbListenerRule(this, `${fn.contract.key}-rule`, {
        listenerArn: listener.arn,
        priority: priority!,
        action: [{ type: "forward", targetGroupArn: group.arn }],
        condition: [{ pathPattern: { values: paths } }],
      });
    }
  }

  /** This ALB as one side of a DNS failover pair. */
  endpoint(region: string): RegionEndpoint {
    return { region, albDnsName: this.dnsName, albZoneId: this.zoneId, https: this.https };
  }

  private lambdaTargetGroup(id: string, baseName: string, target: NodejsFunction): LbTargetGroup {
    const group = new LbTargetGroup(this, `${id}-targets`, {
      name: AwsStack.of(this).naming.name(baseName, "targetGroup"),
      targetType: "lambda",
      healthCheck: {
        enabled: true,
        path: HEALTH_PATH,
        interval: 30,
        timeout: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
        matcher: "200",
      },
    });
    // ALB may invoke only through this target group; the attachment waits for the permission.
    const permission = new LambdaPermission(this, `${id}-invoke`, {
      statementId: "AllowAlbTargetGroup",
      action: "lambda:InvokeFunction",
      functionName: target.functionName,
      principal: "elasticloadbalancing.amazonaws.com",
      sourceArn: group.arn,
    });
    new LbTargetGroupAttachment(this, `${id}-attachment`, { targetGroupArn: group.arn, targetId: target.arn, dependsOn: [permission] });
    return group;
  }
}
