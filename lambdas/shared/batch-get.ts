/**
 * Transactions by id through BatchGetItem, 100 keys a call. DynamoDB answers a throttled part of
 * a call as UnprocessedKeys: those are asked again after a short backoff, and any still unread
 * after the last attempt is an error, so that an item not read never looks like an item that does
 * not exist.
 */
import { BatchGetCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

const KEYS_PER_CALL = 100;

export interface BatchGetOptions {
  readonly consistentRead?: boolean;
  /** Only these attributes (names, with ExpressionAttributeNames when they need aliases). */
  readonly projection?: { readonly ProjectionExpression: string; readonly ExpressionAttributeNames?: Record<string, string> };
  /** Calls per 100 keys at most (default 5: backoffs of 50, 100, 200 and 400 ms between them). */
  readonly attempts?: number;
}

/** The items found, by transaction id (an id with no item is absent). `T`: the items' shape as stored. */
export async function batchGetTransactions<T = Record<string, unknown>>(
  doc: DynamoDBDocumentClient,
  tableName: string,
  ids: readonly string[],
  options: BatchGetOptions = {},
): Promise<Map<string, T>> {
  const attempts = options.attempts ?? 5;
  const found = new Map<string, T>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += KEYS_PER_CALL) {
    let keys: Array<Record<string, unknown>> | undefined = unique.slice(i, i + KEYS_PER_CALL).map((id) => ({ transaction_id: id }));
    for (let attempt = 0; keys && keys.length > 0; attempt++) {
      if (attempt >= attempts) throw new Error(`BatchGetItem on ${tableName} left ${keys.length} key(s) unread after ${attempts} attempts`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** (attempt - 1)));
      const out: BatchGetCommandOutput = await doc.send(
        new BatchGetCommand({
          RequestItems: { [tableName]: { Keys: keys, ...(options.consistentRead ? { ConsistentRead: true } : {}), ...options.projection } },
        }),
      );
      for (const item of out.Responses?.[tableName] ?? []) found.set(String(item.transaction_id), item as T);
      keys = out.UnprocessedKeys?.[tableName]?.Keys;
    }
  }
  return found;
}
