/**
 * Sweeper benchmark: one pending-sweeper run against dynalite and fauxqs with N payments pending
 * past its age (a backlog as a lost region leaves it), its wall time and its AWS calls counted on
 * the wire. Part 'sweeper' of `npm run bench`, or alone:
 *
 *   npx tsx scripts/bench/sweeper.ts                        # N = 500 (one full run) and 2000
 *   BENCH_SWEEPER_PENDING=500,5000 npx tsx scripts/bench/sweeper.ts
 *
 * Figures come from emulators on this machine (relative, not AWS latencies). Each size runs
 * BENCH_SWEEPER_ROUNDS times on a fresh table; a run handles at most sweeperMaxPerRun (500).
 */
import * as path from "node:path";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "aws-lambda";
import type { SweepSummary } from "../../lambdas/pending-sweeper";
import { FUNCTIONS } from "../../src/contracts/functions";
import { applyEnv, startEmulators } from "../../src/local/emulators";
import { fakeContext } from "../../src/local/lambda-events";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { makeTransaction } from "../../src/local/seed";
import { type BenchRow, printTable, ROOT, summarize } from "./stats";

const SIZES = (process.env.BENCH_SWEEPER_PENDING ?? "500,2000").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_SWEEPER_ROUNDS ?? 3);

type Sweep = (event: unknown, context: Context) => Promise<SweepSummary>;

/** A fresh copy of the handler (its own clients), as a new container would have. */
function freshSweeper(): Sweep {
  for (const key of Object.keys(require.cache)) if (key.includes(`${path.sep}lambdas${path.sep}`)) delete require.cache[key];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(path.join(ROOT, "lambdas", FUNCTIONS.sweeper.handler, "index.ts")) as { handler: Sweep }).handler;
}

async function oneRun(pending: number): Promise<{ ms: number; summary: SweepSummary; calls: Record<string, number> }> {
  const emu = await startEmulators({ prefix: `sw${Date.now().toString(36)}` });
  const dynamo = await startRecordingProxy(emu.dynamo.endpoint);
  const sqs = await startRecordingProxy(emu.fauxqs.endpoint);
  const restore = applyEnv({ ...emu.baseEnv, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_ENDPOINT_URL_SQS: sqs.endpoint });
  try {
    const doc = DynamoDBDocumentClient.from(emu.clients.dynamodb);
    const at = (i: number) => new Date(Date.now() - 3_600_000 + i * 10).toISOString();
    for (let i = 0; i < pending; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, pending - i) }, (_, j) => {
          const { item } = makeTransaction();
          const when = at(i + j);
          return doc.send(
            new PutCommand({
              TableName: emu.resources.transactionsTable,
              Item: { ...item, created_at: when, updated_at: when, pending_since: when },
            }),
          );
        }),
      );
    }
    const sweep = freshSweeper();
    dynamo.requests.length = 0;
    sqs.requests.length = 0;
    const t0 = performance.now();
    const summary = await sweep({}, fakeContext(FUNCTIONS.sweeper.handler, FUNCTIONS.sweeper.timeoutSeconds * 1000));
    const ms = performance.now() - t0;
    const calls: Record<string, number> = {};
    for (const r of [...dynamo.requests, ...sqs.requests]) {
      const op = String(r.headers["x-amz-target"]).split(".").pop()!;
      calls[op] = (calls[op] ?? 0) + 1;
    }
    return { ms, summary, calls };
  } finally {
    restore();
    await Promise.all([dynamo.stop(), sqs.stop()]);
    await emu.stop();
  }
}

export async function benchSweeper(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const pending of SIZES) {
    const times: number[] = [];
    let last: Awaited<ReturnType<typeof oneRun>> | undefined;
    for (let r = 0; r < ROUNDS; r++) {
      last = await oneRun(pending);
      times.push(last.ms);
    }
    const calls = Object.entries(last!.calls)
      .sort()
      .map(([op, n]) => `${n} ${op}`)
      .join(" + ");
    rows.push(
      summarize(
        `sweeper: one run, ${pending} pending (swept ${last!.summary.swept}, reported pending ${last!.summary.pending}; ${calls})`,
        "ms",
        times,
      ),
    );
  }
  return rows;
}

if (require.main === module) {
  process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";
  benchSweeper().then(
    (rows) => printTable(rows),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
