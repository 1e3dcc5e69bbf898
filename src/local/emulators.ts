/**
 * Real local emulators for the local runtime, the Lambda tests and the benchmarks: dynalite
 * (DynamoDB, in-process) and fauxqs (SQS/SNS/S3, in a child process because it is ESM-only).
 * Both listen on free ports. Resources get the deployed names (src/contracts/names.ts) with the
 * prefix as the environment suffix. This module must not import jest.
 */
import { type ChildProcess, fork } from "node:child_process";
import type { AddressInfo, Server } from "node:net";
import * as path from "node:path";
import {
  type AttributeValue,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteItemCommand,
  DynamoDBClient,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, type QueueAttributeName, SQSClient } from "@aws-sdk/client-sqs";
import { type DeploymentConfig, loadConfig } from "../contracts/config";
import { ENV, environmentOf, FUNCTIONS, QUEUES, type QueueId, resweepSeconds, SIDE_EFFECT_LEASE_SECONDS } from "../contracts/functions";
import { Naming } from "../contracts/names";
import { attributeNames, projectionOf, TABLES, type TableId } from "../contracts/tables";
import type { LedgerEndpoint } from "./ledger";

// Local runs are on Node 20; Lambda runs Node 22. Silence the SDK's Node-version notice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const TEST_REGION = "ap-southeast-1";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

interface DynaliteServer extends Server {
  close(callback?: (err?: Error) => void): this;
}
type DynaliteFactory = (options: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => DynaliteServer;

export interface Dynamo {
  readonly endpoint: string;
  stop(): Promise<void>;
}

type ConditionalCheck = (data: Record<string, unknown>, existing: unknown) => (Error & { body?: Record<string, unknown> }) | undefined;

/**
 * dynalite 4 predates `ReturnValuesOnConditionCheckFailure`: teach its condition check to put
 * the old item into the error, as DynamoDB does, so the gateway's one-call duplicate path runs
 * here as in AWS.
 */
function returnOldItemOnConditionFailure(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const db = require("dynalite/db") as { checkConditional: ConditionalCheck & { patched?: true } };
  if (db.checkConditional.patched) return;
  // Its request validation drops parameters it does not know: declare this one.
  for (const action of ["putItem", "updateItem", "deleteItem"]) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const validation = require(`dynalite/validations/${action}`) as { types: Record<string, unknown> };
    validation.types.ReturnValuesOnConditionCheckFailure = { type: "String", enum: ["ALL_OLD", "NONE"] };
  }
  const original = db.checkConditional;
  const patched: ConditionalCheck & { patched?: true } = (data, existing) => {
    const err = original(data, existing);
    if (err?.body && existing && data.ReturnValuesOnConditionCheckFailure === "ALL_OLD") err.body.Item = existing;
    return err;
  };
  patched.patched = true;
  db.checkConditional = patched;
}

/** Starts dynalite in this process on a free port. */
export async function startDynalite(): Promise<Dynamo> {
  // dynalite ships no types.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require("dynalite") as DynaliteFactory;
  returnOldItemOnConditionFailure();
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (stopped) return resolve();
        stopped = true;
        // Drop keep-alive sockets too, so clients see the emulator as really down.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export interface QueueCounts {
  ready: number;
  delayed: number;
  inflight: number;
}

export interface Fauxqs {
  readonly endpoint: string;
  /** Message counts of a queue without receiving (null if the queue does not exist). */
  inspectQueue(name: string): Promise<QueueCounts | null>;
  deleteQueue(name: string): Promise<void>;
  /** Clears all messages and objects, keeps queues, topics and buckets. */
  reset(): Promise<void>;
  /** The emulator's process (undefined for emulators of another process): tests kill it to see a dependency die. */
  readonly pid?: number;
  /** Ends the process (if it still runs) and resolves once it has exited, however it died. */
  stop(): Promise<void>;
}

