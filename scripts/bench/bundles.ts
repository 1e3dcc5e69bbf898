/**
 * The deployment packages: size and cold init of each function, measured against bare `node` in
 * the same environment, and what each bundle is made of.
 *
 *   npm run bench:bundles                 # the per-function table (part `bundles` of npm run bench)
 *   npm run bench:bundles -- --why        # what each bundle carries: largest inputs and packages
 *   npm run bench:bundles -- --why payment-gateway
 *
 * Cold init is what a new Lambda container pays before its first event: a fresh `node` that
 * requires the bundle, from process start to the end of the require (performance.now()). The
 * reference is the same `node` with an empty script. Both run with the environment a Lambda
 * container has (the runtime's reserved variables, X-Ray's, the function's own), built from
 * nothing: nothing of the caller's (NODE_EXTRA_CA_CERTS, NODE_OPTIONS, ...) reaches either.
 * They alternate (node, bundle, node, bundle, ...), and each bundle's figure over node is the
 * median of its pairs, so that load on the machine falls on both sides of each difference.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { build, type Metafile } from "esbuild";
import { zipSync } from "fflate";
import { deploymentConfig } from "../../src/contracts/context";
import { ENV, FUNCTIONS } from "../../src/contracts/functions";
import { type Bundle, bundleHandler } from "../../src/infra/compute/bundling";
import { type BenchRow, printTable, ROOT, summarize } from "./stats";

export const HANDLERS = Object.values(FUNCTIONS).map((fn) => fn.handler);
const INIT_RUNS = Number(process.env.BENCH_INIT_RUNS ?? 15);
/** The target: init at most this much over bare node. */
const INIT_OVER_NODE_MS = 40;
const ZIP_KB = 300;

/** What every Lambda container's environment holds (the runtime's reserved variables, X-Ray's). */
const LAMBDA_ENV: Record<string, string> = {
  PATH: "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
  LANG: "en_US.UTF-8",
  TZ: ":UTC",
  AWS_REGION: "ap-southeast-1",
  AWS_DEFAULT_REGION: "ap-southeast-1",
  AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256",
  AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
  AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
  AWS_LAMBDA_LOG_FORMAT: "JSON",
  AWS_LAMBDA_RUNTIME_API: "127.0.0.1:9001",
  LAMBDA_TASK_ROOT: "/var/task",
  LAMBDA_RUNTIME_DIR: "/var/runtime",
  AWS_ACCESS_KEY_ID: "ASIAXXXXXXXXXXXXXXXX",
  AWS_SECRET_ACCESS_KEY: "x",
  AWS_SESSION_TOKEN: "x",
  AWS_XRAY_CONTEXT_MISSING: "LOG_ERROR",
  AWS_XRAY_DAEMON_ADDRESS: "169.254.79.129:2000",
  _AWS_XRAY_DAEMON_ADDRESS: "169.254.79.129",
  _AWS_XRAY_DAEMON_PORT: "2000",
};

/** The function's own variables: dummy values (init reads none of them; the handlers read config on first use). */
const FUNCTION_ENV: Record<string, string> = {
  [ENV.transactionsTable]: "t",
  [ENV.merchantKeysTable]: "k",
  [ENV.authCacheTtlSeconds]: "60",
  [ENV.transactionQueueUrl]: "https://sqs.ap-southeast-1.amazonaws.com/000000000000/q",
  [ENV.notificationQueueUrl]: "https://sqs.ap-southeast-1.amazonaws.com/000000000000/n",
  [ENV.notificationTopicArn]: "arn:aws:sns:ap-southeast-1:000000000000:t",
  [ENV.transactionLogBucket]: "b",
};

