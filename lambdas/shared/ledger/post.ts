/**
 * Posting: a batch of journal entries in ONE database transaction, in two round trips (three
 * when an idle connection is pinged first):
 *
 *   1. SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION;
 *      INSERT accounts ... SELECT (the batch's missing merchant and clearing accounts);
 *      INSERT journal_entries ... SELECT ... WHERE NOT EXISTS (same transaction id);
 *      INSERT postings ... SELECT (both legs of every entry inserted by this call, one statement);
 *      SELECT the batch's entries as they now stand, with their number of postings.
 *   2. COMMIT, or ROLLBACK if the read-back shows anything but two legs per new POSTED entry.
 *
 * Exactly once, in whichever region: every region writes through the one Aurora writer, where
 * the unique transaction_id is the final guard. An entry that exists is not inserted again
 * (NOT EXISTS sees committed rows; READ COMMITTED takes a fresh snapshot per statement and no
 * gap locks). Two writers racing on an id that neither sees yet both insert; the second blocks
 * on the first's uncommitted row and, once that commits, fails with a duplicate key (or a
 * deadlock, when two batches lock in opposite orders): its whole transaction is rolled back.
 * By then the winner has committed, so postBatch runs the batch again at once in a new
 * transaction (raceRetries, default 2), which finds the entries and reports them as existing;
 * only a race that persists is reported as LedgerUnavailableError, for the queue to redeliver
 * (a redelivery waits a visibility timeout: minutes, where the retry takes milliseconds).
 * No INSERT IGNORE: a CHECK or foreign key failure stays an error (IGNORE would turn it into a
 * warning and silently drop rows).
 *
 * Rows inserted by this call carry its random batch_id, which is how the read-back tells
 * "posted now" from "was already there". After a COMMIT whose answer was lost, the retry
 * reports posted: false for entries that the lost commit did post: callers must treat an
 * existing entry with the expected outcome as done.
 */
import { randomBytes } from "node:crypto";
import * as z from "zod/mini";
import { once } from "../env";
import { ID_MAX_LENGTH, ID_PATTERN, TRANSACTION_ID_PATTERN } from "../schemas";
import type { LedgerConnection, LedgerSql } from "./connection";
import { LedgerError, LedgerUnavailableError } from "./errors";
import { fromDatetime, toSafeInteger } from "./values";

export const ENTRY_OUTCOMES = ["POSTED", "REJECTED"] as const;
export type EntryOutcome = (typeof ENTRY_OUTCOMES)[number];

export interface LedgerEntryInput {
  transactionId: string;
  merchantId: string;
  /** Integer minor units, > 0. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  /** POSTED moves money; REJECTED (e.g. over the risk limit) records the decision without postings. */
  outcome: EntryOutcome;
  /** Required for REJECTED. */
  reason?: string;
}

export const REGION_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
export const REASON_MAX_LENGTH = 255;

/** Built on first use: the balance reader and the migrator import this module and never post. */
export const ledgerEntrySchema = once(() =>
  z
    .object({
      transactionId: z.string().check(z.regex(TRANSACTION_ID_PATTERN, { error: "transactionId must be a lower-case UUID" })),
      merchantId: z
        .string()
        .check(
          z.minLength(1),
          z.maxLength(ID_MAX_LENGTH),
          z.regex(ID_PATTERN, { error: "merchantId has characters other than letters, digits and _ . : -" }),
        ),
      amount: z.number().check(z.int(), z.positive(), z.maximum(Number.MAX_SAFE_INTEGER)),
      currency: z.string().check(z.regex(/^[A-Z]{3}$/, { error: "currency must be three upper-case letters" })),
      outcome: z.enum(ENTRY_OUTCOMES),
      reason: z.optional(z.string().check(z.minLength(1), z.maxLength(REASON_MAX_LENGTH))),
    })
    .check(
      z.refine((e) => e.outcome === "POSTED" || e.reason !== undefined, { error: "a REJECTED entry needs a reason", path: ["reason"] }),
    ),
);

export interface ExistingEntry {
  merchantId: string;
  amount: number;
  currency: string;
}

export type PostResult =
  /** The ledger holds the entry. `posted` is true when this call wrote it. */
  | { status: "recorded"; posted: boolean; outcome: EntryOutcome; postedAt: string; region: string }
  /** The ledger already holds this transaction id with another merchant, amount or currency. */
  | { status: "conflict"; posted: false; outcome: EntryOutcome; postedAt: string; region: string; existing: ExistingEntry; message: string }
  /** The entry was not valid; nothing was written for it. */
  | { status: "invalid"; posted: false; message: string };

export interface PostOptions {
  /** Region of the processor posting the batch (recorded on each new entry). */
  region: string;
  /** Immediate re-runs of the batch after it lost a lock race (deadlock or duplicate key). @default 2 */
  raceRetries?: number;
}

