import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Construct } from "constructs";
import { environmentOf, FUNCTIONS, type FunctionContract, SIDE_EFFECT_LEASE_SECONDS } from "../../contracts/functions";
import { AwsStack } from "../core/aws-stack";
import type { AuroraGlobalDatabase } from "../data/database";
import type { SecureBucket } from "../data/secure-bucket";
import type { PaymentTables } from "../data/tables";
import type { NotificationTopic } from "../messaging/notification-topic";
import type { QueueWithDlq } from "../messaging/queue";
import type { Network } from "../network/network";
import { NodejsFunction } from "./nodejs-function";

export interface PaymentFunctionsProps {
  readonly network: Network;
  readonly tables: PaymentTables;
  readonly transactionQueue: QueueWithDlq;
  readonly notificationQueue: QueueWithDlq;
  readonly notificationTopic: NotificationTopic;
  readonly transactionLogs: SecureBucket;
  readonly database: AuroraGlobalDatabase;
  readonly memoryMb: number;
  readonly reservedConcurrency: number;
  readonly maxPaymentAmountMinor: number;
  readonly riskLimitMinor: number;
  readonly allowedCurrencies: readonly string[];
  readonly corsAllowOrigin?: string;
  /** Seconds the gateway keeps a verified or unknown API key in memory. */
  readonly authCacheTtlSeconds: number;
}

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
    const { naming } = AwsStack.of(this);
    const { network, tables, transactionQueue, notificationQueue, database } = props;

    const securityGroup = new SecurityGroup(this, "security-group", {
      name: naming.name("payment-functions-sg"),
      description: "Payment functions: HTTPS to VPC endpoints, MySQL to Aurora, nothing else",
      vpcId: network.vpcId,
      ingress: [],
      egress: [
        { description: "HTTPS to interface endpoints", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [network.vpcCidr] },
        {
          description: "HTTPS to S3 and DynamoDB gateway endpoints",
          protocol: "tcp",
          fromPort: 443,
          toPort: 443,
          prefixListIds: network.gatewayPrefixListIds,
        },
        { description: "MySQL to Aurora", protocol: "tcp", fromPort: database.port, toPort: database.port, cidrBlocks: [network.vpcCidr] },
      ],
      revokeRulesOnDelete: true,
    });
    this.securityGroupId = securityGroup.id;

    const make = (contract: FunctionContract, environment: Record<string, string>) =>
      new NodejsFunction(this, contract.handler, {
        contract,
        environment,
        memoryMb: props.memoryMb,
        reservedConcurrency: props.reservedConcurrency,
        vpc: { subnetIds: network.privateSubnetIds, securityGroupIds: [securityGroup.id] },
      });

    this.gateway = make(
      FUNCTIONS.gateway,
      environmentOf(FUNCTIONS.gateway, {
        transactionsTable: tables.tables.transactions.name,
        merchantKeysTable: tables.tables.merchantKeys.name,
        transactionQueueUrl: transactionQueue.url,
        maxAmountMinor: String(props.maxPaymentAmountMinor),
        allowedCurrencies: props.allowedCurrencies.join(","),
        corsAllowOrigin: props.corsAllowOrigin,
        authCacheTtlSeconds: String(props.authCacheTtlSeconds),
      }),
    );
    // The accept path (conditional PutItem, take-back DeleteItem) and GET /transactions/{id}.
    tables.grantItems(this.gateway, "transactions", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]);
    // Keys are issued and revoked by operators (src/ops); the gateway only looks them up.
    tables.grantRead(this.gateway, "merchantKeys");
    transactionQueue.grantSend(this.gateway);

    this.processor = make(
      FUNCTIONS.processor,
      environmentOf(FUNCTIONS.processor, {
        transactionsTable: tables.tables.transactions.name,
        notificationQueueUrl: notificationQueue.url,
        transactionLogBucket: props.transactionLogs.bucketName,
        riskLimitMinor: String(props.riskLimitMinor),
        sideEffectLeaseSeconds: String(SIDE_EFFECT_LEASE_SECONDS),
      }),
    );
    tables.grantReadWrite(this.processor, "transactions");
    transactionQueue.grantConsume(this.processor);
    notificationQueue.grantSend(this.processor);
    props.transactionLogs.grantPut(this.processor, "transactions/*");

    this.notifier = make(FUNCTIONS.notifier, environmentOf(FUNCTIONS.notifier, { notificationTopicArn: props.notificationTopic.arn }));
    notificationQueue.grantConsume(this.notifier);
    props.notificationTopic.grantPublish(this.notifier);

    this.health = make(
      FUNCTIONS.health,
      environmentOf(FUNCTIONS.health, {
        transactionsTable: tables.tables.transactions.name,
        transactionQueueUrl: transactionQueue.url,
        dbEndpoint: database.endpoint,
        dbPort: String(database.port),
      }),
    );
    tables.grantDescribe(this.health, "transactions");
    transactionQueue.grantDescribe(this.health);

    this.all = [this.gateway, this.processor, this.notifier, this.health];

    const maximumConcurrency = Math.max(2, Math.min(props.reservedConcurrency, 1000));
    for (const [sourceId, fn, queue] of [
      ["processor-source", this.processor, transactionQueue],
      ["notifier-source", this.notifier, notificationQueue],
    ] as const) {
      const source = fn.contract.eventSource;
      if (!source) throw new Error(`${fn.contract.handler} has no event source in its contract`);
      new LambdaEventSourceMapping(this, sourceId, {
        eventSourceArn: queue.arn,
        functionName: fn.arn,
        batchSize: source.batchSize,
        maximumBatchingWindowInSeconds: source.maximumBatchingWindowSeconds,
        functionResponseTypes: ["ReportBatchItemFailures"],
        scalingConfig: { maximumConcurrency },
      });
    }
  }
}
