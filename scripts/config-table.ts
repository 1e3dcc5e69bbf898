import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { loadConfig, SETTINGS } from "../src/contracts/config";

/**
 * Renders the README's configuration table from the settings themselves.
 * `npx tsx scripts/config-table.ts` prints it; `--write` replaces it in README.md.
 */
export function configTable(): string {
  const defaults = loadConfig({}, {}) as unknown as Record<string, unknown>;
  const lines = [
    "| setting (cdktf.json context) | environment variable | default (suffix `dev`) | meaning; allowed form |",
    "|---|---|---|---|",
  ];
  for (const s of SETTINGS) {
    const value = defaults[s.key];
    const shown = value === undefined ? "(unset)" : `\`${Array.isArray(value) ? value.join(",") : String(value)}\``;
    lines.push(`| \`${s.key}\` | \`${s.env}\` | ${shown} | ${s.description}; ${s.form} |`);
  }
  return lines.join("\n");
}

if (require.main === module) {
  if (process.argv.includes("--write")) {
    const readme = path.join(__dirname, "..", "README.md");
    const text = readFileSync(readme, "utf8");
    const start = "<!-- config-table:start -->";
    const end = "<!-- config-table:end -->";
    const before = text.slice(0, text.indexOf(start) + start.length);
    const after = text.slice(text.indexOf(end));
    writeFileSync(readme, `${before}\n${configTable()}\n${after}`);
  } else {
    console.log(configTable());
  }
}
