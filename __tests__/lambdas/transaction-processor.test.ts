import * as path from "node:path";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type mysql from "mysql2/promise";
import type { LedgerStats } from "../../lambdas/shared/ledger";
import { CONFLICTED_REQUEST_HASH } from "../../lambdas/shared/transactions";
import { clearTable, type Emulators } from "../../src/local/emulators";
import { sqsEvent, sqsRecord } from "../../src/local/lambda-events";
import type { LocalLedger } from "../../src/local/ledger";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { getTransaction, seedTransactions } from "../../src/local/seed";
import { type LedgerRegion, startLedgerRegion } from "../helpers/ledger-region";
import { type Invoke, loadHandler, loadHandlerModule } from "../helpers/load";
import { deleteMessages, readLogObjects, receiveMessages, sleep, toSqsEvent } from "../helpers/observe";

const PROCESSOR = path.resolve(__dirname, "../../lambdas/transaction-processor/index.ts");

let region: LedgerRegion;
let emu: Emulators;
let ledger: LocalLedger;
let root: mysql.Connection;
let processor: Invoke<SQSEvent, SQSBatchResponse>;

beforeAll(async () => {
  // 3 receives before the DLQ here (12 as deployed), so that redrive shows within a test.
  region = await startLedgerRegion({ prefix: "proc", visibilityTimeoutSeconds: 1, maxReceiveCount: 3 }, { RISK_LIMIT_MINOR: "100000" });
  ({ emu, ledger, root } = region);
  processor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR);
});

afterAll(() => region?.stop());

beforeEach(() => region.reset());

/** Journal entries of these transactions, as the ledger holds them. */
async function entries(ids: readonly string[]): Promise<Array<{ transaction_id: string; outcome: string; legs: number }>> {
  if (ids.length === 0) return [];
  const [rows] = await root.query(
    `SELECT e.transaction_id, e.outcome, (SELECT COUNT(*) FROM postings p WHERE p.entry_id = e.id) AS legs
     FROM journal_entries e WHERE e.transaction_id IN (?) ORDER BY e.transaction_id`,
    [ids],
  );
  return (rows as Array<{ transaction_id: string; outcome: string; legs: number | string }>).map((r) => ({ ...r, legs: Number(r.legs) }));
}

async function notificationCount(): Promise<number> {
  const q = await emu.fauxqs.inspectQueue(emu.resources.names.notificationQueue);
  return q ? q.ready + q.inflight + q.delayed : -1;
}

async function loggedIds(): Promise<string[]> {
  const objects = await readLogObjects(emu.clients.s3, emu.resources.logBucket);
  return objects.flatMap((o) => o.lines.map((l) => String(l.transaction_id)));
}

test("moves RECEIVED to PROCESSED, notifies once, and logs the batch as one JSON-lines object", async () => {
  const messages = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}, { amount: 99 }, { currency: "USD" }]);
  const res = await processor(sqsEvent(messages.map((m) => sqsRecord(JSON.stringify(m)))));
  expect(res.batchItemFailures).toEqual([]);
  for (const m of messages) {
    const item = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m.transaction_id);
    expect(item?.status).toBe("PROCESSED");
    expect(item?.notified).toBe(true);
    expect(item?.logged).toBe(true);
    expect(item?.lease_owner).toBeUndefined();
    expect(item?.failure_reason).toBeUndefined();
  }
  expect(await notificationCount()).toBe(3);
  expect(await entries(messages.map((m) => m.transaction_id))).toEqual(
    messages
      .map((m) => ({ transaction_id: m.transaction_id, outcome: "POSTED", legs: 2 }))
      .sort((a, b) => a.transaction_id.localeCompare(b.transaction_id)),
  );
  const notes = await receiveMessages(emu.clients.sqs, emu.resources.notificationQueueUrl, 10);
  const bodies = notes.map((n) => JSON.parse(n.Body!));
  expect(bodies.map((b) => b.transaction_id).sort()).toEqual(messages.map((m) => m.transaction_id).sort());
  expect(bodies[0]).toMatchObject({ type: "transaction.status_changed", status: "PROCESSED" });

  const objects = await readLogObjects(emu.clients.s3, emu.resources.logBucket);
  expect(objects).toHaveLength(1);
  expect(objects[0]!.key).toMatch(/^transactions\/\d{4}\/\d\d\/\d\d\/\d\d\/[0-9a-f-]{36}\.jsonl$/);
  expect(objects[0]!.lines.map((l) => l.transaction_id).sort()).toEqual(messages.map((m) => m.transaction_id).sort());
  expect(objects[0]!.lines[0]).not.toHaveProperty("lease_owner");
  expect(objects[0]!.lines[0]).not.toHaveProperty("request_hash");
});

