/**
 * Replicator overhead (src/local/replicator.ts): DynamoDB writes per second from the SDK v3 client
 * straight to dynalite, through the region's proxy to a table that is not replicated (the
 * pass-through), and to a replicated one (stamping, queueing, and applying each write in the other
 * region, all in this process); then both regions writing at once, with the replication lag.
 *
 *   npx tsx scripts/bench/replicator.ts
 *   BENCH_REPLICATOR_WRITES=1000 BENCH_REPLICATOR_ROUNDS=12 npx tsx scripts/bench/replicator.ts
 *
 * Everything shares this process: client, proxy, both dynalites. The three ways take turns in
 * short rounds (in rotating order) and each round gives its own ratios, so that the load of
 * other processes on a shared machine hits them alike.
 */
import { randomUUID } from "node:crypto";
import { CreateTableCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { Naming } from "../../src/contracts/names";
import { startReplicator } from "../../src/local/replicator";
import { type BenchRow, printTable, summarize } from "./stats";

const WRITES = Number(process.env.BENCH_REPLICATOR_WRITES ?? 500);
const ROUNDS = Number(process.env.BENCH_REPLICATOR_ROUNDS ?? 8);
const CONCURRENCY = 10;
const A = "ap-southeast-1";
const B = "ap-southeast-2";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

type Kind = "put" | "update";

/** One transaction-sized write (the gateway's shape), as PutItem or as UpdateItem with ReturnValues NONE. */
function writeOnce(client: DynamoDBClient, kind: Kind, table: string, hashKey: string): Promise<unknown> {
  const key = { [hashKey]: { S: randomUUID() } };
  const amount = { N: "1999" };
  const currency = { S: "SGD" };
  const status = { S: "RECEIVED" };
  const createdAt = { S: new Date().toISOString() };
  if (kind === "put") {
    return client.send(new PutItemCommand({ TableName: table, Item: { ...key, amount, currency, status, created_at: createdAt } }));
  }
  return client.send(
    new UpdateItemCommand({
      TableName: table,
      Key: key,
      UpdateExpression: "SET amount = :a, currency = :c, #s = :s, created_at = :t",
      ExpressionAttributeNames: { "#s": "status" },
      ExpressionAttributeValues: { ":a": amount, ":c": currency, ":s": status, ":t": createdAt },
    }),
  );
}

interface Measured {
  /** Writes per second, wall clock. */
  readonly rate: number;
  /** CPU of this whole process per write, µs, including `after` (e.g. applying the writes in the other region). */
  readonly cpuUs: number;
}

/** `total` writes by CONCURRENCY workers; CPU time is the load-independent figure on a shared machine. */
async function measure(
  client: DynamoDBClient,
  kind: Kind,
  table: string,
  hashKey: string,
  total: number,
  after?: () => Promise<void>,
): Promise<Measured> {
  let left = total;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await writeOnce(client, kind, table, hashKey);
    }),
  );
  const rate = total / ((performance.now() - started) / 1000);
  await after?.();
  const used = process.cpuUsage(cpu);
  return { rate, cpuUs: (used.user + used.system) / total };
}

export async function benchReplicator(): Promise<BenchRow[]> {
  const naming = new Naming("bench");
  const table = naming.table("transactions");
  const replicator = await startReplicator({ regions: [{ name: A }, { name: B }], tables: [table], delayMs: 1000 });
  const client = (region: string, endpoint: string) => new DynamoDBClient({ region, endpoint, credentials: CREDENTIALS });
  const direct = client(A, replicator.dynamoEndpoints[A]);
  const proxied: Record<string, DynamoDBClient> = { [A]: client(A, replicator.endpoints[A]), [B]: client(B, replicator.endpoints[B]) };
  const scratch = "bench-scratch";
  await direct.send(
    new CreateTableCommand({
      TableName: scratch,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    }),
  );
  const flush = () => replicator.flush();
  try {
    // Warm-up: connections, lazy SDK loading, JIT.
    for (const kind of ["put", "update"] as const) {
      await measure(direct, kind, table, "transaction_id", 300);
      await measure(proxied[A], kind, table, "transaction_id", 300, flush);
    }

    const rows: BenchRow[] = [];
    type Way = "direct" | "pass" | "replicated";
    const ways: Record<Way, (kind: Kind) => Promise<Measured>> = {
      direct: (kind) => measure(direct, kind, table, "transaction_id", WRITES),
      pass: (kind) => measure(proxied[A], kind, scratch, "pk", WRITES),
      // Its CPU includes applying every write in the other region (the flush).
      replicated: (kind) => measure(proxied[A], kind, table, "transaction_id", WRITES, flush),
    };
    const order: Way[] = ["direct", "pass", "replicated"];
    for (const kind of ["put", "update"] as const) {
      const runs: Record<Way, Measured[]> = { direct: [], pass: [], replicated: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < order.length; i++) {
          const way = order[(round + i) % order.length];
          runs[way].push(await ways[way](kind));
        }
      }
      const per = (way: Way, figure: keyof Measured) => runs[way].map((r) => r[figure]);
      const ratio = (way: Way, figure: keyof Measured) => runs[way].map((r, i) => r[figure] / runs.direct[i][figure]);
      const name = kind === "put" ? "PutItem" : "UpdateItem (ReturnValues NONE)";
      rows.push(
        summarize(`replicator, ${name} c=${CONCURRENCY}: direct to dynalite`, "writes/s", per("direct", "rate")),
        summarize("  through the proxy, table not replicated", "writes/s", per("pass", "rate")),
        summarize("  through the proxy, replicated", "writes/s", per("replicated", "rate")),
        summarize("  rate: not replicated / direct (same round)", "x", ratio("pass", "rate")),
        summarize("  rate: replicated / direct (same round)", "x", ratio("replicated", "rate"), ">= 0.5x"),
        summarize("  CPU per write: direct", "µs", per("direct", "cpuUs")),
        summarize("  CPU per write: proxy, not replicated", "µs", per("pass", "cpuUs")),
        summarize("  CPU per write: proxy, replicated and applied in the other region", "µs", per("replicated", "cpuUs")),
        summarize("  CPU: replicated / direct (same round)", "x", ratio("replicated", "cpuUs")),
      );
    }

    // Both regions at once, as in the drill.
    const both: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const rates = await Promise.all([A, B].map((r) => measure(proxied[r], "put", table, "transaction_id", WRITES)));
      both.push(rates[0].rate + rates[1].rate);
      await flush();
    }
    const lag = replicator.stats().directions[`${A}->${B}`].lagMs;
    rows.push(
      summarize(`replicator, both regions at once (PutItem c=${CONCURRENCY} each), total`, "writes/s", both),
      summarize(`  replication lag ${A} -> ${B}, median of the last 10,000 (delay 1000 ms)`, "ms", [lag.p50 ?? Number.NaN]),
      summarize(`  replication lag ${A} -> ${B}, max over the whole bench`, "ms", [lag.max ?? Number.NaN]),
    );
    return rows;
  } finally {
    direct.destroy();
    for (const c of Object.values(proxied)) c.destroy();
    await replicator.stop();
  }
}

if (require.main === module) {
  benchReplicator().then(printTable, (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
