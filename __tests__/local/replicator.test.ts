/**
 * The global-tables stand-in (src/local/replicator.ts) between two real dynalites, driven through
 * its proxies with the SDK v3 document client as the handlers use it: delay, per-item order, last
 * writer wins with tombstones, conditional failures, batches and transactions, isolate/heal,
 * flush, and no ping-pong.
 */
import { randomUUID } from "node:crypto";
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { startDynalite } from "../../src/local/emulators";
import { type Replicator, type SettledWrite, startReplicator } from "../../src/local/replicator";
import { sleep } from "../helpers/observe";

const A = "ap-southeast-1";
const B = "ap-southeast-2";
const AB = `${A}->${B}`;
const BA = `${B}->${A}`;
const DELAY = 200;
const TABLE = "payment-transactions-repl";
const OTHER = "payment-merchant-keys-repl";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

let replicator: Replicator;
const docs: Record<string, DynamoDBDocumentClient> = {};
const settled: SettledWrite[] = [];
/** Added to region B's clock (the stamp last writer wins compares). */
let skewB = 0;

beforeAll(async () => {
  replicator = await startReplicator({
    regions: [{ name: A }, { name: B }],
    tables: [TABLE, OTHER],
    delayMs: DELAY,
    clock: (region) => Date.now() + (region === B ? skewB : 0),
    onSettled: (write) => settled.push(write),
  });
  for (const region of [A, B]) {
    const client = new DynamoDBClient({ region, endpoint: replicator.endpoints[region], credentials: CREDENTIALS, maxAttempts: 1 });
    docs[region] = DynamoDBDocumentClient.from(client);
  }
  // The first call of a client is slow (connection, lazy loading): keep it out of the timed tests.
  await Promise.all([A, B].map((region) => get(region, "warm-up")));
}, 20_000);

afterAll(async () => {
  for (const doc of Object.values(docs)) doc.destroy();
  await replicator?.stop();
});

const newId = () => `t-${randomUUID()}`;
const put = (region: string, item: Record<string, unknown>, table = TABLE) =>
  docs[region].send(new PutCommand({ TableName: table, Item: item }));
const get = async (region: string, id: string) =>
  (await docs[region].send(new GetCommand({ TableName: TABLE, Key: { transaction_id: id }, ConsistentRead: true }))).Item;
const settledFor = (id: string) => settled.filter((w) => w.key.transaction_id?.S === id || w.key.id?.S === id);
const direction = (name: string) => replicator.stats().directions[name];
/** `source:outcome` of an item's settled writes; sorted, as the two directions settle in either order. */
const outcomes = (id: string) =>
  settledFor(id)
    .map((w) => `${w.from}:${w.outcome}`)
    .sort();

test("a write in one region appears in the other after the delay, not before", async () => {
  const id = newId();
  const started = performance.now();
  await put(A, { transaction_id: id, status: "RECEIVED", amount: 1999 });
  // Probe B until the item shows up: no probe that answered before the delay may have found it.
  const probes: { ms: number; found: boolean }[] = [];
  for (let found = false; !found; await sleep(10)) {
    found = (await get(B, id)) !== undefined;
    probes.push({ ms: performance.now() - started, found });
    if (probes.length > 300) throw new Error("never replicated");
  }
  expect(probes[0]).toMatchObject({ found: false });
  expect(probes.filter((p) => p.found && p.ms < DELAY)).toEqual([]);
  expect(await get(B, id)).toEqual({ transaction_id: id, status: "RECEIVED", amount: 1999 });
  // Measured by the replicator itself, from the commit in A to the apply in B.
  expect(settledFor(id)).toMatchObject([{ from: A, to: B, outcome: "applied" }]);
  expect(settledFor(id)[0].lagMs).toBeGreaterThanOrEqual(DELAY);
});