test("the transition takes the transaction out of the sparse pending index (pending_shard, pending_since removed)", async () => {
  const [message] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  const before = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, message!.transaction_id);
  expect(before).toMatchObject({ pending_shard: expect.stringMatching(/^[0-7]$/), pending_since: expect.any(String) });
  expect((await processor(sqsEvent([sqsRecord(JSON.stringify(message))]))).batchItemFailures).toEqual([]);
  const after = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, message!.transaction_id);
  expect(after?.status).toBe("PROCESSED");
  expect(after).not.toHaveProperty("pending_shard");
  expect(after).not.toHaveProperty("pending_since");
  expect(after?.accepted_region).toBe("ap-southeast-1");
});

test("the log object is written with SSE-KMS (bucket default key, no key id), as sent on the wire", async () => {
  const proxy = await startRecordingProxy(emu.fauxqs.endpoint);
  try {
    const viaProxy = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { AWS_ENDPOINT_URL_S3: proxy.endpoint });
    const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
    expect((await viaProxy(sqsEvent([sqsRecord(JSON.stringify(m))]))).batchItemFailures).toEqual([]);
    const puts = proxy.requests.filter((r) => r.method === "PUT" && r.path.includes("/transactions/"));
    expect(puts).toHaveLength(1);
    expect(puts[0]!.headers["x-amz-server-side-encryption"]).toBe("aws:kms");
    expect(puts[0]!.headers["x-amz-server-side-encryption-aws-kms-key-id"]).toBeUndefined();
    expect(puts[0]!.path).toContain(`/${emu.resources.logBucket}/transactions/`); // path-style
  } finally {
    await proxy.stop();
  }
});

test("an amount over the risk limit is FAILED with a failure_reason and a FAILED notification", async () => {
  const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{ amount: 100_001 }]);
  const res = await processor(sqsEvent([sqsRecord(JSON.stringify(m))]));
  expect(res.batchItemFailures).toEqual([]);
  const item = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  expect(item?.status).toBe("FAILED");
  expect(item?.failure_reason).toMatch(/RISK_LIMIT_EXCEEDED/);
  const [note] = await receiveMessages(emu.clients.sqs, emu.resources.notificationQueueUrl, 1);
  expect(JSON.parse(note!.Body!)).toMatchObject({ status: "FAILED", failure_reason: expect.stringMatching(/RISK_LIMIT/) });
  expect(await loggedIds()).toEqual([m!.transaction_id]);
  expect(await entries([m!.transaction_id])).toEqual([{ transaction_id: m!.transaction_id, outcome: "REJECTED", legs: 0 }]);
});

test("a duplicate delivery is processed once: no second state change, notification or log line", async () => {
  const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  const record = sqsRecord(JSON.stringify(m));
  expect((await processor(sqsEvent([record]))).batchItemFailures).toEqual([]);
  const first = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  await sleep(5);
  const again = await processor(sqsEvent([{ ...record, receiptHandle: "second-delivery" }]));
  expect(again.batchItemFailures).toEqual([]);
  const second = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  expect(second?.status).toBe("PROCESSED");
  expect(second?.updated_at).toBe(first?.updated_at);
  expect(await entries([m!.transaction_id])).toHaveLength(1);
  expect(await notificationCount()).toBe(1);
  expect(await loggedIds()).toEqual([m!.transaction_id]);
});

