/**
 * The function contract: what each Lambda function is (its folder under lambdas/, timeout,
 * event source), which environment variables it reads, and the queues between them. Declared
 * once here and used by the stacks (environment, timeouts, event sources), the handlers' config
 * readers, the local runtime and the benchmarks. No cdktf and no AWS SDK here.
 */

import { settingEnv } from "./config";

/**
 * Every environment variable a handler of this project reads, each named once. A function
 * variable that carries a deployment setting unchanged has the setting's name.
 */
export const ENV = {
  serviceName: "POWERTOOLS_SERVICE_NAME",
  logLevel: "POWERTOOLS_LOG_LEVEL",
  tracingEnabled: "POWERTOOLS_TRACE_ENABLED",
  metricsDisabled: "POWERTOOLS_METRICS_DISABLED",
  transactionsTable: "TRANSACTIONS_TABLE",
  merchantKeysTable: "MERCHANT_KEYS_TABLE",
  transactionQueueUrl: "TRANSACTION_QUEUE_URL",
  notificationQueueUrl: "NOTIFICATION_QUEUE_URL",
  notificationTopicArn: "NOTIFICATION_TOPIC_ARN",
  transactionLogBucket: "TRANSACTION_LOG_BUCKET",
  maxAmountMinor: "MAX_AMOUNT_MINOR",
  maxBodyBytes: "MAX_BODY_BYTES",
  allowedCurrencies: settingEnv("allowedCurrencies"),
  corsAllowOrigin: settingEnv("corsAllowOrigin"),
  authCacheTtlSeconds: settingEnv("authCacheTtlSeconds"),
  riskLimitMinor: settingEnv("riskLimitMinor"),
  sideEffectLeaseSeconds: "SIDE_EFFECT_LEASE_SECONDS",
  dbEndpoint: "DB_ENDPOINT",
  dbPort: "DB_PORT",
  /** The global writer endpoint: the ledger's writer in whichever region holds it. */
  dbWriterEndpoint: "DB_WRITER_ENDPOINT",
  /** The region's own cluster's reader endpoint: reads that may lag the writer by about a second. */
  dbReaderEndpoint: "DB_READER_ENDPOINT",
  dbName: "DB_NAME",
  dbUser: "DB_USER",
  /** "iam" in AWS (TLS and IAM tokens); "password" only in the local runtime, with DB_PASSWORD. */
  dbAuthMode: "DB_AUTH_MODE",
  /** Regions whose writer an IAM token may be signed for, in the order to try them. */
  dbIamRegions: "DB_IAM_REGIONS",
  dbPassword: "DB_PASSWORD",
  /**
   * With "password": "true" connects over TLS verified against the package's RDS CAs, as "iam"
   * always does (the tests of the built packages). Never turns TLS off.
   */
  dbTls: "DB_TLS",
  dbMasterSecretArn: "DB_MASTER_SECRET_ARN",
  dbMasterUsername: settingEnv("dbMasterUsername"),
  healthCheckTimeoutMs: "HEALTH_CHECK_TIMEOUT_MS",
  sweeperAgeSeconds: settingEnv("sweeperAgeSeconds"),
  sweeperAdoptAgeSeconds: settingEnv("sweeperAdoptAgeSeconds"),
  sweeperMaxPerRun: settingEnv("sweeperMaxPerRun"),
  /** A swept payment is not swept again within this time: its message's whole life in the queue. */
  sweeperResweepSeconds: "SWEEPER_RESWEEP_SECONDS",
  /** Local runs: S3 emulators need path-style URLs. */
  s3ForcePathStyle: "S3_FORCE_PATH_STYLE",
} as const;

export type EnvKey = keyof typeof ENV;

/** CloudWatch namespace of the payment metrics the handlers emit (embedded metric format). */
export const METRICS_NAMESPACE = "PaymentProcessing";

export type QueueId = "transaction" | "notification";

export interface QueueContract {
  /** `payment-transaction` gives `payment-transaction-queue-{suffix}` and `...-dlq-{suffix}`. */
  readonly baseName: string;
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  /** Receives before a message moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** The oldest-message alarm fires above this age. */
  readonly maxAgeSeconds: number;
}

const DAY_SECONDS = 86_400;

