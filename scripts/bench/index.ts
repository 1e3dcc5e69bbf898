import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { BenchRow, ROOT, printTable } from "./stats";
import { benchSynth } from "./synth";

/** Every benchmark figure in one table, also written to bench/results.json. */
async function main(): Promise<void> {
  const rows: BenchRow[] = [...benchSynth()];
  printTable(rows);
  const out = path.join(ROOT, "bench", "results.json");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, rows }, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(ROOT, out)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