/** Starts fauxqs in a child process on a free port. */
export async function startFauxqs(region: string = TEST_REGION): Promise<Fauxqs> {
  const script = path.join(__dirname, "fauxqs-child.mjs");
  const child: ChildProcess = fork(script, [JSON.stringify({ region })], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: [],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  // Listened for from the start: a child killed by a signal (exitCode null, signalCode set) may
  // have exited long before stop() is called, and its "exit" event does not come again.
  let ended: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      ended = signal ? `killed by ${signal}` : `exit code ${code}`;
      // No answer will come to a call in flight.
      for (const p of pending.values()) p.reject(new Error(`fauxqs exited (${ended})`));
      pending.clear();
      resolve();
    }),
  );
  const ready = new Promise<{ port: number }>((resolve, reject) => {
    void exited.then(() => reject(new Error(`fauxqs exited early (${ended})`)));
    child.on("message", (raw) => {
      const msg = raw as { type?: string; port?: number; id?: number; ok?: boolean; result?: unknown; error?: string };
      if (msg.type === "ready" && typeof msg.port === "number") {
        resolve({ port: msg.port });
        return;
      }
      if (typeof msg.id === "number") {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (!p) return;
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(msg.error ?? "fauxqs op failed"));
      }
    });
  });
  const { port } = await ready;
  let stopped = false;
  const call = <T>(op: string, args: Record<string, unknown> = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (ended !== undefined) return reject(new Error(`fauxqs exited (${ended})`));
      if (stopped) return reject(new Error("fauxqs is stopped"));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // With a callback, a channel that closed meanwhile fails this call (not an "error" event).
      child.send({ id, op, args }, (err) => {
        if (!err || !pending.delete(id)) return;
        reject(err);
      });
    });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid,
    inspectQueue: (name) => call<QueueCounts | null>("inspectQueue", { name }),
    deleteQueue: (name) => call<void>("deleteQueue", { name }),
    reset: () => call<void>("reset"),
    stop: async () => {
      if (!stopped && ended === undefined) child.kill("SIGTERM");
      stopped = true;
      await exited;
    },
  };
}

/** CreateTable input for one of the tables the stacks define (src/contracts/tables.ts). */
export function tableSchema(id: TableId, name: string): CreateTableCommandInput {
  const def = TABLES[id];
  return {
    TableName: name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: attributeNames(def).map((a) => ({ AttributeName: a, AttributeType: "S" })),
    KeySchema: [{ AttributeName: def.hashKey, KeyType: "HASH" }],
    ...(def.indexes.length
      ? {
          GlobalSecondaryIndexes: def.indexes.map((i) => {
            const projection = projectionOf(i);
            return {
              IndexName: i.name,
              KeySchema: [
                { AttributeName: i.hashKey, KeyType: "HASH" as const },
                ...(i.rangeKey ? [{ AttributeName: i.rangeKey, KeyType: "RANGE" as const }] : []),
              ],
              Projection: { ProjectionType: projection.type, NonKeyAttributes: projection.nonKeyAttributes },
            };
          }),
        }
      : {}),
  };
}

export interface Resources {
  transactionsTable: string;
  merchantKeysTable: string;
  transactionQueueUrl: string;
  transactionDlqUrl: string;
  notificationQueueUrl: string;
  notificationDlqUrl: string;
  notificationTopicArn: string;
  /** Subscribed to the topic (raw delivery off: bodies are SNS envelopes). */
  observerQueueUrl: string;
  logBucket: string;
  names: {
    transactionQueue: string;
    transactionDlq: string;
    notificationQueue: string;
    notificationDlq: string;
    observerQueue: string;
  };
}

export interface Emulators {
  readonly region: string;
  readonly dynamo: Dynamo;
  readonly fauxqs: Fauxqs;
  readonly resources: Resources;
  /** SDK clients for test assertions (not the handlers' clients). */
  readonly clients: { dynamodb: DynamoDBClient; sqs: SQSClient; sns: SNSClient; s3: S3Client };
  /** The env vars every handler needs to talk to these emulators. */
  readonly baseEnv: Record<string, string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  region?: string;
  /** Visibility timeout of both queues, seconds (short for redrive tests); default 30. */
  visibilityTimeoutSeconds?: number;
  /** Receives before a message moves to its DLQ; default: each queue's own (src/contracts/functions.ts). */
  maxReceiveCount?: number;
  /** The environment suffix of the resource names; default "test". */
  prefix?: string;
  /** Deployment settings the handlers run with (limits, currencies); default: the defaults. */
  config?: DeploymentConfig;
  /** The ledger the processor posts to; without one, the processor's environment is left out. */
  ledger?: LedgerEndpoint;
  /**
   * Running emulators to create the resources in (the drill keeps them in its parent process, so
   * that a killed region's tables and queues outlive its compute). Left running by stop().
   * @default a dynalite and a fauxqs of its own, stopped by stop()
   */
  running?: { dynamo: Dynamo; fauxqs: Fauxqs };
}

