/** A versioned migration: statements run in order by umzug (see ../migrate.ts). */
export interface LedgerMigration {
  /** Sorts in application order: NNNN-what. Never rename or edit one that was applied. */
  readonly name: string;
  /**
   * Each statement must be safe to run again (CREATE ... IF NOT EXISTS and the like): MySQL
   * commits DDL statement by statement, so a migration that stopped half way is re-run whole.
   */
  readonly statements: readonly string[];
}
