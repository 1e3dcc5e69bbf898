/** Reads for the API: a merchant's balances and one transaction's ledger status. */
import type { LedgerConnection } from "./connection";
import type { EntryOutcome, LedgerEntryInput } from "./post";
import { fromDatetime, toSafeInteger } from "./values";

export interface Balance {
  currency: string;
  /** Sum of the merchant account's postings in minor units: credits minus debits. */
  balance: number;
  /** Number of postings it is made of. */
  postings: number;
}

/** The merchant's balance per currency, from the postings (currencies it never received: absent). */
export async function balances(connection: LedgerConnection, merchantId: string): Promise<Balance[]> {
  const rows = await connection.session(
    (sql) =>
      sql.query<Array<{ currency: string; balance: string; postings: string | number }>>(
        `SELECT a.currency,
                SUM(CASE p.direction WHEN 'CREDIT' THEN p.amount ELSE -p.amount END) AS balance,
                COUNT(*) AS postings
         FROM accounts a JOIN postings p ON p.account_id = a.id
         WHERE a.owner_id = CONVERT(? USING ascii) COLLATE ascii_bin AND a.kind = 'MERCHANT'
         GROUP BY a.currency ORDER BY a.currency`,
        [merchantId],
      ),
    "reading balances",
  );
  return rows.map((r) => ({ currency: r.currency, balance: toSafeInteger(r.balance, "balance"), postings: Number(r.postings) }));
}

/** A posted entry as the ledger holds it. */
export interface EntryStatus extends LedgerEntryInput {
  /** Region whose processor posted it. */
  region: string;
  /** ISO 8601 UTC with microseconds. */
  postedAt: string;
}

/** The ledger's entry for a transaction, or null if it was never posted. */
export async function entryStatus(connection: LedgerConnection, transactionId: string): Promise<EntryStatus | null> {
  const rows = await connection.session(
    (sql) =>
      sql.query<
        Array<{
          transaction_id: string;
          merchant_id: string;
          amount: string;
          currency: string;
          outcome: EntryOutcome;
          reason: string | null;
          region: string;
          posted_at: string;
        }>
      >(
        `SELECT transaction_id, merchant_id, amount, currency, outcome, reason, region, posted_at
         FROM journal_entries WHERE transaction_id = CONVERT(? USING ascii) COLLATE ascii_bin`,
        [transactionId],
      ),
    "reading a ledger entry",
  );
  const row = rows[0];
  if (!row) return null;
  return {
    transactionId: row.transaction_id,
    merchantId: row.merchant_id,
    amount: toSafeInteger(row.amount, "amount"),
    currency: row.currency,
    outcome: row.outcome,
    ...(row.reason !== null ? { reason: row.reason } : {}),
    region: row.region,
    postedAt: fromDatetime(row.posted_at),
  };
}
