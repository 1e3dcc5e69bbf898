import { buildSync } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";

/** Where bundles are written: outside cdktf.out, which cdktf rewrites on every synth. */
export const BUNDLE_ROOT = path.resolve(__dirname, "..", ".build");
export const LAMBDAS_ROOT = path.resolve(__dirname, "..", "lambdas");

export interface Bundle {
  /** Folder holding only `index.js`: this is what gets zipped. */
  readonly directory: string;
  /** The external source map, kept out of the zip to keep the package small. */
  readonly sourceMapFile: string;
  /** Size of `index.js` in bytes. */
  readonly bytes: number;
}

const cache = new Map<string, Bundle>();

/**
 * Bundles `lambdas/<handler>/index.ts` with esbuild: minified, tree-shaken, node22, AWS SDK v3
 * bundled in (the runtime's copy is not pinned). Cached per process so that a synth of both
 * stacks bundles each handler once.
 */
export function bundleHandler(handler: string, outRoot: string = BUNDLE_ROOT): Bundle {
  const entry = path.join(LAMBDAS_ROOT, handler, "index.ts");
  const cacheKey = `${entry}|${outRoot}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;

  const directory = path.join(outRoot, "bundles", handler);
  const sourceMapFile = path.join(outRoot, "sourcemaps", `${handler}.js.map`);
  const result = buildSync({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    treeShaking: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    sourcemap: "external",
    outfile: path.join(directory, "index.js"),
    write: false,
    legalComments: "none",
    logLevel: "error",
    // Prefer ESM entry points so tree-shaking can drop unused SDK code.
    mainFields: ["module", "main"],
  });
  mkdirSync(directory, { recursive: true });
  mkdirSync(path.dirname(sourceMapFile), { recursive: true });
  let bytes = 0;
  for (const file of result.outputFiles) {
    if (file.path.endsWith(".map")) {
      writeFileSync(sourceMapFile, file.contents);
    } else {
      writeFileSync(file.path, file.contents);
      bytes = file.contents.byteLength;
    }
  }
  const bundle = { directory, sourceMapFile, bytes };
  cache.set(cacheKey, bundle);
  return bundle;
}
