/**
 * The public API: its routes and which function serves each, shared by the HTTP API and ALB
 * constructs, the gateway's router and the local runtime's front door.
 */
import { FUNCTIONS } from "./functions";

export type HttpMethod = "GET" | "POST";

export interface ApiRoute {
  readonly method: HttpMethod;
  /** Path template; `{name}` matches one non-empty segment. */
  readonly path: string;
  /** Folder under lambdas/ of the function that serves it. */
  readonly handler: string;
}

/** Path of the deep health check: ALB rule, HTTP API route, Route53 health checks. */
export const HEALTH_PATH = "/health";

/** The authenticated merchant's balances per currency, from the ledger. */
export const BALANCES_PATH = "/balances";

/** The payments collection: POST accepts a payment, GET `/{id}` reports one. */
export const TRANSACTIONS_PATH = "/transactions";

/** The request header carrying a merchant's API key (`Bearer <key>`), lower-cased as both front doors pass it. */
export const AUTH_HEADER = "authorization";

/** The HTTP API stage every route is deployed in. */
export const API_STAGE = "prod";

export const API_ROUTES: readonly ApiRoute[] = [
  { method: "POST", path: TRANSACTIONS_PATH, handler: FUNCTIONS.gateway.handler },
  { method: "GET", path: `${TRANSACTIONS_PATH}/{id}`, handler: FUNCTIONS.gateway.handler },
  { method: "GET", path: HEALTH_PATH, handler: FUNCTIONS.health.handler },
  { method: "GET", path: BALANCES_PATH, handler: FUNCTIONS.balances.handler },
];

/**
 * Every other method and path goes to the gateway (HTTP API `$default` route, ALB default
 * action), so both front doors answer an unknown route with the same 404/405 and error body.
 */
export const DEFAULT_ROUTE_HANDLER = FUNCTIONS.gateway.handler;

/** API Gateway's route key of the catch-all route. */
export const DEFAULT_ROUTE_KEY = "$default";

/** `POST /transactions`: API Gateway's route key. */
export const routeKey = (route: ApiRoute): string => `${route.method} ${route.path}`;

export type RouteResolution =
  | { readonly kind: "match"; readonly route: ApiRoute; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: "method-not-allowed"; readonly allow: readonly HttpMethod[] }
  | { readonly kind: "not-found" };

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const param = /^\{(\w+)\}$/.exec(want[i]);
    if (param) {
      if (got[i] === "") return undefined;
      params[param[1]] = decodeSegment(got[i]);
    } else if (want[i] !== got[i]) {
      return undefined;
    }
  }
  return params;
}

/**
 * The route serving `method path` among `routes` (a trailing slash is ignored only when
 * `lenient`, as the gateway does; API Gateway itself is strict).
 */
export function resolveRoute(method: string, path: string, routes: readonly ApiRoute[] = API_ROUTES, lenient = false): RouteResolution {
  const normalized = lenient && path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  const allow: HttpMethod[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, normalized);
    if (!params) continue;
    if (route.method === method.toUpperCase()) return { kind: "match", route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { kind: "method-not-allowed", allow } : { kind: "not-found" };
}
