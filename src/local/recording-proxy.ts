/**
 * A pass-through HTTP proxy in front of an emulator that records each request's method, path,
 * headers and body. Lets a test see what a handler really sent (e.g. the S3 SSE header, which
 * fauxqs does not store) or count API calls (X-Amz-Target), without mocking any SDK client.
 *
 * It also injects the faults that make an answer ambiguous, chosen per request:
 * - "refuse": answered with a non-retryable 400 without forwarding: the service did nothing.
 * - "lose": forwarded, and once the service has answered in full, the caller's connection is
 *   reset: the service acted and the caller never learns it (an SDK retries such a call).
 * - "hold": forwarded, and the answer kept until release(): a slow or hung service, where the
 *   caller's own timeout decides what it believes.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The operation: X-Amz-Target without its service prefix (PutItem, SendMessage), or "" when absent. */
  operation: string;
  body: string;
}

export type Fault = "refuse" | "lose" | "hold";

export interface RecordingProxy {
  readonly endpoint: string;
  readonly requests: RecordedRequest[];
  /** Answers held so far and not yet released. */
  readonly held: number;
  /** Sends every held answer on (to callers that may have given up already). */
  release(): void;
  stop(): Promise<void>;
}

export interface RecordingProxyOptions {
  /** The fault to inject for a request, or undefined to pass it through. */
  readonly fault?: (req: RecordedRequest) => Fault | undefined;
}

const operationOf = (headers: IncomingHttpHeaders): string => String(headers["x-amz-target"] ?? "").replace(/^.*\./, "");

export async function startRecordingProxy(target: string, options: RecordingProxyOptions = {}): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  let held: Array<() => void> = [];

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        operation: operationOf(req.headers),
        body: body.toString("utf8"),
      };
      requests.push(recorded);
      const fault = options.fault?.(recorded);
      if (fault === "refuse") {
        res.writeHead(400, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify({ __type: "com.amazon.coral.validate#ValidationException", message: "refused by the recording proxy" }));
        return;
      }
      forward(recorded, body, res, fault);
    });
  });

  function forward(recorded: RecordedRequest, body: Buffer, res: ServerResponse, fault: Fault | undefined): void {
    const call = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: recorded.method, path: recorded.path, headers: recorded.headers },
      (upstreamRes) => {
        const answer: Buffer[] = [];
        upstreamRes.on("data", (chunk: Buffer) => answer.push(chunk));
        upstreamRes.on("end", () => {
          // The service has acted and answered in full: now decide what the caller gets.
          if (fault === "lose") {
            res.socket?.destroy();
            return;
          }
          const send = () => {
            if (res.destroyed || res.writableEnded) return;
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
            res.end(Buffer.concat(answer));
          };
          if (fault === "hold") held.push(send);
          else send();
        });
      },
    );
    call.on("error", () => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502);
      res.end();
    });
    call.end(body);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    get held() {
      return held.length;
    },
    release() {
      const answers = held;
      held = [];
      for (const send of answers) send();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        held = [];
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
