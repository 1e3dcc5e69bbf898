import * as path from "node:path";
import { globToRegExp, loadCheckedList } from "../lib/checked-list";
import type { StackJson } from "./terraform";

/**
 * The rehearsal's exceptions (scripts/terraform/exceptions.json): the only differences, besides the
 * `*_override.tf.json` files that point providers, backends and remote-state reads at the emulator,
 * between what `npm run rehearse` deploys and what was synthesized. Each names the resources it
 * covers, what is done to them, and the emulator (moto) limitation that forces it.
 *
 * Effects:
 *   omit            the resource is left out of the copy. Other blocks that read one of its
 *                   attributes get the entry's `references` expression for that attribute instead
 *                   (placeholders: {{argument}} = that argument of the omitted resource as an
 *                   expression, {{region}} = the region of its provider); `depends_on` on it is dropped.
 *   omit_attribute  the top-level arguments `attributes` are left out of the matched resources.
 *   ignore_changes  `attributes` (argument paths such as `rule[0].filter`) are added to the matched
 *                   resources' lifecycle.ignore_changes: moto reports them differently from what was
 *                   set, so a plan after apply would show a change that is the emulator's.
 */
export interface RehearsalException {
  /** `type` (every resource of the type) or `type.name` with `*` as a wildcard in the name. */
  readonly resource: string;
  /** Stacks the entry applies to; every stack when absent. */
  readonly stacks?: readonly string[];
  readonly effect: "omit" | "omit_attribute" | "ignore_changes";
  /** The arguments, for omit_attribute and ignore_changes. */
  readonly attributes?: readonly string[];
  /** omit only: stand-in expressions for the attributes other blocks read. */
  readonly references?: Readonly<Record<string, string>>;
  /** The moto limitation that forces this, specifically. */
  readonly limitation: string;
}

export const EXCEPTIONS_FILE = path.join(__dirname, "exceptions.json");
export const MIN_LIMITATION_LENGTH = 40;
const EFFECTS = ["omit", "omit_attribute", "ignore_changes"] as const;
const RESOURCE_PATTERN = /^aws_[a-z0-9_]+(\.[A-Za-z0-9_*-]+)?$/;
const ATTRIBUTE_PATTERN = /^[a-z0-9_]+$/;
/** An argument path for ignore_changes: `name`, `name[0].nested`, ... */
const ATTRIBUTE_PATH_PATTERN = /^[a-z0-9_]+(\[\d+\])?(\.[a-z0-9_]+(\[\d+\])?)*$/;
const STACK_PATTERN = /^[A-Za-z0-9_-]+$/;
const KNOWN_FIELDS = new Set(["resource", "stacks", "effect", "attributes", "references", "limitation"]);

