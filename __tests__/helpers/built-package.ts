/**
 * Runs a deployment package as Lambda runs it: its zip unpacked into a fresh folder, its
 * index.js loaded by a fresh `node` that sees only the environment given here (nothing of the
 * test process's), one event, the handler's result and its log lines back. Asynchronous: the
 * emulators the package talks to (dynalite) live in the test process.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import type { Bundle } from "../../src/infra/compute/bundling";

/** The package's files, unpacked from its zip; returns the folder. */
export function unpack(bundle: Bundle): string {
  const dir = mkdtempSync(path.join(tmpdir(), "package-"));
  for (const [name, bytes] of Object.entries(unzipSync(readFileSync(bundle.zipFile)))) writeFileSync(path.join(dir, name), bytes);
  return dir;
}

export interface PackageRun<R> {
  readonly result?: R;
  /** What the handler threw. */
  readonly error?: string;
  /** Its JSON log lines (Powertools: INFO and DEBUG on stdout, WARN and ERROR on stderr). */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  readonly stderr: string;
}

const MARK = "\u0000package-run:";

const RUNNER = `
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const { handler } = require(input.file);
const deadline = Date.now() + 30000;
const context = {
  functionName: input.functionName, functionVersion: "$LATEST", memoryLimitInMB: "256",
  invokedFunctionArn: "arn:aws:lambda:ap-southeast-1:000000000000:function:" + input.functionName,
  awsRequestId: require("node:crypto").randomUUID(), logGroupName: "/aws/lambda/" + input.functionName, logStreamName: "s",
  callbackWaitsForEmptyEventLoop: false, getRemainingTimeInMillis: () => deadline - Date.now(),
};
// Lambda freezes the process after the answer; here it exits, once what was sent meanwhile (UDP to the X-Ray daemon) had time to leave.
const done = (out) => process.stdout.write(${JSON.stringify(MARK)} + JSON.stringify(out) + "\\n", () => setTimeout(() => process.exit(0), input.settleMs));
handler(input.event, context).then((result) => done({ result }), (e) => done({ error: String((e && e.stack) || e) }));
`;

/** Invokes the handler of the package in `dir` once with `event`, in a new `node` with exactly `env`. */
export function invokePackage<R>(
  dir: string,
  functionName: string,
  env: Record<string, string>,
  event: unknown,
  options: { settleMs?: number } = {},
): Promise<PackageRun<R>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", RUNNER], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => {
      const at = stdout.lastIndexOf(MARK);
      if (at < 0) return reject(new Error(`the package exited (${code}) without an answer: ${stderr || stdout}`));
      const out = JSON.parse(stdout.slice(at + MARK.length)) as { result?: R; error?: string };
      const logs = `${stdout.slice(0, at)}\n${stderr}`
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ ...out, logs, stderr });
    });
    child.stdin.end(JSON.stringify({ file: path.join(dir, "index.js"), functionName, event, settleMs: options.settleMs ?? 0 }));
  });
}