function sdkClients(region: string, dynamoEndpoint: string, fauxqsEndpoint: string): Emulators["clients"] {
  const common = { region, credentials: CREDENTIALS };
  return {
    dynamodb: new DynamoDBClient({ ...common, endpoint: dynamoEndpoint }),
    sqs: new SQSClient({ ...common, endpoint: fauxqsEndpoint }),
    sns: new SNSClient({ ...common, endpoint: fauxqsEndpoint }),
    s3: new S3Client({ ...common, endpoint: fauxqsEndpoint, forcePathStyle: true }),
  };
}

/** Starts both emulators (or takes running ones) and creates every resource with the production schemas. */
export async function startEmulators(options: StartOptions = {}): Promise<Emulators> {
  const region = options.region ?? TEST_REGION;
  const prefix = options.prefix ?? "test";
  const [dynamo, fauxqs] = options.running
    ? [options.running.dynamo, options.running.fauxqs]
    : await Promise.all([startDynalite(), startFauxqs(region)]);
  const clients = sdkClients(region, dynamo.endpoint, fauxqs.endpoint);
  const naming = new Naming(prefix);
  const names = {
    transactionQueue: naming.queue("transaction"),
    transactionDlq: naming.deadLetterQueue("transaction"),
    notificationQueue: naming.queue("notification"),
    notificationDlq: naming.deadLetterQueue("notification"),
    // Local only: subscribed to the topic so that tests can read what was published.
    observerQueue: naming.name("payment-notification-observer"),
  };
  const transactionsTable = naming.table("transactions");
  const merchantKeysTable = naming.table("merchantKeys");
  const logBucket = naming.transactionLogBucket(region);

  await Promise.all([
    clients.dynamodb.send(new CreateTableCommand(tableSchema("transactions", transactionsTable))),
    clients.dynamodb.send(new CreateTableCommand(tableSchema("merchantKeys", merchantKeysTable))),
  ]);

  const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
    const out = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const url = out.QueueUrl!;
    const attrs = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
    return { url, arn: attrs.Attributes!.QueueArn! };
  };
  const [transactionDlq, notificationDlq, observer] = await Promise.all([
    createQueue(names.transactionDlq),
    createQueue(names.notificationDlq),
    createQueue(names.observerQueue),
  ]);
  const queueAttributes = (id: QueueId, dlqArn: string) => ({
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: String(options.maxReceiveCount ?? QUEUES[id].maxReceiveCount),
    }),
  });
  const [transactionQueue, notificationQueue] = await Promise.all([
    createQueue(names.transactionQueue, queueAttributes("transaction", transactionDlq.arn)),
    createQueue(names.notificationQueue, queueAttributes("notification", notificationDlq.arn)),
  ]);
  const topic = await clients.sns.send(new CreateTopicCommand({ Name: naming.notificationTopic() }));
  await clients.sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn!, Protocol: "sqs", Endpoint: observer.arn }));
  await clients.s3.send(new CreateBucketCommand({ Bucket: logBucket }));

  const resources: Resources = {
    transactionsTable,
    merchantKeysTable,
    transactionQueueUrl: transactionQueue.url,
    transactionDlqUrl: transactionDlq.url,
    notificationQueueUrl: notificationQueue.url,
    notificationDlqUrl: notificationDlq.url,
    notificationTopicArn: topic.TopicArn!,
    observerQueueUrl: observer.url,
    logBucket,
    names,
  };

  return assemble({ region, dynamo, fauxqs, resources, clients }, options, async () => {
    if (!options.running) await Promise.all([dynamo.stop(), fauxqs.stop()]);
  });
}

