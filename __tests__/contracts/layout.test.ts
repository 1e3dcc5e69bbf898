/**
 * The layout's rules, checked over the source tree itself: each shared fact is typed in one file
 * (src/contracts/ for the ones everything shares) and product code never reaches into the tests.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { API_ROUTES, BALANCES_PATH, HEALTH_PATH, TRANSACTIONS_PATH } from "../../src/contracts/api";
import { PROJECT_ROOT } from "../../src/contracts/context";
import { ENV } from "../../src/contracts/functions";

/** Every TypeScript file git knows or would add (tracked, or untracked and not ignored), outside __tests__/. */
function productFiles(): Map<string, string> {
  const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts"], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
  });
  const files = listed
    .split("\n")
    .filter((f) => f.endsWith(".ts") && !f.startsWith("__tests__/"))
    .filter((f, i, all) => all.indexOf(f) === i);
  return new Map(files.map((f) => [f, readFileSync(path.join(PROJECT_ROOT, f), "utf8")]));
}

const files = productFiles();
/** A string literal in code (comments quote code in backticks, which are left out). */
const quoted = (literal: string) => new RegExp(`(["'])${literal.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\1`);
const filesWith = (pattern: RegExp) => [...files].filter(([, text]) => pattern.test(text)).map(([file]) => file);

test("the tree is read (the checks below would pass vacuously on an empty list)", () => {
  expect(files.has("main.ts")).toBe(true);
  expect(files.has("src/contracts/functions.ts")).toBe(true);
  expect(files.size).toBeGreaterThan(100);
});

test("no product file imports from __tests__/", () => {
  expect(filesWith(/(?:from\s+|require\(|import\()\s*["'][^"']*__tests__/)).toEqual([]);
});

test.each(Object.entries(ENV))("environment variable %s (%s) is spelled in one file only", (_key, name) => {
  // In the function contract, or (a deployment setting passed on unchanged) in the configuration.
  expect(filesWith(quoted(name))).toEqual([expect.stringMatching(/^src\/contracts\/(functions|config)\.ts$/)]);
});

test.each([HEALTH_PATH, BALANCES_PATH, TRANSACTIONS_PATH, ...API_ROUTES.map((r) => r.path)])(
  "route %s is spelled in one file only",
  (route) => {
    const where = filesWith(quoted(route));
    // A derived route (`${TRANSACTIONS_PATH}/{id}`) is spelled nowhere as a whole.
    expect(where.length).toBeLessThanOrEqual(1);
    if (where.length === 1) expect(where).toEqual(["src/contracts/api.ts"]);
  },
);

test("each resource name base (payment-...) is spelled in one file only", () => {
  const byBase = new Map<string, Set<string>>();
  for (const [file, text] of files) {
    for (const match of text.matchAll(/["'](payment-[a-z0-9-]+)/g)) {
      const base = match[1]!.replace(/-$/, "");
      if (!byBase.has(base)) byBase.set(base, new Set());
      byBase.get(base)!.add(file);
    }
  }
  expect(byBase.size).toBeGreaterThan(20);
  const repeated = [...byBase].filter(([, where]) => where.size > 1).map(([base, where]) => `${base}: ${[...where].join(", ")}`);
  expect(repeated).toEqual([]);
});
