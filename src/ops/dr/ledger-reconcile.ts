/**
 * `reconcile --ledger`: one region's transactions table against the Aurora ledger, after a lossy
 * promotion (`failover --allow-data-loss` drops the old writer's last commits, typically under a
 * second). An item whose `posted_at` is set told the merchant the money arrived; if the promoted
 * writer lacks its entry, nothing else will ever post it (the sweeper reads RECEIVED items only).
 *
 * Pure logic over injected clients (the region's DynamoDB client and ledger connections), so the
 * tests run it against dynalite and MariaDB and the drill's runbook calls it with its own:
 *
 * - Every comparison reads the ledger through `reader` (the region's reader endpoint as the
 *   SELECT-only user): it never writes, and after a failover the region's cluster is the writer's,
 *   whose readers share its storage (lag in milliseconds). An entry a lagging reader does not show
 *   yet costs nothing: the re-post below finds it and reports it as already there.
 * - With `yes`, each missing entry is posted through `writer` (the global writer endpoint as the
 *   application user) by `postBatch`, the processor's own fence: an entry that exists (an earlier
 *   run, a racing processor) is found by its unique transaction_id and posted nothing a second
 *   time. The entry is built from the item as stored, never from a message. The item's projection
 *   then points at the new entry (`posted_at`, `posted_region`, and `reposted_at`).
 * - `snapshot` (the old writer's restored snapshot) is compared with the new writer: what only the
 *   snapshot holds is posted again when the region's item exists and agrees with it.
 *
 * Entries with no item and entries that disagree are listed for a human, never changed: which of
 * the two is right cannot be told from here.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeDBClustersCommand, DescribeGlobalClustersCommand, type RDSClient } from "@aws-sdk/client-rds";
import { DynamoDBDocumentClient, ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { batchGetTransactions } from "../../../lambdas/shared/batch-get";
import {
  type EntryOutcome,
  type LedgerConnection,
  type LedgerEntryInput,
  ledgerConnection,
  type PostResult,
  postBatch,
} from "../../../lambdas/shared/ledger";
import { fromDatetime, toSafeInteger } from "../../../lambdas/shared/ledger/values";
import { type DeploymentConfig, type RegionRole, regionOf } from "../../contracts/config";
import { AURORA_PORT, LEDGER_DATABASE, LEDGER_USERS } from "../../contracts/ledger";
import { Naming } from "../../contracts/names";
import type { OperationResult } from "../command-line";
import { drNames, table } from "./operations";

/** Entries per postBatch call (one ledger transaction each). */
export const DEFAULT_REPOST_BATCH = 100;
/** Transaction ids per `IN (...)` read of the ledger, and per page of the read of entries since. */
const READ_CHUNK = 500;
const PAGE = 1000;
/**
 * A statement of the reads may take long on a large ledger (on a reader, never the writer).
 */
export const LEDGER_READ_TIMEOUT_MS = 120_000;

export interface LedgerConnections {
  /** The region's reader endpoint as the read-only user: every comparison reads through it (SELECT only). */
  readonly reader: LedgerConnection;
  /** The global writer endpoint as the application user: used with `yes` only, through postBatch. */
  readonly writer?: LedgerConnection;
  /** The old writer's restored snapshot as the read-only user (`--snapshot`). */
  readonly snapshot?: LedgerConnection;
}

export interface LedgerReconcileContext {
  readonly config: DeploymentConfig;
  readonly role: RegionRole;
  /** The AWS region of `role`: its table is read, and re-posted entries record it. */
  readonly region: string;
  readonly dynamodb: DynamoDBClient;
  readonly ledger: LedgerConnections;
  readonly now?: () => number;
}

export interface LedgerReconcileOptions {
  /** Items with posted_at >= since, and ledger entries posted since. */
  readonly since: Date;
  /** Re-post what is missing (needs `ledger.writer`). */
  readonly yes: boolean;
  /** @default DEFAULT_REPOST_BATCH */
  readonly batchSize?: number;
}

/** An entry as the ledger holds it. */
export interface LedgerEntry {
  readonly transactionId: string;
  readonly merchantId: string;
  readonly amount: number;
  readonly currency: string;
  readonly outcome: EntryOutcome;
  readonly reason?: string;
  readonly region: string;
  /** ISO 8601 UTC with microseconds. */
  readonly postedAt: string;
}

