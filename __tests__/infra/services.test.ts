import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Apigatewayv2Api } from "@cdktf/provider-aws/lib/apigatewayv2-api";
import { Apigatewayv2Integration } from "@cdktf/provider-aws/lib/apigatewayv2-integration";
import { Apigatewayv2Route } from "@cdktf/provider-aws/lib/apigatewayv2-route";
import { Apigatewayv2Stage } from "@cdktf/provider-aws/lib/apigatewayv2-stage";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Lb } from "@cdktf/provider-aws/lib/lb";
import { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
import { LbListenerRule } from "@cdktf/provider-aws/lib/lb-listener-rule";
import { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
import { LbTargetGroupAttachment } from "@cdktf/provider-aws/lib/lb-target-group-attachment";
import { SchedulerSchedule } from "@cdktf/provider-aws/lib/scheduler-schedule";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { unzipSync } from "fflate";
import { bundleHandler } from "../../src/infra/compute/bundling";
import { resourcesOf, type Synth, synthAppToDisk, synthStacks, wildcardAllows } from "./support";

const { primary, dr } = synthStacks();
const KEY = expect.stringMatching(/^\$\{aws_kms_key\.encryption_key_\w+\.arn\}$/);

const fn = (stack: string, name: string): Synth => resourcesOf(stack, LambdaFunction.tfResourceType).find((f) => f.function_name === name)!;
/** The statements of the role policy attached to a function's role. */
function statementsOf(stack: string, functionId: string): any[] {
  const policy = resourcesOf(stack, IamRolePolicy.tfResourceType).find((p) => p.role.includes(`functions_${functionId}_role`));
  return JSON.parse(policy!.policy).Statement;
}
const actionsOn = (statements: any[], resourcePattern: RegExp) =>
  statements
    .filter((s) => [].concat(s.Resource).some((r: string) => resourcePattern.test(r)))
    .flatMap((s) => s.Action)
    .sort();

describe("functions", () => {
  // Reserved concurrency and security group: the processor's is its connection budget; the
  // functions that use the ledger sit in the one group Aurora accepts.
  const names: Array<[string, number, string]> = [
    ["payment-gateway-dev", 50, "functions_security-group"],
    ["payment-transaction-processor-dev", 20, "functions_ledger-security-group"],
    ["payment-notification-sender-dev", 50, "functions_security-group"],
    ["payment-health-dev", 50, "functions_ledger-security-group"],
    ["payment-ledger-migrator-dev", 1, "functions_ledger-security-group"],
    ["payment-balances-dev", 5, "functions_ledger-security-group"],
    // One run at a time; it needs no Aurora.
    ["payment-pending-sweeper-dev", 1, "functions_security-group"],
  ];

  test.each(names)("%s: node 22, arm64, X-Ray, KMS, private subnets, reserved concurrency %d, JSON logs", (name, reserved, group) => {
    expect(primary).toHaveResourceWithProperties(LambdaFunction, {
      function_name: name,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      tracing_config: { mode: "Active" },
      kms_key_arn: KEY,
      reserved_concurrent_executions: reserved,
      memory_size: 512,
      logging_config: {
        log_format: "JSON",
        log_group: expect.stringMatching(/^\$\{aws_cloudwatch_log_group\.[\w-]+_logs_group_\w+\.name\}$/),
      },
      vpc_config: {
        subnet_ids: [0, 1, 2].map((i) => expect.stringMatching(new RegExp(`aws_subnet\\.network_private-subnet-${i}`))),
        security_group_ids: [expect.stringMatching(new RegExp(`^\\$\\{aws_security_group\\.${group}_\\w+\\.id\\}$`))],
      },
    });
    const f = fn(primary, name);
    const groupId = /aws_cloudwatch_log_group\.([\w-]+)\.name/.exec(f.logging_config.log_group)![1];
    expect(JSON.parse(primary).resource.aws_cloudwatch_log_group[groupId].name).toBe(`/aws/lambda/${name}`);
    expect(f.filename).toMatch(/^assets\/.+\.zip$/);
    expect(f.source_code_hash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  test("each function has its own role in each region", () => {
    const roles = resourcesOf(primary, IamRole.tfResourceType)
      .map((r) => r.name)
      .filter((n: string) => /^payment-(gateway|transaction-processor|notification-sender|health)-/.test(n));
    expect(roles.sort()).toEqual([
      "payment-gateway-ap-southeast-1-dev",
      "payment-health-ap-southeast-1-dev",
      "payment-notification-sender-ap-southeast-1-dev",
      "payment-transaction-processor-ap-southeast-1-dev",
    ]);
    const drRoles = resourcesOf(dr, IamRole.tfResourceType).map((r) => r.name);
    expect(drRoles).toContain("payment-gateway-ap-southeast-2-dev");
  });

  test("environment: each function gets exactly the names and limits its handler reads", () => {
    expect(fn(primary, "payment-gateway-dev").environment.variables).toEqual({
      POWERTOOLS_SERVICE_NAME: "payment-gateway",
      TRANSACTIONS_TABLE: expect.stringMatching(/aws_dynamodb_table\.tables_transactions_\w+\.name/),
      MERCHANT_KEYS_TABLE: expect.stringMatching(/aws_dynamodb_table\.tables_merchantKeys_\w+\.name/),
      TRANSACTION_QUEUE_URL: expect.stringMatching(/aws_sqs_queue\.transaction-queue_[A-F0-9]{8}\.url/),
      MAX_AMOUNT_MINOR: "100000000",
      ALLOWED_CURRENCIES: expect.stringMatching(/^SGD,AUD,USD/),
      AUTH_CACHE_TTL_SECONDS: "60",
    });
    expect(fn(primary, "payment-transaction-processor-dev").environment.variables).toMatchObject({
      TRANSACTIONS_TABLE: expect.stringMatching(/aws_dynamodb_table\.tables_transactions/),
      NOTIFICATION_QUEUE_URL: expect.stringMatching(/aws_sqs_queue\.notification-queue_[A-F0-9]{8}\.url/),
      TRANSACTION_LOG_BUCKET: expect.stringMatching(/aws_s3_bucket\.transaction-logs_bucket_\w+\.bucket/),
      RISK_LIMIT_MINOR: "5000000",
      SIDE_EFFECT_LEASE_SECONDS: "60",
    });
    expect(fn(primary, "payment-notification-sender-dev").environment.variables.NOTIFICATION_TOPIC_ARN).toMatch(
      /aws_sns_topic\.notification-topic_[A-F0-9]{8}\.arn/,
    );
    expect(fn(primary, "payment-health-dev").environment.variables).toMatchObject({
      DB_ENDPOINT: expect.stringMatching(/aws_rds_cluster\.database_cluster_\w+\.endpoint/),
      DB_PORT: "3306",
    });
  });

  test("dr functions use dr's own table names (the replicas) and queues", () => {
    expect(fn(dr, "payment-gateway-dev").environment.variables.TRANSACTIONS_TABLE).toBe("payment-transactions-dev");
    expect(fn(dr, "payment-gateway-dev").environment.variables.MERCHANT_KEYS_TABLE).toBe("payment-merchant-keys-dev");
    expect(fn(dr, "payment-gateway-dev").environment.variables.TRANSACTION_QUEUE_URL).toMatch(
      /^\$\{aws_sqs_queue\.transaction-queue_[A-F0-9]{8}\.url\}$/,
    );
  });

  test("configuration reaches the functions", () => {
    const custom = synthStacks({
      lambdaMemoryMb: 1024,
      lambdaReservedConcurrency: 20,
      maxPaymentAmountMinor: 5000000,
      riskLimitMinor: 100000,
      corsAllowOrigin: "https://shop.example.com",
      authCacheTtlSeconds: 15,
    });
    const gateway = fn(custom.primary, "payment-gateway-dev");
    expect(gateway).toMatchObject({ memory_size: 1024, reserved_concurrent_executions: 20 });
    expect(gateway.environment.variables).toMatchObject({
      MAX_AMOUNT_MINOR: "5000000",
      CORS_ALLOW_ORIGIN: "https://shop.example.com",
      AUTH_CACHE_TTL_SECONDS: "15",
    });
    expect(fn(custom.primary, "payment-transaction-processor-dev").environment.variables.RISK_LIMIT_MINOR).toBe("100000");
  });

  const toEndpoints = [
    expect.objectContaining({ from_port: 443, to_port: 443, cidr_blocks: ["10.0.0.0/16"] }),
    expect.objectContaining({
      from_port: 443,
      to_port: 443,
      prefix_list_ids: [expect.stringMatching(/s3-gateway-endpoint/), expect.stringMatching(/dynamodb-gateway-endpoint/)],
    }),
  ];

  test("function security group: HTTPS to the VPC and the gateway endpoints only, no ingress", () => {
    expect(primary).toHaveResourceWithProperties(SecurityGroup, { name: "payment-functions-sg-dev", ingress: [], egress: toEndpoints });
  });

  test("ledger clients' security group: the same, plus MySQL to Aurora's group only; Aurora accepts that group only", () => {
    expect(primary).toHaveResourceWithProperties(SecurityGroup, {
      name: "payment-ledger-clients-sg-dev",
      ingress: [],
      egress: [
        ...toEndpoints,
        expect.objectContaining({
          from_port: 3306,
          to_port: 3306,
          cidr_blocks: null,
          security_groups: [expect.stringMatching(/^\$\{aws_security_group\.database_security-group_\w+\.id\}$/)],
        }),
        // The other region's writer, over the peering (see ledger.test.ts).
        expect.objectContaining({ from_port: 3306, to_port: 3306, cidr_blocks: ["10.1.48.0/20", "10.1.64.0/20", "10.1.80.0/20"] }),
      ],
    });
    for (const stack of [primary, dr]) {
      const aurora = resourcesOf(stack, SecurityGroup.tfResourceType).find((g) => g.name === "payment-aurora-sg-dev")!;
      expect(aurora.ingress).toBeUndefined(); // no inline rules: only the rule resources below
      const rules = resourcesOf(stack, "aws_vpc_security_group_ingress_rule").filter((r) => !r.cidr_ipv4);
      expect(rules).toEqual([
        expect.objectContaining({
          security_group_id: expect.stringMatching(/aws_security_group\.database_security-group_/),
          referenced_security_group_id: expect.stringMatching(/aws_security_group\.functions_ledger-security-group_/),
          ip_protocol: "tcp",
          from_port: 3306,
          to_port: 3306,
        }),
      ]);
    }
  });
});

describe("least-privilege IAM", () => {
  test("no Allow statement in any policy (IAM, key, bucket, queue, topic) names a wildcard action", () => {
    for (const stack of [primary, dr]) {
      const { statements, wildcards } = wildcardAllows(stack);
      expect(statements).toBeGreaterThanOrEqual(60);
      expect(wildcards).toEqual([]);
    }
  });

  test("gateway: put and get transactions (never delete one), read-only on the merchant keys, send on the transaction queue, nothing else", () => {
    for (const stack of [primary, dr]) {
      const s = statementsOf(stack, "payment-gateway");
      // The two-call accept path needs no UpdateItem, no DeleteItem (its write is the commit point), and queries no index.
      expect(actionsOn(s, /tables_transactions(-replica)?_\w+\.arn\}$/)).toEqual(["dynamodb:GetItem", "dynamodb:PutItem"]);
      expect(actionsOn(s, /tables_transactions(-replica)?_\w+\.arn\}\/index/)).toEqual([]);
      // The gateway can only read the keys table: issuing and revoking are the operators' (src/ops).
      expect(actionsOn(s, /tables_merchantKeys(-replica)?_\w+\.arn\}$/)).toEqual(["dynamodb:GetItem", "dynamodb:Query"]);
      expect(actionsOn(s, /tables_merchantKeys(-replica)?_\w+\.arn\}\/index\/\*$/)).toEqual(["dynamodb:GetItem", "dynamodb:Query"]);
    }
    const s = statementsOf(primary, "payment-gateway");
    expect(actionsOn(s, /tables_sessions/)).toEqual([]);
    expect(actionsOn(s, /transaction-queue_[A-F0-9]{8}\.arn/)).toEqual(["sqs:SendMessage"]);
    expect(actionsOn(s, /notification|transaction-logs/)).toEqual([]);
  });

  test("processor: consume the transaction queue, send notifications, put log objects under transactions/", () => {
    const s = statementsOf(primary, "transaction-processor");
    expect(actionsOn(s, /transaction-queue_[A-F0-9]{8}\.arn/)).toEqual([
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
    ]);
    expect(actionsOn(s, /notification-queue_[A-F0-9]{8}\.arn/)).toEqual(["sqs:SendMessage"]);
    const put = s.find((x) => [].concat(x.Action).includes("s3:PutObject" as never));
    expect(put.Resource).toMatch(/aws_s3_bucket\.transaction-logs_bucket_\w+\.arn\}\/transactions\/\*$/);
    expect(actionsOn(s, /tables_merchantKeys/)).toEqual([]);
  });

  test("health: describe only", () => {
    const s = statementsOf(primary, "health");
    expect(actionsOn(s, /tables_transactions/)).toEqual(["dynamodb:DescribeTable"]);
    expect(actionsOn(s, /transaction-queue_[A-F0-9]{8}\./)).toEqual(["sqs:GetQueueAttributes"]);
  });

  test("KMS use is limited to the key and to the service using it", () => {
    const s = statementsOf(primary, "notification-sender");
    const kms = s.filter((x) => [].concat(x.Action).some((a: string) => a.startsWith("kms:")) && x.Condition);
    expect(kms.map((x) => x.Condition.StringEquals["kms:ViaService"]).sort()).toEqual([
      "sns.ap-southeast-1.amazonaws.com",
      "sqs.ap-southeast-1.amazonaws.com",
    ]);
    for (const x of kms) expect(x.Resource).toEqual(KEY);
  });
});

