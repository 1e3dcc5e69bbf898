import { readFileSync } from "node:fs";
import * as path from "node:path";

/**
 * Reads a reviewed JSON list (the scan's accepted findings, the rehearsal's exceptions) and
 * refuses it whole when `validate` finds any problem, so that a typo never widens what is let through.
 */
export function loadCheckedList<T>(file: string, key: string, validate: (data: unknown) => string[]): T[] {
  const data = JSON.parse(readFileSync(file, "utf8")) as unknown;
  const problems = validate(data);
  if (problems.length) throw new Error(`${path.basename(file)} is invalid:\n  ${problems.join("\n  ")}`);
  return (data as Record<string, T[]>)[key];
}

/** `*` matches any run of characters; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"));
  return new RegExp(`^${escaped.join(".*")}$`);
}