/** What an item says the ledger holds. `outcome` is what its status projects (undefined while RECEIVED). */
export interface ItemView {
  readonly transactionId: string;
  readonly merchantId: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: string;
  readonly outcome?: EntryOutcome;
  readonly failureReason?: string;
  readonly postedAt?: string;
  readonly postedRegion?: string;
}

type Field = "merchant" | "amount" | "currency" | "outcome";

export interface Disagreement {
  readonly transactionId: string;
  readonly fields: readonly Field[];
  /** `item` vs the new writer's entry; `writer` vs the snapshot's (both ledgers hold the id). */
  readonly item?: ItemView;
  readonly entry: LedgerEntry;
  readonly snapshot?: LedgerEntry;
}

/** A snapshot-only entry that is not re-posted, and why. */
export interface SnapshotFinding {
  readonly transactionId: string;
  readonly why: "no item" | "item not posted yet" | "item disagrees" | "writer disagrees";
  readonly snapshot: LedgerEntry;
  readonly item?: ItemView;
  readonly writer?: LedgerEntry;
  readonly fields?: readonly Field[];
}

export interface Repair {
  readonly transactionId: string;
  /** Built from the item (missing from the ledger) or the snapshot's entry (only the snapshot held it). */
  readonly source: "item" | "snapshot";
  /** posted: written now; already there: the ledger had it (an earlier run, the processor); the rest: not posted. */
  readonly result: "posted" | "already there" | "conflict" | "invalid" | "failed";
  readonly postedAt?: string;
  readonly region?: string;
  /** The item's projection now points at the new entry (false: it changed meanwhile, or nothing was posted). */
  readonly itemUpdated: boolean;
  readonly message?: string;
}

export interface LedgerReport {
  readonly table: string;
  readonly since: string;
  readonly at: string;
  readonly itemsPosted: number;
  readonly entriesSince: number;
  readonly agree: number;
  /** Posted per the item, absent from the ledger. */
  readonly missing: readonly ItemView[];
  /** Posted since `since`, with no item of that id in the table (confirmed by BatchGetItem). */
  readonly noItem: readonly LedgerEntry[];
  readonly disagreeing: readonly Disagreement[];
  /** In the ledger, the item still RECEIVED: the processor (or the sweeper, or reconcile --adopt) completes it. */
  readonly notProjected: readonly LedgerEntry[];
  readonly snapshot?: {
    readonly entriesSince: number;
    readonly onlyInSnapshot: number;
    /** Only the snapshot holds them, and the item agrees: re-posted with `yes`. */
    readonly toRepost: readonly LedgerEntry[];
    readonly forHuman: readonly SnapshotFinding[];
  };
  readonly repairs: readonly Repair[];
}

export interface LedgerReconcileResult extends OperationResult {
  readonly report: LedgerReport;
}

// ---------------------------------------------------------------------------------------------
// Reads

/** "2026-01-02T03:04:05.123Z" -> "2026-01-02 03:04:05.123000" (the ledger's DATETIME(6), UTC). */
const toDatetime = (at: Date): string => at.toISOString().replace("T", " ").replace("Z", "000");

/** The items' posted_at has microseconds: compare strings of the same shape. */
const toItemTime = (at: Date): string => at.toISOString().replace("Z", "000Z");

const ENTRY_COLUMNS = "id, transaction_id, merchant_id, amount, currency, outcome, reason, region, posted_at";
const ASCII = "CONVERT(? USING ascii) COLLATE ascii_bin";

interface EntryRow {
  id: string | number;
  transaction_id: string;
  merchant_id: string;
  amount: string | number;
  currency: string;
  outcome: EntryOutcome;
  reason: string | null;
  region: string;
  posted_at: string;
}

const entryOf = (r: EntryRow): LedgerEntry => ({
  transactionId: r.transaction_id,
  merchantId: r.merchant_id,
  amount: toSafeInteger(r.amount, "amount"),
  currency: r.currency,
  outcome: r.outcome,
  ...(r.reason !== null ? { reason: r.reason } : {}),
  region: r.region,
  postedAt: fromDatetime(r.posted_at),
});

/**
 * Entries posted since `since`, a page at a time in (posted_at, id) order: the posted_at index
 * (migration 0002) finds the first page and keeps each bounded.
 */