/** A lost lock race: the winner has committed by the time the loser's rollback returns. */
const RACE_ERRNOS = new Set([1213, 1062]);

interface ReadBack {
  transaction_id: string;
  merchant_id: string;
  amount: string;
  currency: string;
  outcome: EntryOutcome;
  region: string;
  posted_at: string;
  mine: number | string;
  legs: number | string;
}

/** A string for an ascii column: explicit collation, so comparisons use the column's index. */
const ASCII = "CONVERT(? USING ascii) COLLATE ascii_bin";
const TEXT = "CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin";

/** A derived table of `rows` (UNION ALL of one SELECT per row), columns named a, b, c, ... */
function rowsOf(columns: readonly string[], rows: readonly (readonly unknown[])[]): { sql: string; values: unknown[] } {
  const first = "SELECT " + columns.map((c, i) => `${c} AS ${"abcdef"[i]}`).join(", ");
  const rest = "SELECT " + columns.join(", ");
  return { sql: rows.map((_, i) => (i === 0 ? first : rest)).join(" UNION ALL "), values: rows.flat() };
}

/** Validates and de-duplicates the batch; returns the entries to write and the per-entry refusals. */
function prepare(entries: readonly LedgerEntryInput[]): { valid: LedgerEntryInput[]; results: Map<string, PostResult> } {
  const results = new Map<string, PostResult>();
  const byId = new Map<string, LedgerEntryInput>();
  for (const entry of entries) {
    const id = typeof entry?.transactionId === "string" ? entry.transactionId : String(entry?.transactionId);
    const parsed = ledgerEntrySchema().safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      results.set(id, { status: "invalid", posted: false, message: `${issue?.path.join(".") || "entry"}: ${issue?.message}` });
      byId.delete(id);
      continue;
    }
    if (results.get(id)?.status === "invalid") continue;
    const e = parsed.data;
    const seen = byId.get(id);
    if (
      seen &&
      (seen.merchantId !== e.merchantId ||
        seen.amount !== e.amount ||
        seen.currency !== e.currency ||
        seen.outcome !== e.outcome ||
        seen.reason !== e.reason)
    ) {
      results.set(id, { status: "invalid", posted: false, message: "the batch holds this transaction id twice with different contents" });
      byId.delete(id);
      continue;
    }
    byId.set(id, e);
  }
  return { valid: [...byId.values()], results };
}

