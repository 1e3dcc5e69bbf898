/**
 * Merchant API keys: their format, the stored item and how a presented key is checked. Shared by
 * the gateway (verifies) and the operator CLI (issues, lists, revokes). Node's crypto only.
 *
 * A key reads `pk_<keyId>_<secret>`: `keyId` is a short random public id (the table's hash key,
 * shown as the key's prefix), `secret` 32 random bytes in base64url. Only SHA-256 of the secret
 * is stored: a 256-bit random secret cannot be guessed from its hash, so no slow hash is needed.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const KEY_PREFIX = "pk_";
const KEY_ID_LENGTH = 12;
const KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const SECRET_BYTES = 32;

/** `pk_` + 12 characters of a-z2-7 + `_` + 43 characters of base64url. */
export const API_KEY_PATTERN = /^pk_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;

/** Merchant ids: as the payment body's identifiers (lambdas/shared/schemas.ts). */
export const MERCHANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** A merchant holds at most this many active keys: one in use and one rotating in. */
export const MAX_ACTIVE_KEYS = 2;

/** The keys-table item. Status is derived: revoked once `revoked_at` is set, expired after `expires_at`. */
export interface MerchantKeyItem {
  readonly key_id: string;
  readonly merchant_id: string;
  /** Hex SHA-256 of the secret part. */
  readonly secret_sha256: string;
  readonly created_at: string;
  readonly expires_at?: string;
  readonly revoked_at?: string;
}

export type KeyStatus = "active" | "expired" | "revoked";

export function keyStatus(item: Pick<MerchantKeyItem, "expires_at" | "revoked_at">, now: Date = new Date()): KeyStatus {
  if (item.revoked_at !== undefined) return "revoked";
  if (item.expires_at !== undefined && Date.parse(item.expires_at) <= now.getTime()) return "expired";
  return "active";
}

export interface ParsedKey {
  readonly keyId: string;
  readonly secret: string;
}

export function parseApiKey(value: string): ParsedKey | undefined {
  const m = API_KEY_PATTERN.exec(value);
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedSha256: string): boolean {
  const presented = createHash("sha256").update(secret, "utf8").digest();
  const stored = Buffer.from(storedSha256, "hex");
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

function randomKeyId(): string {
  // 32 symbols: each byte's low 5 bits pick one without bias.
  return Array.from(randomBytes(KEY_ID_LENGTH), (b) => KEY_ID_ALPHABET[b & 31]).join("");
}

/** A new key: the full key (shown once) and the item to store. */
export function newApiKey(merchantId: string, now: Date, expiresAt?: Date): { key: string; item: MerchantKeyItem } {
  const keyId = randomKeyId();
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  const item: MerchantKeyItem = {
    key_id: keyId,
    merchant_id: merchantId,
    secret_sha256: hashSecret(secret),
    created_at: now.toISOString(),
    ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}),
  };
  return { key: `${KEY_PREFIX}${keyId}_${secret}`, item };
}

/** What operators and logs may see of a key: its public prefix, never the secret. */
export const keyPrefix = (keyId: string): string => `${KEY_PREFIX}${keyId}`;
