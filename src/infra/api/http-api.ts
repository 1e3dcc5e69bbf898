import { Apigatewayv2Api } from "@cdktf/provider-aws/lib/apigatewayv2-api";
import { Apigatewayv2Integration } from "@cdktf/provider-aws/lib/apigatewayv2-integration";
import { Apigatewayv2Route } from "@cdktf/provider-aws/lib/apigatewayv2-route";
import { Apigatewayv2Stage } from "@cdktf/provider-aws/lib/apigatewayv2-stage";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Construct } from "constructs";
import { API_ROUTES, API_STAGE, type ApiRoute, AUTH_HEADER, DEFAULT_ROUTE_HANDLER, DEFAULT_ROUTE_KEY, routeKey } from "../../contracts/api";
import type { NodejsFunction } from "../compute/nodejs-function";
import { AwsStack } from "../core/aws-stack";
import { EncryptedLogGroup } from "../observability/log-group";

export interface PaymentHttpApiProps {
  /** The functions that serve the routes, found by their handler folder. */
  readonly functions: readonly NodejsFunction[];
  /** @default API_ROUTES (src/contracts/api.ts) */
  readonly routes?: readonly ApiRoute[];
  /**
   * Handler folder of the function behind the `$default` route (every other method and path).
   * @default DEFAULT_ROUTE_HANDLER (the gateway: same 404/405 answers as behind the ALB)
   */
  readonly defaultRouteHandler?: string;
  readonly throttlingRateLimit: number;
  readonly throttlingBurstLimit: number;
  readonly corsAllowOrigin?: string;
}

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
    const { naming } = AwsStack.of(this);
    this.api = new Apigatewayv2Api(this, "api", {
      name: naming.name("payment-api"),
      protocolType: "HTTP",
      description: "Payment API",
      corsConfiguration: props.corsAllowOrigin
        ? {
            allowOrigins: [props.corsAllowOrigin],
            allowMethods: ["GET", "POST", "OPTIONS"],
            allowHeaders: [AUTH_HEADER, "content-type", "idempotency-key"],
            maxAge: 600,
          }
        : undefined,
    });
    this.apiId = this.api.id;

    const accessLogs = new EncryptedLogGroup(this, "access-logs", {
      name: `/aws/apigateway/${naming.name("payment-api")}`,
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
    const integrationFor = (handler: string, what: string): { target: NodejsFunction; integration: Apigatewayv2Integration } => {
      const target = props.functions.find((fn) => fn.contract.handler === handler);
      if (!target) throw new Error(`No function for ${what} (handler ${handler})`);
      let integration = integrations.get(target);
      if (!integration) {
        integration = new Apigatewayv2Integration(this, `integration-${target.node.id}`, {
          apiId: this.api.id,
          integrationType: "AWS_PROXY",
          integrationMethod: "POST",
          integrationUri: target.invokeArn,
          payloadFormatVersion: "2.0",
          timeoutMilliseconds: 10_000,
        });
        integrations.set(target, integration);
      }
      return { target, integration };
    };
    const addRoute = (routeId: string, key: string, handler: string, sourcePath: string) => {
      const { target, integration } = integrationFor(handler, `route ${key}`);
      new Apigatewayv2Route(this, `route-${routeId}`, { apiId: this.api.id, routeKey: key, target: `integrations/${integration.id}` });
      new LambdaPermission(this, `invoke-${routeId}`, {
        statementId: `AllowHttpApi-${routeId}`,
        action: "lambda:InvokeFunction",
        functionName: target.functionName,
        principal: "apigateway.amazonaws.com",
        sourceArn: `${this.api.executionArn}/${API_STAGE}/${sourcePath}`,
        dependsOn: [target.function],
      });
    };

    for (const route of props.routes ?? API_ROUTES) {
      // Construct ids from the route, so that adding or reordering routes moves no resource.
      const routeId = routeKey(route)
        .toLowerCase()
        .replace(/[{}]/g, "")
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/-$/, "");
      // Path parameters are matched by a wildcard segment: `{id}` -> `*`.
      addRoute(routeId, routeKey(route), route.handler, `${route.method}${route.path.replace(/\{[^}]+\}/g, "*")}`);
    }
    // Unknown paths and methods reach the gateway, which answers as it does behind the ALB
    // (API Gateway would answer its own `{"message":"Not Found"}`).
    addRoute("default", DEFAULT_ROUTE_KEY, props.defaultRouteHandler ?? DEFAULT_ROUTE_HANDLER, DEFAULT_ROUTE_KEY);
  }
}