test("an item's quick updates, even concurrent ones, reach the other region in order and end the same", async () => {
  const id = newId();
  await put(A, { transaction_id: id, step: 0, hits: 0 });
  for (let step = 1; step <= 4; step++) {
    const out = await docs[A].send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { transaction_id: id },
        UpdateExpression: "SET step = :s",
        ExpressionAttributeValues: { ":s": step },
      }),
    );
    // The proxy asks for the new image itself; the client still gets what it asked for: nothing.
    expect(out.Attributes).toBeUndefined();
  }
  const old = await docs[A].send(
    new UpdateCommand({
      TableName: TABLE,
      Key: { transaction_id: id },
      UpdateExpression: "SET step = :s",
      ExpressionAttributeValues: { ":s": 5 },
      ReturnValues: "UPDATED_OLD",
    }),
  );
  expect(old.Attributes).toEqual({ step: 4 });
  await Promise.all(
    Array.from({ length: 10 }, () =>
      docs[A].send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { transaction_id: id },
          UpdateExpression: "ADD hits :one",
          ExpressionAttributeValues: { ":one": 1 },
        }),
      ),
    ),
  );
  await replicator.flush();

  expect(await get(A, id)).toEqual({ transaction_id: id, step: 5, hits: 10 });
  expect(await get(B, id)).toEqual({ transaction_id: id, step: 5, hits: 10 });
  const applied = settledFor(id);
  expect(applied).toHaveLength(16);
  expect(applied.every((w) => w.outcome === "applied" && w.to === B)).toBe(true);
  const hits = applied.map((w) => Number((w.image!.hits as { N: string }).N));
  expect(hits).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test("last writer wins on a conflict: both regions converge to the later write", async () => {
  const id = newId();
  const before = direction(AB).discarded;
  await put(A, { transaction_id: id, writer: "A" });
  await sleep(5);
  await put(B, { transaction_id: id, writer: "B" });
  // Within the delay, each region still has its own write.
  expect((await get(A, id))?.writer).toBe("A");
  await replicator.flush();
  expect((await get(A, id))?.writer).toBe("B");
  expect((await get(B, id))?.writer).toBe("B");
  expect(direction(AB).discarded).toBe(before + 1);
});

test("last writer wins on the write's time in its source region, not on arrival", async () => {
  const id = newId();
  skewB = -1000; // B's clock runs a second behind: its later write is stamped earlier.
  try {
    await put(A, { transaction_id: id, writer: "A" });
    await sleep(5);
    await put(B, { transaction_id: id, writer: "B" });
    await replicator.flush();
  } finally {
    skewB = 0;
  }
  expect((await get(A, id))?.writer).toBe("A");
  expect((await get(B, id))?.writer).toBe("A");
  expect(outcomes(id)).toEqual([`${A}:applied`, `${B}:discarded`]);
});

test("a delete replicates, and its tombstone keeps an older put from resurrecting the item", async () => {
  const gone = newId();
  await put(A, { transaction_id: gone, status: "RECEIVED" });
  await replicator.flush();
  await docs[B].send(new DeleteCommand({ TableName: TABLE, Key: { transaction_id: gone } }));
  await replicator.flush();
  expect(await get(A, gone)).toBeUndefined();

  const id = newId();
  await put(A, { transaction_id: id, status: "RECEIVED" });
  await sleep(5);
  await docs[B].send(new DeleteCommand({ TableName: TABLE, Key: { transaction_id: id } }));
  await replicator.flush();
  expect(await get(A, id)).toBeUndefined();
  expect(await get(B, id)).toBeUndefined();
  expect(outcomes(id)).toEqual([`${A}:discarded`, `${B}:applied`]);
});

