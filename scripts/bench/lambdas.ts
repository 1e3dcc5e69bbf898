/**
 * Lambda benchmarks: gateway latency/throughput against the local emulators (with the raw-SDK
 * floor), and processor throughput. Package sizes and cold init: ./bundles.ts.
 *
 *   npx tsx scripts/bench/lambdas.ts            # both, printed as a table
 *   BENCH_GATEWAY_REQUESTS=500 npx tsx scripts/bench/lambdas.ts
 *
 * Every function returns BenchRow[] (scripts/bench/stats.ts) so scripts/bench/index.ts can add them.
 * Figures from emulators are relative (dynalite/fauxqs on the same box), not AWS latencies.
 */
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import {
  type AttributeValue,
  BatchGetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { type LedgerStats, postBatch } from "../../lambdas/shared/ledger";
import type { TransactionMessage } from "../../lambdas/shared/schemas";
import { TRANSACTIONS_PATH } from "../../src/contracts/api";
import { ENV, FUNCTIONS } from "../../src/contracts/functions";
import { newApiKey } from "../../src/contracts/merchant-keys";
import { applyEnv, type Emulators, startEmulators } from "../../src/local/emulators";
import { fakeContext, httpApiEvent, paymentBody, sqsEvent, sqsRecord } from "../../src/local/lambda-events";
import { connectLocalLedger, type LocalLedger, startLocalLedger } from "../../src/local/ledger";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { seedTransactions } from "../../src/local/seed";
import { type BenchRow, printTable, ROOT, summarize } from "./stats";

const GATEWAY_REQUESTS = Number(process.env.BENCH_GATEWAY_REQUESTS ?? 4000);
const PROCESSOR_CONCURRENCY = Number(process.env.BENCH_PROCESSOR_CONCURRENCY ?? 5);
const GATEWAY_MAX_MS = Number(process.env.BENCH_GATEWAY_MAX_MS ?? 20_000);
const PROCESSOR_MESSAGES = Number(process.env.BENCH_PROCESSOR_MESSAGES ?? 2000);

/** Loads a handler's module fresh (as a new container would: its own clients and connection), after env is set. */
function freshModule<M>(name: string): M {
  for (const key of Object.keys(require.cache)) {
    if (key.includes(`${path.sep}lambdas${path.sep}`)) delete require.cache[key];
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(ROOT, "lambdas", name, "index.ts")) as M;
}

function freshHandler<E, R>(name: string): (event: E, context: Context) => Promise<R> {
  return freshModule<{ handler: (event: E, context: Context) => Promise<R> }>(name).handler;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface LoadResult {
  throughput: number;
  p50: number;
  p99: number;
  count: number;
}

/** Runs `op` with `concurrency` workers until `total` calls or `maxMs` elapsed. */
async function load(op: (i: number) => Promise<void>, concurrency: number, total: number, maxMs: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const deadline = started + maxMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total && performance.now() < deadline) {
        const i = next++;
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    throughput: (latencies.length / elapsed) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    count: latencies.length,
  };
}

async function withEmulators<T>(fn: (emu: Emulators) => Promise<T>, ledger?: LocalLedger): Promise<T> {
  const emu = await startEmulators({ prefix: `bench${Date.now().toString(36)}`, ledger });
  const restore = applyEnv(emu.baseEnv);
  try {
    return await fn(emu);
  } finally {
    restore();
    await emu.stop();
  }
}

/** Round pairs per measurement: short rounds, so that a change in the machine's load falls on both sides of most pairs. */
const LOAD_ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 20);
/** Requests per side and concurrency, in LOAD_ROUNDS equal rounds. */
const PAIRED_REQUESTS = Math.ceil(GATEWAY_REQUESTS / LOAD_ROUNDS) * LOAD_ROUNDS;
/** Requests each side runs before it is measured: both reach steady state (JIT, connections, caches). */
const WARM_UP_REQUESTS = Number(process.env.BENCH_WARM_UP_REQUESTS ?? 500);

