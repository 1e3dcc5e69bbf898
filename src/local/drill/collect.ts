/** Reads the drill's evidence from the emulators and the ledger (report.ts turns it into figures). */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type mysql from "mysql2/promise";
import type { LedgerRow, NotificationRow, TableRow } from "./report";

/** Every item of a transactions table (straight from the region's emulator: reads are not replicated anyway). */
export async function scanTransactions(client: DynamoDBClient, table: string): Promise<TableRow[]> {
  const doc = DynamoDBDocumentClient.from(client);
  const rows: TableRow[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({
        TableName: table,
        ProjectionExpression: "transaction_id, #status, accepted_region, created_at, updated_at",
        ExpressionAttributeNames: { "#status": "status" },
        ExclusiveStartKey: start,
      }),
    );
    rows.push(...((page.Items ?? []) as TableRow[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return rows;
}

/** Every journal entry of one server's ledger database with its number of postings, read as root. */
export async function ledgerEntries(conn: mysql.Connection, database: string): Promise<LedgerRow[]> {
  const [rows] = await conn.query(
    `SELECT e.transaction_id, e.region, e.outcome,
            DATE_FORMAT(e.posted_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS posted_at,
            (SELECT COUNT(*) FROM ${database}.postings p WHERE p.entry_id = e.id) AS legs
     FROM ${database}.journal_entries e`,
  );
  return (rows as Array<LedgerRow & { legs: number | string }>).map((r) => ({ ...r, legs: Number(r.legs) }));
}

/** The ids of the ledger's entries (cheap enough to poll while draining). */
export async function postedIds(conn: mysql.Connection, database: string): Promise<Set<string>> {
  const [rows] = await conn.query(`SELECT transaction_id FROM ${database}.journal_entries`);
  return new Set((rows as Array<{ transaction_id: string }>).map((r) => r.transaction_id));
}

/** Drains an observer queue subscribed to a notification topic: one row per SNS delivery. */
export async function drainNotifications(sqs: SQSClient, queueUrl: string, region: string): Promise<NotificationRow[]> {
  const rows: NotificationRow[] = [];
  for (let empty = 0; empty < 2; ) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    for (const m of messages) {
      // Raw delivery is off: the body is SNS's envelope around the notification.
      const envelope = JSON.parse(m.Body ?? "{}") as { Message?: string };
      const notification = JSON.parse(envelope.Message ?? "{}") as { transaction_id?: string };
      if (notification.transaction_id) rows.push({ transaction_id: notification.transaction_id, region });
    }
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return rows;
}