function writeStatements(
  valid: readonly LedgerEntryInput[],
  region: string,
  batchId: string,
): { sql: string; values: unknown[]; selectIndex: number } {
  const parts: string[] = ["SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "START TRANSACTION"];
  const values: unknown[] = [];

  // Accounts first used by this batch: each POSTED entry's merchant account and its currency's clearing account.
  const accounts = new Map<string, [string, string, string]>();
  for (const e of valid) {
    if (e.outcome !== "POSTED") continue;
    accounts.set(`M ${e.merchantId} ${e.currency}`, [e.merchantId, "MERCHANT", e.currency]);
    accounts.set(`C ${e.currency}`, ["", "CLEARING", e.currency]);
  }
  if (accounts.size > 0) {
    const rows = rowsOf([ASCII, ASCII, ASCII], [...accounts.values()]);
    parts.push(
      `INSERT INTO accounts (owner_id, kind, currency, created_at)
       SELECT n.a, n.b, n.c, UTC_TIMESTAMP(6) FROM (${rows.sql}) AS n
       WHERE NOT EXISTS (SELECT 1 FROM accounts x WHERE x.owner_id = n.a AND x.kind = n.b AND x.currency = n.c)`,
    );
    values.push(...rows.values);
  }

  const entryRows = rowsOf(
    [ASCII, ASCII, "?", ASCII, ASCII, TEXT],
    valid.map((e) => [e.transactionId, e.merchantId, e.amount, e.currency, e.outcome, e.reason ?? null]),
  );
  parts.push(
    `INSERT INTO journal_entries (transaction_id, merchant_id, amount, currency, outcome, reason, region, batch_id, posted_at)
     SELECT b.a, b.b, b.c, b.d, b.e, b.f, ${ASCII}, ${ASCII}, UTC_TIMESTAMP(6) FROM (${entryRows.sql}) AS b
     WHERE NOT EXISTS (SELECT 1 FROM journal_entries x WHERE x.transaction_id = b.a)`,
  );
  values.push(region, batchId, ...entryRows.values);

  const ids = valid.map((e) => e.transactionId);
  const inIds = ids.map(() => ASCII).join(", ");
  if (accounts.size > 0) {
    // Both legs of every entry this call inserted, in one statement: CREDIT the merchant, DEBIT clearing.
    const leg = (direction: string, kind: string, owner: string) =>
      `SELECT e.id, e.outcome, e.merchant_id, e.currency, e.amount, '${direction}', a.id, a.kind, a.owner_id
       FROM journal_entries e
       JOIN accounts a ON a.owner_id = ${owner} AND a.kind = '${kind}' AND a.currency = e.currency
       WHERE e.transaction_id IN (${inIds}) AND e.batch_id = ${ASCII} AND e.outcome = 'POSTED'`;
    parts.push(
      `INSERT INTO postings (entry_id, entry_outcome, entry_merchant_id, currency, amount, direction, account_id, account_kind, account_owner_id)
       ${leg("CREDIT", "MERCHANT", "e.merchant_id")} UNION ALL ${leg("DEBIT", "CLEARING", "''")}`,
    );
    values.push(...ids, batchId, ...ids, batchId);
  }

  parts.push(
    `SELECT e.transaction_id, e.merchant_id, e.amount, e.currency, e.outcome, e.region, e.posted_at,
            e.batch_id = ${ASCII} AS mine, (SELECT COUNT(*) FROM postings p WHERE p.entry_id = e.id) AS legs
     FROM journal_entries e WHERE e.transaction_id IN (${inIds})`,
  );
  values.push(batchId, ...ids);
  return { sql: parts.join(";\n"), values, selectIndex: parts.length - 1 };
}

/** Compares what the ledger holds with what was asked; throws if the ledger is not balanced. */
function resultOf(entry: LedgerEntryInput, row: ReadBack | undefined): PostResult {
  if (!row) throw new LedgerError(`ledger read-back is missing transaction ${entry.transactionId}`);
  const amount = toSafeInteger(row.amount, "amount");
  const legs = Number(row.legs);
  const mine = Number(row.mine) === 1;
  const expectedLegs = row.outcome === "POSTED" ? 2 : 0;
  if (legs !== expectedLegs) {
    throw new LedgerError(
      `ledger entry ${entry.transactionId} (${row.outcome}) has ${legs} postings instead of ${expectedLegs}; nothing was committed`,
    );
  }
  const base = { outcome: row.outcome, postedAt: fromDatetime(row.posted_at), region: row.region };
  if (row.merchant_id !== entry.merchantId || amount !== entry.amount || row.currency !== entry.currency) {
    return {
      status: "conflict",
      posted: false,
      ...base,
      existing: { merchantId: row.merchant_id, amount, currency: row.currency },
      message: `transaction ${entry.transactionId} is already in the ledger for ${row.merchant_id} ${amount} ${row.currency}, not ${entry.merchantId} ${entry.amount} ${entry.currency}`,
    };
  }
  return { status: "recorded", posted: mine, ...base };
}

async function postValid(sql: LedgerSql, valid: readonly LedgerEntryInput[], region: string): Promise<Map<string, PostResult>> {
  const batchId = randomBytes(16).toString("hex");
  const statements = writeStatements(valid, region, batchId);
  let committed = false;
  try {
    const results = await sql.query<unknown[]>(statements.sql, statements.values);
    const rows = results[statements.selectIndex] as ReadBack[];
    const byId = new Map(rows.map((r) => [r.transaction_id, r]));
    const out = new Map(valid.map((e) => [e.transactionId, resultOf(e, byId.get(e.transactionId))]));
    await sql.query("COMMIT");
    committed = true;
    return out;
  } finally {
    // Anything short of the COMMIT leaves the transaction open on this session: undo it (a
    // broken connection is dropped instead, and the server rolls back by itself).
    if (!committed) await sql.query("ROLLBACK").catch(() => undefined);
  }
}

/**
 * Posts a batch of journal entries exactly once (see the module comment). Returns, per
 * transaction id, what the ledger now holds for it. Throws LedgerUnavailableError when the
 * ledger cannot take the batch now (nothing of it was committed; retry the whole batch later),
 * LedgerError for anything else.
 */
export async function postBatch(
  connection: LedgerConnection,
  entries: readonly LedgerEntryInput[],
  options: PostOptions,
): Promise<Map<string, PostResult>> {
  if (!REGION_PATTERN.test(options.region)) throw new LedgerError(`Invalid region "${options.region}"`);
  const { valid, results } = prepare(entries);
  if (valid.length === 0) return results;
  const raceRetries = options.raceRetries ?? 2;
  let posted: Map<string, PostResult>;
  for (let attempt = 0; ; attempt++) {
    try {
      posted = await connection.session((sql) => postValid(sql, valid, options.region), "posting a ledger batch");
      break;
    } catch (err) {
      const lostRace = err instanceof LedgerUnavailableError && err.errno !== undefined && RACE_ERRNOS.has(err.errno);
      if (!lostRace || attempt >= raceRetries) throw err;
    }
  }
  for (const [id, result] of posted) results.set(id, result);
  return results;
}