export const QUEUES: Readonly<Record<QueueId, QueueContract>> = {
  transaction: {
    baseName: "payment-transaction",
    visibilityTimeoutSeconds: 300,
    retentionSeconds: 4 * DAY_SECONDS,
    // 12 x 300 s = 1 hour: a message waiting while Aurora cannot take writes (each receive fails
    // the batch) stays in the queue until a failover can have finished, not in the DLQ.
    maxReceiveCount: 12,
    maxAgeSeconds: 300,
  },
  notification: {
    baseName: "payment-notification",
    visibilityTimeoutSeconds: 60,
    retentionSeconds: 4 * DAY_SECONDS,
    maxReceiveCount: 5,
    maxAgeSeconds: 300,
  },
};

export const QUEUE_IDS = Object.keys(QUEUES) as QueueId[];

/** How long dead-letter queues keep what failed. */
export const DLQ_RETENTION_SECONDS = 14 * DAY_SECONDS;

export interface EventSourceContract {
  readonly queue: QueueId;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
}

export interface FunctionContract<Required extends EnvKey = EnvKey, Optional extends EnvKey = EnvKey> {
  /** Folder under lambdas/ holding index.ts. */
  readonly handler: string;
  /** Short, stable id: alarm names and dashboard labels. */
  readonly key: string;
  readonly description: string;
  readonly timeoutSeconds: number;
  /** Variables the stack must set. */
  readonly required: readonly Required[];
  /** Variables the stack may set: the feature is optional, or the handler has a default. */
  readonly optional: readonly Optional[];
  readonly eventSource?: EventSourceContract;
}

function defineFunction<R extends EnvKey, O extends EnvKey = never>(contract: FunctionContract<R, O>): FunctionContract<R, O> {
  return contract;
}

export const FUNCTIONS = {
  gateway: defineFunction({
    handler: "payment-gateway",
    key: "gateway",
    description: "Accepts payments (POST /transactions) and reports their status",
    timeoutSeconds: 10,
    required: [
      "transactionsTable",
      "merchantKeysTable",
      "transactionQueueUrl",
      "maxAmountMinor",
      "allowedCurrencies",
      "authCacheTtlSeconds",
    ],
    optional: ["corsAllowOrigin", "maxBodyBytes"],
  }),
  processor: defineFunction({
    handler: "transaction-processor",
    key: "transaction-processor",
    description: "Moves queued transactions to PROCESSED or FAILED exactly once",
    timeoutSeconds: 30,
    required: [
      "transactionsTable",
      "notificationQueueUrl",
      "transactionLogBucket",
      "riskLimitMinor",
      "sideEffectLeaseSeconds",
      "dbWriterEndpoint",
      "dbPort",
      "dbName",
      "dbUser",
      "dbAuthMode",
    ],
    optional: ["dbIamRegions", "dbPassword", "dbTls"],
    eventSource: { queue: "transaction", batchSize: 10, maximumBatchingWindowSeconds: 1 },
  }),
  notifier: defineFunction({
    handler: "notification-sender",
    key: "notification-sender",
    description: "Drains the notification queue to SNS",
    timeoutSeconds: 10,
    required: ["notificationTopicArn"],
    optional: [],
    eventSource: { queue: "notification", batchSize: 10, maximumBatchingWindowSeconds: 1 },
  }),
  balances: defineFunction({
    handler: "payment-balances",
    key: "balances",
    description: "Answers GET /balances: the authenticated merchant's balance per currency, from the ledger",
    timeoutSeconds: 10,
    required: ["merchantKeysTable", "authCacheTtlSeconds", "dbReaderEndpoint", "dbPort", "dbName", "dbUser", "dbAuthMode"],
    optional: ["corsAllowOrigin", "dbIamRegions", "dbPassword", "dbTls"],
  }),
  migrator: defineFunction({
    handler: "ledger-migrator",
    key: "ledger-migrator",
    description: "Applies the ledger's schema migrations and creates its database users (invoked by Terraform at deploy)",
    timeoutSeconds: 120,
    required: ["dbWriterEndpoint", "dbPort", "dbName", "dbMasterSecretArn", "dbMasterUsername", "dbAuthMode"],
    optional: ["dbPassword", "dbTls"],
  }),
  health: defineFunction({
    handler: "health",
    key: "health",
    description: "Deep health check of this region's dependencies (ALB and Route53 target)",
    timeoutSeconds: 5,
    required: ["transactionsTable", "transactionQueueUrl"],
    optional: ["dbEndpoint", "dbPort", "healthCheckTimeoutMs"],
  }),
  sweeper: defineFunction({
    handler: "pending-sweeper",
    key: "sweeper",
    description: "Re-enqueues payments left RECEIVED (the gateway's crash window) and adopts the other region's after a failover",
    timeoutSeconds: 60,
    required: [
      "transactionsTable",
      "transactionQueueUrl",
      "sweeperAgeSeconds",
      "sweeperAdoptAgeSeconds",
      "sweeperMaxPerRun",
      "sweeperResweepSeconds",
    ],
    optional: [],
  }),
} as const;

