import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type BenchRow, measureNode, ROOT, summarize } from "./stats";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** Full synth of every stack, exactly as `cdktf synth` runs the app command, in a fresh process each run. */
export function benchSynth(): BenchRow[] {
  const wall: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const outdir = mkdtempSync(path.join(tmpdir(), "bench-synth-"));
    const { wallMs, rssMiB } = measureNode(["--import", "tsx", "main.ts"], { CDKTF_OUTDIR: outdir });
    wall.push(wallMs);
    rss.push(rssMiB);
    rmSync(outdir, { recursive: true, force: true });
  }
  return [
    summarize("synth primary+dr+state: wall time", "ms", wall, "<= 3000"),
    summarize("synth primary+dr+state: peak RSS", "MiB", rss, "<= 300"),
    ...benchBarrelBaseline(),
  ];
}

/** Baseline: the cost of loading the provider through its barrel, which this project never does. */
function benchBarrelBaseline(): BenchRow[] {
  const dir = mkdtempSync(path.join(ROOT, ".build-barrel-"));
  const deep = path.join(dir, "deep.js");
  const barrel = path.join(dir, "barrel.js");
  writeFileSync(deep, `require("@cdktf/provider-aws/lib/provider"); require("@cdktf/provider-aws/lib/vpc");`);
  writeFileSync(barrel, `const aws = require("@cdktf/provider-aws"); aws.provider.AwsProvider; aws.vpc.Vpc;`);
  const runs = Math.max(3, Math.min(RUNS, 5));
  const measure = (file: string) => Array.from({ length: runs }, () => measureNode([file]));
  try {
    const d = measure(deep);
    const b = measure(barrel);
    return [
      summarize(
        "baseline: load provider via deep imports: wall",
        "ms",
        d.map((m) => m.wallMs),
      ),
      summarize(
        "baseline: load provider via barrel import: wall",
        "ms",
        b.map((m) => m.wallMs),
      ),
      summarize(
        "baseline: load provider via barrel import: peak RSS",
        "MiB",
        b.map((m) => m.rssMiB),
      ),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const { printTable } = require("./stats") as typeof import("./stats");
  printTable(benchSynth());
}
