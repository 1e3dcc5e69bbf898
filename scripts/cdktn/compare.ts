/**
 * The comparison behind `npm run check:cdktn`, free of I/O except loading the expected list: the
 * Terraform JSON that cdktf synthesizes against what CDK Terrain synthesizes from the same commit,
 * block by block and attribute by attribute, and the review of each difference against
 * expected-differences.json beside this file.
 */

import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { globToRegExp, loadCheckedList } from "../lib/checked-list";

/** A synthesized stack's Terraform JSON. */
export type StackJson = Record<string, unknown>;

/** How a difference is printed and judged. */
export type Group = "provider-constraint" | "metadata" | "resources";

export const GROUP_TITLES: Readonly<Record<Group, string>> = {
  "provider-constraint": "provider version constraint (terraform.required_providers.*.version)",
  metadata: "metadata (// comments, terraform.required_providers, backend)",
  resources: "resource attributes (resources, data sources, ephemeral resources, providers, outputs)",
};

export interface Difference {
  /** The synth profile (settings) both sides were synthesized with. */
  readonly profile: string;
  readonly stack: string;
  readonly group: Group;
  /**
   * The block: `aws_type.name` (resource), `data.aws_type.name`, `ephemeral.aws_type.name`,
   * `provider.aws` or `provider.aws.<alias>`, `output.name`, `terraform`, `//`.
   */
  readonly address: string;
  /** Path inside the block (`tags.Name`, `rule[0].filter`); "" for the block as a whole. */
  readonly attribute: string;
  /** cdktf's value; undefined when absent there. */
  readonly before: unknown;
  /** CDK Terrain's value; undefined when absent there. */
  readonly after: unknown;
}

/** An entry of expected-differences.json. */
export interface ExpectedDifference {
  /** Block address pattern, `*` matching any run of characters. */
  readonly address: string;
  /** Attribute path pattern; absent: any attribute, including the whole block. */
  readonly attribute?: string;
  /** Stacks it applies to; absent: every stack. */
  readonly stacks?: readonly string[];
  /** Why CDK Terrain's output may differ here, specifically. */
  readonly reason: string;
}

export const EXPECTED_FILE = path.join(__dirname, "expected-differences.json");
export const MIN_REASON_LENGTH = 40;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// ------------------------------------------------------------------ blocks and differences

/**
 * A stack's blocks by address. Resources, data sources and ephemeral resources are keyed by type
 * and name, providers by name and alias (so their order in the array does not matter), anything
 * else at the top level by its key and name; `terraform` and `//` are one block each.
 */
export function stackBlocks(json: StackJson): Map<string, unknown> {
  const blocks = new Map<string, unknown>();
  for (const [key, value] of Object.entries(json)) {
    if (key === "//" || key === "terraform" || !isObject(value)) {
      blocks.set(key, value);
    } else if (key === "resource" || key === "data" || key === "ephemeral") {
      const prefix = key === "resource" ? "" : `${key}.`;
      for (const [type, byName] of Object.entries(value)) {
        if (!isObject(byName)) {
          blocks.set(`${prefix}${type}`, byName);
          continue;
        }
        for (const [name, block] of Object.entries(byName)) blocks.set(`${prefix}${type}.${name}`, block);
      }
    } else if (key === "provider") {
      for (const [name, configs] of Object.entries(value)) {
        for (const config of Array.isArray(configs) ? configs : [configs]) {
          const alias = isObject(config) && typeof config.alias === "string" ? `.${config.alias}` : "";
          blocks.set(`provider.${name}${alias}`, config);
        }
      }
    } else {
      for (const [name, block] of Object.entries(value)) blocks.set(`${key}.${name}`, block);
    }
  }
  return blocks;
}

function child(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  const part = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return parent ? `${parent}.${part}` : part;
}

/** Every leaf where `before` and `after` differ, with its path below `at`. */
export function valueDifferences(before: unknown, after: unknown, at = ""): { attribute: string; before: unknown; after: unknown }[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => valueDifferences(before[k], after[k], child(at, k)));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_, i) => valueDifferences(before[i], after[i], child(at, i))).flat();
  }
  return [{ attribute: at, before, after }];
}

