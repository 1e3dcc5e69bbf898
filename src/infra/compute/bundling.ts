import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { type BuildOptions, version as esbuildVersion, type Metafile } from "esbuild";
import { zipSync } from "fflate";
import { PROJECT_ROOT } from "../../contracts/context";
import {
  leanReplacements,
  type ModuleReplacement,
  REPLACEMENT_PLUGIN_SOURCE,
  rdsCaReplacement,
  regionalRdsCertificates,
} from "./bundle-plugins";

/** Where bundles are written: outside cdktf.out, which cdktf rewrites on every synth. */
export const BUNDLE_ROOT = path.join(PROJECT_ROOT, ".build");
export const LAMBDAS_ROOT = path.join(PROJECT_ROOT, "lambdas");

export interface Bundle {
  /** Folder holding only `index.js`. */
  readonly directory: string;
  /** The deployment package: a zip of `index.js` alone. */
  readonly zipFile: string;
  /** Base64 SHA-256 of the zip, as Lambda's `source_code_hash` expects. */
  readonly zipSha256: string;
  readonly zipBytes: number;
  /** The external source map, kept out of the zip to keep the package small. */
  readonly sourceMapFile: string;
  /** Size of `index.js` in bytes. */
  readonly bytes: number;
  /** The inputs that weigh most in `index.js` (esbuild's metafile), largest first. */
  readonly largestInputs: ReadonlyArray<{ readonly input: string; readonly bytes: number }>;
  /** Whether the handler verifies TLS to the ledger (it carries the RDS CA certificates). */
  readonly trustsRdsCa: boolean;
  /** esbuild's metafile of the build this bundle came from (every handler's inputs and outputs). */
  readonly metafileFile: string;
}

export interface BundleOptions {
  /** @default BUNDLE_ROOT */
  readonly outRoot?: string;
  /** @default LAMBDAS_ROOT */
  readonly lambdasRoot?: string;
  /**
   * Regions whose Aurora clusters the handler may connect to: their Amazon RDS root CAs are the
   * only certificates its TLS connections trust. Required for a handler that uses the ledger.
   */
  readonly databaseRegions?: readonly string[];
  /** Instead of `databaseRegions`: the CA certificates (PEM) to trust; tests with their own CA. */
  readonly caCertificates?: readonly string[];
}

/** Inputs of a bundle listed in its manifest (the bench prints three). */
const LARGEST_INPUTS = 10;
/** Builds kept in `outRoot` (by last use): a synth, the tests' own CA and another region pair side by side. */
const KEPT_BUILDS = 4;

/** Fixed timestamp in the zip so that the same code always gives the same package and hash. */
const ZIP_MTIME = new Date("2000-01-01T00:00:00Z");

/** Every folder under lambdas/ with an index.ts is a handler (lambdas/shared is not). */
export function handlerNames(lambdasRoot: string = LAMBDAS_ROOT): string[] {
  return readdirSync(lambdasRoot, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(lambdasRoot, d.name, "index.ts")))
    .map((d) => d.name)
    .sort();
}

/** Builds of this process: options key -> bundles. */
const cache = new Map<string, ReadonlyMap<string, Bundle>>();

/** esbuild options of every bundle; part of the cache key. */
const BUILD_OPTIONS = {
  bundle: true,
  minify: true,
  treeShaking: true,
  platform: "node",
  target: "node22",
  format: "cjs",
  // Maps point at the sources in this repository instead of embedding them (half the output).
  sourcemap: "external",
  sourcesContent: false,
  legalComments: "none",
  logLevel: "error",
  // Prefer ESM entry points so tree-shaking can drop unused SDK code.
  mainFields: ["module", "main"],
  metafile: true,
} as const satisfies BuildOptions;

/**
 * Bundles `lambdas/<handler>/index.ts` with esbuild: minified, tree-shaken, node22, AWS SDK v3
 * bundled in (the runtime's copy is not pinned), without what the handlers never run
 * (./bundle-plugins), then zipped in-process. All handlers are built in one esbuild call (shared
 * parsing) and cached twice: per process, so a synth of both stacks bundles each handler once,
 * and on disk under a hash of every input (the handlers' and the contracts' sources, the lock
 * file, the options, the trusted CAs), so an unchanged tree is never bundled again by the next
 * synth or test file. (cdktf's own ARCHIVE assets would zip each function again per stack, in a
 * child `node` process each.)
 */