/** Issues an API key straight into the emulated keys table (as `npm run ops -- keys issue` does). */
async function benchKey(emu: Emulators, merchantId: string): Promise<string> {
  const { key, item } = newApiKey(merchantId, new Date());
  await DynamoDBDocumentClient.from(emu.clients.dynamodb).send(new PutCommand({ TableName: emu.resources.merchantKeysTable, Item: item }));
  return key;
}

/** Wire-level AWS requests: DynamoDB by X-Amz-Target, SQS by its JSON target or Query Action. */
function operationOf(r: { path: string; headers: Record<string, unknown> }, service: "dynamodb" | "sqs"): string {
  const target = r.headers["x-amz-target"];
  if (typeof target === "string") return target.replace(/^.*\./, "");
  const action = /[?&]Action=([A-Za-z]+)/.exec(r.path)?.[1];
  return action ?? service;
}

/**
 * The handler and its floor in alternating rounds, so that both see the same machine: the ratio
 * of each pair is one measurement, not the ratio of two runs minutes apart on a box whose load
 * changes. Pairs alternate which side goes first (handler-floor, floor-handler, ...), so that
 * neither always inherits the other's garbage and timers.
 */
async function pairedRows(
  name: string,
  floorName: string,
  concurrency: number,
  op: (i: number) => Promise<void>,
  floor: (i: number) => Promise<void>,
  target?: string,
): Promise<BenchRow[]> {
  const a: LoadResult[] = [];
  const b: LoadResult[] = [];
  const perRound = PAIRED_REQUESTS / LOAD_ROUNDS;
  for (let r = 0; r < LOAD_ROUNDS; r++) {
    if (r % 2 === 0) {
      a.push(await load(op, concurrency, perRound, GATEWAY_MAX_MS));
      b.push(await load(floor, concurrency, perRound, GATEWAY_MAX_MS));
    } else {
      b.push(await load(floor, concurrency, perRound, GATEWAY_MAX_MS));
      a.push(await load(op, concurrency, perRound, GATEWAY_MAX_MS));
    }
  }
  const rows = (label: string, results: LoadResult[]) => [
    summarize(
      `${label} c=${concurrency}: throughput (${results.reduce((n, x) => n + x.count, 0)} requests)`,
      "req/s",
      results.map((x) => x.throughput),
    ),
    summarize(
      `${label} c=${concurrency}: p50 latency`,
      "ms",
      results.map((x) => x.p50),
    ),
    summarize(
      `${label} c=${concurrency}: p99 latency`,
      "ms",
      results.map((x) => x.p99),
    ),
  ];
  return [
    ...rows(name, a),
    ...rows(floorName, b),
    summarize(
      `${name} / ${floorName}: throughput, c=${concurrency} (per round pair)`,
      "x",
      a.map((x, i) => x.throughput / b[i]!.throughput),
      target,
    ),
    summarize(
      `${name} / ${floorName}: p99, c=${concurrency} (per round pair)`,
      "x",
      a.map((x, i) => x.p99 / b[i]!.p99),
    ),
  ];
}

/** One item the gateway stored and one message it sent (attributes as they arrive), as templates for its floor. */
async function gatewayWrites(
  emu: Emulators,
  sqs: SQSClient,
): Promise<{
  item: Record<string, AttributeValue>;
  message: Record<string, unknown>;
  messageAttributes: Record<string, MessageAttributeValue>;
}> {
  const scanned = await emu.clients.dynamodb.send(new ScanCommand({ TableName: emu.resources.transactionsTable, Limit: 1 }));
  const received = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: emu.resources.transactionQueueUrl, MaxNumberOfMessages: 1, MessageAttributeNames: ["All"] }),
  );
  const item = scanned.Items?.[0];
  const message = received.Messages?.[0];
  if (!item || !message?.Body) throw new Error("the gateway's warm-up left no item or no message to copy");
  return { item, message: JSON.parse(message.Body) as Record<string, unknown>, messageAttributes: message.MessageAttributes ?? {} };
}

