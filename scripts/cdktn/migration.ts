/**
 * The move from cdktf to CDK Terrain as `npm run check:cdktn` makes it in its scratch copy, as pure
 * functions: the pins (packages.json beside this file), package.json with the packages swapped, and
 * the import rewrite. Nothing here touches the working tree.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** One cdktf package and the CDK Terrain package that takes its place. */
export interface PackageSwap {
  readonly from: string;
  readonly to: string;
  /** Exact version installed. */
  readonly version: string;
  /** The CLI command the package provides, renamed (`cdktf` -> `cdktn`). */
  readonly bin?: { readonly from: string; readonly to: string };
}

/** Another package the swap forces to a different version, and why. */
export interface Alignment {
  readonly package: string;
  readonly version: string;
  readonly reason: string;
}

/** A Node.js binary from the npm registry for the CLI, when this machine's is too old for it. */
export interface CliNode {
  readonly package: string;
  readonly version: string;
  /** `${process.platform}-${process.arch}` the package is built for. */
  readonly platform: string;
}

export interface Pins {
  readonly swaps: readonly PackageSwap[];
  readonly align: readonly Alignment[];
  readonly cliNode?: CliNode;
}

export const PINS_FILE = path.join(__dirname, "packages.json");
const PACKAGE_NAME = /^(@[a-z0-9-]+\/)?[a-z0-9][a-z0-9._-]*$/;
const EXACT_VERSION = /^\d+\.\d+\.\d+$/;

/** Problems with packages.json's shape, one message each; empty when valid. */
export function validatePins(data: unknown): string[] {
  const problems: string[] = [];
  const d = data as Record<string, unknown> | null;
  if (typeof d !== "object" || d === null || !Array.isArray(d.swaps) || d.swaps.length === 0)
    return ['expected an object with a non-empty "swaps" array'];
  d.swaps.forEach((s: any, i: number) => {
    const where = `swaps[${i}]`;
    if (!PACKAGE_NAME.test(s?.from ?? "") || !PACKAGE_NAME.test(s?.to ?? ""))
      problems.push(`${where}: "from" and "to" must be npm package names`);
    if (!EXACT_VERSION.test(s?.version ?? "")) problems.push(`${where}: "version" must be an exact version such as 0.24.0`);
    if (s?.bin !== undefined && (typeof s.bin?.from !== "string" || typeof s.bin?.to !== "string"))
      problems.push(`${where}: "bin" must have "from" and "to"`);
  });
  if (!Array.isArray(d.align)) problems.push('"align" must be an array (empty when nothing else moves)');
  else {
    d.align.forEach((a: any, i: number) => {
      if (!PACKAGE_NAME.test(a?.package ?? "") || !EXACT_VERSION.test(a?.version ?? ""))
        problems.push(`align[${i}]: needs "package" and an exact "version"`);
      if (typeof a?.reason !== "string" || a.reason.length < 40)
        problems.push(`align[${i}]: "reason" must say why, in at least 40 characters`);
    });
  }
  const node = d.cliNode as Record<string, unknown> | undefined;
  if (
    node !== undefined &&
    (!PACKAGE_NAME.test(String(node.package)) || !EXACT_VERSION.test(String(node.version)) || typeof node.platform !== "string")
  ) {
    problems.push('"cliNode" needs "package", an exact "version" and "platform"');
  }
  return problems;
}

/** The pins, refused whole when any entry is malformed. */
export function loadPins(file = PINS_FILE): Pins {
  const data = JSON.parse(readFileSync(file, "utf8")) as unknown;
  const problems = validatePins(data);
  if (problems.length) throw new Error(`${path.basename(file)} is invalid:\n  ${problems.join("\n  ")}`);
  return data as Pins;
}

type PackageJson = Record<string, any>;
const SECTIONS = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"] as const;

/** `cdktf synth` -> `cdktn synth` in a shell command, for every swap with a CLI (the command word only). */
export function rewriteCommand(command: string, swaps: readonly PackageSwap[]): string {
  return swaps.reduce(
    (text, s) => (s.bin ? text.replace(new RegExp(`(^|[\\s;&|(])${s.bin.from}(?=\\s|$)`, "g"), `$1${s.bin.to}`) : text),
    command,
  );
}

/**
 * package.json with each cdktf package replaced by its CDK Terrain package at the pinned version (in
 * the same section), the aligned packages at theirs, and the CLI command renamed in the scripts.
 * Throws when a swapped package is not a dependency at all (the pins are out of date).
 */
export function swapPackageJson(pkg: PackageJson, pins: Pins): PackageJson {
  const out: PackageJson = JSON.parse(JSON.stringify(pkg));
  for (const swap of pins.swaps) {
    const section = SECTIONS.find((s) => out[s]?.[swap.from] !== undefined);
    if (!section) throw new Error(`package.json has no dependency on ${swap.from} (scripts/cdktn/packages.json is out of date)`);
    delete out[section][swap.from];
    out[section][swap.to] = swap.version;
    out[section] = Object.fromEntries(Object.entries(out[section]).sort(([a], [b]) => a.localeCompare(b)));
  }
  for (const a of pins.align) {
    const section = SECTIONS.find((s) => out[s]?.[a.package] !== undefined);
    if (!section) throw new Error(`package.json has no dependency on ${a.package} to align`);
    out[section][a.package] = a.version;
  }
  if (out.scripts)
    out.scripts = Object.fromEntries(Object.entries<string>(out.scripts).map(([k, v]) => [k, rewriteCommand(v, pins.swaps)]));
  return out;
}

/** Module specifiers in TypeScript/JavaScript: `from "x"`, `import "x"`, `import("x")`, `require("x")`, `jest.mock("x")`. */
const SPECIFIER =
  /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|\bjest\.(?:mock|doMock|unmock|requireActual)\s*\(\s*)(["'])([^"'\n]+)\2/g;

function renamed(specifier: string, swaps: readonly PackageSwap[]): string | undefined {
  for (const s of swaps) {
    if (specifier === s.from) return s.to;
    if (specifier.startsWith(`${s.from}/`)) return s.to + specifier.slice(s.from.length);
  }
  return undefined;
}

/** The source with every module specifier of a swapped package renamed (`cdktf` -> `cdktn`, subpaths kept); other strings are left alone. */
export function rewriteImports(source: string, swaps: readonly PackageSwap[]): { text: string; count: number } {
  let count = 0;
  const text = source.replace(SPECIFIER, (match, head: string, quote: string, specifier: string) => {
    const to = renamed(specifier, swaps);
    if (to === undefined) return match;
    count++;
    return `${head}${quote}${to}${quote}`;
  });
  return { text, count };
}

/** Module specifiers in `source` that still name a swapped-out package. */
export function leftoverImports(source: string, swaps: readonly PackageSwap[]): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => m[3]).filter((s) => renamed(s, swaps) !== undefined);
}
