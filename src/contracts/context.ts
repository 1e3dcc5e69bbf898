/**
 * The deployment configuration as `cdktf synth` reads it: cdktf.json "context", then the
 * environment. The app, the operator CLI, the local runtime and the scripts all read it here.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { type DeploymentConfig, loadConfig } from "./config";

/** The repository root (cdktf.json, lambdas/, ...). */
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** cdktf.json "context", so that `npx tsx main.ts` and `cdktf synth` agree. */
export function cdktfContext(root: string = PROJECT_ROOT): Record<string, unknown> {
  const file = path.join(root, "cdktf.json");
  return (JSON.parse(readFileSync(file, "utf8")).context ?? {}) as Record<string, unknown>;
}

/** The validated configuration from cdktf.json and `env`; throws ConfigError naming a bad setting. */
export function deploymentConfig(env: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  return loadConfig(cdktfContext(), env);
}