export async function readEntriesSince(connection: LedgerConnection, since: Date): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  let after: { postedAt: string; id: string } = { postedAt: toDatetime(since), id: "0" };
  for (let first = true; ; first = false) {
    const rows = await connection.session(
      (sql) =>
        sql.query<EntryRow[]>(
          `SELECT ${ENTRY_COLUMNS}, DATE_FORMAT(posted_at, '%Y-%m-%d %H:%i:%s.%f') AS posted_key FROM journal_entries
           WHERE posted_at ${first ? ">=" : ">"} ? OR (posted_at = ? AND id > CAST(? AS UNSIGNED))
           ORDER BY posted_at, id LIMIT ${PAGE}`,
          [after.postedAt, after.postedAt, after.id],
        ),
      "reading ledger entries posted since",
    );
    entries.push(...rows.map(entryOf));
    if (rows.length < PAGE) return entries;
    const last = rows[rows.length - 1]! as EntryRow & { posted_key: string };
    after = { postedAt: last.posted_key, id: String(last.id) };
  }
}

/** The entries of these transaction ids (by the unique index), whenever posted. */
export async function readEntries(connection: LedgerConnection, ids: readonly string[]): Promise<Map<string, LedgerEntry>> {
  const found = new Map<string, LedgerEntry>();
  for (let i = 0; i < ids.length; i += READ_CHUNK) {
    const chunk = ids.slice(i, i + READ_CHUNK);
    const rows = await connection.session(
      (sql) =>
        sql.query<EntryRow[]>(
          `SELECT ${ENTRY_COLUMNS} FROM journal_entries WHERE transaction_id IN (${chunk.map(() => ASCII).join(", ")})`,
          chunk,
        ),
      "reading ledger entries",
    );
    for (const r of rows) found.set(r.transaction_id, entryOf(r));
  }
  return found;
}

const ITEM_ATTRIBUTES = ["transaction_id", "merchant_id", "amount", "currency", "status", "failure_reason", "posted_at", "posted_region"];
const projectionOf = () => ({
  ProjectionExpression: ITEM_ATTRIBUTES.map((_, i) => `#a${i}`).join(", "),
  ExpressionAttributeNames: Object.fromEntries(ITEM_ATTRIBUTES.map((a, i) => [`#a${i}`, a])),
});

/** PROCESSED <-> POSTED, FAILED <-> REJECTED (the processor's projection). */
const outcomeOfStatus = (status: string): EntryOutcome | undefined =>
  status === "PROCESSED" ? "POSTED" : status === "FAILED" ? "REJECTED" : undefined;

function itemView(item: Record<string, unknown>): ItemView {
  const status = String(item.status ?? "");
  const outcome = item.posted_at !== undefined ? outcomeOfStatus(status) : undefined;
  return {
    transactionId: String(item.transaction_id),
    merchantId: String(item.merchant_id),
    amount: Number(item.amount),
    currency: String(item.currency),
    status,
    ...(outcome ? { outcome } : {}),
    ...(typeof item.failure_reason === "string" ? { failureReason: item.failure_reason } : {}),
    ...(typeof item.posted_at === "string" ? { postedAt: item.posted_at } : {}),
    ...(typeof item.posted_region === "string" ? { postedRegion: item.posted_region } : {}),
  };
}

