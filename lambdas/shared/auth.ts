/**
 * Merchant authentication: `Authorization: Bearer pk_<keyId>_<secret>`, checked against the
 * keys table (replicated to both regions) by key id, the secret compared in constant time with
 * the stored SHA-256.
 *
 * Lookups are cached per container for `ttlMs`, found and unknown keys alike, so a warm gateway
 * reads the table once per key and TTL, and a flood of made-up keys costs one read each at most
 * once per TTL. The secret and the key's expiry are checked on every request, cached or not; a
 * revocation takes effect when the cached entry expires, within `ttlMs`.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { AUTH_HEADER } from "../../src/contracts/api";
import { ENV } from "../../src/contracts/functions";
import { keyPrefix, keyStatus, type MerchantKeyItem, parseApiKey, secretMatches } from "../../src/contracts/merchant-keys";
import { documentClient } from "./clients";
import { intEnv, once, requireEnv } from "./env";
import { HttpError, serviceUnavailable } from "./errors";
import type { HttpRequest } from "./http";
import { logger } from "./runtime";

export interface Merchant {
  readonly merchantId: string;
  readonly keyId: string;
}

/** Reads one key item (undefined when there is none); failures propagate (a 503, not a 401). */
export type KeyLookup = (keyId: string) => Promise<MerchantKeyItem | undefined>;

const SCHEME = /^Bearer (\S+)$/i;

/** RFC 6750: 401 with a Bearer challenge; one answer for every kind of bad credential. */
export function unauthorized(message: string): HttpError {
  return new HttpError(401, "Unauthorized", message, undefined, { "www-authenticate": "Bearer" });
}

const INVALID_KEY = "The API key is not valid";

export interface KeyVerifierOptions {
  readonly ttlMs: number;
  /** Entries kept at most; the oldest go first. */
  readonly maxEntries?: number;
  readonly now?: () => number;
  /** Why a key was refused, for the logs (never the response). */
  readonly onRefused?: (reason: string, keyId?: string) => void;
}

export class KeyVerifier {
  private readonly cache = new Map<string, { item: MerchantKeyItem | undefined; until: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly lookup: KeyLookup,
    private readonly options: KeyVerifierOptions,
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** The merchant of a valid key, or an HttpError 401. */
  async authenticate(authorization: string | undefined): Promise<Merchant> {
    if (authorization === undefined || authorization.trim() === "") {
      this.refused("missing");
      throw unauthorized("An API key is required: Authorization: Bearer <key>");
    }
    const token = SCHEME.exec(authorization.trim())?.[1];
    const parsed = token === undefined ? undefined : parseApiKey(token);
    if (!parsed) {
      this.refused("malformed");
      throw unauthorized("The Authorization header must be Bearer followed by an API key (pk_...)");
    }
    // A cached key is checked without an await (no second promise per request on the usual path).
    const found = this.item(parsed.keyId);
    const item = found instanceof Promise ? await found : found;
    if (!item) {
      this.refused("unknown", parsed.keyId);
      throw unauthorized(INVALID_KEY);
    }
    // Always compared, so a wrong secret for a known id costs the same time as a right one.
    const matches = secretMatches(parsed.secret, item.secret_sha256);
    const status = keyStatus(item, new Date(this.now()));
    if (!matches || status !== "active") {
      this.refused(matches ? status : "wrong secret", parsed.keyId);
      throw unauthorized(INVALID_KEY);
    }
    return { merchantId: item.merchant_id, keyId: item.key_id };
  }

  private item(keyId: string): MerchantKeyItem | undefined | Promise<MerchantKeyItem | undefined> {
    const now = this.now();
    const cached = this.cache.get(keyId);
    if (cached && cached.until > now) return cached.item;
    return this.load(keyId, now);
  }

  private async load(keyId: string, now: number): Promise<MerchantKeyItem | undefined> {
    const item = await this.lookup(keyId);
    if (this.options.ttlMs > 0) {
      this.cache.delete(keyId);
      if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(keyId, { item, until: now + this.options.ttlMs });
    }
    return item;
  }

  private refused(reason: string, keyId?: string): void {
    this.options.onRefused?.(reason, keyId === undefined ? undefined : keyPrefix(keyId));
  }
}

/**
 * The container's verifier, reading the keys table and TTL from the function's environment:
 * eventually consistent reads of the local replica, so keys work also when the other region is gone.
 */
const containerVerifier = once(() => {
  const table = requireEnv(ENV.merchantKeysTable);
  return new KeyVerifier(
    async (keyId) => {
      const out = await documentClient().send(new GetCommand({ TableName: table, Key: { key_id: keyId } }));
      return out.Item as MerchantKeyItem | undefined;
    },
    {
      ttlMs: intEnv(ENV.authCacheTtlSeconds, 60, 0, 900) * 1000,
      onRefused: (reason, key) => logger.info("API key refused", { reason, key }),
    },
  );
});

/** The request's merchant: 401 for a bad credential, 503 when the keys table cannot be read. */
export async function authenticate(req: HttpRequest): Promise<Merchant> {
  let merchant: Merchant;
  try {
    merchant = await containerVerifier().authenticate(req.headers[AUTH_HEADER]);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    logger.error("API key lookup failed", { error: err as Error });
    throw serviceUnavailable("A dependency is unavailable; retry later");
  }
  logger.appendKeys({ merchant_id: merchant.merchantId });
  return merchant;
}
