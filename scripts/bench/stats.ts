import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

export interface BenchRow {
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  runs: number;
  target?: string;
  /** What the figure is made of (results.json only). */
  detail?: string;
}

export function summarize(name: string, unit: string, values: number[], target?: string): BenchRow {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  // Ratios and small figures keep two decimals, the rest one.
  const round = (n: number) => (Math.abs(n) < 10 ? Math.round(n * 100) / 100 : Math.round(n * 10) / 10);
  return { name, unit, median: round(median), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), runs: values.length, target };
}

export const ROOT = path.resolve(__dirname, "..", "..");
const PROBE = path.join(__dirname, "rss-probe.cjs");

/** Runs `node <args>` in a fresh child with the RSS probe preloaded; returns wall ms and peak RSS MiB. */
export function measureNode(args: string[], env: NodeJS.ProcessEnv = {}): { wallMs: number; rssMiB: number } {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-probe-"));
  const probeFile = path.join(dir, "probe.json");
  const t0 = Date.now();
  const result = spawnSync(process.execPath, ["--require", PROBE, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_PROBE_FILE: probeFile, BENCH_T0: String(t0) },
    encoding: "utf8",
  });
  const wallMs = Date.now() - t0;
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} failed: ${result.stderr}`);
  const probe = JSON.parse(readFileSync(probeFile, "utf8"));
  rmSync(dir, { recursive: true, force: true });
  return { wallMs, rssMiB: probe.maxRssKiB / 1024 };
}

export function printTable(rows: BenchRow[]): void {
  const header = ["figure", "median", "min", "max", "unit", "runs", "target"];
  const lines = rows.map((r) => [r.name, String(r.median), String(r.min), String(r.max), r.unit, String(r.runs), r.target ?? ""]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const l of lines) console.log(fmt(l));
}
