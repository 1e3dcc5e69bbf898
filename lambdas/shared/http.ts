/**
 * Request/response adapters for API Gateway HTTP API (payload 2.0) and ALB Lambda targets.
 * ALB: headers are lowercased (or only in multiValueHeaders when that mode is enabled on the
 * target group), the response needs statusDescription, and multi-value mode needs
 * multiValueHeaders in the response.
 */

import { STATUS_CODES } from "node:http";
import type { ALBEvent, ALBResult, APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { AUTH_HEADER } from "../../src/contracts/api";
import type { HttpError } from "./errors";

export type HttpEvent = APIGatewayProxyEventV2 | ALBEvent;
export type HttpResult = APIGatewayProxyStructuredResultV2 | ALBResult;

export interface HttpRequest {
  readonly source: "http-api" | "alb";
  readonly method: string;
  readonly path: string;
  /** Lowercased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** Raw body bytes (base64 decoded when the event says so). */
  readonly body: Buffer;
  readonly multiValueResponse: boolean;
  readonly requestId?: string;
  /** Served over HTTPS (both front doors say so in X-Forwarded-Proto). */
  readonly secure: boolean;
}

export function isAlbEvent(event: HttpEvent): event is ALBEvent {
  return typeof (event as ALBEvent).requestContext?.elb === "object";
}

export function parseRequest(event: HttpEvent): HttpRequest {
  const headers: Record<string, string> = {};
  let method: string;
  let path: string;
  let multiValueResponse = false;
  let requestId: string | undefined;
  if (isAlbEvent(event)) {
    method = event.httpMethod;
    path = event.path;
    if (event.multiValueHeaders) {
      multiValueResponse = true;
      for (const [k, v] of Object.entries(event.multiValueHeaders)) {
        if (v !== undefined) headers[k.toLowerCase()] = v.join(", ");
      }
    }
    for (const [k, v] of Object.entries(event.headers ?? {})) {
      if (v !== undefined) headers[k.toLowerCase()] = v;
    }
    requestId = headers["x-amzn-trace-id"];
  } else {
    method = event.requestContext?.http?.method ?? "GET";
    path = event.rawPath ?? "/";
    // A named stage prefixes rawPath ("/prod/transactions"); $default does not.
    const stage = event.requestContext?.stage;
    if (stage && stage !== "$default" && path.startsWith(`/${stage}/`)) path = path.slice(stage.length + 1);
    for (const [k, v] of Object.entries(event.headers ?? {})) {
      if (v !== undefined) headers[k.toLowerCase()] = v;
    }
    requestId = event.requestContext?.requestId;
  }
  const raw = event.body ?? "";
  const body = event.isBase64Encoded ? Buffer.from(raw, "base64") : Buffer.from(raw, "utf8");
  return {
    source: isAlbEvent(event) ? "alb" : "http-api",
    method: method.toUpperCase(),
    path,
    headers,
    body,
    multiValueResponse,
    requestId,
    secure: headers["x-forwarded-proto"]?.split(",")[0]?.trim().toLowerCase() === "https",
  };
}

export function corsHeaders(allowOrigin: string | undefined): Record<string, string> {
  if (!allowOrigin) return {};
  return {
    "access-control-allow-origin": allowOrigin,
    "access-control-allow-headers": `${AUTH_HEADER},content-type,idempotency-key`,
    "access-control-allow-methods": "GET,POST,OPTIONS",
    vary: "Origin",
  };
}

/** One year, as HSTS preload lists expect; sent only on HTTPS responses (RFC 6797 8.1). */
const HSTS = "max-age=31536000; includeSubDomains";

type ResponseTarget = Pick<HttpRequest, "source" | "multiValueResponse" | "secure">;

export function jsonResponse(
  req: ResponseTarget,
  statusCode: number,
  payload: unknown,
  extraHeaders: Record<string, string> = {},
): HttpResult {
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...(req.secure ? { "strict-transport-security": HSTS } : {}),
    ...extraHeaders,
  };
  const body = JSON.stringify(payload);
  if (req.source === "alb") {
    const result: ALBResult = {
      statusCode,
      statusDescription: `${statusCode} ${STATUS_CODES[statusCode] ?? "Unknown"}`,
      isBase64Encoded: false,
      body,
    };
    if (req.multiValueResponse) {
      result.multiValueHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
    } else {
      result.headers = headers;
    }
    return result;
  }
  return { statusCode, headers, isBase64Encoded: false, body };
}

export function errorResponse(req: ResponseTarget, err: HttpError, extraHeaders: Record<string, string> = {}): HttpResult {
  const payload: { error: string; message: string; field?: string } = { error: err.code, message: err.message };
  if (err.field !== undefined) payload.field = err.field;
  return jsonResponse(req, err.statusCode, payload, { ...extraHeaders, ...err.headers });
}

/** `application/json`, optionally with parameters such as charset. */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const mediaType = value.split(";")[0]!.trim().toLowerCase();
  return mediaType === "application/json";
}
