import { SETTINGS, loadConfig } from "../src/config";

/** Prints the README's configuration table from the settings themselves (`npx tsx scripts/config-table.ts`). */
const defaults = loadConfig({}, {}) as unknown as Record<string, unknown>;
console.log("| setting (cdktf.json context) | environment variable | default (suffix `dev`) | meaning; allowed form |");
console.log("|---|---|---|---|");
for (const s of SETTINGS) {
  const value = defaults[s.key];
  const shown = value === undefined ? "(unset)" : `\`${Array.isArray(value) ? value.join(",") : String(value)}\``;
  console.log(`| \`${s.key}\` | \`${s.env}\` | ${shown} | ${s.description}; ${s.form} |`);
}
