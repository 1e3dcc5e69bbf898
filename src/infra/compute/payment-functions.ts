import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Construct } from "constructs";
import { environmentOf, FUNCTIONS, type FunctionContract, SIDE_EFFECT_LEASE_SECONDS } from "../../contracts/functions";
import { LEDGER_DATABASE, LEDGER_USERS } from "../../contracts/ledger";
import { AwsStack } from "../core/aws-stack";
import type { AuroraGlobalDatabase } from "../data/database";
import type { SecureBucket } from "../data/secure-bucket";
import type { PaymentTables } from "../data/tables";
import type { NotificationTopic } from "../messaging/notification-topic";
import type { QueueWithDlq } from "../messaging/queue";
import type { Network } from "../network/network";
import { type FunctionVpcPlacement, NodejsFunction } from "./nodejs-function";

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
  /** The processor's reserved and event-source concurrency: one ledger connection each. */
  readonly processorMaxConcurrency: number;
  /** The balances function's reserved concurrency: one reader connection each. */
  readonly balancesMaxConcurrency: number;
  /** The other region's private subnets: its ledger clients reach this region's writer, and ours its. */
  readonly peerPrivateCidrs: readonly string[];
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
  readonly balances: NodejsFunction;
  readonly all: NodejsFunction[];
  /** Functions that reach AWS only through the VPC endpoints. */
  readonly securityGroupId: string;
  /** Placement of functions that also use the ledger: the one group Aurora accepts connections from. */
  readonly ledgerPlacement: FunctionVpcPlacement;

  constructor(scope: Construct, id: string, props: PaymentFunctionsProps) {
    super(scope, id);
    const { naming } = AwsStack.of(this);
    const { network, tables, transactionQueue, notificationQueue, database } = props;

    const toEndpoints = [
      { description: "HTTPS to interface endpoints", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [network.vpcCidr] },
      {
        description: "HTTPS to S3 and DynamoDB gateway endpoints",
        protocol: "tcp",
        fromPort: 443,
        toPort: 443,
        prefixListIds: network.gatewayPrefixListIds,
      },
    ];
    const securityGroup = new SecurityGroup(this, "security-group", {
      name: naming.name("payment-functions-sg"),
      description: "Payment functions: HTTPS to VPC endpoints, nothing else",
      vpcId: network.vpcId,
      ingress: [],
      egress: toEndpoints,
      revokeRulesOnDelete: true,
    });
    this.securityGroupId = securityGroup.id;
    const ledgerClients = new SecurityGroup(this, "ledger-security-group", {
      name: naming.name("payment-ledger-clients-sg"),
      description: "Functions that use the ledger: HTTPS to VPC endpoints, MySQL to Aurora only",
      vpcId: network.vpcId,
      ingress: [],
      egress: [
        ...toEndpoints,
        {
          description: "MySQL to Aurora",
          protocol: "tcp",
          fromPort: database.port,
          toPort: database.port,
          securityGroups: [database.securityGroupId],
        },
        {
          description: "MySQL to the Aurora cluster of the other region (the writer after a switchover), over the peering",
          protocol: "tcp",
          fromPort: database.port,
          toPort: database.port,
          cidrBlocks: [...props.peerPrivateCidrs],
        },
      ],
      revokeRulesOnDelete: true,
    });
    database.allowConnectionsFrom("ledger-clients", ledgerClients.id, "MySQL from the functions that use the ledger");
    database.allowConnectionsFromCidrs("peer-ledger-clients", props.peerPrivateCidrs, "MySQL from the functions of the other region");
    const placement = { subnetIds: network.privateSubnetIds, securityGroupIds: [securityGroup.id] };
    this.ledgerPlacement = { subnetIds: network.privateSubnetIds, securityGroupIds: [ledgerClients.id] };

    const make = (
      contract: FunctionContract,
      environment: Record<string, string>,
      options: { vpc?: FunctionVpcPlacement; reservedConcurrency?: number } = {},
    ) =>
      new NodejsFunction(this, contract.handler, {
        contract,
        environment,
        memoryMb: props.memoryMb,
        reservedConcurrency: options.reservedConcurrency ?? props.reservedConcurrency,
        vpc: options.vpc ?? placement,
        // The ledger clients trust only these regions' RDS CAs (the others ignore it).
        databaseRegions: database.regions,
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
    // The accept path (one conditional PutItem, never a delete: the write is the commit point) and GET /transactions/{id}.
    tables.grantItems(this.gateway, "transactions", ["dynamodb:GetItem", "dynamodb:PutItem"]);
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
        dbWriterEndpoint: database.globalWriterEndpoint,
        dbPort: String(database.port),
        dbName: LEDGER_DATABASE,
        dbUser: LEDGER_USERS.writer,
        dbAuthMode: "iam",
        // The writer is usually in the primary region (first) and after a failover in the DR region.
        dbIamRegions: database.regions.join(","),
      }),
      { vpc: this.ledgerPlacement, reservedConcurrency: props.processorMaxConcurrency },
    );
    database.grantConnect(this.processor, LEDGER_USERS.writer);
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
      { vpc: this.ledgerPlacement },
    );
    tables.grantDescribe(this.health, "transactions");
    transactionQueue.grantDescribe(this.health);

    this.balances = make(
      FUNCTIONS.balances,
      environmentOf(FUNCTIONS.balances, {
        merchantKeysTable: tables.tables.merchantKeys.name,
        authCacheTtlSeconds: String(props.authCacheTtlSeconds),
        corsAllowOrigin: props.corsAllowOrigin,
        // This region's cluster: balance reads stay in the region, also while the other is gone.
        dbReaderEndpoint: database.readerEndpoint,
        dbPort: String(database.port),
        dbName: LEDGER_DATABASE,
        dbUser: LEDGER_USERS.reader,
        dbAuthMode: "iam",
      }),
      { vpc: this.ledgerPlacement, reservedConcurrency: props.balancesMaxConcurrency },
    );
    tables.grantRead(this.balances, "merchantKeys");
    database.grantConnect(this.balances, LEDGER_USERS.reader, [AwsStack.of(this).region]);

    this.all = [this.gateway, this.processor, this.notifier, this.health, this.balances];

    for (const [sourceId, fn, queue, maximumConcurrency] of [
      ["processor-source", this.processor, transactionQueue, props.processorMaxConcurrency],
      ["notifier-source", this.notifier, notificationQueue, Math.max(2, Math.min(props.reservedConcurrency, 1000))],
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
