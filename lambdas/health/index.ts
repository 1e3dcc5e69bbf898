/**
 * health: GET /health for the ALB target and the Route53 health check. Deep-checks this
 * region's own dependencies in parallel, each with a short timeout: the transactions table is
 * ACTIVE, the transaction queue answers, and (when DB_ENDPOINT is set) the database accepts a
 * TCP connection. 200 {status:"ok", region} or 503 {status:"unhealthy", region}: the answer is
 * public, so which dependency failed and its error text go to the logs only.
 */
import { connect } from "node:net";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { HEALTH_PATH } from "../../src/contracts/api";
import { ENV } from "../../src/contracts/functions";
import { dynamodb, sqs } from "../shared/clients";
import { intEnv, once, optionalEnv, requireEnv } from "../shared/env";
import { HttpError, methodNotAllowed, notFound } from "../shared/errors";
import { errorResponse, type HttpEvent, type HttpResult, jsonResponse, parseRequest } from "../shared/http";
import { instrumented, logger } from "../shared/runtime";

const config = once(() => ({
  transactionsTable: requireEnv(ENV.transactionsTable),
  queueUrl: requireEnv(ENV.transactionQueueUrl),
  dbEndpoint: optionalEnv(ENV.dbEndpoint),
  dbPort: intEnv(ENV.dbPort, 3306, 1, 65535),
  timeoutMs: intEnv(ENV.healthCheckTimeoutMs, 1000, 1, 30_000),
  region: optionalEnv("AWS_REGION") ?? "unknown",
}));

type CheckResult = "ok" | `error: ${string}`;

function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === "AbortError" || err.name === "TimeoutError") return "timeout";
    const msg = err.message.split("\n")[0] ?? "";
    return msg ? `${err.name}: ${msg}`.slice(0, 200) : err.name;
  }
  return String(err).slice(0, 200);
}

async function check(name: string, run: (signal: AbortSignal) => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    await Promise.race([
      run(signal),
      new Promise<never>((_, reject) => {
        // Belt and braces: some SDK paths do not reject promptly on abort.
        signal.addEventListener("abort", () => reject(Object.assign(new Error("timeout"), { name: "TimeoutError" })), { once: true });
      }),
    ]);
    return "ok";
  } catch (err) {
    logger.warn("health check failed", { check: name, error: describe(err) });
    return `error: ${describe(err)}`;
  }
}

function tcpConnect(host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port, signal });
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

export const handler = instrumented(async (event: HttpEvent, _context: Context): Promise<HttpResult> => {
  const req = parseRequest(event);
  try {
    if (req.path !== HEALTH_PATH && req.path !== `${HEALTH_PATH}/`) throw notFound(`No route for ${req.method} ${req.path}`);
    if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed(["GET", "HEAD"]);
    const cfg = config();
    const checks: Array<[string, Promise<CheckResult>]> = [
      [
        "dynamodb",
        check(
          "dynamodb",
          async (abortSignal) => {
            const out = await dynamodb().send(new DescribeTableCommand({ TableName: cfg.transactionsTable }), { abortSignal });
            const status = out.Table?.TableStatus;
            if (status !== "ACTIVE") throw new Error(`table status ${status ?? "unknown"}`);
          },
          cfg.timeoutMs,
        ),
      ],
      [
        "sqs",
        check(
          "sqs",
          async (abortSignal) => {
            await sqs().send(new GetQueueAttributesCommand({ QueueUrl: cfg.queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }), {
              abortSignal,
            });
          },
          cfg.timeoutMs,
        ),
      ],
    ];
    if (cfg.dbEndpoint) {
      const host = cfg.dbEndpoint;
      checks.push(["database", check("database", (signal) => tcpConnect(host, cfg.dbPort, signal), cfg.timeoutMs)]);
    }
    const results = await Promise.all(checks.map(([, p]) => p));
    const healthy = results.every((r) => r === "ok");
    if (!healthy) logger.warn("unhealthy", { checks: Object.fromEntries(checks.map(([name], i) => [name, results[i]!])) });
    return jsonResponse(req, healthy ? 200 : 503, { status: healthy ? "ok" : "unhealthy", region: cfg.region });
  } catch (err) {
    if (err instanceof HttpError) return errorResponse(req, err);
    logger.error("health handler error", { error: describe(err) });
    return jsonResponse(req, 503, { status: "unhealthy", region: process.env.AWS_REGION ?? "unknown" });
  }
});