/** The handle on a region's emulators: stop() closes this side's clients, then whatever it owns. */
function assemble(
  parts: Pick<Emulators, "region" | "dynamo" | "fauxqs" | "resources" | "clients">,
  options: HandlerEnvironmentOptions,
  stopOwned: () => Promise<void>,
): Emulators {
  return {
    ...parts,
    baseEnv: baseEnvironment(parts.region, parts.dynamo.endpoint, parts.fauxqs.endpoint, parts.resources, options),
    stop: async () => {
      for (const c of Object.values(parts.clients)) c.destroy();
      await stopOwned();
    },
  };
}

/** What the handlers' environment depends on besides the resources. */
export type HandlerEnvironmentOptions = Pick<StartOptions, "visibilityTimeoutSeconds" | "maxReceiveCount" | "config" | "ledger">;

/** Emulators that another process runs, with their resources already created (see attachEmulators). */
export interface AttachOptions extends HandlerEnvironmentOptions {
  region: string;
  /** What the handlers use for DynamoDB: the emulator, or a proxy in front of it (the replicator's). */
  dynamoEndpoint: string;
  fauxqsEndpoint: string;
  resources: Resources;
}

/**
 * Emulators running elsewhere (the drill's parent process), for a process that runs only a
 * region's compute: nothing is created, and stop() only closes this side's clients. Queue
 * counts come from the SQS API (approximate counts, as in AWS); reset and deleteQueue are left to
 * the owner.
 */
export function attachEmulators(options: AttachOptions): Emulators {
  const { region, resources } = options;
  const clients = sdkClients(region, options.dynamoEndpoint, options.fauxqsEndpoint);
  const notOwned = (what: string) => () => Promise.reject(new Error(`${what}: these emulators belong to another process`));
  const fauxqs: Fauxqs = {
    endpoint: options.fauxqsEndpoint,
    inspectQueue: async (name) => {
      const queueUrl = queueUrls(resources).get(name);
      if (!queueUrl) return null;
      const out = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      const count = (attribute: QueueAttributeName) => Number(out.Attributes?.[attribute] ?? 0);
      return {
        ready: count("ApproximateNumberOfMessages"),
        delayed: count("ApproximateNumberOfMessagesDelayed"),
        inflight: count("ApproximateNumberOfMessagesNotVisible"),
      };
    },
    deleteQueue: notOwned("deleteQueue"),
    reset: notOwned("reset"),
    stop: () => Promise.resolve(),
  };
  const dynamo = { endpoint: options.dynamoEndpoint, stop: () => Promise.resolve() };
  return assemble({ region, dynamo, fauxqs, resources, clients }, options, () => Promise.resolve());
}

/** Each queue's URL by its name. */
function queueUrls(res: Resources): Map<string, string> {
  return new Map([
    [res.names.transactionQueue, res.transactionQueueUrl],
    [res.names.transactionDlq, res.transactionDlqUrl],
    [res.names.notificationQueue, res.notificationQueueUrl],
    [res.names.notificationDlq, res.notificationDlqUrl],
    [res.names.observerQueue, res.observerQueueUrl],
  ]);
}

/** What every handler needs to talk to these emulators, and each function's own environment. */
function baseEnvironment(
  region: string,
  dynamoEndpoint: string,
  fauxqsEndpoint: string,
  resources: Resources,
  options: HandlerEnvironmentOptions,
): Record<string, string> {
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_ENDPOINT_URL_SQS: fauxqsEndpoint,
    AWS_ENDPOINT_URL_SNS: fauxqsEndpoint,
    AWS_ENDPOINT_URL_S3: fauxqsEndpoint,
    [ENV.s3ForcePathStyle]: "true",
    [ENV.logLevel]: "SILENT",
    [ENV.serviceName]: "payments-test",
    // No X-Ray daemon and no CloudWatch here: tracer and metrics stay quiet.
    [ENV.tracingEnabled]: "false",
    [ENV.metricsDisabled]: "true",
    ...functionEnvironment(resources, options.config ?? loadConfig({}, {}), options.visibilityTimeoutSeconds ?? 30, options.ledger),
    ...sweeperEnvironment(resources, options.config ?? loadConfig({}, {}), {
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      maxReceiveCount: options.maxReceiveCount ?? QUEUES.transaction.maxReceiveCount,
    }),
  };
}