/** The group a difference is printed under. */
export function groupOf(address: string, attribute: string): Group {
  if (address === "terraform" && /^required_providers\.[^.[]+\.version$/.test(attribute)) return "provider-constraint";
  if (address === "//" || address === "terraform") return "metadata";
  return "resources";
}

/**
 * Whether a difference fails the check unless expected-differences.json lists it: everything
 * Terraform acts on does. The `//` comments (cdktf's bookkeeping, which Terraform ignores) and
 * terraform.required_providers (its version constraint is checked by the validate phase, its
 * source resolved by terraform init there) are reported only.
 */
export function needsListing(d: Pick<Difference, "address" | "attribute">): boolean {
  if (d.address === "//") return false;
  if (d.address === "terraform" && (d.attribute === "required_providers" || d.attribute.startsWith("required_providers."))) return false;
  return true;
}

/** The differences between one stack's cdktf JSON and its CDK Terrain JSON. */
export function stackDifferences(profile: string, stack: string, cdktf: StackJson, cdktn: StackJson): Difference[] {
  const before = stackBlocks(cdktf);
  const after = stackBlocks(cdktn);
  const addresses = [...new Set([...before.keys(), ...after.keys()])].sort();
  return addresses.flatMap((address) =>
    valueDifferences(before.get(address), after.get(address)).map((d) => ({
      profile,
      stack,
      group: groupOf(address, d.attribute),
      address,
      ...d,
    })),
  );
}

/** The differences between two synthesized apps (stack name -> JSON); a stack on one side only is one difference. */
export function appDifferences(
  profile: string,
  cdktf: Readonly<Record<string, StackJson>>,
  cdktn: Readonly<Record<string, StackJson>>,
): Difference[] {
  const stacks = [...new Set([...Object.keys(cdktf), ...Object.keys(cdktn)])].sort();
  return stacks.flatMap((stack) => {
    if (!cdktf[stack] || !cdktn[stack]) {
      return [
        {
          profile,
          stack,
          group: "resources" as const,
          address: "(stack)",
          attribute: "",
          before: cdktf[stack] ? "synthesized" : undefined,
          after: cdktn[stack] ? "synthesized" : undefined,
        },
      ];
    }
    return stackDifferences(profile, stack, cdktf[stack], cdktn[stack]);
  });
}

// ------------------------------------------------------------------ the expected list

const ADDRESS_PATTERN =
  /^(\(stack\)|terraform|(data\.|ephemeral\.)?[a-z0-9_*]+\.[A-Za-z0-9_*-]+|provider\.[a-z0-9_*]+(\.[A-Za-z0-9_*-]+)?|output\.[A-Za-z0-9_*-]+)$/;
const STACK_PATTERN = /^[A-Za-z0-9_-]+$/;
const KNOWN_FIELDS = new Set(["address", "attribute", "stacks", "reason"]);

/** Problems with expected-differences.json's shape, one message each; empty when valid. */
export function validateExpected(data: unknown): string[] {
  if (!isObject(data) || !Array.isArray(data.differences)) return ['expected an object with a "differences" array'];
  const problems: string[] = [];
  const seen = new Set<string>();
  data.differences.forEach((entry, i) => {
    const where = `differences[${i}]`;
    if (!isObject(entry)) {
      problems.push(`${where}: expected an object`);
      return;
    }
    const label = typeof entry.address === "string" ? `${where} (${entry.address})` : where;
    if (typeof entry.address !== "string" || !ADDRESS_PATTERN.test(entry.address)) {
      problems.push(
        `${label}: "address" must be a block address such as aws_s3_bucket.name, data.aws_type.name, provider.aws, output.name or terraform (* allowed)`,
      );
    }
    if (entry.attribute !== undefined && (typeof entry.attribute !== "string" || entry.attribute.trim() === "")) {
      problems.push(`${label}: "attribute" must be a non-empty attribute path such as tags.Name or rule[0].filter (leave it out for any)`);
    }
    if (
      entry.stacks !== undefined &&
      (!Array.isArray(entry.stacks) ||
        entry.stacks.length === 0 ||
        !entry.stacks.every((s) => typeof s === "string" && STACK_PATTERN.test(s)))
    ) {
      problems.push(`${label}: "stacks" must be a non-empty array of stack names (leave it out for every stack)`);
    }
    if (typeof entry.reason !== "string" || entry.reason.trim().length < MIN_REASON_LENGTH) {
      problems.push(`${label}: "reason" must say why CDK Terrain differs here, in at least ${MIN_REASON_LENGTH} characters`);
    }
    const unknown = Object.keys(entry).filter((k) => !KNOWN_FIELDS.has(k));
    if (unknown.length) problems.push(`${label}: unknown field(s) ${unknown.join(", ")}`);
    const key = JSON.stringify([entry.address, entry.attribute ?? null, entry.stacks ?? null]);
    if (seen.has(key)) problems.push(`${label}: listed twice`);
    seen.add(key);
  });
  return problems;
}

export function loadExpected(file = EXPECTED_FILE): ExpectedDifference[] {
  return loadCheckedList<ExpectedDifference>(file, "differences", validateExpected);
}

/** Does `entry` cover the difference? */
export function entryMatches(entry: ExpectedDifference, d: Difference): boolean {
  if (entry.stacks && !entry.stacks.includes(d.stack)) return false;
  if (!globToRegExp(entry.address).test(d.address)) return false;
  return entry.attribute === undefined || globToRegExp(entry.attribute).test(d.attribute);
}

export interface Review {
  readonly differences: readonly Difference[];
  /** Differences an entry covers, with the first entry that does. */
  readonly listed: readonly { readonly difference: Difference; readonly entry: ExpectedDifference }[];
  /** Differences that fail: they need an entry and none covers them. */
  readonly unlisted: readonly Difference[];
  /** Reported only: no entry needed, none covers them. */
  readonly reported: readonly Difference[];
  /** Entries that cover no difference (fail: remove them). */
  readonly stale: readonly ExpectedDifference[];
}

/** Judges every difference against the expected list. */
export function review(differences: readonly Difference[], expected: readonly ExpectedDifference[]): Review {
  const used = new Set<ExpectedDifference>();
  const listed: { difference: Difference; entry: ExpectedDifference }[] = [];
  const unlisted: Difference[] = [];
  const reported: Difference[] = [];
  for (const difference of differences) {
    const matching = expected.filter((e) => entryMatches(e, difference));
    for (const e of matching) used.add(e);
    if (matching.length) listed.push({ difference, entry: matching[0] });
    else if (needsListing(difference)) unlisted.push(difference);
    else reported.push(difference);
  }
  return { differences, listed, unlisted, reported, stale: expected.filter((e) => !used.has(e)) };
}

export function passed(r: Review): boolean {
  return r.unlisted.length === 0 && r.stale.length === 0;
}

// ------------------------------------------------------------------ printing

function show(value: unknown, max = 120): string {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/**
 * The review as lines, grouped (provider version constraint, metadata, resource attributes); the
 * same difference in several stacks or profiles is one line naming them all. Each line says what
 * it means for the check: `info` (reported only), `listed` (followed by the entry's reason) or
 * `UNLISTED` (fails).
 */
export function formatReview(r: Review): string[] {
  const verdict = new Map<Difference, { label: string; reason?: string }>();
  for (const d of r.reported) verdict.set(d, { label: "info" });
  for (const { difference, entry } of r.listed) verdict.set(difference, { label: "listed", reason: entry.reason });
  for (const d of r.unlisted) verdict.set(d, { label: "UNLISTED" });
  const lines: string[] = [];
  for (const group of Object.keys(GROUP_TITLES) as Group[]) {
    const inGroup = r.differences.filter((d) => d.group === group);
    lines.push(`${GROUP_TITLES[group]}: ${inGroup.length ? `${inGroup.length} difference(s)` : "no difference"}`);
    const collapsed = new Map<string, { d: Difference; where: string[] }>();
    for (const d of inGroup) {
      const { label, reason } = verdict.get(d)!;
      const key = JSON.stringify([d.address, d.attribute, show(d.before, Infinity), show(d.after, Infinity), label, reason]);
      const line = collapsed.get(key) ?? { d, where: [] };
      line.where.push(`${d.profile}/${d.stack}`);
      collapsed.set(key, line);
    }
    for (const { d, where } of collapsed.values()) {
      const { label, reason } = verdict.get(d)!;
      const target = d.attribute ? `${d.address} ${d.attribute}` : d.address;
      lines.push(`  ${label.padEnd(8)} ${target}: ${show(d.before)} -> ${show(d.after)}  [${where.join(", ")}]`);
      if (reason) lines.push(`           why: ${reason}`);
    }
  }
  for (const e of r.stale) {
    lines.push(
      `STALE entry in expected-differences.json (matches nothing, remove it): ${e.address}${e.attribute ? ` ${e.attribute}` : ""}`,
    );
  }
  return lines;
}
