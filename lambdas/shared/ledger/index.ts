/**
 * The Aurora ledger for the handlers: connection, posting, reads, errors. The migrations and
 * umzug live in ./migrate (imported only by the migrator, to keep umzug out of other bundles).
 */
export { ledgerConnection, type LedgerAuth, type LedgerConfig, type LedgerConnection, type LedgerSql, type LedgerStats } from "./connection";
export { classifyError, LedgerConstraintError, LedgerError, LedgerUnavailableError } from "./errors";
export {
  ENTRY_OUTCOMES,
  ledgerEntrySchema,
  postBatch,
  type EntryOutcome,
  type ExistingEntry,
  type LedgerEntryInput,
  type PostOptions,
  type PostResult,
} from "./post";
export { balances, entryStatus, type Balance, type EntryStatus } from "./queries";
export { LEDGER_TABLES, type LedgerTable } from "./tables";
