/**
 * `npm run drill [-- --short] [flags]`: the two-region disaster drill (see src/local/README.md,
 * "The two-region drill"). Prints the report, writes it as JSON and SVG into --out, and
 * exits 1 when an acknowledged payment was never posted after the return or one was posted twice
 * (2 on a bad command line). `--from report.json` prints and draws an earlier run again.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { comparison, formatReport } from "./format";
import { type DrillCommand, type DrillOptions, DrillUsageError, parseDrillArgs, USAGE } from "./options";
import type { DrillReport } from "./report";
import { runDrill } from "./run";
import { drillSvg } from "./svg";

/** What report.json holds. */
interface SavedRun {
  readonly command: string;
  readonly ranAt: string;
  readonly options: DrillOptions;
  readonly report: DrillReport;
  readonly comparison: ReturnType<typeof comparison>;
}

function publish(run: SavedRun, outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  const json = path.join(outDir, "report.json");
  const svg = path.join(outDir, "drill.svg");
  writeFileSync(json, `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(svg, drillSvg(run.report, `Two-region drill: ${run.command} (${run.options.rate} payments/s, seed ${run.options.seed})`));
  console.log("");
  for (const line of formatReport(run.report, run.options)) console.log(line);
  console.log(`Report: ${json}\nPicture: ${svg}`);
}

async function main(argv: string[]): Promise<number> {
  let command: DrillCommand | undefined;
  try {
    command = parseDrillArgs(argv);
  } catch (err) {
    if (!(err instanceof DrillUsageError)) throw err;
    console.error(`error: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (!command) {
    console.log(USAGE);
    return 0;
  }
  const { options } = command;
  if (command.from) {
    const saved = JSON.parse(readFileSync(command.from, "utf8")) as SavedRun;
    publish(saved, options.outDir);
    return saved.report.passed ? 0 : 1;
  }
  const started = Date.now();
  const { report } = await runDrill(options, (line) => console.log(line));
  publish(
    {
      command: argv.length > 0 ? `npm run drill -- ${argv.join(" ")}` : "npm run drill",
      ranAt: new Date(started).toISOString(),
      options,
      report,
      comparison: comparison(report, options),
    },
    options.outDir,
  );
  console.log(`(${Math.round((Date.now() - started) / 1000)} s in all)`);
  return report.passed ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`drill failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
