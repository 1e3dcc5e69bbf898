/**
 * The HTTP API front door of a local region: matches the routes the stacks deploy
 * (src/contracts/api.ts), turns a Node request into an API Gateway HTTP API
 * payload 2.0 event, and writes a handler's result back as API Gateway would.
 *
 * Like the deployed HTTP API, a request that matches no route (path or method) goes to the
 * `$default` route's function (the gateway, which answers 404/405 as behind the ALB); a handler
 * that throws or times out gets API Gateway's own `500 {"message":"Internal Server Error"}`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { DEFAULT_ROUTE_HANDLER, DEFAULT_ROUTE_KEY, resolveRoute, routeKey } from "../contracts/api";

export interface RouteMatch {
  /** Folder under lambdas/ of the function behind the route. */
  target: string;
  /** The route's key as deployed, e.g. `GET /transactions/{id}`. */
  routeKey: string;
  pathParameters?: Record<string, string>;
}

/** The deployed route for a method and raw path; anything else is the `$default` route's. */
export function matchRoute(method: string, rawPath: string): RouteMatch {
  const resolved = resolveRoute(method, rawPath);
  if (resolved.kind !== "match") return { target: DEFAULT_ROUTE_HANDLER, routeKey: DEFAULT_ROUTE_KEY };
  const { route, params } = resolved;
  return Object.keys(params).length > 0
    ? { target: route.handler, routeKey: routeKey(route), pathParameters: { ...params } }
    : { target: route.handler, routeKey: routeKey(route) };
}

/** `dd/MMM/yyyy:HH:mm:ss +0000`, the format of requestContext.time. */
function requestTime(date: Date): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

export interface EventInput {
  req: IncomingMessage;
  url: URL;
  match: RouteMatch;
  body: Buffer;
  requestId: string;
}

/** The payload 2.0 event API Gateway would send for this request (stage `$default`). */
export function toHttpApiEvent({ req, url, match, body, requestId }: EventInput): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const joined = Array.isArray(value) ? value.join(",") : value;
    // Payload 2.0 moves cookies out of the headers into their own array.
    if (name === "cookie") cookies = joined.split(/;\s*/).filter((c) => c !== "");
    else headers[name] = joined; // Node lowercases names already.
  }
  const sourceIp = req.socket.remoteAddress ?? "127.0.0.1";
  headers["x-forwarded-for"] = headers["x-forwarded-for"] ? `${headers["x-forwarded-for"]}, ${sourceIp}` : sourceIp;
  headers["x-forwarded-proto"] = "http";
  headers["x-forwarded-port"] = String(req.socket.localPort ?? "");

  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;

  const now = new Date();
  const host = headers.host ?? "127.0.0.1";
  const rawPath = url.pathname;
  return {
    version: "2.0",
    routeKey: match.routeKey,
    rawPath,
    rawQueryString: url.search.replace(/^\?/, ""),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: host,
      domainPrefix: host.split(".")[0]!.split(":")[0]!,
      http: {
        method: req.method ?? "GET",
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers["user-agent"] ?? "",
      },
      requestId,
      routeKey: match.routeKey,
      stage: "$default",
      time: requestTime(now),
      timeEpoch: now.getTime(),
    },
    ...(match.pathParameters ? { pathParameters: match.pathParameters } : {}),
    ...(body.length > 0 ? { body: body.toString("utf8") } : {}),
    isBase64Encoded: false,
  };
}

/** Reads the request body, refusing more than `limit` bytes (API Gateway's payload limit is 10 MB). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? "too-large" : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export interface Written {
  statusCode: number;
}

/** API Gateway's own error answers (not a handler's). */
export function writeGatewayError(res: ServerResponse, statusCode: number, message: string): Written {
  const body = JSON.stringify({ message });
  res.writeHead(statusCode, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
  return { statusCode };
}

/**
 * Writes a handler's result as API Gateway does for payload 2.0: a structured result gives
 * status, headers, cookies and body (base64-decoded if flagged); anything else is sent as a
 * 200 JSON body.
 */
export function writeResult(res: ServerResponse, result: unknown): Written {
  const structured =
    typeof result === "object" && result !== null && "statusCode" in result ? (result as APIGatewayProxyStructuredResultV2) : undefined;
  if (!structured) {
    const body = typeof result === "string" ? result : JSON.stringify(result ?? null);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
    return { statusCode: 200 };
  }
  const statusCode = Number(structured.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    return writeGatewayError(res, 500, "Internal Server Error");
  }
  const body =
    structured.body === undefined
      ? Buffer.alloc(0)
      : structured.isBase64Encoded
        ? Buffer.from(structured.body, "base64")
        : Buffer.from(structured.body, "utf8");
  const headers: Record<string, string | number | string[]> = {};
  for (const [k, v] of Object.entries(structured.headers ?? {})) headers[k.toLowerCase()] = String(v);
  if (structured.cookies?.length) headers["set-cookie"] = structured.cookies;
  headers["content-length"] = body.length;
  res.writeHead(statusCode, headers);
  res.end(body);
  return { statusCode };
}