test("the same message twice in one batch (concurrent duplicate) yields one transition and one notification", async () => {
  const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  const body = JSON.stringify(m);
  const res = await processor(sqsEvent([sqsRecord(body, { messageId: "dup-a" }), sqsRecord(body, { messageId: "dup-b" })]));
  // At most one of them is asked to retry (its twin still holds the side-effect lease).
  expect(res.batchItemFailures.length).toBeLessThanOrEqual(1);
  expect(await notificationCount()).toBe(1);
  expect(await loggedIds()).toEqual([m!.transaction_id]);
  const item = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  expect(item?.status).toBe("PROCESSED");
});

test("poison messages fail only their own records", async () => {
  const [good] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  const res = await processor(
    sqsEvent([
      sqsRecord("not json", { messageId: "poison-1" }),
      sqsRecord(JSON.stringify({ ...good, amount: "lots" }), { messageId: "poison-2" }),
      sqsRecord(JSON.stringify(good), { messageId: "good-1" }),
      sqsRecord(JSON.stringify({ ...good, transaction_id: "00000000-0000-8000-8000-000000000000" }), { messageId: "unknown-tx" }),
    ]),
  );
  expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["poison-1", "poison-2", "unknown-tx"]);
  expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, good!.transaction_id))?.status).toBe("PROCESSED");
  expect(await notificationCount()).toBe(1);
});

test("a batch made only of a poison message is reported as a batch item failure, not thrown", async () => {
  const res = await processor(sqsEvent([sqsRecord("{", { messageId: "only-poison" })]));
  expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: "only-poison" }] });
});

test("a message whose amount differs from its item: the item is posted as stored (the message only points at it) and the difference recorded", async () => {
  const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  const record = sqsRecord(JSON.stringify({ ...m, amount: 1 }), { messageId: "other-body" });
  // Recorded, then returned once: the redelivery checks that the record outlived replication.
  expect((await processor(sqsEvent([record]))).batchItemFailures).toEqual([{ itemIdentifier: "other-body" }]);
  // The other region's concurrent write of the item won (last writer wins) and erased the record.
  await emu.clients.dynamodb.send(
    new UpdateItemCommand({
      TableName: emu.resources.transactionsTable,
      Key: { transaction_id: { S: m!.transaction_id } },
      UpdateExpression: "REMOVE key_conflict",
    }),
  );
  // Recorded again, counted again, and returned once more to check that this record stayed.
  expect((await processor(sqsEvent([sqsRecord(record.body, { messageId: "other-body", receiveCount: 2 })]))).batchItemFailures).toEqual([
    { itemIdentifier: "other-body" },
  ]);
  // The record is in place: done.
  expect((await processor(sqsEvent([sqsRecord(record.body, { messageId: "other-body", receiveCount: 3 })]))).batchItemFailures).toEqual([]);
  const item = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  expect(item).toMatchObject({ status: "PROCESSED", amount: m!.amount, notified: true });
  // The key no longer names one request: a retry with it, either body, answers 422.
  expect(item?.request_hash).toBe(CONFLICTED_REQUEST_HASH);
  expect(item?.key_conflict).toMatchObject({
    found_by: "message",
    requested: { merchant_id: m!.merchant_id, amount: 1, currency: m!.currency },
    recorded: { merchant_id: m!.merchant_id, amount: m!.amount, currency: m!.currency },
  });
  expect(await notificationCount()).toBe(1);
  const [rows] = await root.query("SELECT amount FROM journal_entries WHERE transaction_id = ?", [m!.transaction_id]);
  expect(rows).toEqual([{ amount: m!.amount }]);
});

test("S3 log write failure: records are retried, and the retry logs them without a second notification", async () => {
  const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  const record = sqsRecord(JSON.stringify(m), { messageId: "log-retry" });
  const noBucket = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { TRANSACTION_LOG_BUCKET: "bucket-that-does-not-exist" });
  const failed = await noBucket(sqsEvent([record]));
  expect(failed.batchItemFailures).toEqual([{ itemIdentifier: "log-retry" }]);
  const mid = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  expect(mid?.status).toBe("PROCESSED");
  expect(mid?.logged).toBeUndefined();
  expect(mid?.lease_owner).toBeUndefined(); // released, so the retry need not wait

  const retried = await processor(sqsEvent([{ ...record, receiptHandle: "redelivery" }]));
  expect(retried.batchItemFailures).toEqual([]);
  expect(await loggedIds()).toEqual([m!.transaction_id]);
  expect(await notificationCount()).toBe(1);
  const done = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
  expect(done?.logged).toBe(true);
  expect(done?.updated_at).toBe(mid?.updated_at);
});