export function lambdaEnv(handler: string): Record<string, string> {
  return {
    ...LAMBDA_ENV,
    AWS_LAMBDA_FUNCTION_NAME: `${handler}-bench`,
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${handler}-bench`,
    AWS_LAMBDA_LOG_STREAM_NAME: "2026/01/01/[$LATEST]0",
    _HANDLER: "index.handler",
    [ENV.serviceName]: handler,
    ...FUNCTION_ENV,
  };
}

const MARK = "\ninit-ms=";

/** ms from process start until require(`file`) returned (an empty script when undefined), in `env` only. */
export function initMs(file: string | undefined, env: Record<string, string>): number {
  const load = file ? `require(${JSON.stringify(file)});` : "";
  const run = spawnSync(process.execPath, ["-e", `${load}process.stdout.write(${JSON.stringify(MARK)} + performance.now())`], {
    env,
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`cold init of ${file ?? "node"} failed: ${run.stderr}`);
  return Number(run.stdout.slice(run.stdout.lastIndexOf(MARK) + MARK.length));
}

/** `runs` pairs (node, then `file`) in the same environment: the file's times and its differences over node. */
function pairedInit(file: string, env: Record<string, string>, runs: number): { node: number[]; init: number[]; over: number[] } {
  const node: number[] = [];
  const init: number[] = [];
  const over: number[] = [];
  for (let i = 0; i < runs; i++) {
    const bare = initMs(undefined, env);
    const loaded = initMs(file, env);
    node.push(bare);
    init.push(loaded);
    over.push(loaded - bare);
  }
  return { node, init, over };
}

/** The deployment's bundles, built as synth builds them (the CAs of the configured regions). */
export function deployedBundles(): Map<string, Bundle> {
  const config = deploymentConfig();
  const databaseRegions = [config.primaryRegion, config.drRegion];
  return new Map(HANDLERS.map((h) => [h, bundleHandler(h, { databaseRegions })]));
}

const kb = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;
const median = (values: number[]) => summarize("", "", values).median;
const shortInput = (input: string) => input.replace(/^(replaced:)?node_modules\//, "$1");

export interface BundleFigures {
  handler: string;
  zipKB: number;
  bundleKB: number;
  initMs: number;
  overNodeMs: number;
  overNode: number[];
  nodeMs: number;
  largest: string;
}

/** Size and cold init of every function's package; prints the per-function table. */
export async function benchBundles(): Promise<BenchRow[]> {
  const bundles = deployedBundles();
  const figures: BundleFigures[] = [];
  // Round-robin: every function's pairs spread over the whole run, not one function per minute of it.
  const samples = new Map(HANDLERS.map((h) => [h, { node: [] as number[], init: [] as number[], over: [] as number[] }]));
  for (let round = 0; round < INIT_RUNS; round++) {
    for (const handler of HANDLERS) {
      const pair = pairedInit(path.join(bundles.get(handler)!.directory, "index.js"), lambdaEnv(handler), 1);
      const s = samples.get(handler)!;
      s.node.push(...pair.node);
      s.init.push(...pair.init);
      s.over.push(...pair.over);
    }
  }
  for (const handler of HANDLERS) {
    const bundle = bundles.get(handler)!;
    const s = samples.get(handler)!;
    figures.push({
      handler,
      zipKB: kb(bundle.zipBytes),
      bundleKB: kb(bundle.bytes),
      initMs: median(s.init),
      overNodeMs: median(s.over),
      overNode: s.over,
      nodeMs: median(s.node),
      largest: bundle.largestInputs
        .slice(0, 3)
        .map((i) => `${shortInput(i.input)} ${kb(i.bytes)}`)
        .join(", "),
    });
  }
  printBundleTable(figures);

  const rows: BenchRow[] = [];
  const allNode = [...samples.values()].flatMap((s) => s.node);
  rows.push(summarize("bare node -e '' start-up, Lambda's environment (reference, alternating with the bundles)", "ms", allNode));
  for (const f of figures) {
    const s = samples.get(f.handler)!;
    rows.push({ ...summarize(`${f.handler}: deployment zip`, "KB", [f.zipKB], `<= ${ZIP_KB}`), detail: `largest inputs: ${f.largest}` });
    rows.push(summarize(`${f.handler}: bundle index.js`, "KB", [f.bundleKB]));
    rows.push(summarize(`${f.handler}: cold init (process start -> require done)`, "ms", s.init));
    rows.push(summarize(`${f.handler}: cold init over bare node (per pair)`, "ms", s.over, `<= ${INIT_OVER_NODE_MS}`));
  }
  rows.push(...componentRows());
  rows.push(...runtimeSdkRows(bundles.get(FUNCTIONS.gateway.handler)!));
  rows.push(await gatewayUnbundledBaseline());
  return rows;
}

/**
 * What the packages' init is made of: each part alone, bundled as the packages are (same build,
 * same replacements), its cold init over bare node. The parts overlap (Node's own http, https and
 * tls modules are loaded by several), so they do not add up to a package.
 */
const COMPONENTS: Record<string, string> = {
  "Powertools Logger, Metrics and Tracer (lambdas/shared/runtime.ts, with the X-Ray SDK)": `export * from "../../../lambdas/shared/runtime";`,
  "AWS SDK: DynamoDB (with the document client) and SQS clients": `export { DynamoDBClient } from "@aws-sdk/client-dynamodb";
export { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
export { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";`,
  "AWS SDK: S3 client (the processor's log object)": `export { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";`,
  "mysql2 (as the packages carry it)": `export { createConnection } from "mysql2/promise";`,
  "mysql2, imported on first use instead (what init would then pay: parsing only)": `export const connect = async () => (await import("mysql2/promise")).createConnection;`,
  "zod/mini with the English messages": `export * from "../../../lambdas/shared/schemas";`,
};

function componentRows(): BenchRow[] {
  const root = path.join(ROOT, ".build", "bench-components");
  rmSync(root, { recursive: true, force: true });
  const names = Object.keys(COMPONENTS);
  for (const [i, name] of names.entries()) {
    mkdirSync(path.join(root, `part${i}`), { recursive: true });
    writeFileSync(path.join(root, `part${i}`, "index.ts"), `${COMPONENTS[name]}\nexport const handler = async () => undefined;\n`);
  }
  try {
    const env = lambdaEnv("component");
    const files = names.map((_, i) => {
      const bundle = bundleHandler(`part${i}`, { lambdasRoot: root, outRoot: path.join(root, "out") });
      return { file: path.join(bundle.directory, "index.js"), kb: kb(bundle.bytes) };
    });
    const over = names.map(() => [] as number[]);
    for (let round = 0; round < INIT_RUNS; round++) {
      for (const [i, { file }] of files.entries()) over[i]!.push(...pairedInit(file, env, 1).over);
    }
    return names.map((name, i) => summarize(`init alone: ${name}, ${files[i]!.kb} KB bundled: over node`, "ms", over[i]!));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function printBundleTable(figures: readonly BundleFigures[]): void {
  const header = ["function", "zip KB", "bundle KB", "cold init ms", "over node ms (min-max)", "largest three inputs (KB)"];
  const lines = figures.map((f) => [
    f.handler,
    String(f.zipKB),
    String(f.bundleKB),
    String(f.initMs),
    `${f.overNodeMs} (${Math.round(Math.min(...f.overNode))}-${Math.round(Math.max(...f.overNode))})`,
    f.largest,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(
    `\nDeployment packages (node alone: ${median(figures.map((f) => f.nodeMs))} ms; targets: zip <= ${ZIP_KB} KB, init <= ${INIT_OVER_NODE_MS} ms over node)`,
  );
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const l of lines) console.log(fmt(l));
  console.log("");
}

/**
 * The alternative the packages do not take: the Lambda runtime's own AWS SDK (unbundled, one
 * dist-cjs file per package). Measured with this repository's copy of the same clients, required
 * from node_modules, against the same clients as the gateway bundles them.
 */
function runtimeSdkRows(gateway: Bundle): BenchRow[] {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-runtime-sdk-"));
  try {
    const modules = ["@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb", "@aws-sdk/client-sqs"];
    const unbundled = path.join(dir, "unbundled.js");
    writeFileSync(unbundled, modules.map((m) => `require(${JSON.stringify(require.resolve(m, { paths: [ROOT] }))});`).join("\n"));
    const env = lambdaEnv(FUNCTIONS.gateway.handler);
    const result = pairedInit(unbundled, env, Math.max(5, Math.floor(INIT_RUNS / 2)));
    return [
      summarize(
        `the gateway's SDK clients (DynamoDB, document client, SQS) from node_modules, as the runtime's own SDK loads: init over node (the whole gateway bundled: ${kb(gateway.bytes)} KB)`,
        "ms",
        result.over,
      ),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Zips the given folders (relative to ROOT) in-process, skipping nested node_modules; returns bytes. */
function zipFolders(folders: string[]): number {
  const files: Record<string, Uint8Array> = {};
  const { readdirSync } = require("node:fs") as typeof import("node:fs");
  const walk = (rel: string, depthInModules: number): void => {
    for (const entry of readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === "node_modules" && depthInModules > 0) continue;
        walk(child, depthInModules + (entry.name === "node_modules" ? 1 : 0));
      } else if (entry.isFile()) {
        files[child] = readFileSync(path.join(ROOT, child));
      }
    }
  };
  for (const folder of folders) walk(folder, folder.startsWith("node_modules") ? 1 : 0);
  return zipSync(files, { level: 9 }).byteLength;
}

/**
 * Baseline: what shipping the gateway unbundled would weigh. Approximation: esbuild's metafile
 * lists every file the gateway reaches; each package those files belong to is zipped whole (as
 * a node_modules deploy ships it, minus nested node_modules), plus the lambdas/ sources.
 */
async function gatewayUnbundledBaseline(): Promise<BenchRow> {
  const result = await build({
    entryPoints: [path.join(ROOT, "lambdas", FUNCTIONS.gateway.handler, "index.ts")],
    bundle: true,
    platform: "node",
    target: "node22",
    write: false,
    metafile: true,
    logLevel: "silent",
    mainFields: ["module", "main"],
  });
  const packages = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(`node_modules/${m[1]}`);
  }
  const bytes = zipFolders(["lambdas", ...[...packages].sort()]);
  return summarize(`payment-gateway: unbundled zip baseline (${packages.size} packages reached, whole)`, "KB", [bytes / 1024]);
}

/** The package an input belongs to ("@smithy/core", "mysql2", "lambdas/shared", "replaced: ..."). */
function packageOf(input: string): string {
  if (input.startsWith("replaced:")) return `replaced: ${input.slice("replaced:".length).replace(/^node_modules\//, "")}`;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m ? m[1]! : input.split("/").slice(0, 2).join("/");
}

/** `--why`: what each bundle carries, from the build's esbuild metafile. */
function why(handlers: readonly string[], count: number): void {
  const bundles = deployedBundles();
  const metafile = JSON.parse(readFileSync(bundles.values().next().value!.metafileFile, "utf8")) as Metafile;
  for (const handler of handlers) {
    const bundle = bundles.get(handler);
    if (!bundle) throw new Error(`No handler ${handler}: one of ${HANDLERS.join(", ")}`);
    const output = Object.entries(metafile.outputs).find(([file]) => file.endsWith(`/bundles/${handler}/index.js`))?.[1];
    if (!output) throw new Error(`${handler} is not in ${bundle.metafileFile}`);
    const byPackage = new Map<string, number>();
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
    }
    const top = (entries: Array<[string, number]>) =>
      entries
        .sort((a, b) => b[1] - a[1])
        .slice(0, count)
        .map(([name, bytes]) => `  ${String(kb(bytes)).padStart(7)} KB  ${name}`)
        .join("\n");
    console.log(`\n${handler}: index.js ${kb(bundle.bytes)} KB, zip ${kb(bundle.zipBytes)} KB`);
    console.log(` by package:\n${top([...byPackage])}`);
    console.log(
      ` largest inputs:\n${top(Object.entries(output.inputs).map(([input, { bytesInOutput }]) => [shortInput(input), bytesInOutput]))}`,
    );
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--why")) {
    const named = args.filter((a) => !a.startsWith("--"));
    why(named.length > 0 ? named : HANDLERS, Number(process.env.BENCH_WHY_TOP ?? 15));
    return;
  }
  printTable(await benchBundles());
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
