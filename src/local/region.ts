/**
 * Local region runner: one region of the payment system on this machine, no AWS account.
 *
 *   npm run local -- [--port 8080]      # 0 = any free port
 *
 * Starts the emulators of the Lambda tests (dynalite for DynamoDB, fauxqs for SQS/SNS/S3; tables,
 * queues with DLQs, topic and bucket with the production schemas), loads the six handlers with
 * their environment pointed at them, serves the HTTP API routes on 127.0.0.1 as payload 2.0
 * events, and runs the two SQS event source mappings as pollers. See src/local/README.md.
 *
 * The handlers run in this process with their env in process.env, so one local region per
 * process. Under node/tsx each handler gets its own copy of lambdas/shared (its own SDK clients,
 * config and logger, like its own container); under jest they share the test file's registry.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { API_ROUTES, routeKey } from "../contracts/api";
import { ConfigError, type DeploymentConfig } from "../contracts/config";
import { deploymentConfig, PROJECT_ROOT } from "../contracts/context";
import { ENV, FUNCTIONS, type FunctionContract, SWEEPER } from "../contracts/functions";
import { issueKey } from "../ops/keys/operations";
import { applyEnv, type Emulators, type Resources, startEmulators } from "./emulators";
import { matchRoute, readBody, toHttpApiEvent, type Written, writeGatewayError, writeResult } from "./http-api";
import { fakeContext } from "./lambda-events";
import { type LedgerEndpoint, startLocalLedger } from "./ledger";
import { type PollerStats, type QueuePoller, type SqsHandler, startQueuePoller } from "./sqs-poller";
import { type SweeperHandler, type SweeperStats, startSweeperTimer } from "./sweeper-timer";

const HOST = "127.0.0.1";
export const DEFAULT_PORT = 8080;
/** The merchant the local runtime issues a key for at start. */
export const DEMO_MERCHANT_ID = "demo-merchant";
/** API Gateway's request payload limit. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/** A function's timeout as deployed. */
const timeoutMs = (contract: FunctionContract): number => contract.timeoutSeconds * 1000;
const LONGEST_TIMEOUT_MS = Math.max(...Object.values(FUNCTIONS).map(timeoutMs));

type HttpHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalRegionOptions {
  /** Port on 127.0.0.1; 0 picks a free one. Default 8080. */
  port?: number;
  /** Where the request and batch log lines go (default: console.log). */
  log?: (line: string) => void;
  /** POWERTOOLS_LOG_LEVEL of the handlers; default: $POWERTOOLS_LOG_LEVEL or WARN. */
  handlerLogLevel?: string;
  /** Visibility timeout of both queues, seconds (default 30): how soon a failed record is retried. */
  visibilityTimeoutSeconds?: number;
  /** Receives before a message goes to its DLQ (default: each queue's own, as deployed). */
  maxReceiveCount?: number;
  /** Resource name prefix (default "local"). */
  prefix?: string;
  /** Deployment settings (default: cdktf.json context and environment, as `cdktf synth` reads them). */
  config?: DeploymentConfig;
  /** How often the pending-sweeper runs (default: every minute, as scheduled in AWS); 0: never. */
  sweeperIntervalMs?: number;
  /** The sweeper's ages (default: the deployment's sweeperAgeSeconds and sweeperAdoptAgeSeconds). */
  sweeperAgeSeconds?: number;
  sweeperAdoptAgeSeconds?: number;
  /** The ledger to post to (the drill shares one between two regions); default: a MariaDB of its own. */
  ledger?: LedgerEndpoint;
  /** The region's name (AWS_REGION of its handlers). @default config.primaryRegion */
  region?: string;
  /**
   * Emulators already running with this region's resources (the drill keeps them in its parent,
   * so that a killed region's queues and tables outlive its compute): used as they are and left
   * running by stop(). @default emulators of its own, created at start and stopped by stop()
   */
  emulators?: Emulators;
  /**
   * Batches the transaction processor handles at once (in AWS up to processorMaxConcurrency
   * invocations; they share this process's one ledger connection, as calls queue on it). @default 1
   */
  processorConcurrency?: number;
  /** An API key of the demo merchant issued already (the drill issues one for both regions). @default a key issued at start */
  demoKey?: string;
}

