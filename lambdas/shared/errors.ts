/** Errors that map to an HTTP status and a JSON body `{error, message, field?}`. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (code: string, message: string, field?: string) => new HttpError(400, code, message, field);
export const notFound = (message = "Not found") => new HttpError(404, "NotFound", message);
export const methodNotAllowed = (allow: readonly string[]) =>
  new HttpError(405, "MethodNotAllowed", `Method not allowed; use ${allow.join(", ")}`, undefined, {
    allow: allow.join(", "),
  });
export const serviceUnavailable = (message = "A dependency is unavailable; the request was not accepted, retry later") =>
  new HttpError(503, "ServiceUnavailable", message, undefined, { "retry-after": "1" });

/** Distinguishes AWS SDK service errors by name without importing every exception class. */
export function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}
