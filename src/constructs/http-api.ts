import { Construct } from "constructs";
import { Apigatewayv2Api } from "@cdktf/provider-aws/lib/apigatewayv2-api";
import { Apigatewayv2Integration } from "@cdktf/provider-aws/lib/apigatewayv2-integration";
import { Apigatewayv2Route } from "@cdktf/provider-aws/lib/apigatewayv2-route";
import { Apigatewayv2Stage } from "@cdktf/provider-aws/lib/apigatewayv2-stage";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Naming } from "../naming";
import { EncryptedLogGroup } from "./log-group";
import { NodejsFunction } from "./nodejs-function";

export interface HttpApiRoute {
  /** e.g. "POST /transactions" */
  readonly routeKey: string;
  readonly target: NodejsFunction;
}

export interface PaymentHttpApiProps {
  readonly naming: Naming;
  readonly routes: HttpApiRoute[];
  readonly kmsKeyArn: string;
  readonly logRetentionDays: number;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  readonly corsAllowOrigin?: string;
}

export const API_STAGE = "prod";

/** Access-log fields: enough to trace a request end to end without logging bodies. */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  ip: "$context.identity.sourceIp",
  requestTime: "$context.requestTime",
  routeKey: "$context.routeKey",
  status: "$context.status",
  responseLength: "$context.responseLength",
  latency: "$context.responseLatency",
  integrationLatency: "$context.integrationLatency",
  integrationError: "$context.integrationErrorMessage",
});

/**
 * HTTP API `payment-api-{suffix}`: Lambda proxy routes (payload 2.0), stage `prod` with
 * auto-deploy, KMS-encrypted access logs and default throttling. Each invoke permission is
 * scoped to its own route on this API.
 */
export class PaymentHttpApi extends Construct {
  readonly api: Apigatewayv2Api;
  readonly stage: Apigatewayv2Stage;
  readonly apiId: string;
  readonly endpoint: string;
  readonly accessLogGroupName: string;

  constructor(scope: Construct, id: string, props: PaymentHttpApiProps) {
    super(scope, id);
    const { naming } = props;
    this.api = new Apigatewayv2Api(this, "api", {
      name: naming.name("payment-api"),
      protocolType: "HTTP",
      description: "Payment API",
      corsConfiguration: props.corsAllowOrigin
        ? {
            allowOrigins: [props.corsAllowOrigin],
            allowMethods: ["GET", "POST", "OPTIONS"],
            allowHeaders: ["content-type", "idempotency-key"],
            maxAge: 600,
          }
        : undefined,
    });
    this.apiId = this.api.id;

    const accessLogs = new EncryptedLogGroup(this, "access-logs", {
      name: `/aws/apigateway/${naming.name("payment-api")}`,
      kmsKeyArn: props.kmsKeyArn,
      retentionDays: props.logRetentionDays,
    });
    this.accessLogGroupName = accessLogs.name;
    this.stage = new Apigatewayv2Stage(this, "stage", {
      apiId: this.api.id,
      name: API_STAGE,
      autoDeploy: true,
      accessLogSettings: { destinationArn: accessLogs.arn, format: ACCESS_LOG_FORMAT },
      defaultRouteSettings: {
        throttlingRateLimit: props.throttlingRateLimit,
        throttlingBurstLimit: props.throttlingBurstLimit,
        detailedMetricsEnabled: true,
      },
    });
    this.endpoint = this.stage.invokeUrl;

    const integrations = new Map<NodejsFunction, Apigatewayv2Integration>();
    for (const route of props.routes) {
      // Construct ids from the route, so that adding or reordering routes moves no resource.
      const routeId = route.routeKey.toLowerCase().replace(/[{}]/g, "").replace(/[^a-z0-9]+/g, "-").replace(/-$/, "");
      let integration = integrations.get(route.target);
      if (!integration) {
        integration = new Apigatewayv2Integration(this, `integration-${route.target.node.id}`, {
          apiId: this.api.id,
          integrationType: "AWS_PROXY",
          integrationMethod: "POST",
          integrationUri: route.target.invokeArn,
          payloadFormatVersion: "2.0",
          timeoutMilliseconds: 10_000,
        });
        integrations.set(route.target, integration);
      }
      new Apigatewayv2Route(this, `route-${routeId}`, {
        apiId: this.api.id,
        routeKey: route.routeKey,
        target: `integrations/${integration.id}`,
      });
      const [method, path] = route.routeKey.split(" ");
      new LambdaPermission(this, `invoke-${routeId}`, {
        statementId: `AllowHttpApi-${routeId}`,
        action: "lambda:InvokeFunction",
        functionName: route.target.functionName,
        principal: "apigateway.amazonaws.com",
        // Path parameters are matched by a wildcard segment: `{id}` -> `*`.
        sourceArn: `${this.api.executionArn}/${API_STAGE}/${method}${path.replace(/\{[^}]+\}/g, "*")}`,
        dependsOn: [route.target.function],
      });
    }
  }
}