/** Problems with the file's shape, one message each; empty when valid. */
export function validateExceptions(data: unknown): string[] {
  if (typeof data !== "object" || data === null || !Array.isArray((data as { exceptions?: unknown }).exceptions)) {
    return ['expected an object with an "exceptions" array'];
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  (data as { exceptions: unknown[] }).exceptions.forEach((entry, i) => {
    const where = `exceptions[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const label = typeof e.resource === "string" ? `${where} (${e.resource})` : where;
    if (typeof e.resource !== "string" || !RESOURCE_PATTERN.test(e.resource)) {
      problems.push(`${label}: "resource" must be "aws_type" or "aws_type.name" (glob * allowed in the name)`);
    }
    if (!EFFECTS.includes(e.effect as (typeof EFFECTS)[number])) problems.push(`${label}: "effect" must be one of ${EFFECTS.join(", ")}`);
    if (e.effect === "omit") {
      if (e.attributes !== undefined) problems.push(`${label}: "attributes" do not go with effect omit (the whole resource is left out)`);
    } else if (EFFECTS.includes(e.effect as (typeof EFFECTS)[number])) {
      const pattern = e.effect === "omit_attribute" ? ATTRIBUTE_PATTERN : ATTRIBUTE_PATH_PATTERN;
      if (
        !Array.isArray(e.attributes) ||
        e.attributes.length === 0 ||
        !e.attributes.every((a) => typeof a === "string" && pattern.test(a))
      ) {
        problems.push(
          `${label}: "attributes" must be a non-empty array of ${e.effect === "omit_attribute" ? "top-level argument names (snake_case)" : "argument paths such as rule[0].filter"} for effect ${String(e.effect)}`,
        );
      }
    }
    if (e.references !== undefined) {
      const refs = e.references;
      if (e.effect !== "omit") problems.push(`${label}: "references" only goes with effect omit`);
      else if (typeof refs !== "object" || refs === null || Array.isArray(refs) || Object.keys(refs).length === 0) {
        problems.push(`${label}: "references" must map attribute names to stand-in expressions`);
      } else {
        for (const [attr, expr] of Object.entries(refs)) {
          if (!ATTRIBUTE_PATTERN.test(attr) || typeof expr !== "string" || expr.trim() === "") {
            problems.push(`${label}: references.${attr} must be a non-empty expression for a snake_case attribute`);
          }
        }
      }
    }
    if (
      e.stacks !== undefined &&
      (!Array.isArray(e.stacks) || e.stacks.length === 0 || !e.stacks.every((s) => typeof s === "string" && STACK_PATTERN.test(s)))
    ) {
      problems.push(`${label}: "stacks" must be a non-empty array of stack names (or absent for every stack)`);
    }
    if (typeof e.limitation !== "string" || e.limitation.trim().length < MIN_LIMITATION_LENGTH) {
      problems.push(
        `${label}: "limitation" must name the moto limitation that forces this in at least ${MIN_LIMITATION_LENGTH} characters`,
      );
    }
    const unknown = Object.keys(e).filter((k) => !KNOWN_FIELDS.has(k));
    if (unknown.length) problems.push(`${label}: unknown field(s) ${unknown.join(", ")}`);
    const key = JSON.stringify([e.resource, e.effect, Array.isArray(e.stacks) ? [...e.stacks].sort() : null]);
    if (seen.has(key)) problems.push(`${label}: listed twice`);
    seen.add(key);
  });
  return problems;
}

export function loadExceptions(file = EXCEPTIONS_FILE): RehearsalException[] {
  return loadCheckedList<RehearsalException>(file, "exceptions", validateExceptions);
}

/** Does the entry cover resource `type.name` of `stack`? */
export function exceptionMatches(entry: RehearsalException, stack: string, type: string, name: string): boolean {
  if (entry.stacks && !entry.stacks.includes(stack)) return false;
  const [entryType, namePattern] = entry.resource.split(/\.(.*)/s);
  return entryType === type && (namePattern === undefined || globToRegExp(namePattern).test(name));
}

/** One change made to a copy: which entry, where. */
export interface AppliedException {
  readonly entry: number;
  readonly stack: string;
  /** `type.name` */
  readonly address: string;
}

export interface ExceptionsResult {
  readonly applied: AppliedException[];
  /** Entries (by index) that matched nothing in any stack: remove them. */
  readonly stale: number[];
  /** Omitted resources still read by other blocks without a stand-in, and similar. */
  readonly problems: string[];
}

/** The region a resource's provider (default or `aws.<alias>`) is configured for. */
function regionOf(json: StackJson, resource: Record<string, unknown>): string | undefined {
  const providers: Record<string, unknown>[] = [].concat(json.provider?.aws ?? []);
  const alias = typeof resource.provider === "string" ? resource.provider.replace(/^aws\./, "") : undefined;
  const provider = providers.find((p) => (alias ? p.alias === alias : p.alias === undefined));
  return typeof provider?.region === "string" ? provider.region : undefined;
}

/** An argument value as an HCL expression: a lone `${expr}` becomes expr, any other string a quoted template. */
function asExpression(value: unknown): string {
  if (typeof value === "string") {
    const lone = /^\$\{([^{}]*)\}$/.exec(value);
    return lone ? lone[1] : JSON.stringify(value);
  }
  return JSON.stringify(value);
}

/** Applies `fn` to every string in `node` (recursively), replacing it with the result. */
function mapStrings(node: unknown, fn: (s: string) => string): unknown {
  if (typeof node === "string") return fn(node);
  if (Array.isArray(node)) return node.map((v) => mapStrings(v, fn));
  if (node && typeof node === "object") return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, mapStrings(v, fn)]));
  return node;
}

/**
 * Applies the exceptions to the stacks' JSON, in place (call it on copies). Pure apart from that:
 * no files, no terraform. Returns what was applied, the stale entries and any problems.
 */
export function applyExceptions(stacks: Record<string, StackJson>, exceptions: readonly RehearsalException[]): ExceptionsResult {
  const applied: AppliedException[] = [];
  const problems: string[] = [];
  for (const [stack, json] of Object.entries(stacks)) {
    const omitted: { type: string; name: string; entry: RehearsalException; region?: string; args: Record<string, unknown> }[] = [];
    for (const [type, byName] of Object.entries<Record<string, Record<string, any>>>(json.resource ?? {})) {
      for (const [name, resource] of Object.entries(byName)) {
        exceptions.forEach((entry, index) => {
          if (!exceptionMatches(entry, stack, type, name)) return;
          if (entry.effect === "omit") {
            omitted.push({ type, name, entry, region: regionOf(json, resource), args: resource });
          } else if (entry.effect === "omit_attribute") {
            const present = entry.attributes!.filter((a) => a in resource);
            if (!present.length) return;
            for (const a of present) delete resource[a];
          } else {
            resource.lifecycle ??= {};
            const lifecycle = resource.lifecycle;
            lifecycle.ignore_changes ??= [];
            const ignored: string[] = lifecycle.ignore_changes;
            if (!Array.isArray(ignored)) return; // "all" already
            for (const a of entry.attributes!) if (!ignored.includes(a)) ignored.push(a);
          }
          applied.push({ entry: index, stack, address: `${type}.${name}` });
        });
      }
    }
    for (const o of omitted) {
      delete json.resource[o.type][o.name];
      if (Object.keys(json.resource[o.type]).length === 0) delete json.resource[o.type];
    }
    for (const o of omitted) {
      const address = `${o.type}.${o.name}`;
      const escaped = address.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
      // depends_on entries naming the omitted resource go.
      for (const byName of Object.values<Record<string, Record<string, any>>>(json.resource ?? {})) {
        for (const resource of Object.values(byName)) {
          if (Array.isArray(resource.depends_on)) {
            resource.depends_on = resource.depends_on.filter((d: string) => d !== address);
            if (resource.depends_on.length === 0) delete resource.depends_on;
          }
        }
      }
      const reference = new RegExp(`(?<![\\w.-])${escaped}(?:\\.([a-z0-9_]+))?(?![\\w-])`, "g");
      for (const section of ["resource", "data", "output", "locals", "module", "ephemeral"]) {
        if (!json[section]) continue;
        json[section] = mapStrings(json[section], (s) =>
          s.replace(reference, (match, attribute: string | undefined) => {
            const standIn = attribute ? o.entry.references?.[attribute] : undefined;
            if (!standIn) {
              problems.push(`${stack}: ${address} is omitted but ${match} is still read; give a stand-in under "references"`);
              return match;
            }
            const expression = standIn.replace(/\{\{region\}\}/g, o.region ?? "").replace(/\{\{([a-z0-9_]+)\}\}/g, (_, arg: string) => {
              if (!(arg in o.args)) problems.push(`${stack}: stand-in for ${match} uses {{${arg}}}, which ${address} does not set`);
              return asExpression(o.args[arg]);
            });
            return `(${expression})`;
          }),
        );
      }
    }
  }
  const stale = exceptions.map((_, i) => i).filter((i) => !applied.some((a) => a.entry === i));
  return { applied, stale, problems: [...new Set(problems)] };
}