test("a poison message lands in the DLQ after 3 receives (real receive loop, redrive maxReceiveCount 3)", async () => {
  const { sqs } = emu.clients;
  const { transactionQueueUrl, transactionDlqUrl } = emu.resources;
  const [good] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
  await sqs.send(new SendMessageCommand({ QueueUrl: transactionQueueUrl, MessageBody: "this is not a transaction" }));
  await sqs.send(new SendMessageCommand({ QueueUrl: transactionQueueUrl, MessageBody: JSON.stringify(good) }));

  let poisonAttempts = 0;
  let inDlq = 0;
  const deadline = Date.now() + 12_000;
  while (Date.now() < deadline && inDlq === 0) {
    const messages = await receiveMessages(sqs, transactionQueueUrl, 10, 1);
    if (messages.length > 0) {
      const res = await processor(toSqsEvent(messages));
      const failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
      poisonAttempts += messages.filter((m) => m.Body === "this is not a transaction").length;
      // The event source mapping deletes what succeeded; failures become visible again.
      await deleteMessages(
        sqs,
        transactionQueueUrl,
        messages.filter((m) => !failed.has(m.MessageId!)),
      );
    } else {
      await sleep(200);
    }
    const dlq = await emu.fauxqs.inspectQueue(emu.resources.names.transactionDlq);
    inDlq = dlq ? dlq.ready : 0;
  }
  expect(poisonAttempts).toBe(3);
  const dead = await receiveMessages(sqs, transactionDlqUrl, 10);
  expect(dead.map((d) => d.Body)).toEqual(["this is not a transaction"]);
  expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, good!.transaction_id))?.status).toBe("PROCESSED");
  const main = await emu.fauxqs.inspectQueue(emu.resources.names.transactionQueue);
  expect(main).toEqual({ ready: 0, delayed: 0, inflight: 0 });
}, 20_000);

