/** The ledger's tables: the app user gets SELECT and INSERT on exactly these. */
export const LEDGER_TABLES = ["accounts", "journal_entries", "postings"] as const;
export type LedgerTable = (typeof LEDGER_TABLES)[number];
