/**
 * One test file's region with a ledger: dynalite and fauxqs with the deployed resources, a MariaDB
 * ledger migrated as at deploy, the handlers' environment applied, and a root connection to the
 * ledger for assertions. No jest import: the file's beforeAll/afterAll/beforeEach call these.
 */
import type mysql from "mysql2/promise";
import { applyEnv, clearTable, type Emulators, type StartOptions, startEmulators } from "../../src/local/emulators";
import { type LocalLedger, startLocalLedger } from "../../src/local/ledger";

export interface LedgerRegion {
  readonly emu: Emulators;
  readonly ledger: LocalLedger;
  /** Root on the ledger database (to read journal entries and postings). */
  readonly root: mysql.Connection;
  /** Between tests: empty queues and transactions table (the ledger keeps its entries; ids are unique). */
  reset(): Promise<void>;
  /** Restores the environment, then stops everything. */
  stop(): Promise<void>;
}

export async function startLedgerRegion(options: Omit<StartOptions, "ledger">, env: Record<string, string> = {}): Promise<LedgerRegion> {
  const ledger = await startLocalLedger();
  const root = await ledger.server.rootConnection({ database: ledger.database });
  const emu = await startEmulators({ ...options, ledger });
  const restoreEnv = applyEnv({ ...emu.baseEnv, ...env });
  return {
    emu,
    ledger,
    root,
    async reset() {
      await emu.fauxqs.reset();
      await clearTable(emu.clients.dynamodb, emu.resources.transactionsTable, "transaction_id");
    },
    async stop() {
      restoreEnv();
      await root.end();
      await emu.stop();
      await ledger.stop();
    },
  };
}
