import { hash } from "node:crypto";

/**
 * Deterministic transaction id: a UUID (version 8, RFC 9562 "custom") formatted from
 * SHA-256(merchant_id, idempotency key). A retry with the same key after a partial failure
 * therefore completes the same record instead of creating a second one.
 */
export function transactionIdFor(merchantId: string, idempotencyKey: string): string {
  const digest = hash("sha256", `${merchantId}\u0000${idempotencyKey}`, "buffer");
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80; // version 8
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC variant
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Stable hash of a validated request (keys sorted), to detect key reuse with another body. */
export function requestHash(value: unknown): string {
  return hash("sha256", stableStringify(value), "hex");
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