export function bundleHandler(handler: string, options: BundleOptions = {}): Bundle {
  const outRoot = options.outRoot ?? BUNDLE_ROOT;
  const lambdasRoot = options.lambdasRoot ?? LAMBDAS_ROOT;
  const certificates = options.caCertificates ?? (options.databaseRegions ? rdsCertificates(options.databaseRegions) : undefined);
  const where = `${lambdasRoot}|${outRoot}`;
  // Without CAs, any build of this process serves a handler that does not use them (its code is the same).
  const reusable = certificates ? undefined : [...cache].find(([k]) => k.startsWith(`${where}|`))?.[1];
  const key = `${where}|${JSON.stringify(certificates ?? [])}`;
  let bundles = cache.get(key) ?? reusable;
  if (!bundles) {
    bundles = cachedBundles(outRoot, lambdasRoot, certificates);
    cache.set(key, bundles);
  }
  const bundle = bundles.get(handler);
  if (!bundle) throw new Error(`No handler "${handler}": expected ${path.join(lambdasRoot, handler, "index.ts")}`);
  if (bundle.trustsRdsCa && !certificates) {
    throw new Error(`Handler "${handler}" connects to the ledger over TLS: bundle it with the database regions (databaseRegions)`);
  }
  return bundle;
}

const certificatesByRegions = new Map<string, readonly string[]>();

/** The RDS root CAs of `regions` (read once per process and region set). */
function rdsCertificates(regions: readonly string[]): readonly string[] {
  const key = [...regions].sort().join(",");
  let certificates = certificatesByRegions.get(key);
  if (!certificates) {
    certificates = regionalRdsCertificates(key.split(","));
    certificatesByRegions.set(key, certificates);
  }
  return certificates;
}

