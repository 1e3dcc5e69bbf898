/**
 * DynamoDB table shapes, free of cdktf imports so that the Lambda tests can create the same
 * tables in the emulator as the stacks create in AWS.
 */

export type TableId = "sessions" | "transactions" | "merchantKeys";

/** What a secondary index copies: its keys only, some attributes besides, or the whole item. */
export type IndexProjection = "ALL" | "KEYS_ONLY" | { readonly include: readonly string[] };

export interface IndexDefinition {
  readonly name: string;
  readonly hashKey: string;
  /** Sort key of the index, when it has one. */
  readonly rangeKey?: string;
  /** @default "ALL" */
  readonly projection?: IndexProjection;
}

export interface TableDefinition {
  readonly baseName: string;
  readonly hashKey: string;
  readonly indexes: readonly IndexDefinition[];
  /** TTL attribute, when items expire. */
  readonly ttlAttribute?: string;
}

/**
 * Sparse index of the payments still RECEIVED: the gateway writes `pending_shard` and
 * `pending_since` with each new transaction and the processor removes both when it moves the
 * transaction on, so the index holds only what may still need (re-)enqueueing. A sweeper reads
 * it shard by shard, oldest first; `accepted_region` tells it which region took the payment.
 */
export const PENDING_INDEX = {
  name: "pending-index",
  hashKey: "pending_shard",
  rangeKey: "pending_since",
  /** Shards "0".."7": spreads the writes of one busy second over several index partitions. */
  shards: 8,
  regionAttribute: "accepted_region",
} as const;

/** Listing a merchant's API keys (operator CLI); the gateway reads keys by key_id only. */
export const MERCHANT_KEYS_INDEX = { name: "merchant_id-index", hashKey: "merchant_id" } as const;

/** The tables' shape: one definition drives the primary tables and the handler tests' emulator tables. */
export const TABLES: Readonly<Record<TableId, TableDefinition>> = {
  sessions: {
    baseName: "payment-sessions",
    hashKey: "session_id",
    indexes: [{ name: "user_id-index", hashKey: "user_id" }],
    ttlAttribute: "expires_at",
  },
  transactions: {
    baseName: "payment-transactions",
    hashKey: "transaction_id",
    // No index on idempotency_key: the transaction id is derived from the merchant and the key,
    // so the key is found by GetItem; an index would copy every item write for nothing.
    indexes: [
      {
        name: PENDING_INDEX.name,
        hashKey: PENDING_INDEX.hashKey,
        rangeKey: PENDING_INDEX.rangeKey,
        projection: { include: [PENDING_INDEX.regionAttribute] },
      },
    ],
  },
  // Merchant API keys: one item per key, keyed by its public id; only the secret's SHA-256 is stored.
  merchantKeys: {
    baseName: "payment-merchant-keys",
    hashKey: "key_id",
    // The listing needs no secret hash: the index copies only what `keys list` shows.
    indexes: [
      {
        name: MERCHANT_KEYS_INDEX.name,
        hashKey: MERCHANT_KEYS_INDEX.hashKey,
        projection: { include: ["created_at", "expires_at", "revoked_at"] },
      },
    ],
  },
};

export const TABLE_IDS = Object.keys(TABLES) as TableId[];

/** A table id as names spell it: `merchantKeys` -> `merchant-keys` (alarms, labels). */
export const tableSlug = (id: TableId): string => id.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Key and index attributes (all strings), each once. */
export function attributeNames(def: TableDefinition): string[] {
  return [...new Set([def.hashKey, ...def.indexes.flatMap((i) => (i.rangeKey ? [i.hashKey, i.rangeKey] : [i.hashKey]))])];
}

/** The projection in the form both Terraform and the DynamoDB API spell it. */
export function projectionOf(index: IndexDefinition): { type: "ALL" | "KEYS_ONLY" | "INCLUDE"; nonKeyAttributes?: string[] } {
  const p = index.projection ?? "ALL";
  return typeof p === "string" ? { type: p } : { type: "INCLUDE", nonKeyAttributes: [...p.include] };
}
