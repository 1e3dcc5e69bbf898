import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");

/**
 * Synthesizes the app into `outdir` (its `stacks/` is replaced) with `env` as settings, by running
 * the cdktf.json app command as `cdktf synth` does. Returns the names of the stacks written.
 * `root` is the project to synthesize (default this one; `npm run check:cdktn` passes its copies).
 */
export function synthApp(outdir: string, env: Readonly<Record<string, string>>, root: string = ROOT): string[] {
  rmSync(path.join(outdir, "stacks"), { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const app = JSON.parse(readFileSync(path.join(root, "cdktf.json"), "utf8")).app as string;
  const [command, ...args] = app.split(" ");
  execFileSync(command, args, {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, ...env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: "1" },
  });
  const stacksDir = path.join(outdir, "stacks");
  return readdirSync(stacksDir)
    .filter((s) => existsSync(path.join(stacksDir, s, "cdk.tf.json")))
    .sort();
}
