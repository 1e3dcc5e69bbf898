import * as path from "node:path";
import { globToRegExp, loadCheckedList } from "../lib/checked-list";

/**
 * Accepted checkov exceptions (accepted.json beside this file): each names the
 * check, the resources it covers and why the finding is accepted instead of fixed.
 */
export interface AcceptedException {
  /** checkov check id, e.g. CKV_AWS_139 or CKV2_AWS_8. */
  readonly id: string;
  /**
   * Resource address patterns: `type.name` (any stack) or `stack/type.name`; `*` matches any
   * run of characters, e.g. `aws_lambda_function.functions_payment-gateway_function_*`.
   */
  readonly resources: readonly string[];
  /** Why this is accepted: specific to the resources, not a restatement of the check. */
  readonly reason: string;
}

export const ACCEPTED_FILE = path.join(__dirname, "accepted.json");

export const CHECK_ID = /^CKV2?_AWS_\d+$/;
export const MIN_REASON_LENGTH = 40;
const RESOURCE_PATTERN = /^([a-z0-9_-]+\/)?aws_[a-z0-9_]+\.[A-Za-z0-9_*-]+$/;

/** Problems with the file's shape, one message each; empty when valid. */
export function validateAccepted(data: unknown): string[] {
  const problems: string[] = [];
  if (typeof data !== "object" || data === null || !Array.isArray((data as { accepted?: unknown }).accepted)) {
    return ['expected an object with an "accepted" array'];
  }
  const seen = new Set<string>();
  (data as { accepted: unknown[] }).accepted.forEach((entry, i) => {
    const where = `accepted[${i}]`;
    if (typeof entry !== "object" || entry === null) {
      problems.push(`${where}: expected an object`);
      return;
    }
    const { id, resources, reason, ...rest } = entry as Record<string, unknown>;
    const label = typeof id === "string" ? `${where} (${id})` : where;
    if (typeof id !== "string" || !CHECK_ID.test(id)) problems.push(`${label}: "id" must look like CKV_AWS_123 or CKV2_AWS_12`);
    if (!Array.isArray(resources) || resources.length === 0) {
      problems.push(`${label}: "resources" must be a non-empty array of resource address patterns`);
    } else {
      for (const r of resources) {
        if (typeof r !== "string" || !RESOURCE_PATTERN.test(r)) {
          problems.push(`${label}: resource ${JSON.stringify(r)} is not "type.name" or "stack/type.name" (glob * allowed in the name)`);
        }
        const key = `${String(id)} ${String(r)}`;
        if (seen.has(key)) problems.push(`${label}: ${String(r)} is listed twice for this check`);
        seen.add(key);
      }
    }
    if (typeof reason !== "string" || reason.trim().length < MIN_REASON_LENGTH) {
      problems.push(`${label}: "reason" must explain the exception in at least ${MIN_REASON_LENGTH} characters`);
    }
    const unknown = Object.keys(rest);
    if (unknown.length) problems.push(`${label}: unknown field(s) ${unknown.join(", ")}`);
  });
  return problems;
}

export function loadAccepted(file = ACCEPTED_FILE): AcceptedException[] {
  return loadCheckedList<AcceptedException>(file, "accepted", validateAccepted);
}

/** Does `pattern` cover the resource `address` (`type.name`) of `stack`? */
export function patternMatches(pattern: string, stack: string, address: string): boolean {
  return globToRegExp(pattern).test(pattern.includes("/") ? `${stack}/${address}` : address);
}
