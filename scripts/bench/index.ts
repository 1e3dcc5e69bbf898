import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { benchBundles } from "./bundles";
import { benchGateway, benchProcessor } from "./lambdas";
import { benchOutbox } from "./outbox";
import { benchReplicator } from "./replicator";
import { type BenchRow, printTable, ROOT, summarize } from "./stats";
import { benchSweeper } from "./sweeper";
import { benchSynth } from "./synth";

const TEST_RUNS = Number(process.env.BENCH_TEST_RUNS ?? 3);

/** Wall time of the whole `npm test` (jest over every suite), in a fresh process each run. */
function benchTests(): BenchRow[] {
  const times: number[] = [];
  for (let i = 0; i < TEST_RUNS; i++) {
    const t0 = Date.now();
    const result = spawnSync("npx", ["jest", "--silent"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, CI: "true" } });
    if (result.status !== 0) throw new Error(`npm test failed:\n${result.stderr.slice(-2000)}`);
    times.push((Date.now() - t0) / 1000);
  }
  return [summarize("npm test (whole suite): wall time", "s", times)];
}

/** Every benchmark figure in one table, also written to scripts/bench/results.json. */
async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(",");
  const want = (name: string) => !only || only.includes(name);
  const rows: BenchRow[] = [];
  if (want("synth")) rows.push(...benchSynth());
  if (want("bundles")) rows.push(...(await benchBundles()));
  if (want("gateway")) rows.push(...(await benchGateway()));
  if (want("processor")) rows.push(...(await benchProcessor()));
  if (want("replicator")) rows.push(...(await benchReplicator()));
  if (want("sweeper")) rows.push(...(await benchSweeper()));
  if (want("outbox")) rows.push(...(await benchOutbox()));
  if (want("tests")) rows.push(...benchTests());
  printTable(rows);
  const out = path.join(__dirname, "results.json");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, cpus: require("node:os").cpus().length, rows }, null, 2)}\n`,
  );
  console.log(`\nwritten to ${path.relative(ROOT, out)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