/** Items posted since `since`: one Scan, filtered and projected, all pages. */
async function scanPosted(doc: DynamoDBDocumentClient, tableName: string, since: Date): Promise<ItemView[]> {
  const items: ItemView[] = [];
  const projection = projectionOf();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({
        TableName: tableName,
        ...projection,
        FilterExpression: "#posted >= :since",
        ExpressionAttributeNames: { ...projection.ExpressionAttributeNames, "#posted": "posted_at" },
        ExpressionAttributeValues: { ":since": toItemTime(since) },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) items.push(itemView(item));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** These ids' items, read consistently (BatchGetItem, 100 a call): whether they exist at all. */
async function getItems(doc: DynamoDBDocumentClient, tableName: string, ids: readonly string[]): Promise<Map<string, ItemView>> {
  const items = await batchGetTransactions(doc, tableName, ids, { consistentRead: true, projection: projectionOf() });
  return new Map([...items].map(([id, item]) => [id, itemView(item)]));
}

// ---------------------------------------------------------------------------------------------
// Comparing

type Values = { merchantId: string; amount: number; currency: string; outcome?: EntryOutcome };

function differences(a: Values, b: Values): Field[] {
  const fields: Field[] = [];
  if (a.merchantId !== b.merchantId) fields.push("merchant");
  if (a.amount !== b.amount) fields.push("amount");
  if (a.currency !== b.currency) fields.push("currency");
  if (a.outcome !== b.outcome) fields.push("outcome");
  return fields;
}

/** The entry an item records, from its own stored data (the outcome its status projects). */
export function entryFromItem(item: ItemView & { outcome: EntryOutcome }): LedgerEntryInput {
  const base = { transactionId: item.transactionId, merchantId: item.merchantId, amount: item.amount, currency: item.currency };
  if (item.outcome === "REJECTED") {
    return { ...base, outcome: "REJECTED", reason: item.failureReason ?? "REJECTED (the item records no failure_reason)" };
  }
  return { ...base, outcome: "POSTED" };
}

const entryInput = (e: LedgerEntry): LedgerEntryInput => ({
  transactionId: e.transactionId,
  merchantId: e.merchantId,
  amount: e.amount,
  currency: e.currency,
  outcome: e.outcome,
  ...(e.reason !== undefined ? { reason: e.reason } : {}),
});

// ---------------------------------------------------------------------------------------------
// Repairing

/** Points the item's projection at the entry just posted, if the item still says posted with that outcome. */
async function updateProjection(
  doc: DynamoDBDocumentClient,
  tableName: string,
  item: ItemView,
  posted: { postedAt: string; region: string },
  now: string,
): Promise<boolean> {
  try {
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { transaction_id: item.transactionId },
        UpdateExpression: "SET posted_at = :postedAt, posted_region = :region, reposted_at = :now",
        ConditionExpression: "attribute_exists(posted_at) AND #status = :status",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":postedAt": posted.postedAt, ":region": posted.region, ":now": now, ":status": item.status },
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

function repairOf(id: string, source: Repair["source"], result: PostResult | undefined): Omit<Repair, "itemUpdated"> {
  if (!result) return { transactionId: id, source, result: "failed", message: "no result from postBatch" };
  if (result.status === "invalid") return { transactionId: id, source, result: "invalid", message: result.message };
  if (result.status === "conflict") {
    return { transactionId: id, source, result: "conflict", postedAt: result.postedAt, region: result.region, message: result.message };
  }
  return {
    transactionId: id,
    source,
    result: result.posted ? "posted" : "already there",
    postedAt: result.postedAt,
    region: result.region,
  };
}

// ---------------------------------------------------------------------------------------------
// Comparing the table, the new writer and the snapshot

/** Where the comparison stands: the items and entries read so far, by transaction id. */
interface Known {
  readonly scanned: Map<string, ItemView>;
  /** Items read by id (not in the scan). */
  readonly fetched: Map<string, ItemView>;
  /** The new writer's entries (read through the reader). */
  readonly ledger: Map<string, LedgerEntry>;
}

const itemOf = (known: Known, id: string) => known.scanned.get(id) ?? known.fetched.get(id);

type TableFindings = Pick<LedgerReport, "itemsPosted" | "entriesSince" | "agree" | "missing" | "noItem" | "disagreeing" | "notProjected">;

/** Items posted since `since` against the ledger, both ways. */
async function compareTable(
  doc: DynamoDBDocumentClient,
  tableName: string,
  reader: LedgerConnection,
  since: Date,
): Promise<{ known: Known; findings: TableFindings }> {
  const [items, entriesSince] = await Promise.all([scanPosted(doc, tableName, since), readEntriesSince(reader, since)]);
  const scanned = new Map(items.map((i) => [i.transactionId, i]));
  const ledger = new Map(entriesSince.map((e) => [e.transactionId, e]));
  // A posted item's entry outside the window (posted by a writer with another clock): by id.
  const outside = await readEntries(
    reader,
    items.filter((i) => !ledger.has(i.transactionId)).map((i) => i.transactionId),
  );
  for (const [id, e] of outside) ledger.set(id, e);
  // An entry whose item was not in the scan: does the item exist at all, or is it still RECEIVED?
  const fetched = await getItems(
    doc,
    tableName,
    entriesSince.filter((e) => !scanned.has(e.transactionId)).map((e) => e.transactionId),
  );

  let agree = 0;
  const missing: ItemView[] = [];
  const noItem: LedgerEntry[] = [];
  const disagreeing: Disagreement[] = [];
  const notProjected: LedgerEntry[] = [];
  const compare = (item: ItemView, entry: LedgerEntry) => {
    const fields = differences(item, entry);
    if (fields.length === 0) agree++;
    else disagreeing.push({ transactionId: item.transactionId, fields, item, entry });
  };
  for (const item of items) {
    const entry = ledger.get(item.transactionId);
    if (entry) compare(item, entry);
    else missing.push(item);
  }
  for (const entry of entriesSince) {
    if (scanned.has(entry.transactionId)) continue;
    const item = fetched.get(entry.transactionId);
    if (!item) noItem.push(entry);
    else if (item.postedAt === undefined) notProjected.push(entry);
    else compare(item, entry);
  }
  return {
    known: { scanned, fetched, ledger },
    findings: { itemsPosted: items.length, entriesSince: entriesSince.length, agree, missing, noItem, disagreeing, notProjected },
  };
}

/** The snapshot's entries since `since` against the new writer, and what the items say of those only the snapshot holds. */
async function compareSnapshot(
  doc: DynamoDBDocumentClient,
  tableName: string,
  reader: LedgerConnection,
  snapshot: LedgerConnection,
  since: Date,
  known: Known,
): Promise<NonNullable<LedgerReport["snapshot"]>> {
  const held = await readEntriesSince(snapshot, since);
  const unread = held.filter((e) => !known.ledger.has(e.transactionId)).map((e) => e.transactionId);
  for (const [id, e] of await readEntries(reader, unread)) known.ledger.set(id, e);
  const only = held.filter((e) => !known.ledger.has(e.transactionId));
  const lookup = only.filter((e) => !itemOf(known, e.transactionId)).map((e) => e.transactionId);
  for (const [id, item] of await getItems(doc, tableName, lookup)) known.fetched.set(id, item);

  const toRepost: LedgerEntry[] = [];
  const forHuman: SnapshotFinding[] = [];
  for (const s of held) {
    const id = s.transactionId;
    const writer = known.ledger.get(id);
    if (writer) {
      const fields = differences(s, writer);
      if (fields.length > 0) forHuman.push({ transactionId: id, why: "writer disagrees", snapshot: s, writer, fields });
      continue;
    }
    const item = itemOf(known, id);
    if (!item) forHuman.push({ transactionId: id, why: "no item", snapshot: s });
    else if (item.outcome === undefined) forHuman.push({ transactionId: id, why: "item not posted yet", snapshot: s, item });
    else {
      const fields = differences(item, s);
      if (fields.length === 0) toRepost.push(s);
      else forHuman.push({ transactionId: id, why: "item disagrees", snapshot: s, item, fields });
    }
  }
  return { entriesSince: held.length, onlyInSnapshot: only.length, toRepost, forHuman };
}

// ---------------------------------------------------------------------------------------------
// Re-posting

interface Planned {
  readonly entry: LedgerEntryInput;
  readonly source: Repair["source"];
  readonly item: ItemView;
}

/** Posts the plan through the writer in batches; points each item posted now at its new entry. Stops at the first batch that fails. */
async function repost(
  ctx: LedgerReconcileContext,
  doc: DynamoDBDocumentClient,
  tableName: string,
  plan: readonly Planned[],
  batchSize: number,
): Promise<{ repairs: Repair[]; failure?: string }> {
  const repairs: Repair[] = [];
  let failure: string | undefined;
  for (let i = 0; i < plan.length; i += batchSize) {
    const chunk = plan.slice(i, i + batchSize);
    let results: Map<string, PostResult> | undefined;
    if (!failure) {
      try {
        results = await postBatch(
          ctx.ledger.writer!,
          chunk.map((p) => p.entry),
          { region: ctx.region },
        );
      } catch (err) {
        failure = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
    }
    if (!results) {
      for (const p of chunk) repairs.push({ transactionId: p.entry.transactionId, source: p.source, result: "failed", itemUpdated: false });
      continue;
    }
    const now = new Date(ctx.now?.() ?? Date.now()).toISOString();
    const done = await Promise.all(
      chunk.map(async (p) => {
        const result = results.get(p.entry.transactionId);
        const itemUpdated =
          result?.status === "recorded" && result.posted ? await updateProjection(doc, tableName, p.item, result, now) : false;
        return { ...repairOf(p.entry.transactionId, p.source, result), itemUpdated };
      }),
    );
    repairs.push(...done);
  }
  return { repairs, ...(failure ? { failure } : {}) };
}

// ---------------------------------------------------------------------------------------------
// The report

const describe = (c: LedgerConnection) => `${c.config.host}:${c.config.port} as ${c.config.user}`;
const money = (v: Values) => [v.merchantId, String(v.amount), v.currency, v.outcome ?? "-"];
const indent = (lines: string[]) => lines.map((l) => `  ${l}`);
const entries = (n: number) => `${n} entr${n === 1 ? "y" : "ies"}`;

function tableLines(ctx: LedgerReconcileContext, report: LedgerReport): string[] {
  const since = report.since;
  const lines = [
    `Ledger against ${report.table} (${ctx.role} region ${ctx.region}) at ${report.at}, read through the reader ${describe(ctx.ledger.reader)}:`,
    ...indent(
      table([
        [`items posted since ${since} (posted_at set)`, String(report.itemsPosted)],
        [`ledger entries posted since ${since}`, String(report.entriesSince)],
        ["agree", String(report.agree)],
        ["missing from the ledger (the item says posted)", String(report.missing.length)],
        ["entries with no item", String(report.noItem.length)],
        ["disagreeing", String(report.disagreeing.length)],
        ["in the ledger, item still RECEIVED", String(report.notProjected.length)],
      ]),
    ),
  ];
  if (report.missing.length > 0) {
    lines.push(
      "Missing from the ledger (the item says posted, the ledger has no entry: lost in a lossy promotion?):",
      ...indent(
        table([
          ["transaction_id", "merchant", "amount", "currency", "outcome", "item posted_at", "posted_region"],
          ...report.missing.map((i) => [i.transactionId, ...money(i), i.postedAt ?? "?", i.postedRegion ?? "?"]),
        ]),
      ),
    );
  }
  if (report.noItem.length > 0) {
    lines.push(
      `Entries with no item in ${report.table} (for a human: an item that never replicated here, or an entry written by something else):`,
      ...indent(
        table([
          ["transaction_id", "merchant", "amount", "currency", "outcome", "posted_at", "region"],
          ...report.noItem.map((e) => [e.transactionId, ...money(e), e.postedAt, e.region]),
        ]),
      ),
    );
  }
  if (report.disagreeing.length > 0) {
    const head = ["transaction_id", "differs in", "item: merchant", "amount", "currency", "outcome", "ledger: merchant", "amount"];
    lines.push(
      "Disagreeing (for a human; nothing is changed):",
      ...indent(
        table([
          [...head, "currency", "outcome"],
          ...report.disagreeing.map((d) => [d.transactionId, d.fields.join(","), ...money(d.item!), ...money(d.entry)]),
        ]),
      ),
    );
  }
  if (report.notProjected.length > 0) {
    lines.push(
      "In the ledger, item still RECEIVED (nothing to post: its message, the sweeper or reconcile --adopt completes the projection):",
      ...report.notProjected.map((e) => `  ${e.transactionId}`),
    );
  }
  return lines;
}

function snapshotLines(ctx: LedgerReconcileContext, report: LedgerReport): string[] {
  const snapshot = report.snapshot;
  if (!snapshot || !ctx.ledger.snapshot) return [];
  const lines = [
    `Snapshot ${describe(ctx.ledger.snapshot)} against the new writer (read through the reader):`,
    ...indent(
      table([
        [`snapshot entries posted since ${report.since}`, String(snapshot.entriesSince)],
        ["only in the snapshot", String(snapshot.onlyInSnapshot)],
        ["of those, the item agrees (re-posted with --yes)", String(snapshot.toRepost.length)],
        ["for a human", String(snapshot.forHuman.length)],
      ]),
    ),
  ];
  if (snapshot.toRepost.length > 0) {
    lines.push(
      "Only in the snapshot, the item agrees:",
      ...indent(
        table([
          ["transaction_id", "merchant", "amount", "currency", "outcome", "snapshot posted_at"],
          ...snapshot.toRepost.map((e) => [e.transactionId, ...money(e), e.postedAt]),
        ]),
      ),
    );
  }
  if (snapshot.forHuman.length > 0) {
    const head = ["transaction_id", "why", "snapshot: merchant", "amount", "currency", "outcome", "other: merchant", "amount"];
    lines.push(
      "Snapshot differences for a human (nothing is changed; other: the new writer's entry, else the item):",
      ...indent(
        table([
          [...head, "currency", "outcome"],
          ...snapshot.forHuman.map((f) => {
            const other = f.writer ?? f.item;
            const why = f.fields ? `${f.why} (${f.fields.join(",")})` : f.why;
            return [f.transactionId, why, ...money(f.snapshot), ...(other ? money(other) : ["-", "-", "-", "-"])];
          }),
        ]),
      ),
    );
  }
  return lines;
}

function repairLines(repairs: readonly Repair[]): string[] {
  const count = (r: Repair["result"]) => repairs.filter((x) => x.result === r).length;
  const posted = count("posted");
  const already = count("already there");
  const refused = count("conflict") + count("invalid");
  const lines = [
    `Re-posted ${entries(posted + already)} (posted now: ${posted}, already there: ${already}); refused ${refused}; failed ${count("failed")}.`,
  ];
  if (repairs.length > 0) {
    lines.push(
      ...indent(
        table([
          ["transaction_id", "from", "result", "posted_at", "region", "item updated"],
          ...repairs.map((r) => [
            r.transactionId,
            r.source,
            r.message && r.result !== "failed" ? `${r.result}: ${r.message}` : r.result,
            r.postedAt ?? "-",
            r.region ?? "-",
            r.itemUpdated ? "yes" : "no",
          ]),
        ]),
      ),
    );
  }
  const stale = repairs.filter((r) => r.result === "posted" && !r.itemUpdated).length;
  if (stale > 0) lines.push(`${stale} item(s) changed meanwhile (no longer posted with that status): their projection was left as is.`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The operation

/**
 * One region's items posted since `options.since` against the ledger (and, with
 * `ctx.ledger.snapshot`, the old writer's snapshot against the new writer). Read-only unless
 * `options.yes`. Exit 0: everything agrees (or was repaired); 2: something is missing, has no
 * item or disagrees (with `yes`: something is left for a human); 1: a re-post failed.
 */
export async function reconcileLedger(ctx: LedgerReconcileContext, options: LedgerReconcileOptions): Promise<LedgerReconcileResult> {
  if (options.yes && !ctx.ledger.writer) throw new Error("re-posting needs a writer connection");
  const at = new Date(ctx.now?.() ?? Date.now()).toISOString();
  const tableName = new Naming(ctx.config.environmentSuffix).table("transactions");
  const doc = DynamoDBDocumentClient.from(ctx.dynamodb);
  const { known, findings } = await compareTable(doc, tableName, ctx.ledger.reader, options.since);
  const snapshot = ctx.ledger.snapshot
    ? await compareSnapshot(doc, tableName, ctx.ledger.reader, ctx.ledger.snapshot, options.since, known)
    : undefined;

  // What only the snapshot holds and the item agrees with, as the old writer held it; then the
  // other missing entries from their items, except where the snapshot holds the id with values the
  // item contradicts (listed for a human). An item with posted_at whose status projects no outcome
  // (not the processor's doing) is not guessed at either.
  const plan = new Map<string, Planned>();
  for (const s of snapshot?.toRepost ?? []) {
    plan.set(s.transactionId, { entry: entryInput(s), source: "snapshot", item: itemOf(known, s.transactionId)! });
  }
  const contradicted = new Set(snapshot?.forHuman.filter((f) => f.why === "item disagrees").map((f) => f.transactionId));
  const unclear: Repair[] = [];
  for (const item of findings.missing) {
    if (plan.has(item.transactionId) || contradicted.has(item.transactionId)) continue;
    if (item.outcome) plan.set(item.transactionId, { entry: entryFromItem({ ...item, outcome: item.outcome }), source: "item", item });
    else {
      const message = `status ${item.status} projects no outcome`;
      unclear.push({ transactionId: item.transactionId, source: "item", result: "invalid", itemUpdated: false, message });
    }
  }
  const forHuman = findings.noItem.length + findings.disagreeing.length + (snapshot?.forHuman.length ?? 0);
  const report = (repairs: Repair[]): LedgerReport => ({
    table: tableName,
    since: options.since.toISOString(),
    at,
    ...findings,
    ...(snapshot ? { snapshot } : {}),
    repairs,
  });

  if (!options.yes) {
    const done = report([]);
    const lines = [...tableLines(ctx, done), ...snapshotLines(ctx, done)];
    if (plan.size > 0) {
      lines.push(
        `Read-only: with --yes, ${entries(plan.size)} would be posted through the global writer from the items' own data (an entry that is there by then is not posted twice).`,
      );
    }
    return { exitCode: findings.missing.length > 0 || plan.size > 0 || forHuman > 0 ? 2 : 0, lines, report: done };
  }

  const { repairs, failure } = await repost(ctx, doc, tableName, [...plan.values()], options.batchSize ?? DEFAULT_REPOST_BATCH);
  const done = report([...unclear, ...repairs]);
  const lines = [...tableLines(ctx, done), ...snapshotLines(ctx, done), ...repairLines(done.repairs)];
  if (failure) {
    return { exitCode: 1, lines, error: `re-posting stopped: ${failure}; run again (nothing is posted twice)`, report: done };
  }
  const refused = done.repairs.filter((r) => r.result === "conflict" || r.result === "invalid").length;
  return { exitCode: forHuman + refused > 0 ? 2 : 0, lines, report: done };
}

// ---------------------------------------------------------------------------------------------
// AWS: endpoints and IAM connections (the CLI; the drill and the tests inject their own)

export interface LedgerEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface LedgerEndpoints {
  readonly reader: LedgerEndpoint;
  /** Only with --yes. */
  readonly writer?: LedgerEndpoint;
  readonly snapshot?: LedgerEndpoint;
}

/** `host[:port]` (port default AURORA_PORT); undefined when the text is not one. */
export function parseEndpoint(text: string): LedgerEndpoint | undefined {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const port = m[2] === undefined ? AURORA_PORT : Number(m[2]);
  return port >= 1 && port <= 65_535 ? { host: m[1]!, port } : undefined;
}

/**
 * The endpoints not given on the command line, from the region's RDS control plane:
 * DescribeDBClusters (the region's cluster: its ReaderEndpoint) and, for --yes,
 * DescribeGlobalClusters (the global writer Endpoint). Only the region's RDS client is asked.
 */
export async function resolveEndpoints(
  rds: () => RDSClient,
  config: DeploymentConfig,
  role: RegionRole,
  given: { reader?: LedgerEndpoint; writer?: LedgerEndpoint; snapshot?: LedgerEndpoint; needWriter: boolean },
): Promise<LedgerEndpoints> {
  const names = drNames(config);
  let reader = given.reader;
  if (!reader) {
    const out = await rds().send(new DescribeDBClustersCommand({ DBClusterIdentifier: names.clusterId[role] }));
    const c = out.DBClusters?.[0];
    if (!c?.ReaderEndpoint) throw new Error(`cluster ${names.clusterId[role]} has no reader endpoint; give --reader-endpoint`);
    reader = { host: c.ReaderEndpoint, port: c.Port ?? AURORA_PORT };
  }
  let writer = given.writer;
  if (!writer && given.needWriter) {
    const out = await rds().send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: names.globalClusterId }));
    const g = out.GlobalClusters?.[0];
    if (!g?.Endpoint) throw new Error(`global cluster ${names.globalClusterId} has no writer endpoint; give --writer-endpoint`);
    writer = { host: g.Endpoint, port: AURORA_PORT };
  }
  return { reader, ...(given.needWriter && writer ? { writer } : {}), ...(given.snapshot ? { snapshot: given.snapshot } : {}) };
}

/**
 * IAM authentication over TLS (the processor's connection code): the reader and the snapshot as
 * the read-only user, the writer as the application user. Tokens are signed for the region first;
 * the writer and a snapshot may be in the other region, whose token is tried on access denied.
 */
export function iamLedgerConnections(endpoints: LedgerEndpoints, config: DeploymentConfig, role: RegionRole): LedgerConnections {
  const region = regionOf(config, role).region;
  const other = regionOf(config, role === "primary" ? "dr" : "primary").region;
  const connect = (e: LedgerEndpoint, user: string, regions: string[], queryTimeoutMs?: number) =>
    ledgerConnection({
      host: e.host,
      port: e.port,
      database: LEDGER_DATABASE,
      user,
      tls: true,
      auth: { kind: "iam", regions },
      connectTimeoutMs: 10_000,
      ...(queryTimeoutMs ? { queryTimeoutMs } : {}),
    });
  return {
    reader: connect(endpoints.reader, LEDGER_USERS.reader, [region], LEDGER_READ_TIMEOUT_MS),
    ...(endpoints.writer ? { writer: connect(endpoints.writer, LEDGER_USERS.writer, [region, other]) } : {}),
    ...(endpoints.snapshot ? { snapshot: connect(endpoints.snapshot, LEDGER_USERS.reader, [region, other], LEDGER_READ_TIMEOUT_MS) } : {}),
  };
}