/**
 * The environment of the payment handlers against these resources, each part built from its
 * function contract as the stacks build it. The handlers share one process here, so one map.
 */
function functionEnvironment(
  res: Resources,
  config: DeploymentConfig,
  visibilityTimeoutSeconds: number,
  ledger: LedgerEndpoint | undefined,
): Record<string, string> {
  return {
    ...environmentOf(FUNCTIONS.gateway, {
      transactionsTable: res.transactionsTable,
      merchantKeysTable: res.merchantKeysTable,
      transactionQueueUrl: res.transactionQueueUrl,
      maxAmountMinor: String(config.maxPaymentAmountMinor),
      allowedCurrencies: config.allowedCurrencies.join(","),
      corsAllowOrigin: config.corsAllowOrigin,
      authCacheTtlSeconds: String(config.authCacheTtlSeconds),
    }),
    ...(ledger
      ? environmentOf(FUNCTIONS.processor, {
          transactionsTable: res.transactionsTable,
          notificationQueueUrl: res.notificationQueueUrl,
          transactionLogBucket: res.logBucket,
          riskLimitMinor: String(config.riskLimitMinor),
          // The side-effect lease must not outlive the queue's visibility timeout.
          sideEffectLeaseSeconds: String(Math.min(SIDE_EFFECT_LEASE_SECONDS, visibilityTimeoutSeconds)),
          dbWriterEndpoint: ledger.host,
          dbPort: String(ledger.port),
          dbName: ledger.database,
          dbUser: ledger.user,
          // Locally only: a throw-away password for a throw-away server (in AWS: IAM tokens over TLS).
          dbAuthMode: "password",
          dbPassword: ledger.password,
        })
      : {}),
    ...(ledger
      ? environmentOf(FUNCTIONS.balances, {
          merchantKeysTable: res.merchantKeysTable,
          authCacheTtlSeconds: String(config.authCacheTtlSeconds),
          corsAllowOrigin: config.corsAllowOrigin,
          dbReaderEndpoint: ledger.host,
          dbPort: String(ledger.port),
          dbName: ledger.database,
          // All handlers share this process's environment, so locally the reader connects as the
          // processor's user (DB_USER is one variable); in AWS it is the SELECT-only reader.
          dbUser: ledger.user,
          dbAuthMode: "password",
          dbPassword: ledger.password,
        })
      : {}),
    ...environmentOf(FUNCTIONS.notifier, { notificationTopicArn: res.notificationTopicArn }),
    // No Aurora here: the health check skips its database probe.
    ...environmentOf(FUNCTIONS.health, { transactionsTable: res.transactionsTable, transactionQueueUrl: res.transactionQueueUrl }),
  };
}

/** The sweeper's environment, with the guard time of these (local) queues. */
function sweeperEnvironment(
  res: Resources,
  config: DeploymentConfig,
  transactionQueue: { visibilityTimeoutSeconds: number; maxReceiveCount: number },
): Record<string, string> {
  return environmentOf(FUNCTIONS.sweeper, {
    transactionsTable: res.transactionsTable,
    transactionQueueUrl: res.transactionQueueUrl,
    sweeperAgeSeconds: String(config.sweeperAgeSeconds),
    sweeperAdoptAgeSeconds: String(config.sweeperAdoptAgeSeconds),
    sweeperMaxPerRun: String(config.sweeperMaxPerRun),
    sweeperResweepSeconds: String(resweepSeconds(transactionQueue)),
  });
}

/** Sets env vars (returns a function restoring the previous values). */
export function applyEnv(env: Record<string, string | undefined>): () => void {
  const previous: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    previous[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** Deletes every item of a table (small test tables only). */
export async function clearTable(client: DynamoDBClient, table: string, keyAttr: string): Promise<void> {
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey, ProjectionExpression: keyAttr }));
    await Promise.all((page.Items ?? []).map((Key) => client.send(new DeleteItemCommand({ TableName: table, Key }))));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}
