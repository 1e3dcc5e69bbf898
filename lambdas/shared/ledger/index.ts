/**
 * The Aurora ledger for the handlers: connection, posting, reads, errors. The migrations and
 * umzug live in ./migrate (imported only by the migrator, to keep umzug out of other bundles).
 */
export {
  type LedgerAuth,
  type LedgerConfig,
  type LedgerConnection,
  type LedgerSql,
  type LedgerStats,
  ledgerConnection,
} from "./connection";
export { classifyError, LedgerConstraintError, LedgerError, LedgerUnavailableError } from "./errors";
export {
  ENTRY_OUTCOMES,
  type EntryOutcome,
  type ExistingEntry,
  type LedgerEntryInput,
  ledgerEntrySchema,
  type PostOptions,
  type PostResult,
  postBatch,
} from "./post";
export { type Balance, balances, type EntryStatus, entryStatus } from "./queries";
export { LEDGER_TABLES, type LedgerTable } from "./tables";