describe("pending sweeper", () => {
  const sweeperRef = (attr: string) =>
    expect.stringMatching(new RegExp(`^\\$\\{aws_lambda_function\\.sweeper_pending-sweeper_function_\\w+\\.${attr}\\}$`));
  const policyOf = (stack: string, role: RegExp): any[] =>
    JSON.parse(resourcesOf(stack, IamRolePolicy.tfResourceType).find((p) => role.test(p.role))!.policy).Statement;

  test.each([
    ["primary", () => primary],
    ["dr", () => dr],
  ])(
    "%s: EventBridge Scheduler invokes it every minute, on the minute, encrypted with the region's key, retried within the minute",
    (_, stack) => {
      expect(stack()).toHaveResourceWithProperties(SchedulerSchedule, {
        name: "payment-sweeper-dev",
        schedule_expression: "rate(1 minute)",
        flexible_time_window: { mode: "OFF" },
        state: "ENABLED",
        kms_key_arn: KEY,
        target: {
          arn: sweeperRef("arn"),
          role_arn: expect.stringMatching(/^\$\{aws_iam_role\.sweeper_schedule-role_\w+\.arn\}$/),
          retry_policy: { maximum_event_age_in_seconds: 60, maximum_retry_attempts: 2 },
        },
      });
      // Asynchronous invocations that cannot start within the minute are dropped, not queued.
      expect(stack()).toHaveResourceWithProperties(LambdaFunctionEventInvokeConfig, {
        function_name: sweeperRef("function_name"),
        maximum_event_age_in_seconds: 60,
        maximum_retry_attempts: 0,
      });
    },
  );

  test("the schedule's role is Scheduler's in this account, and may only invoke the sweeper and decrypt its own schedule", () => {
    const role = resourcesOf(primary, IamRole.tfResourceType).find((r) => r.name === "payment-sweeper-schedule-ap-southeast-1-dev")!;
    expect(JSON.parse(role.assume_role_policy).Statement).toEqual([
      {
        Effect: "Allow",
        Principal: { Service: "scheduler.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": expect.stringMatching(/aws_caller_identity/) } },
      },
    ]);
    expect(policyOf(primary, /sweeper_schedule-role/)).toEqual([
      { Sid: "InvokeSweeper", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: sweeperRef("arn") },
      {
        Sid: "DecryptOwnSchedule",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: KEY,
        Condition: {
          ArnEquals: {
            "kms:EncryptionContext:aws:scheduler:schedule:arn": expect.stringMatching(
              /^arn:\$\{data\.aws_partition\.partition\.partition\}:scheduler:ap-southeast-1:\$\{data\.aws_caller_identity\.account\.account_id\}:schedule\/default\/payment-sweeper-dev$/,
            ),
          },
        },
      },
    ]);
  });

  test("the sweeper may query the pending index, mark transactions and send to its own region's transaction queue, nothing else", () => {
    for (const [stack, region] of [
      [primary, "ap-southeast-1"],
      [dr, "ap-southeast-2"],
    ]) {
      const statements = policyOf(stack, /sweeper_pending-sweeper_role/);
      const rights = statements
        .filter((x) => !["WriteOwnLogs", "WriteTraces", "ManageVpcNetworkInterfaces", "DecryptEnvironment"].includes(x.Sid))
        .map((x) => ({ action: [].concat(x.Action).sort(), resource: x.Resource, via: x.Condition?.StringEquals?.["kms:ViaService"] }));
      const table =
        stack === primary
          ? "aws_dynamodb_table\\.tables_transactions_\\w+"
          : "aws_dynamodb_table_replica\\.tables_transactions-replica_\\w+";
      expect(rights).toEqual([
        {
          action: ["dynamodb:Query"],
          resource: expect.stringMatching(new RegExp(`^\\$\\{${table}\\.arn\\}/index/pending-index$`)),
          via: undefined,
        },
        { action: ["kms:Decrypt"], resource: KEY, via: `dynamodb.${region}.amazonaws.com` },
        { action: ["dynamodb:UpdateItem"], resource: expect.stringMatching(new RegExp(`^\\$\\{${table}\\.arn\\}$`)), via: undefined },
        { action: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resource: KEY, via: `dynamodb.${region}.amazonaws.com` },
        {
          action: ["sqs:SendMessage"],
          resource: expect.stringMatching(/^\$\{aws_sqs_queue\.transaction-queue_[A-F0-9]{8}\.arn\}$/),
          via: undefined,
        },
        { action: ["kms:Decrypt", "kms:GenerateDataKey"], resource: KEY, via: `sqs.${region}.amazonaws.com` },
      ]);
      // The rest is what every function has: its own logs, traces, VPC interfaces, its environment.
      expect(statements.map((x) => x.Sid).filter(Boolean)).toEqual([
        "WriteOwnLogs",
        "WriteTraces",
        "ManageVpcNetworkInterfaces",
        "DecryptEnvironment",
      ]);
    }
  });

  test("environment: its table and queue, the ages, the run size and the guard of a swept payment (300 s x 12)", () => {
    expect(fn(primary, "payment-pending-sweeper-dev").environment.variables).toEqual({
      POWERTOOLS_SERVICE_NAME: "pending-sweeper",
      TRANSACTIONS_TABLE: expect.stringMatching(/aws_dynamodb_table\.tables_transactions_\w+\.name/),
      TRANSACTION_QUEUE_URL: expect.stringMatching(/aws_sqs_queue\.transaction-queue_[A-F0-9]{8}\.url/),
      SWEEPER_AGE_SECONDS: "120",
      SWEEPER_ADOPT_AGE_SECONDS: "600",
      SWEEPER_MAX_PER_RUN: "500",
      SWEEPER_RESWEEP_SECONDS: "3600",
    });
    expect(fn(primary, "payment-pending-sweeper-dev").timeout).toBe(60);
    expect(fn(dr, "payment-pending-sweeper-dev").environment.variables.TRANSACTION_QUEUE_URL).toMatch(
      /aws_sqs_queue\.transaction-queue_[A-F0-9]{8}\.url/,
    );
  });
});

