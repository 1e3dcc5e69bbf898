/**
 * `npm run drill [-- --short] [flags]`: the two-region disaster drill (see src/local/README.md,
 * "The two-region drill"). Prints the report, writes it as JSON and SVG into --out, and exits 1
 * when an acknowledged payment was never posted after the return or one was posted twice
 * (2 on a bad command line).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { comparison, formatReport } from "./format";
import { DrillUsageError, parseDrillArgs, USAGE } from "./options";
import { runDrill } from "./run";
import { drillSvg } from "./svg";

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseDrillArgs>;
  try {
    options = parseDrillArgs(argv);
  } catch (err) {
    if (!(err instanceof DrillUsageError)) throw err;
    console.error(`error: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const started = Date.now();
  const { report, sources } = await runDrill(options, (line) => console.log(line));
  mkdirSync(options.outDir, { recursive: true });
  const json = path.join(options.outDir, "report.json");
  const svg = path.join(options.outDir, "drill.svg");
  const command = `npm run drill --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  writeFileSync(
    json,
    `${JSON.stringify({ command, options, report, comparison: comparison(report, options), acknowledged: sources.acknowledged.length }, null, 2)}\n`,
  );
  writeFileSync(svg, drillSvg(report, `Two-region drill: ${command} (${options.rate} payments/s, seed ${options.seed})`));
  console.log("");
  for (const line of formatReport(report, options)) console.log(line);
  console.log(`Report: ${json}\nPicture: ${svg}\n(${Math.round((Date.now() - started) / 1000)} s in all)`);
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
