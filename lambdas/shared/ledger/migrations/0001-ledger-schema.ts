/**
 * The ledger's tables. SQL accepted by both Aurora MySQL 3 (MySQL 8.0.16+, which enforces CHECK)
 * and MariaDB 10.11 (the local and test server): explicit character sets (MySQL 8 and MariaDB
 * default to different collations), constraint names unique per schema (MySQL's rule), no
 * CHECK on AUTO_INCREMENT columns, no referential actions on columns used in a CHECK.
 *
 * What the constraints guarantee on their own (each is tried by a test):
 * - an account per owner, kind and currency (unique), a clearing account has no owner, a
 *   merchant account a well-formed merchant id, currencies are three capital letters;
 * - one journal entry per transaction id (unique): the exactly-once guard;
 * - an entry's amount is positive and a safe JavaScript integer, its outcome POSTED or
 *   REJECTED, a REJECTED entry carries a reason;
 * - a posting refers to its entry through (entry, outcome, merchant, currency, amount): it can
 *   only belong to a POSTED entry, in the entry's currency, for exactly the entry's amount;
 * - a posting refers to its account through (account, kind, owner, currency): the account
 *   exists, is in the posting's currency, and is what the leg says: the CREDIT leg goes to the
 *   entry's own merchant account, the DEBIT leg to the clearing account;
 * - at most one posting per leg per entry (unique entry + direction), amounts > 0 with the sign
 *   in `direction`.
 * So an entry's postings can never sum to anything but zero or a single unmatched leg.
 *
 * What they cannot guarantee (MySQL has no deferred constraints): that a POSTED entry HAS both
 * legs. The posting code does: both legs of every new entry are written by one
 * INSERT ... SELECT statement in the same transaction as the entry, and the transaction is
 * committed only after reading back two legs for each of them (see post.ts). The app user may
 * only SELECT and INSERT (see migrate.ts), so rows never change afterwards.
 */
import type { LedgerMigration } from "./types";

const ID = "CHARACTER SET ascii COLLATE ascii_bin";
const MERCHANT_ID_REGEXP = "'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'";
const CURRENCY_REGEXP = "'^[A-Z]{3}$'";

export const ledgerSchema: LedgerMigration = {
  name: "0001-ledger-schema",
  statements: [
    `CREATE TABLE IF NOT EXISTS accounts (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      owner_id VARCHAR(64) ${ID} NOT NULL,
      kind VARCHAR(8) ${ID} NOT NULL,
      currency CHAR(3) ${ID} NOT NULL,
      created_at DATETIME(6) NOT NULL,
      PRIMARY KEY (id),
      CONSTRAINT accounts_owner_kind_currency UNIQUE (owner_id, kind, currency),
      CONSTRAINT accounts_posting_ref UNIQUE (id, kind, owner_id, currency),
      CONSTRAINT accounts_kind_valid CHECK (kind IN ('MERCHANT', 'CLEARING')),
      CONSTRAINT accounts_owner_valid CHECK (
        (kind = 'CLEARING' AND CHAR_LENGTH(owner_id) = 0)
        OR (kind = 'MERCHANT' AND owner_id REGEXP ${MERCHANT_ID_REGEXP})),
      CONSTRAINT accounts_currency_valid CHECK (currency REGEXP ${CURRENCY_REGEXP})
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,

    `CREATE TABLE IF NOT EXISTS journal_entries (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      transaction_id CHAR(36) ${ID} NOT NULL,
      merchant_id VARCHAR(64) ${ID} NOT NULL,
      amount BIGINT NOT NULL,
      currency CHAR(3) ${ID} NOT NULL,
      outcome VARCHAR(8) ${ID} NOT NULL,
      reason VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
      region VARCHAR(32) ${ID} NOT NULL,
      batch_id CHAR(32) ${ID} NOT NULL,
      posted_at DATETIME(6) NOT NULL,
      PRIMARY KEY (id),
      CONSTRAINT journal_entries_transaction UNIQUE (transaction_id),
      CONSTRAINT journal_entries_posting_ref UNIQUE (id, outcome, merchant_id, currency, amount),
      CONSTRAINT journal_entries_transaction_valid CHECK (
        transaction_id REGEXP '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
      CONSTRAINT journal_entries_merchant_valid CHECK (merchant_id REGEXP ${MERCHANT_ID_REGEXP}),
      CONSTRAINT journal_entries_amount_valid CHECK (amount > 0 AND amount <= 9007199254740991),
      CONSTRAINT journal_entries_currency_valid CHECK (currency REGEXP ${CURRENCY_REGEXP}),
      CONSTRAINT journal_entries_outcome_valid CHECK (outcome IN ('POSTED', 'REJECTED')),
      -- NULL would make a bare CHAR_LENGTH(reason) > 0 UNKNOWN, which a CHECK lets through.
      CONSTRAINT journal_entries_rejection_has_reason CHECK (outcome = 'POSTED' OR (reason IS NOT NULL AND CHAR_LENGTH(reason) > 0)),
      CONSTRAINT journal_entries_region_valid CHECK (region REGEXP '^[a-z][a-z0-9-]{0,31}$'),
      CONSTRAINT journal_entries_batch_valid CHECK (batch_id REGEXP '^[0-9a-f]{32}$')
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,

    `CREATE TABLE IF NOT EXISTS postings (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      entry_id BIGINT UNSIGNED NOT NULL,
      entry_outcome VARCHAR(8) ${ID} NOT NULL,
      entry_merchant_id VARCHAR(64) ${ID} NOT NULL,
      direction VARCHAR(6) ${ID} NOT NULL,
      account_id BIGINT UNSIGNED NOT NULL,
      account_kind VARCHAR(8) ${ID} NOT NULL,
      account_owner_id VARCHAR(64) ${ID} NOT NULL,
      currency CHAR(3) ${ID} NOT NULL,
      amount BIGINT NOT NULL,
      PRIMARY KEY (id),
      CONSTRAINT postings_one_per_leg UNIQUE (entry_id, direction),
      CONSTRAINT postings_entry FOREIGN KEY (entry_id, entry_outcome, entry_merchant_id, currency, amount)
        REFERENCES journal_entries (id, outcome, merchant_id, currency, amount) ON UPDATE RESTRICT ON DELETE RESTRICT,
      CONSTRAINT postings_account FOREIGN KEY (account_id, account_kind, account_owner_id, currency)
        REFERENCES accounts (id, kind, owner_id, currency) ON UPDATE RESTRICT ON DELETE RESTRICT,
      CONSTRAINT postings_entry_posted CHECK (entry_outcome = 'POSTED'),
      CONSTRAINT postings_amount_valid CHECK (amount > 0),
      CONSTRAINT postings_leg_valid CHECK (
        (direction = 'CREDIT' AND account_kind = 'MERCHANT' AND account_owner_id = entry_merchant_id)
        OR (direction = 'DEBIT' AND account_kind = 'CLEARING'))
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,
  ],
};