describe("queues", () => {
  test("transaction queue: 300 s visibility, 4 days, long polling, DLQ after 12 (an hour of failed receives), CMK", () => {
    expect(primary).toHaveResourceWithProperties(SqsQueue, {
      name: "payment-transaction-queue-dev",
      visibility_timeout_seconds: 300,
      message_retention_seconds: 345600,
      receive_wait_time_seconds: 20,
      kms_master_key_id: KEY,
    });
    const queue = resourcesOf(primary, SqsQueue.tfResourceType).find((q) => q.name === "payment-transaction-queue-dev")!;
    expect(JSON.parse(queue.redrive_policy)).toEqual({
      deadLetterTargetArn: expect.stringMatching(/transaction-queue_dlq_\w+\.arn/),
      maxReceiveCount: 12,
    });
    expect(primary).toHaveResourceWithProperties(SqsQueue, {
      name: "payment-transaction-dlq-dev",
      message_retention_seconds: 1209600,
      kms_master_key_id: KEY,
    });
  });

  test("notification queue: 60 s visibility, DLQ after 5", () => {
    const queue = resourcesOf(dr, SqsQueue.tfResourceType).find((q) => q.name === "payment-notification-queue-dev")!;
    expect(queue.visibility_timeout_seconds).toBe(60);
    expect(JSON.parse(queue.redrive_policy).maxReceiveCount).toBe(5);
    expect(resourcesOf(dr, SqsQueue.tfResourceType).map((q) => q.name)).toContain("payment-notification-dlq-dev");
  });

  test("every queue denies non-TLS access", () => {
    const policies = resourcesOf(primary, SqsQueuePolicy.tfResourceType);
    expect(policies).toHaveLength(4);
    for (const p of policies) {
      expect(JSON.parse(p.policy).Statement).toContainEqual(
        expect.objectContaining({ Effect: "Deny", Principal: "*", Condition: { Bool: { "aws:SecureTransport": false } } }),
      );
    }
  });

  test("SQS event sources: batch 10 with partial batch responses", () => {
    const mappings = resourcesOf(primary, LambdaEventSourceMapping.tfResourceType);
    expect(mappings).toHaveLength(2);
    for (const m of mappings) {
      expect(m).toMatchObject({ batch_size: 10, function_response_types: ["ReportBatchItemFailures"] });
    }
    expect(
      mappings
        .map((m) => [
          m.event_source_arn.match(/aws_sqs_queue\.([\w-]+?)_[A-F0-9]{8}\./)[1],
          m.function_name.match(/functions_([\w-]+?)_function/)[1],
        ])
        .sort(),
    ).toEqual([
      ["notification-queue", "notification-sender"],
      ["transaction-queue", "transaction-processor"],
    ]);
  });

  test("notification topic is KMS-encrypted", () => {
    expect(primary).toHaveResourceWithProperties(SnsTopic, { name: "payment-notifications-dev", kms_master_key_id: KEY });
  });
});