export async function benchGateway(): Promise<BenchRow[]> {
  return withEmulators(async (emu) => {
    const rows: BenchRow[] = [];
    const apiKey = await benchKey(emu, "bench-merchant");
    const body = JSON.stringify(paymentBody({ merchant_id: undefined }));
    const request = (idempotencyKey: string, key = apiKey) => ({
      event: httpApiEvent({
        method: "POST",
        path: TRANSACTIONS_PATH,
        headers: { "content-type": "application/json", authorization: `Bearer ${key}`, "idempotency-key": idempotencyKey },
        body,
      }),
      context: fakeContext(FUNCTIONS.gateway.handler),
    });
    const post = (gateway: (e: HttpEvent, c: Context) => Promise<HttpResult>, idempotencyKey: string, key = apiKey) => {
      const { event, context } = request(idempotencyKey, key);
      return gateway(event, context);
    };
    const runWith = (gateway: (e: HttpEvent, c: Context) => Promise<HttpResult>, tag: string) => async (i: number) => {
      const res = await post(gateway, `bench-${tag}-${i}-${randomUUID().slice(0, 8)}`);
      if (res.statusCode !== 202) throw new Error(`gateway answered ${res.statusCode}: ${res.body}`);
    };
    /**
     * The measured rounds' requests, made before they run: an invocation's event and context are
     * what the Lambda runtime hands the handler (its work for any handler, the floor's too if it
     * ran in Lambda), so building them is kept out of the handler's time.
     */
    const prepared = (gateway: (e: HttpEvent, c: Context) => Promise<HttpResult>, tag: string, count: number) => {
      const requests = Array.from({ length: count }, (_, i) => request(`bench-${tag}-${i}-${randomUUID().slice(0, 8)}`));
      let next = 0;
      return async () => {
        const { event, context } = requests[next++ % count]!;
        const res = await gateway(event, context);
        if (res.statusCode !== 202) throw new Error(`gateway answered ${res.statusCode}: ${res.body}`);
      };
    };
    // Floor: the same durable work with no handler logic: one conditional write + one send, of an
    // item and a message shaped like the gateway's (taken from its warm-up) and with the same
    // request parameters, so that both pay the emulators for the same attributes, index entries
    // and message attributes.
    const { dynamodb } = emu.clients;
    const sqs = new SQSClient({
      region: emu.region,
      endpoint: emu.fauxqs.endpoint,
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    const gateway = freshHandler<HttpEvent, HttpResult>(FUNCTIONS.gateway.handler);
    await load(runWith(gateway, "warm"), 4, WARM_UP_REQUESTS, 30_000); // warm-up: clients, connections, JIT, key cache
    const written = await gatewayWrites(emu, sqs);
    const floor = async (i: number) => {
      const id = randomUUID();
      const now = new Date().toISOString();
      await dynamodb.send(
        new PutItemCommand({
          TableName: emu.resources.transactionsTable,
          Item: {
            ...written.item,
            transaction_id: { S: id },
            idempotency_key: { S: `floor-${i}-${id.slice(0, 8)}` },
            pending_shard: { S: String(i % 8) },
            pending_since: { S: now },
            created_at: { S: now },
            updated_at: { S: now },
          },
          ConditionExpression: "attribute_not_exists(transaction_id)",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: emu.resources.transactionQueueUrl,
          MessageBody: JSON.stringify({ ...written.message, transaction_id: id }),
          MessageAttributes: written.messageAttributes,
        }),
      );
    };
    await load(floor, 4, WARM_UP_REQUESTS, 30_000);
    for (const c of [1, 10]) {
      rows.push(
        ...(await pairedRows(
          "gateway POST /transactions (authenticated, warm key cache)",
          "floor (1 conditional write + 1 send)",
          c,
          prepared(gateway, `c${c}`, PAIRED_REQUESTS),
          floor,
          ">= 0.9",
        )),
      );
    }

    // The same with the key cache off: every request also reads the key (the cold-cache cost).
    // The handler reads its config on its first request: make that one under the setting.
    const restoreTtl = applyEnv({ [ENV.authCacheTtlSeconds]: "0" });
    const uncached = freshHandler<HttpEvent, HttpResult>(FUNCTIONS.gateway.handler);
    try {
      await runWith(uncached, "cold-first")(0);
    } finally {
      restoreTtl();
    }
    await load(runWith(uncached, "cold-warm"), 4, WARM_UP_REQUESTS, 30_000);
    rows.push(
      ...(await pairedRows(
        "gateway, key cache off (+1 GetItem per request)",
        "floor (1 conditional write + 1 send)",
        10,
        prepared(uncached, "cold", PAIRED_REQUESTS),
        floor,
      )),
    );
    sqs.destroy();

    // What one accepted POST costs, counted on the wire: every DynamoDB and SQS request.
    const dynamoProxy = await startRecordingProxy(emu.dynamo.endpoint);
    const sqsProxy = await startRecordingProxy(emu.fauxqs.endpoint);
    const restore = applyEnv({ AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.endpoint, AWS_ENDPOINT_URL_SQS: sqsProxy.endpoint });
    try {
      const counted = freshHandler<HttpEvent, HttpResult>(FUNCTIONS.gateway.handler);
      const count = async (idempotencyKey: string, key?: string) => {
        const before = { d: dynamoProxy.requests.length, s: sqsProxy.requests.length };
        const res = await post(counted, idempotencyKey, key);
        const calls = [
          ...dynamoProxy.requests.slice(before.d).map((r) => operationOf(r, "dynamodb")),
          ...sqsProxy.requests.slice(before.s).map((r) => operationOf(r, "sqs")),
        ];
        return { status: res.statusCode, calls };
      };
      // A fresh container: the first request with a key reads it (cold cache), the next ones do not.
      const cold = await count(`count-cold-${randomUUID().slice(0, 8)}`);
      const warmKeys = [0, 1, 2, 3, 4].map((i) => `count-warm-${i}-${randomUUID().slice(0, 8)}`);
      const warm: Array<{ status: number | undefined; calls: string[] }> = [];
      for (const k of warmKeys) warm.push(await count(k));
      // A replay of an accepted payment (202 with its id): the failed PutItem only.
      const replay = await count(warmKeys[0]!);
      for (const r of [cold, ...warm]) if (r.status !== 202) throw new Error(`gateway answered ${r.status}`);
      const reads = (r: { calls: string[] }) => r.calls.filter((c) => c === "GetItem").length;
      rows.push(summarize(`gateway: keys-table reads per request, cold key cache (${cold.calls.join(" + ")})`, "reads", [reads(cold)]));
      rows.push(summarize("gateway: keys-table reads per request, warm key cache", "reads", warm.map(reads)));
      rows.push(
        summarize(
          `gateway: AWS calls per accepted payment, warm key cache (${warm[0]!.calls.join(" + ")})`,
          "calls",
          warm.map((r) => r.calls.length),
          "2",
        ),
      );
      rows.push(summarize("gateway: AWS calls per accepted payment, cold key cache", "calls", [cold.calls.length]));
      rows.push(
        summarize(`gateway: AWS calls per replayed payment (${replay.calls.join(" + ")}, ${replay.status})`, "calls", [
          replay.calls.length,
        ]),
      );
    } finally {
      restore();
      await Promise.all([dynamoProxy.stop(), sqsProxy.stop()]);
    }
    return rows;
  });
}

/**
 * The processor with its ledger (MariaDB standing in for Aurora) against the floor of its own
 * calls sent bare: per batch of 10, one BatchGetItem, the ledger transaction, 10 conditional
 * transitions, one SendMessageBatch, one S3 object and 10 completion writes. Batches run
 * PROCESSOR_CONCURRENCY at a time, each "container" (handler instance, floor worker) with its own
 * ledger connection, as Lambda runs them.
 */
export async function benchProcessor(): Promise<BenchRow[]> {
  const ledger = await startLocalLedger();
  try {
    return await withEmulators(async (emu) => {
      const containers = Array.from({ length: PROCESSOR_CONCURRENCY }, () =>
        freshModule<{ handler: (e: SQSEvent, c: Context) => Promise<SQSBatchResponse>; ledgerStats: () => LedgerStats }>(
          FUNCTIONS.processor.handler,
        ),
      );
      const specs = Array.from({ length: PROCESSOR_MESSAGES }, (_, i) => ({ amount: 100 + i }));
      const toBatches = (messages: TransactionMessage[]) => {
        const batches: SQSEvent[] = [];
        for (let i = 0; i < messages.length; i += 10)
          batches.push(sqsEvent(messages.slice(i, i + 10).map((m) => sqsRecord(JSON.stringify(m)))));
        return batches;
      };
      const batches = toBatches(await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, specs));
      // Four equal slices: each is one measurement of messages/second.
      const drain = async (part: SQSEvent[], handle: (b: SQSEvent, worker: number) => Promise<void>): Promise<number> => {
        const t0 = performance.now();
        let count = 0;
        let next = 0;
        await Promise.all(
          Array.from({ length: PROCESSOR_CONCURRENCY }, async (_, worker) => {
            while (next < part.length) {
              const b = part[next++]!;
              await handle(b, worker);
              count += b.Records.length;
            }
          }),
        );
        return (count / (performance.now() - t0)) * 1000;
      };
      const slices = (all: SQSEvent[]) => {
        const size = Math.ceil(all.length / 4);
        return [0, 1, 2, 3].map((k) => all.slice(k * size, (k + 1) * size)).filter((p) => p.length > 0);
      };

      const batchMs: number[] = [];
      const roundTrips: number[] = [];
      const rates: number[] = [];
      const floorBatches = toBatches(await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, specs));
      const sqs = new SQSClient({
        region: emu.region,
        endpoint: emu.fauxqs.endpoint,
        credentials: { accessKeyId: "x", secretAccessKey: "x" },
      });
      const { dynamodb, s3 } = emu.clients;
      const table = emu.resources.transactionsTable;
      const connections = containers.map(() => connectLocalLedger(ledger));
      const update = (id: string, input: Omit<UpdateItemCommandInput, "TableName" | "Key">) =>
        dynamodb.send(new UpdateItemCommand({ TableName: table, Key: { transaction_id: { S: id } }, ...input }));
      // The processor's own calls, sent bare: the same requests with the same expressions, bodies and
      // attributes (so both pay the emulators for the same work), without the handler's logic.
      const ownCalls = async (b: SQSEvent, worker: number) => {
        const messages = b.Records.map((r) => JSON.parse(r.body) as TransactionMessage);
        const ids = messages.map((m) => m.transaction_id);
        await dynamodb.send(
          new BatchGetItemCommand({
            RequestItems: { [table]: { Keys: ids.map((id) => ({ transaction_id: { S: id } })), ConsistentRead: true } },
          }),
        );
        const posted = await postBatch(
          connections[worker]!,
          messages.map((m) => ({
            transactionId: m.transaction_id,
            merchantId: m.merchant_id,
            amount: m.amount,
            currency: m.currency,
            outcome: "POSTED",
          })),
          { region: emu.region },
        );
        const token = randomUUID();
        const now = new Date().toISOString();
        const items = await Promise.all(
          messages.map(async (m) => {
            const recorded = posted.get(m.transaction_id) as { postedAt: string; region: string };
            const out = await update(m.transaction_id, {
              UpdateExpression:
                "SET #status = :status, updated_at = :now, processed_at = :now, posted_at = :postedAt, posted_region = :postedRegion, " +
                "lease_until = :lease, lease_owner = :token REMOVE pending_shard, pending_since",
              ConditionExpression: "#status = :received AND amount = :amount AND currency = :currency",
              ExpressionAttributeNames: { "#status": "status" },
              ExpressionAttributeValues: {
                ":status": { S: "PROCESSED" },
                ":received": { S: "RECEIVED" },
                ":amount": { N: String(m.amount) },
                ":currency": { S: m.currency },
                ":now": { S: now },
                ":lease": { N: String(Date.now() + 60_000) },
                ":token": { S: token },
                ":postedAt": { S: recorded.postedAt },
                ":postedRegion": { S: recorded.region },
              },
              ReturnValues: "ALL_NEW",
            });
            return out.Attributes!;
          }),
        );
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: emu.resources.notificationQueueUrl,
            Entries: items.map((item, n) => ({
              Id: String(n),
              MessageBody: JSON.stringify({
                type: "transaction.status_changed",
                transaction_id: item.transaction_id?.S,
                merchant_id: item.merchant_id?.S,
                customer_id: item.customer_id?.S,
                status: item.status?.S,
                amount: Number(item.amount?.N),
                currency: item.currency?.S,
                occurred_at: item.processed_at?.S,
              }),
              MessageAttributes: {
                transaction_id: { DataType: "String", StringValue: item.transaction_id?.S },
                status: { DataType: "String", StringValue: item.status?.S },
              },
            })),
          }),
        );
        const key = `floor/${randomUUID()}.jsonl`;
        // One line per item, of plain values (the processor logs the item's public view).
        const plain = (item: Record<string, AttributeValue>) =>
          Object.fromEntries(Object.entries(item).map(([k, v]) => [k, v.S ?? (v.N !== undefined ? Number(v.N) : (v.BOOL ?? null))]));
        const body = `${items.map((item) => JSON.stringify(plain(item))).join("\n")}\n`;
        await s3.send(new PutObjectCommand({ Bucket: emu.resources.logBucket, Key: key, Body: body, ContentType: "application/x-ndjson" }));
        await Promise.all(
          ids.map((id) =>
            update(id, {
              UpdateExpression:
                "SET notified = :true, notified_at = :now, logged = :true, log_object = :key REMOVE lease_until, lease_owner",
              ConditionExpression: "lease_owner = :token",
              ExpressionAttributeValues: { ":true": { BOOL: true }, ":now": { S: now }, ":key": { S: key }, ":token": { S: token } },
            }),
          ),
        );
      };
      const processBatch = async (b: SQSEvent, worker: number) => {
        const container = containers[worker]!;
        const before = container.ledgerStats().roundTrips;
        const b0 = performance.now();
        const res = await container.handler(b, fakeContext(FUNCTIONS.processor.handler));
        batchMs.push(performance.now() - b0);
        roundTrips.push(container.ledgerStats().roundTrips - before);
        if (res.batchItemFailures.length > 0) throw new Error(`processor failed ${res.batchItemFailures.length} records`);
      };
      // Alternate slices (processor, floor, processor, ...) so that drift in the emulators and the
      // database (table size, buffer pool, other load on the machine) falls on both alike.
      const floorRates: number[] = [];
      const floorSlices = slices(floorBatches);
      for (const [k, part] of slices(batches).entries()) {
        rates.push(await drain(part, processBatch));
        floorRates.push(await drain(floorSlices[k]!, ownCalls));
      }
      sqs.destroy();
      await Promise.all(connections.map((c) => c.close()));
      return [
        summarize(
          `transaction-processor with the ledger: throughput, batches of 10, ${PROCESSOR_CONCURRENCY} at a time (${PROCESSOR_MESSAGES} messages)`,
          "msg/s",
          rates,
        ),
        summarize("transaction-processor: batch of 10 duration", "ms", batchMs),
        summarize("transaction-processor: ledger round trips per batch of 10", "round trips", roundTrips, "<= 3"),
        summarize(
          `floor: the processor's own calls per batch (BatchGetItem, ledger transaction, 20 writes, 1 SQS, 1 S3), ${PROCESSOR_CONCURRENCY} at a time`,
          "msg/s",
          floorRates,
        ),
        summarize(
          "transaction-processor / floor of its own calls: throughput (per slice pair)",
          "x",
          rates.map((r, k) => r / floorRates[k]!),
          ">= 0.8",
        ),
      ];
    }, ledger);
  } finally {
    await ledger.stop();
  }
}

async function main(): Promise<void> {
  const rows = [...(await benchGateway()), ...(await benchProcessor())];
  printTable(rows);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
