/**
 * `reconcile --ledger` benchmark: N payments posted in the window (their items PROCESSED, their
 * entries in the ledger), M older entries before it (the ledger side reads the window through the
 * posted_at index of migration 0002, in pages), and L entries lost as a lossy promotion loses them. Times
 * the read-only comparison and the --yes repair, and counts the ledger round trips and the
 * DynamoDB calls on the wire. Run alone (not a part of `npm run bench`):
 *
 *   npx tsx scripts/bench/ledger-reconcile.ts                 # N = 2000, M = 20000, L = 20
 *   BENCH_LEDGER_POSTED=5000 BENCH_LEDGER_OLDER=100000 BENCH_LEDGER_LOST=100 npx tsx scripts/bench/ledger-reconcile.ts
 *
 * Figures come from dynalite and MariaDB on this machine (relative, not AWS latencies).
 */
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LedgerEntryInput, postBatch } from "../../lambdas/shared/ledger";
import { loadConfig } from "../../src/contracts/config";
import { startEmulators } from "../../src/local/emulators";
import { connectLocalLedger, startLocalLedger } from "../../src/local/ledger";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { makeTransaction } from "../../src/local/seed";
import { reconcileLedger } from "../../src/ops/dr/ledger-reconcile";
import { type BenchRow, printTable, summarize } from "./stats";

const POSTED = Number(process.env.BENCH_LEDGER_POSTED ?? 2000);
const OLDER = Number(process.env.BENCH_LEDGER_OLDER ?? 20_000);
const LOST = Number(process.env.BENCH_LEDGER_LOST ?? 20);
const ROUNDS = Number(process.env.BENCH_LEDGER_ROUNDS ?? 3);
const REGION = "ap-southeast-2";

const entry = (merchant: string, amount: number): LedgerEntryInput => ({
  transactionId: randomUUID(),
  merchantId: merchant,
  amount,
  currency: "SGD",
  outcome: "POSTED",
});

export async function benchLedgerReconcile(): Promise<BenchRow[]> {
  const ledger = await startLocalLedger();
  const emu = await startEmulators({ region: REGION, prefix: "dev", ledger });
  const root = await ledger.server.rootConnection({ database: ledger.database });
  const app = connectLocalLedger(ledger);
  const proxy = await startRecordingProxy(emu.dynamo.endpoint);
  const dynamodb = new DynamoDBClient({
    region: REGION,
    endpoint: proxy.endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const config = loadConfig({}, {});
  const doc = DynamoDBDocumentClient.from(emu.clients.dynamodb);
  const compare: number[] = [];
  const repair: number[] = [];
  let figures = "";
  try {
    for (let i = 0; i < OLDER; i += 500) {
      await postBatch(
        app,
        Array.from({ length: Math.min(500, OLDER - i) }, (_, j) => entry(`merchant-${(i + j) % 50}`, 100 + j)),
        { region: REGION },
      );
    }
    for (let round = 0; round < ROUNDS; round++) {
      await new Promise((r) => setTimeout(r, 5));
      const since = new Date();
      // N payments posted in the window: entries first, then their items as the processor projects them.
      const items = Array.from({ length: POSTED }, () => makeTransaction().item);
      for (let i = 0; i < POSTED; i += 500) {
        const chunk = items.slice(i, i + 500);
        const results = await postBatch(
          app,
          chunk.map((t) => ({
            transactionId: t.transaction_id,
            merchantId: t.merchant_id,
            amount: t.amount,
            currency: t.currency,
            outcome: "POSTED",
          })),
          { region: REGION },
        );
        for (const t of chunk) {
          const r = results.get(t.transaction_id);
          if (r?.status !== "recorded") throw new Error(`not recorded: ${t.transaction_id}`);
          Object.assign(t, {
            status: "PROCESSED",
            posted_at: r.postedAt,
            posted_region: r.region,
            pending_shard: undefined,
            pending_since: undefined,
          });
        }
      }
      for (let i = 0; i < POSTED; i += 25) {
        const puts = items.slice(i, i + 25).map((t) => ({ PutRequest: { Item: JSON.parse(JSON.stringify(t)) } }));
        let pending: Record<string, typeof puts> | undefined = { [emu.resources.transactionsTable]: puts };
        while (pending && Object.keys(pending).length > 0) {
          pending = (await doc.send(new BatchWriteCommand({ RequestItems: pending }))).UnprocessedItems as typeof pending;
        }
      }
      const lost = items.slice(0, LOST).map((t) => t.transaction_id);
      for (const id of lost) {
        await root.query("DELETE p FROM postings p JOIN journal_entries e ON p.entry_id = e.id WHERE e.transaction_id = ?", [id]);
        await root.query("DELETE FROM journal_entries WHERE transaction_id = ?", [id]);
      }

      const reader = connectLocalLedger(ledger, "reader");
      const writer = connectLocalLedger(ledger, "writer");
      const ctx = { config, role: "dr" as const, region: REGION, dynamodb, ledger: { reader, writer } };
      proxy.requests.length = 0;
      let t0 = performance.now();
      const dry = await reconcileLedger(ctx, { since, yes: false });
      compare.push(performance.now() - t0);
      const readTrips = reader.stats.roundTrips;
      const dryCalls = proxy.requests.length;
      if (dry.report.missing.length !== LOST) throw new Error(`found ${dry.report.missing.length} missing, expected ${LOST}`);
      proxy.requests.length = 0;
      t0 = performance.now();
      const fixed = await reconcileLedger(ctx, { since, yes: true });
      repair.push(performance.now() - t0);
      const posted = fixed.report.repairs.filter((r) => r.result === "posted").length;
      if (posted !== LOST) throw new Error(`re-posted ${posted}, expected ${LOST}`);
      const calls: Record<string, number> = {};
      for (const r of proxy.requests) calls[r.operation] = (calls[r.operation] ?? 0) + 1;
      figures =
        `read-only: ${readTrips} reader round trips, ${dryCalls} DynamoDB calls; --yes: ${writer.stats.roundTrips} writer round trips, ` +
        Object.entries(calls)
          .sort()
          .map(([op, n]) => `${n} ${op}`)
          .join(" + ");
      await Promise.all([
        reader.close(),
        writer.close(),
        emptyTable(
          doc,
          emu.resources.transactionsTable,
          items.map((t) => t.transaction_id),
        ),
      ]);
    }
  } finally {
    await app.close();
    await root.end();
    await proxy.stop();
    dynamodb.destroy();
    await emu.stop();
    await ledger.stop();
  }
  const scale = `${POSTED} posted in the window, ${OLDER} older entries, ${LOST} lost`;
  return [
    summarize(`reconcile --ledger, read-only (${scale})`, "ms", compare),
    summarize(`reconcile --ledger --yes, re-posting ${LOST} (${figures})`, "ms", repair),
  ];
}

/** Removes this round's items, so the next round's scan sees its own only. */
async function emptyTable(doc: DynamoDBDocumentClient, table: string, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 25) {
    let pending: Record<string, unknown[]> | undefined = {
      [table]: ids.slice(i, i + 25).map((id) => ({ DeleteRequest: { Key: { transaction_id: id } } })),
    };
    while (pending && Object.keys(pending).length > 0) {
      pending = (await doc.send(new BatchWriteCommand({ RequestItems: pending as never }))).UnprocessedItems as typeof pending;
    }
  }
}

if (require.main === module) {
  benchLedgerReconcile().then(
    (rows) => printTable(rows),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