describe("HTTP API", () => {
  test("payment-api with the three routes and $default, all Lambda proxy integrations on payload 2.0", () => {
    expect(primary).toHaveResourceWithProperties(Apigatewayv2Api, { name: "payment-api-dev", protocol_type: "HTTP" });
    expect(
      resourcesOf(primary, Apigatewayv2Route.tfResourceType)
        .map((r) => r.route_key)
        .sort(),
    ).toEqual(["$default", "GET /balances", "GET /health", "GET /transactions/{id}", "POST /transactions"]);
    // Unknown routes reach the gateway, so they answer as behind the ALB (404/405, the project's body).
    const byKey = Object.fromEntries(resourcesOf(primary, Apigatewayv2Route.tfResourceType).map((r) => [r.route_key, r.target]));
    expect(byKey.$default).toBe(byKey["POST /transactions"]);
    const integrations = resourcesOf(primary, Apigatewayv2Integration.tfResourceType);
    expect(integrations).toHaveLength(3);
    for (const i of integrations) expect(i).toMatchObject({ integration_type: "AWS_PROXY", payload_format_version: "2.0" });
  });

  test("stage prod: auto-deploy, KMS-encrypted access logs, default throttling from config", () => {
    expect(primary).toHaveResourceWithProperties(Apigatewayv2Stage, {
      name: "prod",
      auto_deploy: true,
      access_log_settings: {
        destination_arn: expect.stringMatching(/aws_cloudwatch_log_group\.api_access-logs/),
        format: expect.stringContaining("$context.requestId"),
      },
      default_route_settings: { throttling_rate_limit: 500, throttling_burst_limit: 1000, detailed_metrics_enabled: true },
    });
    const custom = synthStacks({ apiThrottleRateLimit: 50, apiThrottleBurstLimit: 100 });
    expect(custom.primary).toHaveResourceWithProperties(Apigatewayv2Stage, {
      default_route_settings: expect.objectContaining({ throttling_rate_limit: 50, throttling_burst_limit: 100 }),
    });
  });

  test("invoke permissions are scoped to each route of this API, $default included", () => {
    const fromApi = resourcesOf(primary, LambdaPermission.tfResourceType).filter((p) => p.principal === "apigateway.amazonaws.com");
    expect(fromApi.map((p) => p.source_arn.replace(/^\$\{aws_apigatewayv2_api\.api_[A-F0-9]{8}\.execution_arn\}/, "")).sort()).toEqual([
      "/prod/$default",
      "/prod/GET/balances",
      "/prod/GET/health",
      "/prod/GET/transactions/*",
      "/prod/POST/transactions",
    ]);
  });

  test("CORS only when an origin is configured", () => {
    expect(resourcesOf(primary, Apigatewayv2Api.tfResourceType)[0].cors_configuration).toBeUndefined();
    const custom = synthStacks({ corsAllowOrigin: "https://shop.example.com" });
    expect(custom.primary).toHaveResourceWithProperties(Apigatewayv2Api, {
      cors_configuration: expect.objectContaining({ allow_origins: ["https://shop.example.com"] }),
    });
  });
});