/** Files under `dir` (recursively) that a bundle can be made of, relative to `root`, sorted. */
function sourceFiles(root: string, dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mts|cts|js|mjs|cjs|json)$/.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/** Hash of everything that goes into the bundles: same key, same zips. */
function inputsKey(lambdasRoot: string, certificates: readonly string[] | undefined): string {
  const root = path.dirname(lambdasRoot);
  const hash = createHash("sha256")
    .update(JSON.stringify(BUILD_OPTIONS))
    .update(esbuildVersion)
    .update(REPLACEMENT_PLUGIN_SOURCE)
    .update(JSON.stringify(replacementsOf(certificates), (_, v) => (v instanceof RegExp ? v.source : v)));
  for (const file of [...sourceFiles(root, lambdasRoot), ...sourceFiles(root, path.join(root, "src", "contracts")), "package-lock.json"]) {
    const full = path.join(root, file);
    if (existsSync(full)) hash.update(file).update("\0").update(readFileSync(full)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

interface Manifest {
  readonly bundles: Record<string, Omit<Bundle, "directory" | "zipFile" | "sourceMapFile" | "metafileFile">>;
}

/** The bundles of the current inputs: from `<outRoot>/<key>/` when built before, else built there. */
function cachedBundles(outRoot: string, lambdasRoot: string, certificates: readonly string[] | undefined): ReadonlyMap<string, Bundle> {
  const key = inputsKey(lambdasRoot, certificates);
  const dir = path.join(outRoot, key);
  const manifestFile = path.join(dir, "manifest.json");
  if (!existsSync(manifestFile)) {
    // Built aside and renamed into place, so that concurrent synths never see half a build.
    const staging = `${dir}.${process.pid}.${Date.now()}`;
    try {
      buildAll(staging, lambdasRoot, certificates);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    try {
      renameSync(staging, dir);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another process got there first
    }
  }
  const now = new Date();
  utimesSync(dir, now, now); // last use, for pruning
  pruneBuilds(outRoot);
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest;
  return new Map(
    Object.entries(manifest.bundles).map(([name, b]) => [
      name,
      {
        ...b,
        directory: path.join(dir, "bundles", name),
        zipFile: path.join(dir, "packages", `${name}.zip`),
        sourceMapFile: path.join(dir, "sourcemaps", `${name}.js.map`),
        metafileFile: path.join(dir, "metafile.json"),
      },
    ]),
  );
}

/** Keeps the KEPT_BUILDS most recently used builds in `outRoot`. */
function pruneBuilds(outRoot: string): void {
  const builds = readdirSync(outRoot)
    .filter((name) => /^[0-9a-f]{16}$/.test(name))
    .map((name) => ({ name, used: statSync(path.join(outRoot, name), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.used - a.used);
  for (const old of builds.slice(KEPT_BUILDS)) rmSync(path.join(outRoot, old.name), { recursive: true, force: true });
}

/** The modules every package replaces, and the ledger's CAs when given. */
function replacementsOf(certificates: readonly string[] | undefined): ModuleReplacement[] {
  return [...leanReplacements(), ...(certificates ? [rdsCaReplacement(certificates)] : [])];
}

/**
 * esbuild's build with the replacements plugin, in a child `node`: plugins need esbuild's
 * asynchronous API, and constructs bundle synchronously. Writes the bundles and the metafile.
 */
function runEsbuild(options: BuildOptions, replacements: readonly ModuleReplacement[], metafileFile: string): Metafile {
  const program = `
const fs = require("node:fs");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const plugin = (${REPLACEMENT_PLUGIN_SOURCE})(input.replacements);
require(input.esbuild)
  .build({ ...input.options, plugins: [plugin] })
  .then((result) => fs.writeFileSync(input.metafileFile, JSON.stringify(result.metafile)))
  .catch((error) => { console.error(error.message); process.exit(1); });
`;
  const input = {
    esbuild: require.resolve("esbuild"),
    options,
    metafileFile,
    replacements: replacements.map((r) => ({ ...r, specifier: r.specifier.source, importer: r.importer.source })),
  };
  const run = spawnSync(process.execPath, ["-e", program], { input: JSON.stringify(input), encoding: "utf8", cwd: process.cwd() });
  if (run.status !== 0) throw new Error(`Bundling failed: ${(run.stderr || run.stdout || String(run.error)).trim()}`);
  return JSON.parse(readFileSync(metafileFile, "utf8")) as Metafile;
}

/** The inputs that weigh most in one output of `metafile`, largest first. */
export function largestInputs(metafile: Metafile, outputFile: string, count: number): Array<{ input: string; bytes: number }> {
  const output = metafile.outputs[outputFile];
  if (!output) throw new Error(`${outputFile} is not an output of this build`);
  return Object.entries(output.inputs)
    .map(([input, { bytesInOutput }]) => ({ input, bytes: bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, count);
}

function buildAll(outDir: string, lambdasRoot: string, certificates: readonly string[] | undefined): void {
  const names = handlerNames(lambdasRoot);
  const bundlesDir = path.join(outDir, "bundles");
  mkdirSync(outDir, { recursive: true });
  const metafile = runEsbuild(
    {
      ...BUILD_OPTIONS,
      mainFields: [...BUILD_OPTIONS.mainFields],
      entryPoints: Object.fromEntries(names.map((n) => [`${n}/index`, path.join(lambdasRoot, n, "index.ts")])),
      outdir: bundlesDir,
    },
    replacementsOf(certificates),
    path.join(outDir, "metafile.json"),
  );
  mkdirSync(path.join(outDir, "sourcemaps"), { recursive: true });
  mkdirSync(path.join(outDir, "packages"), { recursive: true });
  const manifest: Manifest = { bundles: {} };
  for (const name of names) {
    const directory = path.join(bundlesDir, name);
    const output = path.relative(process.cwd(), path.join(directory, "index.js")).split(path.sep).join("/");
    const inputs = Object.keys(metafile.outputs[output]?.inputs ?? {});
    // Keep the map out of the package.
    renameSync(path.join(directory, "index.js.map"), path.join(outDir, "sourcemaps", `${name}.js.map`));
    const code = readFileSync(path.join(directory, "index.js"));
    const zip = zipSync({ "index.js": [code, { level: 9, mtime: ZIP_MTIME }] });
    writeFileSync(path.join(outDir, "packages", `${name}.zip`), zip);
    manifest.bundles[name] = {
      zipSha256: createHash("sha256").update(zip).digest("base64"),
      zipBytes: zip.byteLength,
      bytes: code.byteLength,
      largestInputs: largestInputs(metafile, output, LARGEST_INPUTS),
      // The module itself, or its replacement ("replaced:lambdas/...").
      trustsRdsCa: inputs.some((input) => /(^|[/:])lambdas\/shared\/ledger\/rds-ca\.ts$/.test(input)),
    };
  }
  writeFileSync(path.join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}
