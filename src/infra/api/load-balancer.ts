import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
import { LbListenerRule } from "@cdktf/provider-aws/lib/lb-listener-rule";
import { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
import { LbTargetGroupAttachment } from "@cdktf/provider-aws/lib/lb-target-group-attachment";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { HEALTH_PATH } from "../../contracts/api";
import type { NodejsFunction } from "../compute/nodejs-function";
import { AwsStack } from "../core/aws-stack";
import type { Network } from "../network/network";
import type { RegionEndpoint } from "./dns-failover";

export interface PaymentLoadBalancerProps {
  /** The ALB sits in the public subnets. */
  readonly network: Network;
  /** Serves every path not routed elsewhere. */
  readonly defaultTarget: NodejsFunction;
  /** Serves /health (the Route53 health check's path). */
  readonly healthTarget: NodejsFunction;
  /** ACM certificate: HTTPS on 443 and HTTP redirected to it; without one, plain HTTP only. */
  readonly certificateArn?: string;
  /** Access logs: the bucket (SSE-S3, with a policy for ELB log delivery) and what to wait for. */
  readonly accessLogs: { readonly bucketName: string; readonly prefix: string; readonly ready: ITerraformDependable };
}

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

    const gateway = this.lambdaTargetGroup("gateway", "pay-gw", props.defaultTarget);
    const health = this.lambdaTargetGroup("health", "pay-health", props.healthTarget);
    this.targetGroups = [gateway, health];

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
    new LbListenerRule(this, "health-rule", {
      listenerArn: listener.arn,
      priority: 10,
      action: [{ type: "forward", targetGroupArn: health.arn }],
      condition: [{ pathPattern: { values: [HEALTH_PATH] } }],
    });
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
