/**
 * An index on journal_entries.posted_at, for what reads entries by time: `reconcile --ledger`
 * after a failover reads the entries posted since a moment (without it, a walk of the whole
 * table on every run). InnoDB adds it in place, without blocking the processors' inserts.
 *
 * Safe to run again, as every migration must be: MySQL 8 has no CREATE INDEX IF NOT EXISTS, so
 * the statement is built only when the index is missing (a no-op otherwise).
 */
import type { LedgerMigration } from "./types";

const INDEX = "journal_entries_posted_at";

export const entriesByPostedAt: LedgerMigration = {
  name: "0002-entries-by-posted-at",
  statements: [
    `SET @ledger_ddl = IF(
      (SELECT COUNT(*) FROM information_schema.statistics
        WHERE table_schema = DATABASE() AND table_name = 'journal_entries' AND index_name = '${INDEX}') = 0,
      'ALTER TABLE journal_entries ADD INDEX ${INDEX} (posted_at), ALGORITHM = INPLACE, LOCK = NONE',
      'DO 0')`,
    "PREPARE ledger_ddl FROM @ledger_ddl",
    "EXECUTE ledger_ddl",
    "DEALLOCATE PREPARE ledger_ddl",
  ],
};
