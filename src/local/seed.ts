/** Seeds RECEIVED transactions the way the gateway writes them (for processor tests/bench). */
import { randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { requestHash, transactionIdFor } from "../../lambdas/shared/ids";
import type { TransactionMessage } from "../../lambdas/shared/schemas";
import { pendingShard, type TransactionItem } from "../../lambdas/shared/transactions";

export function makeTransaction(overrides: Partial<TransactionMessage> = {}): { item: TransactionItem; message: TransactionMessage } {
  const idempotencyKey = overrides.idempotency_key ?? `seed-${randomUUID()}`;
  const merchantId = overrides.merchant_id ?? "merchant-001";
  const now = new Date().toISOString();
  const message: TransactionMessage = {
    transaction_id: transactionIdFor(merchantId, idempotencyKey),
    idempotency_key: idempotencyKey,
    merchant_id: merchantId,
    customer_id: "customer-042",
    session_id: "sess_abc123",
    amount: 2_500,
    currency: "SGD",
    status: "RECEIVED",
    created_at: now,
    ...overrides,
  };
  const { status: _status, ...rest } = message;
  const item: TransactionItem = {
    ...rest,
    metadata: message.metadata ?? {},
    status: "RECEIVED",
    request_hash: requestHash({ amount: message.amount, currency: message.currency }),
    created_at: now,
    updated_at: now,
    accepted_region: "ap-southeast-1",
    pending_shard: pendingShard(message.transaction_id),
    pending_since: now,
  };
  return { item, message };
}

export async function seedTransactions(
  client: DynamoDBClient,
  table: string,
  specs: Array<Partial<TransactionMessage>>,
): Promise<TransactionMessage[]> {
  const doc = DynamoDBDocumentClient.from(client);
  const made = specs.map((s) => makeTransaction(s));
  for (let i = 0; i < made.length; i += 25) {
    const chunk = made.slice(i, i + 25);
    let requests: Record<string, Array<{ PutRequest: { Item: Record<string, unknown> } }>> | undefined = {
      [table]: chunk.map(({ item }) => ({ PutRequest: { Item: item as unknown as Record<string, unknown> } })),
    };
    while (requests && Object.keys(requests).length > 0) {
      const out = await doc.send(new BatchWriteCommand({ RequestItems: requests }));
      requests = out.UnprocessedItems as typeof requests;
    }
  }
  return made.map((m) => m.message);
}

export async function getTransaction(client: DynamoDBClient, table: string, id: string): Promise<TransactionItem | undefined> {
  const doc = DynamoDBDocumentClient.from(client);
  const out = await doc.send(new GetCommand({ TableName: table, Key: { transaction_id: id }, ConsistentRead: true }));
  return out.Item as TransactionItem | undefined;
}
