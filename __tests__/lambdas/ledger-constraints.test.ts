/**
 * Every constraint of the ledger schema, tried by direct INSERTs as root (no grants in the way):
 * the database itself refuses unbalanced or malformed rows.
 */
import { randomUUID } from "node:crypto";
import type mysql from "mysql2/promise";
import { type LedgerDatabase, type LedgerServer, rows, startLedgerServer } from "../helpers/ledger";

const CHECK = [3819, 4025]; // ER_CHECK_CONSTRAINT_VIOLATED (MySQL), ER_CONSTRAINT_FAILED (MariaDB)
const FOREIGN_KEY = [1452];
const DUPLICATE = [1062];

let server: LedgerServer;
let d: LedgerDatabase;
let root: mysql.Connection;
const ids = { merchant: 0, otherMerchant: 0, clearing: 0, usdMerchant: 0, posted: 0, rejected: 0 };
const POSTED_TX = randomUUID();
const BATCH = "0123456789abcdef0123456789abcdef";

async function insert(table: string, row: Record<string, unknown>): Promise<number> {
  const cols = Object.keys(row);
  const [result] = await root.query(
    `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
    Object.values(row),
  );
  return (result as mysql.ResultSetHeader).insertId;
}

const account = (o: Record<string, unknown> = {}) => ({
  owner_id: "m1",
  kind: "MERCHANT",
  currency: "SGD",
  created_at: "2026-01-01 00:00:00",
  ...o,
});
const journal = (o: Record<string, unknown> = {}) => ({
  transaction_id: randomUUID(),
  merchant_id: "m1",
  amount: 500,
  currency: "SGD",
  outcome: "POSTED",
  reason: null,
  region: "ap-southeast-1",
  batch_id: BATCH,
  posted_at: "2026-01-01 00:00:00.000001",
  ...o,
});
/** A CREDIT of the POSTED entry to its merchant: valid unless overridden. */
const posting = (o: Record<string, unknown> = {}) => ({
  entry_id: ids.posted,
  entry_outcome: "POSTED",
  entry_merchant_id: "m1",
  direction: "CREDIT",
  account_id: ids.merchant,
  account_kind: "MERCHANT",
  account_owner_id: "m1",
  currency: "SGD",
  amount: 500,
  ...o,
});

beforeAll(async () => {
  server = await startLedgerServer();
  d = await server.database();
  root = d.root;
  ids.merchant = await insert("accounts", account());
  ids.otherMerchant = await insert("accounts", account({ owner_id: "m2" }));
  ids.usdMerchant = await insert("accounts", account({ currency: "USD" }));
  ids.clearing = await insert("accounts", account({ owner_id: "", kind: "CLEARING" }));
  ids.posted = await insert("journal_entries", journal({ transaction_id: POSTED_TX }));
  ids.rejected = await insert("journal_entries", journal({ outcome: "REJECTED", reason: "RISK_LIMIT_EXCEEDED" }));
}, 300_000);
afterAll(() => server?.stop());

async function expectRefused(table: string, row: Record<string, unknown>, errnos: number[]) {
  const before = await rows<{ n: number }>(root, `SELECT COUNT(*) AS n FROM ${table}`);
  const error = await insert(table, row).then(
    () => undefined,
    (err: { errno?: number }) => err,
  );
  expect(error).toBeDefined();
  expect(errnos).toContain(error?.errno);
  const after = await rows<{ n: number }>(root, `SELECT COUNT(*) AS n FROM ${table}`);
  expect(after[0]!.n).toBe(before[0]!.n);
}

describe("accounts refuse", () => {
  test.each([
    ["a second account for the same owner, kind and currency", account(), DUPLICATE],
    ["a second clearing account for a currency", account({ owner_id: "", kind: "CLEARING" }), DUPLICATE],
    ["an unknown kind", account({ kind: "ASSET" }), CHECK],
    ["a clearing account with an owner", account({ owner_id: "m1", kind: "CLEARING", currency: "USD" }), CHECK],
    ["a merchant account without an owner", account({ owner_id: "", currency: "EUR" }), CHECK],
    ["a malformed merchant id", account({ owner_id: "bad id", currency: "EUR" }), CHECK],
    ["a lower-case currency", account({ currency: "sgd" }), CHECK],
    ["a two-letter currency", account({ currency: "SG" }), CHECK],
    ["a currency with a digit", account({ currency: "S1D" }), CHECK],
  ])("%s", (_name, row, errnos) => expectRefused("accounts", row, errnos));
});

describe("journal entries refuse", () => {
  test.each([
    ["a second entry for a transaction id", journal({ transaction_id: POSTED_TX, amount: 1 }), DUPLICATE],
    ["a transaction id that is not a lower-case UUID", journal({ transaction_id: randomUUID().toUpperCase() }), CHECK],
    ["a malformed merchant id", journal({ merchant_id: "m 1" }), CHECK],
    ["a zero amount", journal({ amount: 0 }), CHECK],
    ["a negative amount", journal({ amount: -500 }), CHECK],
    ["an amount beyond JavaScript's safe integers", journal({ amount: "9007199254740992" }), CHECK],
    ["a malformed currency", journal({ currency: "usd" }), CHECK],
    ["an unknown outcome", journal({ outcome: "PENDING" }), CHECK],
    ["a REJECTED entry without a reason", journal({ outcome: "REJECTED", reason: null }), CHECK],
    ["a REJECTED entry with an empty reason", journal({ outcome: "REJECTED", reason: "" }), CHECK],
    ["a malformed region", journal({ region: "AP_SOUTHEAST_1" }), CHECK],
    ["a malformed batch id", journal({ batch_id: "not-a-batch" }), CHECK],
    ["a missing posted_at", journal({ posted_at: null }), [1048]],
  ])("%s", (_name, row, errnos) => expectRefused("journal_entries", row, errnos));
});

describe("postings refuse", () => {
  test.each([
    ["an amount other than the entry's", () => posting({ amount: 499 }), FOREIGN_KEY],
    ["a currency other than the entry's", () => posting({ currency: "USD", account_id: ids.usdMerchant }), FOREIGN_KEY],
    [
      "another merchant than the entry's",
      () => posting({ entry_merchant_id: "m2", account_id: ids.otherMerchant, account_owner_id: "m2" }),
      FOREIGN_KEY,
    ],
    ["a leg of a REJECTED entry", () => posting({ entry_id: ids.rejected }), FOREIGN_KEY],
    ["a leg claiming its entry is anything but POSTED", () => posting({ entry_id: ids.rejected, entry_outcome: "REJECTED" }), CHECK],
    ["an entry that does not exist", () => posting({ entry_id: 987654321 }), FOREIGN_KEY],
    ["an account that does not exist", () => posting({ account_id: 987654321 }), FOREIGN_KEY],
    ["an account in another currency", () => posting({ account_id: ids.usdMerchant }), FOREIGN_KEY],
    ["an account that is not what the leg says", () => posting({ account_id: ids.clearing }), FOREIGN_KEY],
    ["a CREDIT to another merchant's account", () => posting({ account_id: ids.otherMerchant, account_owner_id: "m2" }), CHECK],
    [
      "a CREDIT to the clearing account",
      () => posting({ account_id: ids.clearing, account_kind: "CLEARING", account_owner_id: "" }),
      CHECK,
    ],
    ["a DEBIT of the merchant account", () => posting({ direction: "DEBIT" }), CHECK],
    ["an unknown direction", () => posting({ direction: "ROUND" }), CHECK],
    ["a negative amount (the sign lives in direction)", () => posting({ amount: -500 }), [...CHECK, ...FOREIGN_KEY]],
  ])("%s", (_name, row, errnos) => expectRefused("postings", row(), errnos));

  describe("once the entry has its legs", () => {
    beforeAll(async () => {
      await insert("postings", posting());
      await insert("postings", posting({ direction: "DEBIT", account_id: ids.clearing, account_kind: "CLEARING", account_owner_id: "" }));
    });

    test("a second CREDIT or DEBIT for the same entry", async () => {
      await expectRefused("postings", posting(), DUPLICATE);
      await expectRefused(
        "postings",
        posting({ direction: "DEBIT", account_id: ids.clearing, account_kind: "CLEARING", account_owner_id: "" }),
        DUPLICATE,
      );
    });

    test("its postings sum to zero", async () => {
      const [sum] = await rows<{ s: string }>(
        root,
        "SELECT SUM(CASE direction WHEN 'CREDIT' THEN amount ELSE -amount END) AS s FROM postings WHERE entry_id = ?",
        [ids.posted],
      );
      expect(Number(sum!.s)).toBe(0);
    });

    test("even root cannot change the amount, currency or merchant of a posted entry, nor delete it", async () => {
      for (const sql of [
        "UPDATE journal_entries SET amount = 1 WHERE id = ?",
        "UPDATE journal_entries SET currency = 'USD' WHERE id = ?",
        "UPDATE journal_entries SET merchant_id = 'm2' WHERE id = ?",
        "UPDATE journal_entries SET outcome = 'REJECTED', reason = 'x' WHERE id = ?",
        "DELETE FROM journal_entries WHERE id = ?",
      ]) {
        await expect(root.query(sql, [ids.posted])).rejects.toMatchObject({ errno: 1451 });
      }
    });
  });

  test("what the constraints cannot refuse: an entry with one leg (postBatch never writes one)", async () => {
    const lone = await insert("journal_entries", journal());
    await insert("postings", posting({ entry_id: lone }));
    const [legs] = await rows<{ n: number }>(root, "SELECT COUNT(*) AS n FROM postings WHERE entry_id = ?", [lone]);
    expect(legs!.n).toBe(1);
  });
});