describe("ALB", () => {
  test("internet-facing in the public subnets, drops invalid headers, strictest desync mitigation", () => {
    expect(primary).toHaveResourceWithProperties(Lb, {
      name: "payment-alb-dev",
      internal: false,
      load_balancer_type: "application",
      drop_invalid_header_fields: true,
      desync_mitigation_mode: "strictest",
      subnets: [0, 1, 2].map((i) => expect.stringMatching(new RegExp(`network_public-subnet-${i}`))),
    });
    expect(primary).toHaveResourceWithProperties(SecurityGroup, {
      name: "payment-alb-sg-dev",
      ingress: [
        expect.objectContaining({ from_port: 80, cidr_blocks: ["0.0.0.0/0"] }),
        expect.objectContaining({ from_port: 443, cidr_blocks: ["0.0.0.0/0"] }),
      ],
    });
  });

  test("without a certificate: one plain HTTP listener forwarding to the gateway", () => {
    const listeners = resourcesOf(primary, LbListener.tfResourceType);
    expect(listeners).toHaveLength(1);
    expect(listeners[0]).toMatchObject({
      port: 80,
      protocol: "HTTP",
      default_action: [{ type: "forward", target_group_arn: expect.stringMatching(/gateway-targets/) }],
    });
  });

  test("with a certificate: HTTPS with a TLS 1.2+ policy, and HTTP redirecting to it", () => {
    const cert = "arn:aws:acm:ap-southeast-2:123456789012:certificate/12345678-1234-1234-1234-123456789012";
    const custom = synthStacks({ drCertificateArn: cert });
    const listeners = resourcesOf(custom.dr, LbListener.tfResourceType);
    expect(listeners).toHaveLength(2);
    expect(custom.dr).toHaveResourceWithProperties(LbListener, {
      port: 443,
      protocol: "HTTPS",
      certificate_arn: cert,
      ssl_policy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
    });
    expect(custom.dr).toHaveResourceWithProperties(LbListener, {
      port: 80,
      protocol: "HTTP",
      default_action: [{ type: "redirect", redirect: { port: "443", protocol: "HTTPS", status_code: "HTTP_301" } }],
    });
    // The primary has no certificate configured: it keeps plain HTTP.
    expect(resourcesOf(custom.primary, LbListener.tfResourceType)).toHaveLength(1);
  });

  test("Lambda target groups with /health checks every 30 s; /health routed to the health function", () => {
    const groups = resourcesOf(primary, LbTargetGroup.tfResourceType);
    expect(groups.map((g) => g.name).sort()).toEqual(["pay-balances-dev", "pay-gw-dev", "pay-health-dev"]);
    for (const g of groups) {
      expect(g).toMatchObject({
        target_type: "lambda",
        health_check: expect.objectContaining({ enabled: true, path: "/health", interval: 30, matcher: "200" }),
      });
    }
    expect(primary).toHaveResourceWithProperties(LbListenerRule, {
      action: [{ type: "forward", target_group_arn: expect.stringMatching(/health-targets/) }],
      condition: [{ path_pattern: { values: ["/health"] } }],
    });
    expect(primary).toHaveResourceWithProperties(LbListenerRule, {
      priority: 20,
      action: [{ type: "forward", target_group_arn: expect.stringMatching(/balances-targets/) }],
      condition: [{ path_pattern: { values: ["/balances"] } }],
    });
  });

  test("ALB invoke permissions are scoped to their target group and exist before the attachment", () => {
    const permissions = resourcesOf(primary, LambdaPermission.tfResourceType).filter(
      (p) => p.principal === "elasticloadbalancing.amazonaws.com",
    );
    expect(permissions).toHaveLength(3);
    for (const p of permissions) expect(p.source_arn).toMatch(/^\$\{aws_lb_target_group\.alb_\w+-targets_\w+\.arn\}$/);
    const attachments = resourcesOf(primary, LbTargetGroupAttachment.tfResourceType);
    expect(attachments).toHaveLength(3);
    for (const a of attachments) expect(a.depends_on).toEqual([expect.stringMatching(/^aws_lambda_permission\.alb_\w+-invoke/)]);
  });
});

