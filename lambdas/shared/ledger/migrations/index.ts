/**
 * The ledger's migrations in application order, imported statically so esbuild bundles them.
 * This module loads no driver: the stacks can import MIGRATIONS_HASH at synth time to re-run
 * the migrator whenever the set changes.
 */
import { createHash } from "node:crypto";
import { ledgerSchema } from "./0001-ledger-schema";
import { entriesByPostedAt } from "./0002-entries-by-posted-at";
import type { LedgerMigration } from "./types";

export type { LedgerMigration } from "./types";

export const MIGRATIONS: readonly LedgerMigration[] = [ledgerSchema, entriesByPostedAt];

/** SHA-256 of one migration's name and SQL: stored when applied, to notice later edits. */
export function migrationChecksum(migration: LedgerMigration): string {
  return createHash("sha256")
    .update(JSON.stringify([migration.name, migration.statements]))
    .digest("hex");
}

/** SHA-256 over every migration's name and SQL, in order. */
export function migrationsHash(migrations: readonly LedgerMigration[]): string {
  return createHash("sha256")
    .update(JSON.stringify(migrations.map((m) => [m.name, m.statements])))
    .digest("hex");
}

/** The fingerprint of this code's migrations: Terraform re-invokes the migrator when it changes. */
export const MIGRATIONS_HASH: string = migrationsHash(MIGRATIONS);