test("an UpdateItem whose condition fails replicates nothing", async () => {
  const id = newId();
  await put(A, { transaction_id: id, status: "RECEIVED" });
  await replicator.flush();
  const seen = replicator.stats().regions[A].writesSeen;
  const replicated = direction(AB).replicated;
  await expect(
    docs[A].send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { transaction_id: id },
        UpdateExpression: "SET #s = :next",
        ConditionExpression: "#s = :expected",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":next": "PROCESSED", ":expected": "PROCESSED" },
      }),
    ),
  ).rejects.toMatchObject({ name: "ConditionalCheckFailedException" });
  // A replicated write would be queued before the client got its answer.
  expect(replicator.stats().regions[A].writesSeen).toBe(seen);
  expect(direction(AB)).toMatchObject({ replicated, pending: 0 });
  expect(await get(B, id)).toEqual({ transaction_id: id, status: "RECEIVED" });
});

test("BatchWriteItem replicates each item, puts and deletes, across tables", async () => {
  const [stale, ...ids] = [newId(), newId(), newId(), newId()];
  const record = newId();
  await put(A, { transaction_id: stale });
  await replicator.flush();
  const seen = replicator.stats().regions[A].writesSeen;
  await docs[A].send(
    new BatchWriteCommand({
      RequestItems: {
        [TABLE]: [
          ...ids.map((id) => ({ PutRequest: { Item: { transaction_id: id, n: 1 } } })),
          { DeleteRequest: { Key: { transaction_id: stale } } },
        ],
        [OTHER]: [{ PutRequest: { Item: { key_id: record, status: "ACTIVE" } } }],
      },
    }),
  );
  expect(replicator.stats().regions[A].writesSeen).toBe(seen + 5);
  await replicator.flush();
  for (const id of ids) expect(await get(B, id)).toEqual({ transaction_id: id, n: 1 });
  expect(await get(B, stale)).toBeUndefined();
  const other = await docs[B].send(new GetCommand({ TableName: OTHER, Key: { key_id: record }, ConsistentRead: true }));
  expect(other.Item).toEqual({ key_id: record, status: "ACTIVE" });
});

test("TransactWriteItems replicates each written item; a cancelled one writes and replicates nothing", async () => {
  const [created, updated, deleted, checked] = [newId(), newId(), newId(), newId()];
  for (const id of [updated, deleted, checked]) await put(A, { transaction_id: id, status: "RECEIVED" });
  await replicator.flush();
  const seen = replicator.stats().regions[A].writesSeen;
  await docs[A].send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: {
            TableName: TABLE,
            Item: { transaction_id: created, status: "RECEIVED" },
            ConditionExpression: "attribute_not_exists(transaction_id)",
          },
        },
        {
          Update: {
            TableName: TABLE,
            Key: { transaction_id: updated },
            UpdateExpression: "SET #s = :p",
            ExpressionAttributeNames: { "#s": "status" },
            ExpressionAttributeValues: { ":p": "PROCESSED" },
          },
        },
        { Delete: { TableName: TABLE, Key: { transaction_id: deleted } } },
        { ConditionCheck: { TableName: TABLE, Key: { transaction_id: checked }, ConditionExpression: "attribute_exists(transaction_id)" } },
      ],
    }),
  );
  expect(replicator.stats().regions[A].writesSeen).toBe(seen + 3);
  await replicator.flush();
  expect(await get(B, created)).toEqual({ transaction_id: created, status: "RECEIVED" });
  expect(await get(B, updated)).toEqual({ transaction_id: updated, status: "PROCESSED" });
  expect(await get(B, deleted)).toBeUndefined();
  expect(await get(B, checked)).toEqual({ transaction_id: checked, status: "RECEIVED" });

  const never = newId();
  const cancelled = docs[A].send(
    new TransactWriteCommand({
      TransactItems: [
        { Put: { TableName: TABLE, Item: { transaction_id: never } } },
        {
          Update: {
            TableName: TABLE,
            Key: { transaction_id: updated },
            UpdateExpression: "SET extra = :x",
            ExpressionAttributeValues: { ":x": 1 },
          },
        },
        { ConditionCheck: { TableName: TABLE, Key: { transaction_id: deleted }, ConditionExpression: "attribute_exists(transaction_id)" } },
      ],
    }),
  );
  await expect(cancelled).rejects.toMatchObject({
    name: "TransactionCanceledException",
    CancellationReasons: [{ Code: "None" }, { Code: "None" }, { Code: "ConditionalCheckFailed" }],
  });
  // Rolled back in A, and nothing was replicated.
  expect(await get(A, never)).toBeUndefined();
  expect(await get(A, updated)).toEqual({ transaction_id: updated, status: "PROCESSED" });
  expect(replicator.stats().regions[A].writesSeen).toBe(seen + 3);
  expect(direction(AB).pending).toBe(0);
});

