/**
 * A pass-through HTTP proxy in front of an emulator that records each request's method, path
 * and headers. Lets a test see what a handler really sent (e.g. the S3 SSE header, which fauxqs
 * does not store) or count API calls (X-Amz-Target), without mocking any SDK client. It can also
 * refuse chosen requests (a dependency failing one kind of call) with a non-retryable error.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface RecordingProxy {
  readonly endpoint: string;
  readonly requests: RecordedRequest[];
  stop(): Promise<void>;
}

export interface RecordingProxyOptions {
  /** Requests answered `400 {"__type":"...#ValidationException"}` instead of being forwarded. */
  readonly refuse?: (req: RecordedRequest) => boolean;
}

export async function startRecordingProxy(target: string, options: RecordingProxyOptions = {}): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const recorded = { method: req.method ?? "", path: req.url ?? "", headers: req.headers };
    requests.push(recorded);
    if (options.refuse?.(recorded)) {
      req.resume();
      res.writeHead(400, { "content-type": "application/x-amz-json-1.0" });
      res.end(JSON.stringify({ __type: "com.amazon.coral.validate#ValidationException", message: "refused by the recording proxy" }));
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
