/**
 * `deploy orphans`: the stack's resources in AWS that its Terraform state does not hold, each
 * with the `terraform import` line that hands it to the state, or the delete command when it
 * cannot be imported (a second copy of a resource the state already holds, a copy inside a VPC or
 * API that is itself deleted, a resource the stack no longer declares). Read-only.
 *
 * Matching is by identity, not by tags: the synthesized stack gives each declared resource a key
 * (catalog.ts), the finder looks for copies with that key in AWS, and the state tells which copy,
 * if any, Terraform already holds at that address.
 */
import type { OperationResult } from "../command-line";
import { type Found, IN_PLACE_TYPES, KINDS, type Kind, type Ref, type RegionClients, type TerraformArgs, type Wanted } from "./catalog";
import type { LoadedState, StateResources, SynthStack } from "./stack";

export type Action = "held" | "import" | "delete" | "ignored";

export interface Decision {
  readonly found: Found;
  readonly region: string;
  readonly action: Action;
  /** The declared resource it is a copy of. */
  readonly address?: string;
  /** Why it cannot be imported (delete), or that it goes with its parent. */
  readonly reason?: string;
  /** Deleted with its parent: no command of its own. */
  readonly withParent?: boolean;
}

export interface Declared {
  /** type -> key -> addresses (more than one: the key cannot tell them apart, not checked). */
  readonly byKey: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
  /** region -> type -> the declared resources with their keys. */
  readonly wanted: ReadonlyMap<string, ReadonlyMap<string, readonly Wanted[]>>;
  /** Declared resources the finder does not look for, with why. */
  readonly notChecked: readonly string[];
}

const KIND_BY_TYPE = new Map(KINDS.map((k) => [k.type, k]));
const REFERENCE = /^\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[a-z_]+\}$/;

/** The key of each declared resource, and what the finder cannot check. */
export function declared(stack: SynthStack): Declared {
  const keys = new Map<string, string | undefined>();
  const keyOf = (address: string): string | undefined => {
    if (keys.has(address)) return keys.get(address);
    keys.set(address, undefined); // a cycle resolves to "unknown"
    const resource = stack.byAddress.get(address);
    const kind = resource && KIND_BY_TYPE.get(resource.type);
    const key = kind ? kind.key(resource.args as TerraformArgs, ref) : undefined;
    keys.set(address, key);
    return key;
  };
  const ref: Ref = (expression) => {
    const m = typeof expression === "string" ? REFERENCE.exec(expression) : null;
    return m ? keyOf(`${m[1]}.${m[2]}`) : undefined;
  };
  const byKey = new Map<string, Map<string, string[]>>();
  const wanted = new Map<string, Map<string, Wanted[]>>();
  const notChecked: string[] = [];
  for (const r of stack.resources) {
    if (IN_PLACE_TYPES.has(r.type)) continue;
    const key = keyOf(r.address);
    if (key === undefined) {
      const remote = JSON.stringify(r.args).includes("${data.terraform_remote_state.");
      notChecked.push(
        `${r.address} (${remote ? "its identity is not known before apply: it reads another stack's state" : `no finder for ${r.type}`})`,
      );
      continue;
    }
    const ofType = byKey.get(r.type) ?? new Map<string, string[]>();
    byKey.set(r.type, ofType);
    ofType.set(key, [...(ofType.get(key) ?? []), r.address]);
    const inRegion = wanted.get(r.region) ?? new Map<string, Wanted[]>();
    wanted.set(r.region, inRegion);
    inRegion.set(r.type, [...(inRegion.get(r.type) ?? []), { address: r.address, key, args: r.args as TerraformArgs }]);
  }
  for (const [type, ofType] of byKey) {
    for (const [key, addresses] of ofType) {
      if (addresses.length > 1) notChecked.push(`${addresses.join(", ")} (${type} with the same identity "${key}")`);
    }
  }
  return { byKey, wanted, notChecked };
}

/** Finds the copies of every declared resource, region by region, parents before their parts. */
export async function findCopies(
  stack: SynthStack,
  decl: Declared,
  clients: (region: string) => RegionClients,
): Promise<{ region: string; found: Found }[]> {
  const result: { region: string; found: Found }[] = [];
  for (const region of [...decl.wanted.keys()].sort((a, b) => (a === stack.region ? -1 : b === stack.region ? 1 : a.localeCompare(b)))) {
    const inRegion = decl.wanted.get(region)!;
    const found: Found[] = [];
    for (const kind of KINDS) {
      const wanted = inRegion.get(kind.type);
      if (!wanted?.length) continue;
      const copies = await kind.find({ region, clients: clients(region), found }, wanted);
      found.push(...copies);
    }
    result.push(...found.map((f) => ({ region, found: f })));
  }
  return result;
}

const stateIds = (attributes: Readonly<Record<string, unknown>> | undefined) =>
  [attributes?.id, attributes?.arn].filter((v): v is string => typeof v === "string");

