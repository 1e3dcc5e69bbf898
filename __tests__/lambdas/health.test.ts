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

/** Runs the check with WARN logs on and returns the answer and the checks the log names. */
async function getLogged(env: Record<string, string | undefined>): Promise<{ res: Result; checks: Record<string, string> }> {
  const written: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, "write").mockImplementation(capture);
  const err = jest.spyOn(process.stderr, "write").mockImplementation(capture);
  let res: Result;
  try {
    res = await get({ ...env, POWERTOOLS_LOG_LEVEL: "WARN" });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const logged = written
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { message?: string; checks?: Record<string, string> });
  return { res, checks: logged.find((l) => l.message === "unhealthy")?.checks ?? {} };
}

test("200 ok when the table, the queue and the database all answer: only status and region in public", async () => {
  const res = await get({ DB_ENDPOINT: "127.0.0.1", DB_PORT: String(dbPort) });
  expect(res.statusCode).toBe(200);
  expect(parseBody(res)).toEqual({ status: "ok", region: emu.region });
  expect(res.headers?.["x-content-type-options"]).toBe("nosniff");
});

test("without DB_ENDPOINT the database is not checked", async () => {
  const { res, checks } = await getLogged({ DB_ENDPOINT: undefined, TRANSACTIONS_TABLE: "no-such-table" });
  expect(res.statusCode).toBe(503);
  expect(Object.keys(checks).sort()).toEqual(["dynamodb", "sqs"]);
});

test("503 when the table is missing: the answer names nothing, the log names dynamodb and its error", async () => {
  const { res, checks } = await getLogged({ TRANSACTIONS_TABLE: "no-such-table" });
  expect(res.statusCode).toBe(503);
  expect(parseBody(res)).toEqual({ status: "unhealthy", region: emu.region });
  expect(res.body).not.toMatch(/ResourceNotFound|no-such-table|dynamodb/);
  expect(checks.dynamodb).toMatch(/^error: ResourceNotFoundException/);
  expect(checks.sqs).toBe("ok");
});

test("503 when the queue is missing; the log names sqs", async () => {
  const { res, checks } = await getLogged({ TRANSACTION_QUEUE_URL: emu.resources.transactionQueueUrl.replace(/[^/]+$/, "gone") });
  expect(res.statusCode).toBe(503);
  expect(parseBody(res)).toEqual({ status: "unhealthy", region: emu.region });
  expect(checks.sqs).toMatch(/^error: /);
  expect(checks.dynamodb).toBe("ok");
});

test("503 when nothing listens on DB_PORT; the log names the database", async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const { res, checks } = await getLogged({ DB_ENDPOINT: "127.0.0.1", DB_PORT: String(port) });
  expect(res.statusCode).toBe(503);
  expect(parseBody(res)).toEqual({ status: "unhealthy", region: emu.region });
  expect(checks.database).toMatch(/^error: .*ECONNREFUSED/);
});

test("a hanging dependency is cut off by HEALTH_CHECK_TIMEOUT_MS", async () => {
  // A server that accepts TCP but never answers HTTP: DynamoDB calls hang until the abort.
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    const started = Date.now();
    const { res, checks } = await getLogged({ AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${port}`, HEALTH_CHECK_TIMEOUT_MS: "300" });
    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(503);
    expect(checks.dynamodb).toBe("error: timeout");
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