/** How the sweeper runs: EventBridge Scheduler invokes it once a minute, one run at a time. */
export const SWEEPER = {
  scheduleExpression: "rate(1 minute)",
  intervalSeconds: 60,
  /** Never two runs at once in a region: a run that overlaps the next is throttled, not doubled. */
  reservedConcurrency: 1,
  /** Consecutive 1-minute periods above the threshold before the pending alarm fires. */
  pendingAlarmMinutes: 5,
} as const;

/**
 * How long a swept payment is left alone: its message's whole life in the queue (each receive
 * waits out the visibility timeout, the last one moves it to the DLQ). A shorter guard would
 * re-enqueue every minute while the first message still waits.
 */
export function resweepSeconds(queue: Pick<QueueContract, "visibilityTimeoutSeconds" | "maxReceiveCount"> = QUEUES.transaction): number {
  return queue.visibilityTimeoutSeconds * queue.maxReceiveCount;
}

/**
 * The business metrics, as the handlers emit them and the dashboard reads them. Powertools
 * adds the dimension `service`: the emitting function's handler folder.
 */
export const PAYMENT_METRICS = {
  accepted: { name: "PaymentsAccepted", service: FUNCTIONS.gateway.handler, label: "accepted (202)", statistic: "Sum" },
  refused: { name: "PaymentsRefused", service: FUNCTIONS.gateway.handler, label: "refused (4XX)", statistic: "Sum" },
  /** Accepted, but the send failed or went unanswered: the sweeper enqueues them. */
  deferred: { name: "PaymentsDeferred", service: FUNCTIONS.gateway.handler, label: "accepted, left to the sweeper", statistic: "Sum" },
  processed: { name: "PaymentsProcessed", service: FUNCTIONS.processor.handler, label: "processed", statistic: "Sum" },
  failed: { name: "PaymentsFailed", service: FUNCTIONS.processor.handler, label: "failed (risk limit)", statistic: "Sum" },
  /** One Idempotency-Key accepted with two bodies (two regions within the replication delay): the item follows the ledger. */
  conflicted: { name: "PaymentsConflicted", service: FUNCTIONS.processor.handler, label: "key reused with another body", statistic: "Sum" },
  /** A gauge, reported by every sweeper run (0 included): RECEIVED past sweeperAgeSeconds, either region's. */
  pending: { name: "PaymentsPending", service: FUNCTIONS.sweeper.handler, label: "pending past the sweeper age", statistic: "Maximum" },
  swept: { name: "PaymentsSwept", service: FUNCTIONS.sweeper.handler, label: "re-enqueued by the sweeper", statistic: "Sum" },
  adopted: { name: "PaymentsAdopted", service: FUNCTIONS.sweeper.handler, label: "adopted from the other region", statistic: "Sum" },
} as const;

export type FunctionId = keyof typeof FUNCTIONS;
export const FUNCTION_IDS = Object.keys(FUNCTIONS) as FunctionId[];

/**
 * How long the gateway waits for its SendMessage after the commit point: past it the payment is
 * still accepted (202) and the sweeper enqueues it. Well inside the gateway's 10 s timeout.
 */
export const GATEWAY_SEND_TIMEOUT_MS = 3000;

/**
 * A claim on a transaction's side effects outlives one processor invocation (30 s) and expires
 * well before the message becomes visible again (300 s).
 */
export const SIDE_EFFECT_LEASE_SECONDS = 60;

type Values<C> = C extends FunctionContract<infer R, infer O> ? Record<R, string> & Partial<Record<O, string>> : never;

/** The environment of one function, keyed by the contract's names; optional values may be undefined. */
export function environmentOf<C extends FunctionContract<EnvKey, EnvKey>>(contract: C, values: Values<C>): Record<string, string> {
  const env: Record<string, string> = {};
  const given = values as Partial<Record<EnvKey, string>>;
  for (const key of [...contract.required, ...contract.optional]) {
    const value = given[key];
    if (value !== undefined) env[ENV[key]] = value;
  }
  const missing = contract.required.filter((key) => given[key] === undefined);
  if (missing.length > 0) throw new Error(`${contract.handler}: no value for ${missing.map((k) => ENV[k]).join(", ")}`);
  return env;
}
