/**
 * Request and message schemas. Amounts are integers in minor units (cents).
 *
 * zod/mini with the English messages only: the same checks and issues as zod 4's full API, a
 * fraction of its size (the full `z` namespace carries every locale and the JSON-schema tools
 * into each bundle, 440 KB of the gateway's 1 MB).
 */
import type { SQSRecord } from "aws-lambda";
import { en } from "zod/locales";
import * as z from "zod/mini";
import { once } from "./env";

z.config(en());

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
export const ID_MAX_LENGTH = 64;
export const METADATA_MAX_BYTES = 2048;
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
export const TRANSACTION_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const identifier = (label: string) =>
  z
    .string({ error: `${label} must be a string` })
    .check(
      z.minLength(1, { error: `${label} must not be empty` }),
      z.maxLength(ID_MAX_LENGTH, { error: `${label} must be at most ${ID_MAX_LENGTH} characters` }),
      z.regex(ID_PATTERN, { error: `${label} may contain only letters, digits and _ . : -` }),
    );

const metadataSchema = () =>
  z
    .record(
      z
        .string()
        .check(
          z.minLength(1),
          z.maxLength(64),
          z.regex(/^[A-Za-z0-9_.-]+$/, { error: "metadata keys may contain only letters, digits and _ . -" }),
        ),
      z.string({ error: "metadata values must be strings" }).check(z.maxLength(512)),
    )
    .check(
      z.refine((m) => Buffer.byteLength(JSON.stringify(m), "utf8") <= METADATA_MAX_BYTES, {
        error: `metadata must be at most ${METADATA_MAX_BYTES} bytes serialized`,
      }),
    );

export interface PaymentLimits {
  maxAmountMinor: number;
  currencies: readonly string[];
}

/**
 * The body of POST /transactions. Compiled (zod's ahead-of-time fast path, made on the first
 * parse): a valid body, the usual case, skips the generic parser; an invalid one falls back to
 * it, so the issues and messages are the same.
 */
export function paymentRequestSchema(limits: PaymentLimits) {
  const allowed = new Set(limits.currencies);
  const schema = z.strictObject({
    amount: z
      .number({ error: "amount must be a number (integer minor units)" })
      .check(
        z.int({ error: "amount must be an integer number of minor units" }),
        z.positive({ error: "amount must be greater than 0" }),
        z.maximum(limits.maxAmountMinor, { error: `amount must be at most ${limits.maxAmountMinor}` }),
      ),
    currency: z.string({ error: "currency must be a string" }).check(
      z.refine((c) => allowed.has(c), {
        error: `currency must be one of ${[...allowed].join(", ")} (ISO 4217, upper case)`,
      }),
    ),
    // Optional: the API key names the merchant; when given, it must be that merchant (else 403).
    merchant_id: z.optional(identifier("merchant_id")),
    customer_id: identifier("customer_id"),
    session_id: identifier("session_id"),
    metadata: z.optional(metadataSchema()),
  });
  return z.compile(schema);
}

export type PaymentRequest = z.infer<ReturnType<typeof paymentRequestSchema>>;

export const TRANSACTION_STATUSES = ["RECEIVED", "PROCESSED", "FAILED"] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

const boundedId = () => z.string().check(z.minLength(1), z.maxLength(ID_MAX_LENGTH));
const positiveInt = () => z.number().check(z.int(), z.positive());
const currencyCode = () => z.string().check(z.regex(/^[A-Z]{3}$/));

/**
 * The body of a transaction-queue message (written by the gateway, read by the processor). Built
 * on first use, like the notification's: a handler that only writes messages never builds it.
 */
export const transactionMessageSchema = once(() =>
  z.object({
    transaction_id: z.string().check(z.regex(TRANSACTION_ID_PATTERN)),
    idempotency_key: z.string().check(z.regex(IDEMPOTENCY_KEY_PATTERN)),
    merchant_id: boundedId(),
    customer_id: boundedId(),
    session_id: boundedId(),
    amount: positiveInt(),
    currency: currencyCode(),
    metadata: z.optional(z.record(z.string(), z.string())),
    status: z.literal("RECEIVED"),
    created_at: z.string().check(z.minLength(1)),
  }),
);
export type TransactionMessage = z.infer<ReturnType<typeof transactionMessageSchema>>;

/** The body of a notification-queue message (written by the processor). */
export const notificationMessageSchema = once(() =>
  z.object({
    type: z.literal("transaction.status_changed"),
    transaction_id: z.string().check(z.regex(TRANSACTION_ID_PATTERN)),
    merchant_id: z.string().check(z.minLength(1)),
    customer_id: z.string().check(z.minLength(1)),
    status: z.enum(["PROCESSED", "FAILED"]),
    amount: positiveInt(),
    currency: currencyCode(),
    failure_reason: z.optional(z.string()),
    occurred_at: z.string().check(z.minLength(1)),
  }),
);
export type NotificationMessage = z.infer<ReturnType<typeof notificationMessageSchema>>;

/** Field name for the first issue of a zod error (unknown keys name the key itself). */
export function firstIssue(error: z.core.$ZodError, input?: unknown): { field: string | undefined; message: string } {
  const issue = error.issues[0];
  if (!issue) return { field: undefined, message: "invalid request" };
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0];
    const prefix = issue.path.map(String).join(".");
    return { field: prefix ? `${prefix}.${key}` : key, message: `unknown field "${key}"` };
  }
  const field = issue.path.length > 0 ? issue.path.map(String).join(".") : undefined;
  let message = issue.message;
  const top = issue.path[0];
  if (
    issue.code === "invalid_type" &&
    issue.path.length === 1 &&
    typeof top === "string" &&
    typeof input === "object" &&
    input !== null &&
    !(top in input)
  ) {
    message = `${top} is required`;
  }
  return { field, message };
}

/**
 * The body of a queue message, checked against its schema. A body that is not JSON or does not
 * match fails with `fail(message)`: the record alone fails and reaches the DLQ after its retries.
 */
export function parseRecord<T>(record: SQSRecord, schema: z.ZodMiniType<T>, what: string, fail: (message: string) => Error): T {
  let raw: unknown;
  try {
    raw = JSON.parse(record.body);
  } catch {
    throw fail(`${what} ${record.messageId} is not JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail(`${what} ${record.messageId} is invalid: ${issue?.path.join(".")} ${issue?.message}`);
  }
  return parsed.data;
}
