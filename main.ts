import { App } from "cdktf";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ConfigError, loadConfig } from "./src/config";
import { buildApp } from "./src/app";

/** cdktf.json "context", read here too so that `npx tsx main.ts` and `cdktf synth` agree. */
function cdktfJsonContext(): Record<string, unknown> {
  const file = path.join(__dirname, "cdktf.json");
  return (JSON.parse(readFileSync(file, "utf8")).context ?? {}) as Record<string, unknown>;
}

const app = new App();
try {
  const config = loadConfig(cdktfJsonContext(), process.env);
  buildApp(app, config);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
app.synth();