test("isolate holds a region's writes both ways; heal delivers them in order, by last writer wins", async () => {
  const [fromA, fromB, both] = [newId(), newId(), newId()];
  replicator.isolate(A);
  try {
    for (let step = 1; step <= 3; step++) await put(A, { transaction_id: fromA, step });
    await put(A, { transaction_id: both, writer: "A" });
    await sleep(5);
    await put(B, { transaction_id: fromB });
    await put(B, { transaction_id: both, writer: "B" });
    await sleep(DELAY * 2);
    expect(await get(B, fromA)).toBeUndefined();
    expect(await get(A, fromB)).toBeUndefined();
    expect(direction(AB)).toMatchObject({ held: true, pending: 4 });
    expect(direction(BA)).toMatchObject({ held: true, pending: 2 });
    expect(replicator.stats().regions[A].isolated).toBe(true);
    // Held writes are not waited for.
    await replicator.flush();
  } finally {
    replicator.heal(A);
  }
  await replicator.flush();
  expect(await get(B, fromA)).toEqual({ transaction_id: fromA, step: 3 });
  expect(settledFor(fromA).map((w) => `${w.outcome} ${(w.image!.step as { N: string }).N}`)).toEqual([
    "applied 1",
    "applied 2",
    "applied 3",
  ]);
  expect(await get(A, fromB)).toEqual({ transaction_id: fromB });
  expect((await get(A, both))?.writer).toBe("B");
  expect((await get(B, both))?.writer).toBe("B");
  expect(direction(AB)).toMatchObject({ held: false, pending: 0 });
  expect(direction(AB).lagMs.max).toBeGreaterThanOrEqual(DELAY * 2);
});

test("a backlog held by isolation drains in full after heal", async () => {
  const ids = Array.from({ length: 300 }, newId);
  replicator.isolate(B);
  try {
    for (let i = 0; i < ids.length; i += 25) {
      const chunk = ids.slice(i, i + 25).map((id) => ({ PutRequest: { Item: { transaction_id: id, n: i } } }));
      await docs[A].send(new BatchWriteCommand({ RequestItems: { [TABLE]: chunk } }));
    }
    // All due at heal: more batches than may be in flight at once.
    await sleep(DELAY + 20);
    expect(direction(AB)).toMatchObject({ held: true, pending: 300 });
  } finally {
    replicator.heal(B);
  }
  await replicator.flush();
  expect(direction(AB).pending).toBe(0);
  expect(ids.filter((id) => settledFor(id)[0]?.outcome !== "applied")).toEqual([]);
  expect(await get(B, ids[299])).toEqual({ transaction_id: ids[299], n: 275 });
});

test("flush resolves once everything pending has been applied", async () => {
  const ids = Array.from({ length: 20 }, newId);
  await Promise.all(ids.map((id) => put(A, { transaction_id: id })));
  const last = newId();
  await put(A, { transaction_id: last });
  expect(direction(AB).pending).toBeGreaterThan(0);
  await replicator.flush();
  // Checked before anything else can run: flush itself waited for every write.
  expect(direction(AB).pending).toBe(0);
  expect([...ids, last].filter((id) => settledFor(id).length !== 1)).toEqual([]);
  const found = await Promise.all([...ids, last].map((id) => get(B, id)));
  expect(found.every((item) => item !== undefined)).toBe(true);
});

