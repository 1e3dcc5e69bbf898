import { Construct } from "constructs";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Naming } from "../naming";
import { NodejsFunction } from "./nodejs-function";
import { NotificationTopic } from "./notification-topic";
import { PaymentTables } from "./tables";
import { QueueWithDlq } from "./queue";
import { SecureBucket } from "./secure-bucket";

export interface PaymentFunctionsProps {
  readonly naming: Naming;
  readonly region: string;
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly privateSubnetIds: string[];
  /** S3 and DynamoDB gateway-endpoint prefix lists: their traffic leaves the VPC CIDR. */
  readonly gatewayPrefixListIds: string[];
  readonly kmsKeyArn: string;
  readonly logRetentionDays: number;
  readonly memoryMb: number;
  readonly reservedConcurrency: number;
  readonly tables: PaymentTables;
  readonly transactionQueue: QueueWithDlq;
  readonly notificationQueue: QueueWithDlq;
  readonly notificationTopic: NotificationTopic;
  readonly transactionLogs: SecureBucket;
  readonly database: { readonly endpoint: string; readonly port: number };
  readonly maxPaymentAmountMinor: number;
  readonly riskLimitMinor: number;
  readonly allowedCurrencies: readonly string[];
  readonly corsAllowOrigin?: string;
}

/** SQS event source settings; the processor's batch of 10 is the design's. */
export const PROCESSOR_BATCH_SIZE = 10;
export const NOTIFIER_BATCH_SIZE = 10;

/**
 * The four payment functions of a region, their network placement, their event sources, and
 * exactly the rights each one uses (granted by the resources themselves).
 */
export class PaymentFunctions extends Construct {
  readonly gateway: NodejsFunction;
  readonly processor: NodejsFunction;
  readonly notifier: NodejsFunction;
  readonly health: NodejsFunction;
  readonly all: NodejsFunction[];
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: PaymentFunctionsProps) {
    super(scope, id);
    const { naming, tables, transactionQueue, notificationQueue } = props;

    const securityGroup = new SecurityGroup(this, "security-group", {
      name: naming.name("payment-functions-sg"),
      description: "Payment functions: HTTPS to VPC endpoints, MySQL to Aurora, nothing else",
      vpcId: props.vpcId,
      ingress: [],
      egress: [
        { description: "HTTPS to interface endpoints", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [props.vpcCidr] },
        { description: "HTTPS to S3 and DynamoDB gateway endpoints", protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: props.gatewayPrefixListIds },
        { description: "MySQL to Aurora", protocol: "tcp", fromPort: props.database.port, toPort: props.database.port, cidrBlocks: [props.vpcCidr] },
      ],
      revokeRulesOnDelete: true,
    });
    this.securityGroupId = securityGroup.id;

    const common = {
      naming,
      region: props.region,
      kmsKeyArn: props.kmsKeyArn,
      logRetentionDays: props.logRetentionDays,
      memoryMb: props.memoryMb,
      reservedConcurrency: props.reservedConcurrency,
      vpc: { subnetIds: props.privateSubnetIds, securityGroupIds: [securityGroup.id] },
    };

    this.gateway = new NodejsFunction(this, "payment-gateway", {
      ...common,
      handler: "payment-gateway",
      description: "Accepts payments (POST /transactions) and reports their status",
      timeoutSeconds: 10,
      environment: {
        TRANSACTIONS_TABLE: tables.tables.transactions.name,
        IDEMPOTENCY_TABLE: tables.tables.idempotency.name,
        TRANSACTION_QUEUE_URL: transactionQueue.url,
        MAX_AMOUNT_MINOR: String(props.maxPaymentAmountMinor),
        ALLOWED_CURRENCIES: props.allowedCurrencies.join(","),
        ...(props.corsAllowOrigin ? { CORS_ALLOW_ORIGIN: props.corsAllowOrigin } : {}),
      },
    });
    tables.grantReadWrite(this.gateway, "transactions");
    tables.grantReadWrite(this.gateway, "idempotency");
    transactionQueue.grantSend(this.gateway);

    this.processor = new NodejsFunction(this, "transaction-processor", {
      ...common,
      handler: "transaction-processor",
      description: "Moves queued transactions to PROCESSED or FAILED exactly once",
      timeoutSeconds: 30,
      environment: {
        TRANSACTIONS_TABLE: tables.tables.transactions.name,
        NOTIFICATION_QUEUE_URL: notificationQueue.url,
        TRANSACTION_LOG_BUCKET: props.transactionLogs.bucketName,
        RISK_LIMIT_MINOR: String(props.riskLimitMinor),
        // A claim on a transaction's side effects outlives one invocation (30 s) and expires well
        // before the message becomes visible again (300 s).
        SIDE_EFFECT_LEASE_SECONDS: "60",
      },
    });
    tables.grantReadWrite(this.processor, "transactions");
    transactionQueue.grantConsume(this.processor);
    notificationQueue.grantSend(this.processor);
    props.transactionLogs.grantPut(this.processor, "transactions/*");

    this.notifier = new NodejsFunction(this, "notification-sender", {
      ...common,
      handler: "notification-sender",
      description: "Drains the notification queue to SNS",
      timeoutSeconds: 10,
      environment: { NOTIFICATION_TOPIC_ARN: props.notificationTopic.arn },
    });
    notificationQueue.grantConsume(this.notifier);
    props.notificationTopic.grantPublish(this.notifier);

    this.health = new NodejsFunction(this, "health", {
      ...common,
      handler: "health",
      description: "Deep health check of this region's dependencies (ALB and Route53 target)",
      timeoutSeconds: 5,
      environment: {
        TRANSACTIONS_TABLE: tables.tables.transactions.name,
        TRANSACTION_QUEUE_URL: transactionQueue.url,
        DB_ENDPOINT: props.database.endpoint,
        DB_PORT: String(props.database.port),
      },
    });
    tables.grantDescribe(this.health, "transactions");
    transactionQueue.grantDescribe(this.health);

    this.all = [this.gateway, this.processor, this.notifier, this.health];

    const maximumConcurrency = Math.max(2, Math.min(props.reservedConcurrency, 1000));
    new LambdaEventSourceMapping(this, "processor-source", {
      eventSourceArn: transactionQueue.arn,
      functionName: this.processor.arn,
      batchSize: PROCESSOR_BATCH_SIZE,
      maximumBatchingWindowInSeconds: 1,
      functionResponseTypes: ["ReportBatchItemFailures"],
      scalingConfig: { maximumConcurrency },
    });
    new LambdaEventSourceMapping(this, "notifier-source", {
      eventSourceArn: notificationQueue.arn,
      functionName: this.notifier.arn,
      batchSize: NOTIFIER_BATCH_SIZE,
      maximumBatchingWindowInSeconds: 1,
      functionResponseTypes: ["ReportBatchItemFailures"],
      scalingConfig: { maximumConcurrency },
    });
  }
}
