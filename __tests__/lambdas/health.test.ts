import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import * as path from "node:path";
import type { ALBResult, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import { applyEnv, type Emulators, startEmulators } from "../../src/local/emulators";
import { albEvent, httpApiEvent } from "../../src/local/lambda-events";
import { loadHandler, parseBody } from "../helpers/load";

const HEALTH = path.resolve(__dirname, "../../lambdas/health/index.ts");
type Result = APIGatewayProxyStructuredResultV2 & ALBResult;

let emu: Emulators;
let restoreEnv: () => void;
let db: Server;
let dbPort: number;

beforeAll(async () => {
  emu = await startEmulators({ prefix: "health" });
  restoreEnv = applyEnv(emu.baseEnv);
  // Stands in for the Aurora endpoint: the health check only needs a TCP accept.
  db = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => db.listen(0, "127.0.0.1", resolve));
  dbPort = (db.address() as AddressInfo).port;
});

afterAll(async () => {
  restoreEnv?.();
  await new Promise<void>((resolve) => db?.close(() => resolve()));
  await emu?.stop();
});

const get = (env: Record<string, string | undefined>, event: HttpEvent = httpApiEvent({ method: "GET", path: "/health" })) =>
  loadHandler<HttpEvent, HttpResult>(HEALTH, env)(event) as Promise<Result>;

test("200 ok when the table, the queue and the database all answer", async () => {
  const res = await get({ DB_ENDPOINT: "127.0.0.1", DB_PORT: String(dbPort) });
  expect(res.statusCode).toBe(200);
  expect(parseBody(res)).toEqual({
    status: "ok",
    region: emu.region,
    checks: { dynamodb: "ok", sqs: "ok", database: "ok" },
  });
});

test("without DB_ENDPOINT the database is not checked", async () => {
  const res = await get({ DB_ENDPOINT: undefined });
  expect(res.statusCode).toBe(200);
  expect(parseBody(res).checks).toEqual({ dynamodb: "ok", sqs: "ok" });
});

test("503 naming dynamodb when the table is missing", async () => {
  const res = await get({ TRANSACTIONS_TABLE: "no-such-table" });
  expect(res.statusCode).toBe(503);
  const body = parseBody(res) as { status: string; checks: Record<string, string> };
  expect(body.status).toBe("unhealthy");
  expect(body.checks.dynamodb).toMatch(/^error: ResourceNotFoundException/);
  expect(body.checks.sqs).toBe("ok");
});

test("503 naming sqs when the queue is missing", async () => {
  const res = await get({ TRANSACTION_QUEUE_URL: emu.resources.transactionQueueUrl.replace(/[^/]+$/, "gone") });
  expect(res.statusCode).toBe(503);
  const checks = (parseBody(res) as { checks: Record<string, string> }).checks;
  expect(checks.sqs).toMatch(/^error: /);
  expect(checks.dynamodb).toBe("ok");
});

test("503 naming the database when nothing listens on DB_PORT", async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const res = await get({ DB_ENDPOINT: "127.0.0.1", DB_PORT: String(port) });
  expect(res.statusCode).toBe(503);
  expect((parseBody(res) as { checks: Record<string, string> }).checks.database).toMatch(/^error: .*ECONNREFUSED/);
});

test("a hanging dependency is cut off by HEALTH_CHECK_TIMEOUT_MS", async () => {
  // A server that accepts TCP but never answers HTTP: DynamoDB calls hang until the abort.
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    const started = Date.now();
    const res = await get({ AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${port}`, HEALTH_CHECK_TIMEOUT_MS: "300" });
    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(503);
    expect((parseBody(res) as { checks: Record<string, string> }).checks.dynamodb).toBe("error: timeout");
    expect(elapsed).toBeLessThan(2000);
  } finally {
    silent.close();
  }
});

test("ALB event: 200 and 503 with statusDescription", async () => {
  const ok = await get({}, albEvent({ method: "GET", path: "/health" }));
  expect(ok.statusCode).toBe(200);
  expect(ok.statusDescription).toBe("200 OK");
  expect(ok.isBase64Encoded).toBe(false);
  expect(ok.headers?.["content-type"]).toMatch(/application\/json/);
  const bad = await get({ TRANSACTIONS_TABLE: "no-such-table" }, albEvent({ method: "GET", path: "/health", multiValue: true }));
  expect(bad.statusCode).toBe(503);
  expect(bad.statusDescription).toBe("503 Service Unavailable");
  expect(bad.multiValueHeaders?.["content-type"]).toBeDefined();
  expect(parseBody(bad).status).toBe("unhealthy");
});

test("other paths are 404 and other methods 405", async () => {
  expect((await get({}, httpApiEvent({ method: "GET", path: "/healthz" }))).statusCode).toBe(404);
  const post = await get({}, httpApiEvent({ method: "POST", path: "/health" }));
  expect(post.statusCode).toBe(405);
  expect(post.headers?.allow).toBe("GET, HEAD");
});
