/**
 * DynamoDB table shapes, free of cdktf imports so that the Lambda tests can create the same
 * tables in the emulator as the stacks create in AWS.
 */

export type TableId = "sessions" | "transactions" | "idempotency";

export interface TableDefinition {
  readonly baseName: string;
  readonly hashKey: string;
  readonly indexes: ReadonlyArray<{ readonly name: string; readonly hashKey: string }>;
  /** TTL attribute, when items expire. */
  readonly ttlAttribute?: string;
}

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
    indexes: [{ name: "idempotency_key-index", hashKey: "idempotency_key" }],
  },
  // Powertools idempotency persistence: partition key `id`, expiry attribute `expiration` (its defaults).
  idempotency: { baseName: "payment-idempotency", hashKey: "id", indexes: [], ttlAttribute: "expiration" },
};

export const TABLE_IDS = Object.keys(TABLES) as TableId[];

/** Key and index attributes (all strings), each once. */
export function attributeNames(def: TableDefinition): string[] {
  return [...new Set([def.hashKey, ...def.indexes.map((i) => i.hashKey)])];
}
