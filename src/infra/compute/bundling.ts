import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { type BuildOptions, buildSync, version as esbuildVersion } from "esbuild";
import { zipSync } from "fflate";
import { PROJECT_ROOT } from "../../contracts/context";

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
}

/** Fixed timestamp in the zip so that the same code always gives the same package and hash. */
const ZIP_MTIME = new Date("2000-01-01T00:00:00Z");

/** Every folder under lambdas/ with an index.ts is a handler (lambdas/shared is not). */
export function handlerNames(lambdasRoot: string = LAMBDAS_ROOT): string[] {
  return readdirSync(lambdasRoot, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(lambdasRoot, d.name, "index.ts")))
    .map((d) => d.name)
    .sort();
}

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
} as const satisfies BuildOptions;

/**
 * Bundles `lambdas/<handler>/index.ts` with esbuild: minified, tree-shaken, node22, AWS SDK v3
 * bundled in (the runtime's copy is not pinned), then zipped in-process. All handlers are built in
 * one esbuild call (shared parsing) and cached twice: per process, so a synth of both stacks
 * bundles each handler once, and on disk under a hash of every input (the handlers' and the
 * contracts' sources, the lock file, the options), so an unchanged tree is never bundled again by
 * the next synth or test file. (cdktf's own ARCHIVE assets would zip each function again per
 * stack, in a child `node` process each.)
 */
export function bundleHandler(handler: string, outRoot: string = BUNDLE_ROOT, lambdasRoot: string = LAMBDAS_ROOT): Bundle {
  const key = `${lambdasRoot}|${outRoot}`;
  let bundles = cache.get(key);
  if (!bundles) {
    bundles = cachedBundles(outRoot, lambdasRoot);
    cache.set(key, bundles);
  }
  const bundle = bundles.get(handler);
  if (!bundle) throw new Error(`No handler "${handler}": expected ${path.join(lambdasRoot, handler, "index.ts")}`);
  return bundle;
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
function inputsKey(lambdasRoot: string): string {
  const root = path.dirname(lambdasRoot);
  const hash = createHash("sha256").update(JSON.stringify(BUILD_OPTIONS)).update(esbuildVersion);
  for (const file of [...sourceFiles(root, lambdasRoot), ...sourceFiles(root, path.join(root, "src", "contracts")), "package-lock.json"]) {
    const full = path.join(root, file);
    if (existsSync(full)) hash.update(file).update("\0").update(readFileSync(full)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

interface Manifest {
  readonly bundles: Record<string, Omit<Bundle, "directory" | "zipFile" | "sourceMapFile">>;
}

/** The bundles of the current inputs: from `<outRoot>/<key>/` when built before, else built there. */
function cachedBundles(outRoot: string, lambdasRoot: string): ReadonlyMap<string, Bundle> {
  const key = inputsKey(lambdasRoot);
  const dir = path.join(outRoot, key);
  const manifestFile = path.join(dir, "manifest.json");
  if (!existsSync(manifestFile)) {
    // Built aside and renamed into place, so that concurrent synths never see half a build.
    const staging = `${dir}.${process.pid}.${Date.now()}`;
    buildAll(staging, lambdasRoot);
    try {
      renameSync(staging, dir);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another process got there first
    }
    for (const old of readdirSync(outRoot)) {
      if (/^[0-9a-f]{16}$/.test(old) && old !== key) rmSync(path.join(outRoot, old), { recursive: true, force: true });
    }
  }
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest;
  return new Map(
    Object.entries(manifest.bundles).map(([name, b]) => [
      name,
      {
        ...b,
        directory: path.join(dir, "bundles", name),
        zipFile: path.join(dir, "packages", `${name}.zip`),
        sourceMapFile: path.join(dir, "sourcemaps", `${name}.js.map`),
      },
    ]),
  );
}

function buildAll(outDir: string, lambdasRoot: string): void {
  const names = handlerNames(lambdasRoot);
  const bundlesDir = path.join(outDir, "bundles");
  buildSync({
    ...BUILD_OPTIONS,
    mainFields: [...BUILD_OPTIONS.mainFields],
    entryPoints: Object.fromEntries(names.map((n) => [`${n}/index`, path.join(lambdasRoot, n, "index.ts")])),
    outdir: bundlesDir,
  });
  mkdirSync(path.join(outDir, "sourcemaps"), { recursive: true });
  mkdirSync(path.join(outDir, "packages"), { recursive: true });
  const manifest: Manifest = { bundles: {} };
  for (const name of names) {
    const directory = path.join(bundlesDir, name);
    // Keep the map out of the package.
    renameSync(path.join(directory, "index.js.map"), path.join(outDir, "sourcemaps", `${name}.js.map`));
    const code = readFileSync(path.join(directory, "index.js"));
    const zip = zipSync({ "index.js": [code, { level: 9, mtime: ZIP_MTIME }] });
    writeFileSync(path.join(outDir, "packages", `${name}.zip`), zip);
    manifest.bundles[name] = {
      zipSha256: createHash("sha256").update(zip).digest("base64"),
      zipBytes: zip.byteLength,
      bytes: code.byteLength,
    };
  }
  writeFileSync(path.join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}