export interface LocalRegion {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  readonly region: string;
  readonly resources: Resources;
  /** The running emulators (endpoints, inspection of queues, SDK clients). */
  readonly emulators: Emulators;
  /** The MariaDB standing in for the Aurora writer, with the migrated ledger. */
  readonly ledger: LedgerEndpoint;
  /** Env vars the handlers run with (handy for the AWS CLI or a script against the emulators). */
  readonly env: Readonly<Record<string, string>>;
  readonly pollers: { readonly transactions: PollerStats; readonly notifications: PollerStats };
  /** Runs of the pending-sweeper timer so far. */
  readonly sweeper: SweeperStats;
  /** A merchant and its API key, issued at start (as `npm run ops -- keys issue` would). */
  readonly demo: { readonly merchantId: string; readonly apiKey: string };
  /** Stops one poller for good (a batch in progress finishes first): the drill stalls a region's processing with it. */
  stopPoller(which: "transactions" | "notifications"): Promise<void>;
  /** Stops the pollers and the server, then the emulators; restores the environment. Idempotent. */
  stop(): Promise<void>;
}

let active = false;

/**
 * Loads a handler module after the env is set (config and clients are read on first use). Under
 * node/tsx the require cache of lambdas/ is cleared first, so a second region in the same process
 * gets fresh clients; under jest the test file's module registry is fresh anyway.
 */
function loadHandler<H>(contract: FunctionContract): H {
  const name = contract.handler;
  const lambdas = `${path.sep}lambdas${path.sep}`;
  for (const key of Object.keys(require.cache)) if (key.includes(lambdas)) delete require.cache[key];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path.join(PROJECT_ROOT, "lambdas", name, "index.ts")) as { handler?: H };
  if (typeof mod.handler !== "function") throw new Error(`lambdas/${name}/index.ts exports no handler`);
  return mod.handler;
}

function withTimeout<T>(run: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(err.code === "EADDRINUSE" ? new Error(`Port ${port} on ${HOST} is already in use; pass --port <n> (0 = any free port)`) : err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, HOST);
  });
}

/** Issues the demo merchant's key in the region's keys table, as `npm run ops -- keys issue` would. */
async function issueDemoKey(emulators: Emulators, region: string, config: DeploymentConfig): Promise<string> {
  const demo = await issueKey(
    {
      dynamodb: emulators.clients.dynamodb,
      table: emulators.resources.merchantKeysTable,
      region,
      cacheTtlSeconds: config.authCacheTtlSeconds,
    },
    { merchantId: DEMO_MERCHANT_ID, yes: true },
  );
  if (!demo.key) throw new Error(`could not issue the demo key: ${demo.error ?? "no key"}`);
  return demo.key;
}