/**
 * What to do with each copy: held (the state has it at its address), import (the state has
 * nothing there: the copy with the most parts in it, then the oldest, then the first by id),
 * delete (another copy, one inside a parent that is not kept, or one the stack does not declare),
 * ignored (a part the stack does not declare of a kept parent, such as a group's inline rule).
 */
export function decide(decl: Declared, state: StateResources, copies: readonly { region: string; found: Found }[]): Decision[] {
  const kept = new Set<string>([...state.values()].flatMap(stateIds));
  const children = (f: Found) => copies.filter((c) => c.found.parent === f.stateId).length;
  const decisions: Decision[] = [];
  for (const kind of KINDS) {
    const ofKind = copies.filter((c) => c.found.type === kind.type);
    const candidates = new Map<string, { region: string; found: Found }[]>();
    for (const copy of ofKind) {
      const { found } = copy;
      const addresses = decl.byKey.get(kind.type)?.get(found.key);
      const address = addresses?.length === 1 ? addresses[0] : undefined;
      const parentGone = found.parent !== undefined && !kept.has(found.parent);
      if (!address) {
        if (addresses || (kind.onlyDeclared && !parentGone)) decisions.push({ ...copy, action: "ignored" });
        else
          decisions.push(
            deletion(kind, copy, undefined, parentGone ? `in ${found.parent}, which is deleted` : "the stack does not declare it"),
          );
        continue;
      }
      const held = state.get(address);
      if (stateIds(held).includes(found.stateId)) {
        decisions.push({ ...copy, action: "held", address });
      } else if (parentGone) {
        decisions.push(deletion(kind, copy, address, `in ${found.parent}, which is deleted`));
      } else if (held) {
        decisions.push(deletion(kind, copy, address, `another copy: the state holds ${address} as ${stateIds(held)[0]}`));
      } else {
        candidates.set(address, [...(candidates.get(address) ?? []), copy]);
      }
    }
    for (const [address, group] of candidates) {
      const ranked = [...group].sort(
        (a, b) =>
          children(b.found) - children(a.found) ||
          (a.found.created?.getTime() ?? 0) - (b.found.created?.getTime() ?? 0) ||
          a.found.stateId.localeCompare(b.found.stateId),
      );
      const [first, ...others] = ranked;
      decisions.push({ ...first!, action: "import", address });
      kept.add(first!.found.stateId);
      for (const other of others)
        decisions.push(deletion(kind, other, address, `another copy of ${address}: ${first!.found.stateId} is imported`));
    }
  }
  return decisions;
}

function deletion(kind: Kind, copy: { region: string; found: Found }, address: string | undefined, reason: string): Decision {
  const withParent = kind.goesWithParent === true && reason.startsWith("in ");
  return { ...copy, action: "delete", address, reason, withParent };
}

/** A value as one shell word. */
const shellWord = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** The line that imports a copy, to run where the stack's configuration is. */
export function importLine(stackDir: string, address: string, importId: string): string {
  return `terraform -chdir=${shellWord(stackDir)} import ${shellWord(address)} ${shellWord(importId)}`;
}

export interface OrphansReport extends OperationResult {
  readonly decisions: readonly Decision[];
}

/** The report: imports in dependency order, then deletes, parts before what they live in. */
export function report(
  stack: SynthStack,
  stackName: string,
  state: LoadedState,
  decl: Declared,
  decisions: readonly Decision[],
): OrphansReport {
  const imports = decisions.filter((d) => d.action === "import");
  const deletes = decisions.filter((d) => d.action === "delete");
  const held = decisions.filter((d) => d.action === "held").length;
  const lines: string[] = [
    `Stack ${stackName} (${stack.region}), state ${state.source}: ${state.exists ? `${state.resources.size} resource(s) held` : "NO STATE (nothing saved yet)"}; ${held} found copies are held by it.`,
  ];
  if (imports.length) {
    lines.push("", `Import (${imports.length}): the state does not hold these; run each line (one terraform run each), then the deletes:`);
    for (const d of imports) lines.push(`  ${importLine(stack.dir, d.address!, d.found.importId)}    # ${d.region}: ${d.found.label}`);
  }
  if (deletes.length) {
    lines.push("", `Delete (${deletes.length}): cannot be imported; run in this order, after the imports:`);
    for (const d of [...deletes].reverse()) {
      const why = `${d.region}: ${d.found.label}: ${d.reason}`;
      lines.push(d.withParent ? `  # goes with its parent: ${why}` : `  ${d.found.delete}    # ${why}`);
    }
  }
  if (decl.notChecked.length) {
    lines.push("", `Not checked (${decl.notChecked.length}): look for these by hand if an apply was interrupted:`);
    for (const n of decl.notChecked) lines.push(`  ${n}`);
  }
  lines.push(
    "",
    imports.length || deletes.length
      ? `${imports.length} to import, ${deletes.length} to delete. Then terraform plan: it must not plan to create what you imported.`
      : "Nothing outside the state: no orphan found.",
  );
  return { exitCode: imports.length || deletes.length ? 2 : 0, lines, decisions };
}