test("replicated writes are not replicated back (no ping-pong)", async () => {
  const id = newId();
  const before = replicator.stats();
  await put(A, { transaction_id: id });
  await replicator.flush();
  // A bounce would have been queued in B the moment the write was applied there.
  const after = replicator.stats();
  expect(after.directions[AB].replicated).toBe(before.directions[AB].replicated + 1);
  expect(after.directions[BA]).toMatchObject({ replicated: before.directions[BA].replicated, pending: 0 });
  expect(after.regions[B].writesSeen).toBe(before.regions[B].writesSeen);
  expect(settledFor(id).map((w) => `${w.from}->${w.to}`)).toEqual([AB]);
});

test("writes to other tables pass through and are not replicated", async () => {
  const table = `scratch-${randomUUID()}`;
  const raw = new DynamoDBClient({ region: A, endpoint: replicator.endpoints[A], credentials: CREDENTIALS });
  try {
    await raw.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      }),
    );
    const seen = replicator.stats().regions[A].writesSeen;
    await put(A, { pk: "x" }, table);
    expect(replicator.stats().regions[A].writesSeen).toBe(seen);
    expect(direction(AB).pending).toBe(0);
  } finally {
    raw.destroy();
  }
});

test("takes existing dynalites, creates the tables from the shared definitions, and stops once", async () => {
  const [one, two] = await Promise.all([startDynalite(), startDynalite()]);
  try {
    await expect(
      startReplicator({
        regions: [
          { name: A, dynamoEndpoint: one.endpoint },
          { name: B, dynamoEndpoint: two.endpoint },
        ],
        tables: ["unknown-table"],
      }),
    ).rejects.toThrow(/matches no definition/);
    const own = await startReplicator({
      regions: [
        { name: A, dynamoEndpoint: one.endpoint },
        { name: B, dynamoEndpoint: two.endpoint },
      ],
      tables: [TABLE],
      delayMs: 0,
    });
    expect(own.dynamoEndpoints).toEqual({ [A]: one.endpoint, [B]: two.endpoint });
    expect(() => own.isolate("us-east-1")).toThrow(/Unknown region/);
    const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: B, endpoint: own.endpoints[B], credentials: CREDENTIALS }));
    await client.send(new PutCommand({ TableName: TABLE, Item: { transaction_id: "t-1" } }));
    await own.flush();
    expect(own.stats().directions[BA]).toMatchObject({ replicated: 1, pending: 0 });
    client.destroy();
    await own.stop();
    await own.stop();
    await expect(fetch(own.endpoints[A])).rejects.toThrow();
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
});

test("a replicated write the other region refuses is counted as failed, and the rest of its batch still lands", async () => {
  const own = await startReplicator({ regions: [{ name: A }, { name: B }], tables: [TABLE, OTHER], delayMs: 50 });
  const toA = DynamoDBDocumentClient.from(new DynamoDBClient({ region: A, endpoint: own.endpoints[A], credentials: CREDENTIALS }));
  const directB = new DynamoDBClient({ region: B, endpoint: own.dynamoEndpoints[B], credentials: CREDENTIALS });
  try {
    // Behind the replicator's back: B loses a table, so replicated writes to it are refused.
    await directB.send(new DeleteTableCommand({ TableName: OTHER }));
    await toA.send(
      new BatchWriteCommand({
        RequestItems: {
          [TABLE]: [{ PutRequest: { Item: { transaction_id: "t-kept" } } }],
          [OTHER]: [{ PutRequest: { Item: { key_id: "lost" } } }],
        },
      }),
    );
    await own.flush();
    expect(own.stats().directions[AB]).toMatchObject({ replicated: 1, failed: 1, pending: 0 });
    const kept = await directB.send(new GetItemCommand({ TableName: TABLE, Key: { transaction_id: { S: "t-kept" } } }));
    expect(kept.Item).toEqual({ transaction_id: { S: "t-kept" } });
  } finally {
    toA.destroy();
    directB.destroy();
    await own.stop();
  }
});