/** Starts one local region; resolves once the server listens and the pollers run. */
export async function startLocalRegion(options: LocalRegionOptions = {}): Promise<LocalRegion> {
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Invalid port ${port}: expected 0-65535`);
  if (active) throw new Error("A local region is already running in this process (the handlers' env is process-wide); stop it first");
  const config = options.config ?? deploymentConfig();
  active = true;
  const log = options.log ?? ((line: string) => console.log(line));
  const region = options.region ?? config.primaryRegion;
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? 30;

  const cleanups: Array<() => Promise<void> | void> = [];
  const runCleanups = async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop()!;
      try {
        await step();
      } catch (err) {
        log(`shutdown step failed: ${message(err)}`);
      }
    }
  };
  cleanups.push(() => {
    active = false;
  });

  try {
    // Given emulators carry the ledger's environment already: it must be the same ledger.
    if (options.emulators && !options.ledger) throw new Error("options.emulators needs options.ledger: the ledger they were made with");
    let ledger: LedgerEndpoint;
    if (options.ledger) ledger = options.ledger;
    else {
      const own = await startLocalLedger();
      cleanups.push(() => own.stop());
      ledger = own;
    }
    const emulators =
      options.emulators ??
      (await startEmulators({
        region,
        prefix: options.prefix ?? "local",
        visibilityTimeoutSeconds,
        maxReceiveCount: options.maxReceiveCount,
        config,
        ledger,
      }));
    cleanups.push(() => emulators.stop());
    const demoKey = options.demoKey ?? (await issueDemoKey(emulators, region, config));

    const env: Record<string, string> = {
      ...emulators.baseEnv,
      [ENV.logLevel]: options.handlerLogLevel ?? process.env[ENV.logLevel] ?? "WARN",
      [ENV.serviceName]: "payments-local",
      ...(options.sweeperAgeSeconds !== undefined ? { [ENV.sweeperAgeSeconds]: String(options.sweeperAgeSeconds) } : {}),
      ...(options.sweeperAdoptAgeSeconds !== undefined ? { [ENV.sweeperAdoptAgeSeconds]: String(options.sweeperAdoptAgeSeconds) } : {}),
    };
    // Never let a developer's real AWS session leak into calls meant for the emulators.
    const restoreEnv = applyEnv({ ...env, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined });
    cleanups.push(restoreEnv);

    const http = new Map<string, { contract: FunctionContract; handler: HttpHandler }>(
      [FUNCTIONS.gateway, FUNCTIONS.health, FUNCTIONS.balances].map((contract) => [
        contract.handler,
        { contract, handler: loadHandler<HttpHandler>(contract) },
      ]),
    );
    const processor = loadHandler<SqsHandler>(FUNCTIONS.processor);
    const notifier = loadHandler<SqsHandler>(FUNCTIONS.notifier);
    const sweeperHandler = loadHandler<SweeperHandler>(FUNCTIONS.sweeper);

    // The pollers' own client (the handlers have theirs).
    const sqs = new SQSClient({
      region,
      endpoint: emulators.fauxqs.endpoint,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    });
    cleanups.push(() => sqs.destroy());
    const pollerOptions = { sqs, region, log, makeContext: fakeContext };

    let inFlight = 0;
    let idle: (() => void) | undefined;
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const started = performance.now();
      const method = (req.method ?? "GET").toUpperCase();
      const rawUrl = req.url ?? "/";
      const url = new URL(`http://${HOST}${rawUrl.startsWith("/") ? rawUrl : `/${rawUrl}`}`);
      let written: Written | undefined;
      let target = "-";
      let note = "";
      inFlight++;
      try {
        const match = matchRoute(method, url.pathname);
        target = match.target;
        const body = await readBody(req, MAX_REQUEST_BYTES);
        if (body === "too-large") {
          written = writeGatewayError(res, 413, "Request Entity Too Large");
          return;
        }
        const requestId = randomUUID();
        const event = toHttpApiEvent({ req, url, match, body, requestId });
        const fn = http.get(match.target);
        if (!fn) throw new Error(`no local function for ${match.target}`);
        let result: unknown;
        try {
          const ms = timeoutMs(fn.contract);
          result = await withTimeout(fn.handler(event, fakeContext(match.target, ms)), ms, match.target);
        } catch (err) {
          note = ` (${message(err)})`;
          written = writeGatewayError(res, 500, "Internal Server Error");
          return;
        }
        written = writeResult(res, result);
      } catch (err) {
        note = ` (${message(err)})`;
        if (!res.headersSent) written = writeGatewayError(res, 500, "Internal Server Error");
        else res.destroy();
      } finally {
        const ms = (performance.now() - started).toFixed(0);
        log(`${method} ${url.pathname}${url.search} -> ${written?.statusCode ?? "aborted"} ${ms} ms [${target}]${note}`);
        if (--inFlight === 0) idle?.();
      }
    };
    const server = createServer((req, res) => void handle(req, res));
    // Stop, both at once: the pollers (pending receives aborted, a running batch finishes and
    // deletes what succeeded) and the server (no new connections, requests in progress finish
    // within the function timeout, idle keep-alive connections dropped).
    const closeServer = async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (idle = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, LONGEST_TIMEOUT_MS).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
    };
    const pollers: QueuePoller[] = [];
    cleanups.push(async () => {
      await Promise.all([closeServer(), ...pollers.map((p) => p.stop())]);
    });
    const boundPort = await listen(server, port);
    const transactions = await startQueuePoller({
      ...pollerOptions,
      functionName: FUNCTIONS.processor.handler,
      queueUrl: emulators.resources.transactionQueueUrl,
      handler: processor,
      timeoutMs: timeoutMs(FUNCTIONS.processor),
      concurrency: options.processorConcurrency,
    });
    pollers.push(transactions);
    const notifications = await startQueuePoller({
      ...pollerOptions,
      functionName: FUNCTIONS.notifier.handler,
      queueUrl: emulators.resources.notificationQueueUrl,
      handler: notifier,
      timeoutMs: timeoutMs(FUNCTIONS.notifier),
    });
    pollers.push(notifications);
    // EventBridge Scheduler's part: the sweeper on a timer, one run at a time.
    const sweeperIntervalMs = options.sweeperIntervalMs ?? SWEEPER.intervalSeconds * 1000;
    const sweeper =
      sweeperIntervalMs > 0
        ? startSweeperTimer({
            handler: sweeperHandler,
            intervalMs: sweeperIntervalMs,
            timeoutMs: timeoutMs(FUNCTIONS.sweeper),
            makeContext: fakeContext,
            functionName: FUNCTIONS.sweeper.handler,
            log,
          })
        : undefined;
    if (sweeper) cleanups.push(() => sweeper.stop());

    let stopping: Promise<void> | undefined;
    return {
      url: `http://${HOST}:${boundPort}`,
      port: boundPort,
      region,
      resources: emulators.resources,
      emulators,
      ledger,
      env,
      pollers: { transactions: transactions.stats, notifications: notifications.stats },
      sweeper: sweeper?.stats ?? { runs: 0, failed: 0, swept: 0, adopted: 0 },
      demo: { merchantId: DEMO_MERCHANT_ID, apiKey: demoKey },
      stopPoller: (which) => (which === "transactions" ? transactions : notifications).stop(),
      stop: () => (stopping ??= runCleanups()),
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

/** What the CLI prints on start. */
export function describeRegion(r: LocalRegion): string[] {
  const res = r.resources;
  return [
    `Local payment region ${r.region} is up.`,
    `  HTTP API        ${r.url}   (${API_ROUTES.map(routeKey).join(", ")})`,
    `  DynamoDB        ${r.emulators.dynamo.endpoint}   tables ${res.transactionsTable}, ${res.merchantKeysTable}`,
    `  SQS / SNS / S3  ${r.emulators.fauxqs.endpoint}`,
    `  queues          ${res.names.transactionQueue} -> transaction-processor (DLQ ${res.names.transactionDlq})`,
    `                  pending-sweeper re-enqueues payments left RECEIVED into it (on a timer, like its schedule)`,
    `                  ${res.names.notificationQueue} -> notification-sender (DLQ ${res.names.notificationDlq})`,
    `  topic           ${res.notificationTopicArn}`,
    `  subscriber      ${res.observerQueueUrl} (SNS envelopes of what was published)`,
    `  bucket          ${res.logBucket}`,
    `  ledger          mysql://${r.ledger.user}@${r.ledger.host}:${r.ledger.port}/${r.ledger.database} (MariaDB standing in for the Aurora writer)`,
    `  demo merchant   ${r.demo.merchantId}, API key ${r.demo.apiKey}`,
    `Try it:`,
    `  curl -s -X POST ${r.url}/transactions -H 'Authorization: Bearer ${r.demo.apiKey}' \\`,
    `    -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-key-0001' \\`,
    `    -d '{"amount":1999,"currency":"SGD","customer_id":"c-1","session_id":"s-1"}'`,
    `Ctrl-C to stop.`,
  ];
}

const USAGE = `Usage: npm run local -- [--port <n>]

Runs one region of the payment system locally (emulated DynamoDB, SQS, SNS, S3).
  -p, --port <n>   port on 127.0.0.1 (default ${DEFAULT_PORT}; 0 = any free port)
  -h, --help       this text`;

export function parsePort(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PORT;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new Error(`Invalid --port "${raw}": expected an integer from 0 to 65535`);
  return Number(raw);
}

async function main(argv: string[]): Promise<void> {
  let port: number;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { port: { type: "string", short: "p" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return;
    }
    port = parsePort(values.port);
  } catch (err) {
    console.error(`${message(err)}\n\n${USAGE}`);
    process.exit(2);
  }

  let localRegion: LocalRegion;
  try {
    localRegion = await startLocalRegion({ port });
  } catch (err) {
    console.error(err instanceof ConfigError ? `Configuration error: ${err.message}` : `Could not start: ${message(err)}`);
    process.exit(1);
  }
  for (const line of describeRegion(localRegion)) console.log(line);

  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      console.error(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    shuttingDown = true;
    console.log(`${signal}: stopping pollers, server and emulators...`);
    localRegion.stop().then(
      () => {
        console.log("Stopped.");
        process.exit(0);
      },
      (err: unknown) => {
        console.error(`Shutdown failed: ${message(err)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
