/**
 * DynamoDB's JSON protocol spoken straight to one local endpoint (dynalite) over keep-alive
 * sockets. The replicator forwards the handlers' requests and makes its own calls (read-backs,
 * replicated writes, table checks) through it. No SDK client here: the requests are JSON already,
 * and dynalite checks the form of the Authorization header but never the signature.
 */
import { randomUUID } from "node:crypto";
import { Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, request, type ServerResponse } from "node:http";
import { crc32 } from "node:zlib";

/** An attribute value or item as DynamoDB's JSON protocol writes it ({"S": "x"}, {"M": {...}}). */
export type WireValue = Record<string, unknown>;
export type WireItem = Record<string, WireValue>;

export interface WireResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface CallResult<T> {
  readonly status: number;
  /** Parsed JSON body: the output on 200, the error (`__type`, `message`) otherwise. */
  readonly output: T;
  /** The error name without its namespace, e.g. ConditionalCheckFailedException; undefined on 200. */
  readonly error?: string;
}

const API = "DynamoDB_20120810";
const JSON_TYPE = "application/x-amz-json-1.0";
// Well-formed but never verified: enough for dynalite, which checks only the header's shape.
const OWN_AUTH = {
  authorization: "AWS4-HMAC-SHA256 Credential=replicator/20240101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
  "x-amz-date": "20240101T000000Z",
};
/** Hop-by-hop headers: each side of the proxy keeps its own connection. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding"]);

/** The operation named by a request's X-Amz-Target (`DynamoDB_20120810.PutItem` -> `PutItem`). */
export function operationOf(headers: IncomingHttpHeaders): string {
  const target = headers["x-amz-target"];
  return typeof target === "string" ? target.slice(target.indexOf(".") + 1) : "";
}

/** The error name of a DynamoDB error body (`com.amazonaws.dynamodb.v20120810#X` -> `X`). */
export function errorName(output: unknown): string {
  const type = (output as { __type?: unknown } | undefined)?.__type;
  return typeof type === "string" ? type.slice(type.indexOf("#") + 1) : "UnknownError";
}

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

/** Answers with a JSON body as DynamoDB does: content type, length, CRC32 and a request id. */
export function sendJson(res: ServerResponse, status: number, payload: unknown, requestId: string = randomUUID()): void {
  const body = Buffer.from(JSON.stringify(payload));
  res.writeHead(status, {
    "content-type": JSON_TYPE,
    "content-length": body.length,
    "x-amz-crc32": crc32(body),
    "x-amzn-requestid": requestId,
  });
  res.end(body);
}

/** Answers with an upstream response as it came. */
export function relay(res: ServerResponse, response: WireResponse): void {
  res.writeHead(response.status, endToEnd(response.headers));
  res.end(response.body);
}

export class DynamoWire {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  /** Requests sent and not yet answered (or failed). */
  private active = 0;
  private onIdle: (() => void) | undefined;

  /** @param maxSockets caps concurrent requests to the endpoint; the rest wait in the agent's queue. */
  constructor(
    readonly endpoint: string,
    maxSockets = 32,
  ) {
    const url = new URL(endpoint);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /** Sends a handler's request (its headers, its body or a rewritten one) and buffers the answer. */
  send(headers: IncomingHttpHeaders, body: Buffer): Promise<WireResponse> {
    this.active++;
    return new Promise<WireResponse>((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method: "POST",
          path: "/",
          headers: { ...endToEnd(headers), "content-length": body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    }).finally(() => this.done());
  }

  /** Streams a request through untouched (reads and anything not replicated). */
  pipe(req: IncomingMessage, res: ServerResponse): void {
    this.active++;
    let counted = true;
    const finish = () => {
      if (counted) this.done();
      counted = false;
    };
    const forward = request(
      { agent: this.agent, host: this.host, port: this.port, method: req.method, path: req.url, headers: endToEnd(req.headers) },
      (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, endToEnd(upstream.headers));
        upstream.on("end", finish).on("error", finish).on("close", finish);
        upstream.pipe(res);
      },
    );
    forward.on("error", () => {
      finish();
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  }

  /** One operation with the replicator's own placeholder credentials. */
  async call<T = Record<string, unknown>>(operation: string, input: object): Promise<CallResult<T>> {
    const res = await this.send(
      { ...OWN_AUTH, "content-type": JSON_TYPE, "x-amz-target": `${API}.${operation}` },
      Buffer.from(JSON.stringify(input)),
    );
    const output = (res.body.length ? JSON.parse(res.body.toString("utf8")) : {}) as T;
    return res.status === 200 ? { status: res.status, output } : { status: res.status, output, error: errorName(output) };
  }

  /**
   * Waits (at most `ms`) for the requests in flight. Stopping a dynalite while it still works on
   * a request crashes the process ("Database is closed"), so its owner drains first.
   */
  drain(ms: number): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Drops the keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  private done(): void {
    if (--this.active > 0) return;
    this.onIdle?.();
    this.onIdle = undefined;
  }
}

/** The key attributes of an item, in key-schema order. */
export function keyOf(item: WireItem, keyAttributes: readonly string[]): WireItem {
  const key: WireItem = {};
  for (const name of keyAttributes) key[name] = item[name];
  return key;
}

/** One string per item of a table (lock and version map key); the key in key-schema order. */
export function itemId(table: string, keyAttributes: readonly string[], itemOrKey: WireItem): string {
  let id = table;
  for (const name of keyAttributes) id += `\u0000${JSON.stringify(itemOrKey[name])}`;
  return id;
}
