import { LedgerError } from "./errors";

/** "2026-01-02 03:04:05.123456" (DATETIME(6) in UTC) -> "2026-01-02T03:04:05.123456Z". */
export function fromDatetime(value: string): string {
  return `${value.replace(" ", "T")}Z`;
}

/** BIGINT and DECIMAL arrive as strings (bigNumberStrings); amounts must be safe integers. */
export function toSafeInteger(value: string | number, what: string): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new LedgerError(`${what} ${value} is not a safe integer`);
  return n;
}