describe("the ledger is the fence", () => {
  test("the item becomes a projection of the ledger: posted_at and region from the entry, out of the pending index", async () => {
    const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
    await emu.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: emu.resources.transactionsTable,
        Key: { transaction_id: { S: m!.transaction_id } },
        UpdateExpression: "SET pending_shard = :s, pending_since = :t",
        ExpressionAttributeValues: { ":s": { S: "3" }, ":t": { S: m!.created_at } },
      }),
    );
    expect((await processor(sqsEvent([sqsRecord(JSON.stringify(m))]))).batchItemFailures).toEqual([]);
    const item = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
    const [[row]] = (await root.query(
      "SELECT region, DATE_FORMAT(posted_at, '%Y-%m-%d %H:%i:%s.%f') AS posted_at FROM journal_entries WHERE transaction_id = ?",
      [m!.transaction_id],
    )) as unknown as [Array<{ region: string; posted_at: string }>];
    expect(item).toMatchObject({ status: "PROCESSED", posted_region: row!.region, posted_at: `${row!.posted_at.replace(" ", "T")}Z` });
    expect(item).not.toHaveProperty("pending_shard");
    expect(item).not.toHaveProperty("pending_since");
  });

  test("posted earlier by the other region: the projection completes, nothing is posted again", async () => {
    const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
    const other = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { AWS_REGION: "ap-southeast-2" });
    // The other region's processor posts it, then its projection is lost with that region's table.
    expect((await other(sqsEvent([sqsRecord(JSON.stringify(m))]))).batchItemFailures).toEqual([]);
    await clearTable(emu.clients.dynamodb, emu.resources.transactionsTable, "transaction_id");
    await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [
      { transaction_id: m!.transaction_id, idempotency_key: m!.idempotency_key, created_at: m!.created_at },
    ]);
    expect((await processor(sqsEvent([sqsRecord(JSON.stringify(m))]))).batchItemFailures).toEqual([]);
    const item = await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id);
    expect(item).toMatchObject({ status: "PROCESSED", posted_region: "ap-southeast-2" });
    expect(await entries([m!.transaction_id])).toEqual([{ transaction_id: m!.transaction_id, outcome: "POSTED", legs: 2 }]);
  });

  test("two processors racing on the same batch post each payment once", async () => {
    const messages = await seedTransactions(
      emu.clients.dynamodb,
      emu.resources.transactionsTable,
      Array.from({ length: 10 }, () => ({})),
    );
    const other = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { AWS_REGION: "ap-southeast-2" });
    const event = () => sqsEvent(messages.map((m) => sqsRecord(JSON.stringify(m))));
    const [a, b] = await Promise.all([processor(event()), other(event())]);
    // The loser of a lock race runs its batch again at once (postBatch's raceRetries); a race
    // that outlasts them reports the records for redelivery, and a redelivery completes them.
    const retry = [...a.batchItemFailures, ...b.batchItemFailures];
    if (retry.length > 0) expect((await processor(event())).batchItemFailures).toEqual([]);
    const posted = await entries(messages.map((m) => m.transaction_id));
    expect(posted).toHaveLength(10);
    expect(posted.every((e) => e.legs === 2)).toBe(true);
    const [[sum]] = (await root.query(
      "SELECT COALESCE(SUM(CASE direction WHEN 'CREDIT' THEN amount ELSE -amount END), 0) AS total FROM postings",
    )) as unknown as [Array<{ total: string }>];
    expect(Number(sum!.total)).toBe(0);
  });

  test("a read-only ledger: every record waits for a retry, nothing is marked FAILED or posted", async () => {
    const messages = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}, { amount: 100_001 }]);
    await ledger.server.setReadOnly(true);
    try {
      const res = await processor(sqsEvent(messages.map((m, i) => sqsRecord(JSON.stringify(m), { messageId: `ro-${i}` }))));
      expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["ro-0", "ro-1"]);
    } finally {
      await ledger.server.setReadOnly(false);
    }
    for (const m of messages) {
      expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m.transaction_id))?.status).toBe("RECEIVED");
    }
    expect(await entries(messages.map((m) => m.transaction_id))).toEqual([]);
    expect(await notificationCount()).toBe(0);
    // Once the writer takes writes again, the redelivery posts them.
    const res = await processor(sqsEvent(messages.map((m) => sqsRecord(JSON.stringify(m)))));
    expect(res.batchItemFailures).toEqual([]);
    expect((await entries(messages.map((m) => m.transaction_id))).map((e) => e.outcome).sort()).toEqual(["POSTED", "REJECTED"]);
  });

  test("after a read-only answer (a demoted writer) the next batch reconnects through the writer endpoint", async () => {
    const { invoke: fresh, module } = loadHandlerModule<SQSEvent, SQSBatchResponse, { ledgerStats: () => LedgerStats }>(PROCESSOR);
    const stats = () => module.ledgerStats();
    const [first, second, third] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}, {}, {}]);
    expect((await fresh(sqsEvent([sqsRecord(JSON.stringify(first))]))).batchItemFailures).toEqual([]);
    expect(stats().connects).toBe(1);
    await ledger.server.setReadOnly(true);
    try {
      expect((await fresh(sqsEvent([sqsRecord(JSON.stringify(second), { messageId: "demoted" })]))).batchItemFailures).toEqual([
        { itemIdentifier: "demoted" },
      ]);
    } finally {
      await ledger.server.setReadOnly(false);
    }
    expect((await fresh(sqsEvent([sqsRecord(JSON.stringify(second)), sqsRecord(JSON.stringify(third))]))).batchItemFailures).toEqual([]);
    expect(stats().connects).toBe(2);
  });

  test("an unreachable ledger: every record waits for a retry", async () => {
    const [m] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{}]);
    const unreachable = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR, { DB_PORT: "1" });
    const res = await unreachable(sqsEvent([sqsRecord(JSON.stringify(m), { messageId: "no-writer" })]));
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: "no-writer" }]);
    expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, m!.transaction_id))?.status).toBe("RECEIVED");
  });
});