describe("ordering", () => {
  test("every invoke permission names its function through the function resource, so the function exists first", () => {
    for (const stack of [primary, dr]) {
      const permissions = resourcesOf(stack, LambdaPermission.tfResourceType);
      expect(permissions.length).toBeGreaterThanOrEqual(5);
      for (const p of permissions)
        expect(p.function_name).toMatch(/^\$\{aws_lambda_function\.functions_[\w-]+_function_\w+\.(function_name|arn)\}$/);
    }
  });
});

describe("deployment packages", () => {
  test("each function's zip exists in the synthesized stack and holds only the bundled index.js", () => {
    const outdir = synthAppToDisk().outdir;
    const functions = Object.values(
      JSON.parse(readFileSync(path.join(outdir, "stacks", "primary", "cdk.tf.json"), "utf8")).resource.aws_lambda_function,
    ) as Synth[];
    expect(functions).toHaveLength(7);
    for (const f of functions) {
      const zipPath = path.join(outdir, "stacks", "primary", f.filename);
      expect(existsSync(zipPath)).toBe(true);
      const entries = unzipSync(readFileSync(zipPath));
      expect(Object.keys(entries)).toEqual(["index.js"]);
      expect(Buffer.from(entries["index.js"]).toString("utf8")).toMatch(/exports|handler/);
    }
  });

  test("the package hash follows the handler code: same code, same hash; changed code, new hash", () => {
    const root = path.resolve(__dirname, "..", "..", ".build");
    mkdirSync(root, { recursive: true });
    const work = mkdtempSync(path.join(root, "hash-test-"));
    try {
      const lambdas = path.join(work, "lambdas");
      mkdirSync(path.join(lambdas, "probe"), { recursive: true });
      const write = (answer: string) =>
        writeFileSync(path.join(lambdas, "probe", "index.ts"), `export const handler = async () => "${answer}";\n`);
      write("one");
      const first = bundleHandler("probe", { outRoot: path.join(work, "out1"), lambdasRoot: lambdas });
      const again = bundleHandler("probe", { outRoot: path.join(work, "out2"), lambdasRoot: lambdas });
      write("two");
      const changed = bundleHandler("probe", { outRoot: path.join(work, "out3"), lambdasRoot: lambdas });
      expect(again.zipSha256).toBe(first.zipSha256);
      expect(changed.zipSha256).not.toBe(first.zipSha256);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
