/**
 * TransactWriteItems for an emulator that has none (dynalite 4 knows no transactions): the items
 * are written one by one with their own conditions, and undone from before-images when one fails.
 * All or nothing for every other writer through the replicator's proxy, because the caller holds
 * the lock of every item while this runs (KeyLocks). Unlike DynamoDB, a reader can see a
 * transaction half done, and only the first failed condition is reported.
 */
import { type DynamoWire, itemId, keyOf, type WireItem } from "./dynamo-wire";

type Kind = "Put" | "Update" | "Delete" | "ConditionCheck";
const KINDS: readonly Kind[] = ["Put", "Update", "Delete", "ConditionCheck"];
const CONDITION_FIELDS = ["ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"] as const;
const NAMESPACE = "com.amazonaws.dynamodb.v20120810#";

export interface TransactItem {
  readonly kind: Kind;
  readonly table: string;
  readonly key: WireItem;
  /** Lock and version id (src/local/dynamo-wire.ts itemId). */
  readonly id: string;
  /** The item's own request: Put, Update, Delete or ConditionCheck. */
  readonly request: Record<string, unknown>;
}

/** What a transaction wrote; image null for a delete. */
export interface TransactWrite {
  readonly item: TransactItem;
  readonly image: WireItem | null;
}

/** An answer for the client: status and DynamoDB JSON body. */
export interface Refusal {
  readonly status: number;
  readonly payload: unknown;
}

export type TransactOutcome = { readonly ok: true; readonly written: TransactWrite[] } | ({ readonly ok: false } & Refusal);

const validation = (message: string): Refusal => ({ status: 400, payload: { __type: `${NAMESPACE}ValidationException`, message } });

/** Reads the TransactItems of a request; `keyAttributes` names a table's key, or refuses (an unknown table). */
export async function parseTransaction(
  input: { TransactItems?: unknown },
  keyAttributes: (table: string) => Promise<readonly string[] | Refusal>,
): Promise<TransactItem[] | Refusal> {
  const raw = input.TransactItems;
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > 100) return validation("TransactItems must hold 1 to 100 items");
  const items: TransactItem[] = [];
  for (const entry of raw as Record<string, Record<string, unknown>>[]) {
    const kinds = KINDS.filter((k) => entry?.[k] !== undefined);
    if (kinds.length !== 1) return validation("Each TransactItem must hold exactly one of Put, Update, Delete, ConditionCheck");
    const kind = kinds[0];
    const request = entry[kind];
    const table = request.TableName;
    const source = (kind === "Put" ? request.Item : request.Key) as WireItem | undefined;
    if (typeof table !== "string" || !source || typeof source !== "object")
      return validation(`${kind} needs TableName and ${kind === "Put" ? "Item" : "Key"}`);
    const attributes = await keyAttributes(table);
    if ("status" in attributes) return attributes;
    items.push({ kind, table, key: keyOf(source, attributes), id: itemId(table, attributes, source), request });
  }
  if (new Set(items.map((i) => i.id)).size !== items.length)
    return validation("Transaction request cannot include multiple operations on one item");
  return items;
}

function conditionOf(request: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of CONDITION_FIELDS) if (request[field] !== undefined) out[field] = request[field];
  return out;
}

/** The single-item call that does one transaction item; a condition check rewrites what is there. */
function singleCall(item: TransactItem, before: WireItem | undefined): [string, object] {
  const TableName = item.table;
  const condition = conditionOf(item.request);
  switch (item.kind) {
    case "Put":
      return ["PutItem", { TableName, Item: item.request.Item, ...condition }];
    case "Update":
      return [
        "UpdateItem",
        { TableName, Key: item.key, UpdateExpression: item.request.UpdateExpression, ...condition, ReturnValues: "ALL_NEW" },
      ];
    case "Delete":
      return ["DeleteItem", { TableName, Key: item.key, ...condition }];
    case "ConditionCheck":
      // A conditional write of the item as it is (or a delete of nothing) tests the condition and changes nothing.
      return before ? ["PutItem", { TableName, Item: before, ...condition }] : ["DeleteItem", { TableName, Key: item.key, ...condition }];
  }
}

/** Restores the items already written, last first. */
async function undo(wire: DynamoWire, done: TransactItem[], before: (WireItem | undefined)[], items: TransactItem[]): Promise<void> {
  for (const item of [...done].reverse()) {
    const old = before[items.indexOf(item)];
    const res = old
      ? await wire.call("PutItem", { TableName: item.table, Item: old })
      : await wire.call("DeleteItem", { TableName: item.table, Key: item.key });
    if (res.status !== 200) throw new Error(`transaction rollback of ${item.table} failed: ${res.error}`);
  }
}

/** Runs the transaction; the caller holds the lock of every item. */
export async function runTransaction(wire: DynamoWire, items: TransactItem[]): Promise<TransactOutcome> {
  const reads = await Promise.all(
    items.map((i) => wire.call<{ Item?: WireItem }>("GetItem", { TableName: i.table, Key: i.key, ConsistentRead: true })),
  );
  const failedRead = reads.find((r) => r.status !== 200);
  if (failedRead) return { ok: false, status: failedRead.status, payload: failedRead.output };
  const before = reads.map((r) => r.output.Item);

  const done: TransactItem[] = [];
  const written: TransactWrite[] = [];
  for (const [index, item] of items.entries()) {
    const [operation, input] = singleCall(item, before[index]);
    const res = await wire.call<{ Attributes?: WireItem }>(operation, input);
    if (res.status !== 200) {
      await undo(wire, done, before, items);
      if (res.error !== "ConditionalCheckFailedException") return { ok: false, status: res.status, payload: res.output };
      return { ok: false, ...cancelled(items, index, before[index]) };
    }
    if (item.kind === "ConditionCheck") continue;
    done.push(item);
    const image = item.kind === "Put" ? (item.request.Item as WireItem) : item.kind === "Update" ? (res.output.Attributes ?? null) : null;
    written.push({ item, image });
  }
  return { ok: true, written };
}

/** DynamoDB's TransactionCanceledException, one reason per item in request order. */
function cancelled(items: TransactItem[], failed: number, old: WireItem | undefined): Refusal {
  const reasons = items.map((item, i) => {
    if (i !== failed) return { Code: "None" };
    const withOld = item.request.ReturnValuesOnConditionCheckFailure === "ALL_OLD" && old ? { Item: old } : {};
    return { Code: "ConditionalCheckFailed", Message: "The conditional request failed", ...withOld };
  });
  return {
    status: 400,
    payload: {
      __type: `${NAMESPACE}TransactionCanceledException`,
      Message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(", ")}]`,
      CancellationReasons: reasons,
    },
  };
}
