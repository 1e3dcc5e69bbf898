/**
 * The local region runner (scripts/local/region.ts), driven over real HTTP on 127.0.0.1: the
 * HTTP API routes, the two queue pollers (deletes, partial failures, DLQ redrive), shutdown, and
 * the CLI with its signal handling.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import * as path from "node:path";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { loadConfig } from "../../src/contracts/config";
import { matchRoute, readBody, toHttpApiEvent } from "../../src/local/http-api";
import { paymentBody } from "../../src/local/lambda-events";
import { type LocalRegion, startLocalRegion } from "../../src/local/region";
import { makeTransaction } from "../../src/local/seed";
import { receiveMessages, sleep } from "../helpers/observe";

const ROOT = path.resolve(__dirname, "../..");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let region: LocalRegion;
const lines: string[] = [];
const envBefore = process.env.TRANSACTIONS_TABLE;

beforeAll(async () => {
  region = await startLocalRegion({
    port: 0,
    log: (line) => lines.push(line),
    handlerLogLevel: "SILENT",
    // Short, so a failed record comes back (and reaches the DLQ) within the test.
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 3,
    // The sweeper twice a second; only what is RECEIVED for 30 s is its business.
    sweeperIntervalMs: 500,
    sweeperAgeSeconds: 30,
    prefix: "lr",
    config: loadConfig({}, {}),
  });
}, 20_000);

afterAll(async () => {
  await region?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(method: string, urlPath: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const res = await fetch(`${region.url}${urlPath}`, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const auth = () => ({ Authorization: `Bearer ${region.demo.apiKey}` });

const post = (key: string | undefined, body: unknown, headers: Record<string, string> = auth()) =>
  call("POST", "/transactions", {
    headers: { "Content-Type": "application/json", ...headers, ...(key ? { "Idempotency-Key": key } : {}) },
    body: JSON.stringify(body),
  });

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

const emptyQueue = { ready: 0, delayed: 0, inflight: 0 };
let transactionId: string;

test("serves on 127.0.0.1 at the port it reports", () => {
  expect(region.url).toBe(`http://127.0.0.1:${region.port}`);
  expect(region.port).toBeGreaterThan(0);
});

test("a demo merchant and its API key exist from the start; without the key nothing is accepted", async () => {
  expect(region.demo.merchantId).toBe("demo-merchant");
  expect(region.demo.apiKey).toMatch(/^pk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
  const refused = await post("local-region-key-0000", paymentBody({ merchant_id: undefined }), {});
  expect(refused.status).toBe(401);
  expect(refused.headers.get("www-authenticate")).toBe("Bearer");
  expect(refused.body).toMatchObject({ error: "Unauthorized" });
});

test("an accepted payment is processed by the queue poller and its notification reaches the topic", async () => {
  const body = paymentBody({ amount: 4200, currency: "SGD", merchant_id: undefined });
  const accepted = await post("local-region-key-0001", body);
  expect(accepted.status).toBe(202);
  expect(accepted.body).toEqual({ transaction_id: expect.stringMatching(UUID), status: "RECEIVED" });
  transactionId = String(accepted.body.transaction_id);
  expect(accepted.headers.get("location")).toBe(`/transactions/${transactionId}`);

  const processed = await until("PROCESSED", 15_000, async () => {
    const got = await call("GET", `/transactions/${transactionId}`, { headers: auth() });
    expect(got.status).toBe(200);
    return got.body.status === "PROCESSED" ? got.body : undefined;
  });
  expect(processed).toMatchObject({ transaction_id: transactionId, amount: 4200, currency: "SGD" });

  // notification-sender's poller drained the notification queue to SNS (the observer queue is subscribed).
  const envelope = await until("the SNS notification", 5_000, async () => {
    const [m] = await receiveMessages(region.emulators.clients.sqs, region.resources.observerQueueUrl, 1, 1);
    return m ? (JSON.parse(m.Body!) as { Message: string }) : undefined;
  });
  expect(JSON.parse(envelope.Message)).toMatchObject({ transaction_id: transactionId, status: "PROCESSED" });

  // Both pollers deleted what their handler completed.
  for (const name of [region.resources.names.transactionQueue, region.resources.names.notificationQueue]) {
    await until(`${name} to be empty`, 3_000, async () =>
      JSON.stringify(await region.emulators.fauxqs.inspectQueue(name)) === JSON.stringify(emptyQueue) ? true : undefined,
    );
  }
  expect(region.pollers.transactions).toMatchObject({ succeeded: 1, failed: 0 });
  expect(region.pollers.notifications).toMatchObject({ succeeded: 1, failed: 0 });
}, 25_000);

test("replaying the Idempotency-Key returns the same transaction and queues nothing new", async () => {
  expect(transactionId).toMatch(UUID);
  const processedBefore = region.pollers.transactions.batches;
  const replay = await post("local-region-key-0001", paymentBody({ amount: 4200, currency: "SGD", merchant_id: undefined }));
  expect(replay.status).toBe(202);
  expect(replay.body.transaction_id).toBe(transactionId);
  expect(await region.emulators.fauxqs.inspectQueue(region.resources.names.transactionQueue)).toEqual(emptyQueue);
  await sleep(1_500); // more than one poll of the queue
  expect(region.pollers.transactions.batches).toBe(processedBefore);
});

test("a bad body is refused with 400 naming the field, and nothing is queued", async () => {
  const negative = await post("local-region-key-0002", paymentBody({ amount: -5, merchant_id: undefined }));
  expect(negative.status).toBe(400);
  expect(negative.body).toMatchObject({ error: "ValidationError", field: "amount" });

  const noKey = await post(undefined, paymentBody({ merchant_id: undefined }));
  expect(noKey.status).toBe(400);
  expect(noKey.body).toMatchObject({ field: "Idempotency-Key" });

  expect(await region.emulators.fauxqs.inspectQueue(region.resources.names.transactionQueue)).toEqual(emptyQueue);
});

test("GET /health runs the health handler's deep check and answers only status and region", async () => {
  const health = await call("GET", "/health");
  expect(health.status).toBe(200);
  expect(health.body).toEqual({ status: "ok", region: region.region });
});

test("a request matching no route goes to the gateway ($default): the project's 404 and 405", async () => {
  const unknownPath = await call("GET", "/nowhere");
  expect(unknownPath.status).toBe(404);
  expect(unknownPath.body).toEqual({ error: "NotFound", message: "No route for GET /nowhere" });

  const wrongMethod = await call("DELETE", "/transactions");
  expect(wrongMethod.status).toBe(405);
  expect(wrongMethod.body).toMatchObject({ error: "MethodNotAllowed" });
  expect(wrongMethod.headers.get("allow")).toBe("POST");

  const unknownId = await call("GET", "/transactions/00000000-0000-4000-8000-000000000000", { headers: auth() });
  expect(unknownId.status).toBe(404);
  expect(unknownId.body).toMatchObject({ error: "NotFound" });
});

test("logs one line per request", () => {
  const requestLines = lines.filter((l) => /^[A-Z]+ \//.test(l));
  expect(requestLines).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^POST \/transactions -> 202 \d+ ms \[payment-gateway\]$/),
      expect.stringMatching(/^GET \/health -> 200 \d+ ms \[health\]$/),
      expect.stringMatching(/^GET \/nowhere -> 404 \d+ ms \[payment-gateway\]$/),
    ]),
  );
  // Requests so far: 1 refused POST, 1 POST, >= 1 GET poll, replay, 2 bad POSTs, health, 3 unknown routes or ids.
  const gets = requestLines.filter((l) => l.startsWith(`GET /transactions/${transactionId} `)).length;
  expect(gets).toBeGreaterThanOrEqual(1);
  expect(requestLines).toHaveLength(1 + 1 + gets + 1 + 2 + 1 + 3);
});

test("a request becomes the HTTP API payload 2.0 event of its route", async () => {
  // The translation the runner uses, on a real request (Node gives it the raw socket data).
  const server = createServer((req, res) => {
    const url = new URL(`http://127.0.0.1${req.url}`);
    void readBody(req, 1024).then((body) => {
      const match = matchRoute(req.method!, url.pathname);
      const event = body !== "too-large" ? toHttpApiEvent({ req, url, match, body, requestId: "req-1" }) : null;
      res.end(JSON.stringify(event));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const id = "0b9c2a3e-1111-4222-8333-444455556666";
    const get = await (await fetch(`${base}/transactions/${id}?a=1&a=2`, { headers: { "X-Trace-Me": "Yes" } })).json();
    expect(get).toMatchObject({
      version: "2.0",
      routeKey: "GET /transactions/{id}",
      rawPath: `/transactions/${id}`,
      rawQueryString: "a=1&a=2",
      queryStringParameters: { a: "1,2" },
      pathParameters: { id },
      headers: { "x-trace-me": "Yes" },
      isBase64Encoded: false,
      requestContext: {
        http: { method: "GET", path: `/transactions/${id}` },
        routeKey: "GET /transactions/{id}",
        requestId: "req-1",
        stage: "$default",
      },
    });
    expect(get).not.toHaveProperty("body");
    const postEvent = await (
      await fetch(`${base}/transactions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": "k-12345678" },
        body: '{"amount":1}',
      })
    ).json();
    expect(postEvent).toMatchObject({
      routeKey: "POST /transactions",
      headers: { "content-type": "application/json", "idempotency-key": "k-12345678" },
      body: '{"amount":1}',
      isBase64Encoded: false,
      requestContext: { http: { method: "POST", path: "/transactions" } },
    });
    expect(postEvent).not.toHaveProperty("pathParameters");
    expect(matchRoute("GET", "/health")).toEqual({ target: "health", routeKey: "GET /health" });
    // Everything else is the $default route's, the gateway's.
    expect(matchRoute("HEAD", "/health")).toEqual({ target: "payment-gateway", routeKey: "$default" });
    expect(matchRoute("GET", "/transactions/")).toEqual({ target: "payment-gateway", routeKey: "$default" });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("a record the processor fails is left on the queue, redelivered, and reaches the DLQ after 3 receives", async () => {
  const failedBefore = region.pollers.transactions.failed;
  await region.emulators.clients.sqs.send(
    new SendMessageCommand({ QueueUrl: region.resources.transactionQueueUrl, MessageBody: "not a transaction" }),
  );
  await until("the poison message in the DLQ", 12_000, async () => {
    const dlq = await region.emulators.fauxqs.inspectQueue(region.resources.names.transactionDlq);
    return dlq && dlq.ready > 0 ? dlq : undefined;
  });
  expect(await region.emulators.fauxqs.inspectQueue(region.resources.names.transactionDlq)).toEqual({ ...emptyQueue, ready: 1 });
  expect(region.pollers.transactions.failed - failedBefore).toBe(3);
  expect(await region.emulators.fauxqs.inspectQueue(region.resources.names.transactionQueue)).toEqual(emptyQueue);
}, 15_000);

test("the sweeper timer posts a payment that was written but never queued (the gateway's crash window)", async () => {
  const { item } = makeTransaction({ merchant_id: region.demo.merchantId });
  const at = new Date(Date.now() - 3_600_000).toISOString();
  await DynamoDBDocumentClient.from(region.emulators.clients.dynamodb).send(
    new PutCommand({ TableName: region.resources.transactionsTable, Item: { ...item, created_at: at, updated_at: at, pending_since: at } }),
  );
  await until("the swept payment PROCESSED", 10_000, async () => {
    const got = await call("GET", `/transactions/${item.transaction_id}`, { headers: auth() });
    return got.body.status === "PROCESSED" ? true : undefined;
  });
  expect(region.sweeper).toMatchObject({ swept: 1, adopted: 0, failed: 0 });
  expect(region.sweeper.runs).toBeGreaterThan(1);
  expect(lines).toContainEqual(expect.stringMatching(/^sweep -> re-enqueued 1 \(0 adopted\) \d+ ms \[pending-sweeper\]$/));
}, 15_000);

test("stop() closes the port, stops the emulators and restores the environment", async () => {
  const { port } = region;
  const dynamoEndpoint = region.emulators.dynamo.endpoint;
  expect(process.env.TRANSACTIONS_TABLE).toBe(region.resources.transactionsTable);
  await region.stop();
  await region.stop(); // idempotent

  const refused = await new Promise<string>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  expect(refused).toBe("ECONNREFUSED");
  await expect(fetch(dynamoEndpoint, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
  expect(process.env.TRANSACTIONS_TABLE).toBe(envBefore);
});

test("the CLI prints the URL and resource names, serves, and exits 0 on SIGTERM", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", "src/local/region.ts", "--port", "0"], {
    cwd: ROOT,
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: "SILENT" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const url = await until("the CLI's URL", 15_000, async () => {
      if (child.exitCode !== null) throw new Error(`CLI exited ${child.exitCode}: ${stderr}`);
      return /HTTP API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    });
    expect(stdout).toContain("payment-transaction-queue-local -> transaction-processor (DLQ payment-transaction-dlq-local)");
    expect(stdout).toContain("payment-notification-queue-local -> notification-sender");
    // The ready banner prints the demo merchant's key and a curl that uses it.
    const key = /demo merchant\s+demo-merchant, API key (pk_\S+)/.exec(stdout)?.[1];
    expect(key).toMatch(/^pk_/);
    expect(stdout).toContain(`-H 'Authorization: Bearer ${key}'`);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    await health.text();

    child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve("still running after 10 s"), 10_000))),
    ]).finally(() => clearTimeout(timer));
    expect(code).toBe(0);
    expect(stdout).toMatch(/GET \/health -> 200 \d+ ms \[health\]/);
    expect(stdout).toContain("Stopped.");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}, 30_000);
