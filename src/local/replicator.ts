/**
 * A stand-in for DynamoDB global tables between local regions, for the two-region drill. Each
 * region's handlers use the region's proxy as AWS_ENDPOINT_URL_DYNAMODB; the proxy forwards every
 * request to that region's dynalite and, for each successful write to a replicated table, takes
 * the item's new image and schedules it for the other region after `delayMs` (asynchronous, like
 * global tables). Conflicts: last writer wins per item on the write's time in its source region
 * (src/local/item-version.ts), deletes leave tombstones, and the versions live here, never in the
 * items. Replicated writes go straight to the destination's dynalite, so they are never sent back.
 * See src/local/README.md.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TABLE_IDS, TABLES } from "../contracts/tables";
import { DynamoWire, itemId, keyOf, operationOf, relay, sendJson, type WireItem, type WireResponse } from "./dynamo-wire";
import { type Dynamo, startDynalite, tableSchema } from "./emulators";
import { nextVersion } from "./item-version";
import { KeyLocks } from "./key-locks";
import { type RegionState, ReplicationLink, type SettledWrite } from "./replication-link";
import { parseTransaction, type Refusal, runTransaction } from "./transact-write";

export type { Outcome, SettledWrite } from "./replication-link";

export interface RegionOptions {
  /** The region's name, e.g. ap-southeast-1: what isolate, heal and stats take. */
  readonly name: string;
  /** The region's DynamoDB (dynalite) endpoint. @default a dynalite started, and stopped, by the replicator */
  readonly dynamoEndpoint?: string;
  /** Port of the region's proxy on 127.0.0.1. @default 0 (any free port) */
  readonly port?: number;
}

export interface ReplicatorOptions {
  readonly regions: readonly [RegionOptions, RegionOptions];
  /** Tables replicated both ways, the same names in both regions; created from src/contracts/tables.ts where missing. */
  readonly tables: readonly string[];
  /** From a write's commit in its region until it is applied in the other, ms. @default 1000 */
  readonly delayMs?: number;
  /** Each region's wall clock, ms: stamps the writes that last writer wins compares. @default Date.now */
  readonly clock?: (region: string) => number;
  /** Called once per replicated write, when it is applied, discarded (older) or failed (refused) in its destination. */
  readonly onSettled?: (write: SettledWrite) => void;
}

export interface DirectionStats {
  readonly from: string;
  readonly to: string;
  /** Either end is isolated: nothing flows. */
  readonly held: boolean;
  /** Applied in the destination. */
  readonly replicated: number;
  /** Older than the destination's version of the item (last writer wins). */
  readonly discarded: number;
  /** Refused by the destination (4xx), or not replicable (the item could not be read back). */
  readonly failed: number;
  /** Committed in the source, not yet settled in the destination (including held ones). */
  readonly pending: number;
  /** Commit to apply, ms: median of the last 10,000 applied, maximum of all; null before the first. */
  readonly lagMs: { readonly p50: number | null; readonly max: number | null; readonly samples: number };
}

export interface ReplicatorStats {
  /** Per region: item writes to replicated tables that succeeded through its proxy (a batch counts each item). */
  readonly regions: Readonly<Record<string, { readonly writesSeen: number; readonly isolated: boolean }>>;
  /** Keyed `from->to`, e.g. `ap-southeast-1->ap-southeast-2`. */
  readonly directions: Readonly<Record<string, DirectionStats>>;
}

export interface Replicator {
  /** Proxy URL per region: that region's AWS_ENDPOINT_URL_DYNAMODB. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** The dynalite behind each proxy, for inspection: writes made there directly are not replicated. */
  readonly dynamoEndpoints: Readonly<Record<string, string>>;
  /** Cuts the region off: its outbound writes are held (kept, in order) and nothing is applied to it. */
  isolate(region: string): void;
  /** Ends the isolation: held writes flow in order, still by last writer wins, and inbound resumes. */
  heal(region: string): void;
  /** Resolves once every write pending now in a direction that is not held has settled; rejects on stop. */
  flush(): Promise<void>;
  stats(): ReplicatorStats;
  /** Closes the proxies (pending replication is dropped) and the dynalites it started. Idempotent. */
  stop(): Promise<void>;
}

const WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);
const INTERNAL_ERROR = "com.amazonaws.dynamodb.v20120810#InternalServerError";
/** How long stop() waits for requests already sent to a dynalite. */
const DRAIN_MS = 2000;
/** Concurrent requests to each dynalite: the handlers' (forwarded) and the replicated writes'. */
const HANDLER_SOCKETS = 32;
const REPLICA_SOCKETS = 8;
/** Idle client connections stay open a minute, as AWS endpoints keep them (dynalite's 5 s would reset the SDK's pooled sockets). */
const KEEP_ALIVE_MS = 60_000;

interface ProxyRegion extends RegionState {
  /** The region's emulator for the handlers' requests and the proxy's read-backs. */
  readonly wire: DynamoWire;
  endpoint: string;
  server?: Server;
  writesSeen: number;
  readonly outbound: ReplicationLink[];
  /** Key attributes of tables that are not replicated (TransactWriteItems locks their items too). */
  readonly otherTables: Map<string, Promise<readonly string[] | Refusal>>;
}

/** What a write did to one item of a replicated table. */
interface ItemWrite {
  readonly table: string;
  readonly id: string;
  readonly key: WireItem;
  /** null for a delete; undefined when it could not be read back. */
  readonly image: WireItem | null | undefined;
}

interface TableDescription {
  Table: { TableStatus: string; KeySchema: { AttributeName: string; KeyType: string }[] };
}

const describe = (wire: DynamoWire, table: string) => wire.call<TableDescription>("DescribeTable", { TableName: table });

/** Key attribute names, hash key first. */
const keyAttributesIn = (d: TableDescription): string[] =>
  ["HASH", "RANGE"].flatMap((type) => d.Table.KeySchema.filter((k) => k.KeyType === type).map((k) => k.AttributeName));

/** Creates the missing tables from the shared definitions; returns each table's key attributes. */
async function prepareTables(wire: DynamoWire, tables: readonly string[]): Promise<Map<string, readonly string[]>> {
  const keys = new Map<string, readonly string[]>();
  for (const name of tables) {
    let described = await describe(wire, name);
    if (described.error === "ResourceNotFoundException") {
      const id = TABLE_IDS.find((t) => name.startsWith(`${TABLES[t].baseName}-`));
      if (!id) throw new Error(`Table ${name} is missing at ${wire.endpoint} and matches no definition in src/contracts/tables.ts`);
      const created = await wire.call("CreateTable", tableSchema(id, name));
      if (created.status !== 200) throw new Error(`CreateTable ${name} at ${wire.endpoint}: ${created.error}`);
      described = await describe(wire, name);
    }
    // A dynalite started elsewhere may keep a new table CREATING for a while.
    for (let i = 0; described.status === 200 && described.output.Table.TableStatus !== "ACTIVE" && i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      described = await describe(wire, name);
    }
    if (described.status !== 200) throw new Error(`DescribeTable ${name} at ${wire.endpoint}: ${described.error}`);
    keys.set(name, keyAttributesIn(described.output));
  }
  return keys;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return value && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isItem = (value: unknown): value is WireItem => typeof value === "object" && value !== null;

export async function startReplicator(options: ReplicatorOptions): Promise<Replicator> {
  const delayMs = options.delayMs ?? 1000;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`Invalid delayMs ${delayMs}: expected a number >= 0`);
  const names = options.regions.map((r) => r.name);
  if (names.length !== 2 || names[0] === names[1]) throw new Error(`Expected two regions with different names, got ${names.join(", ")}`);
  if (options.tables.length === 0) throw new Error("Expected at least one table to replicate");
  const clock = options.clock ?? (() => Date.now());

  let stopped = false;
  const owned: Dynamo[] = [];
  const regions: ProxyRegion[] = [];
  const flushers = new Set<(err: Error) => void>();
  let tableKeys = new Map<string, readonly string[]>();

  const stop = async (): Promise<void> => {
    stopped = true;
    for (const region of regions) for (const link of region.outbound) link.clearTimer();
    for (const reject of flushers) reject(new Error("replicator stopped"));
    flushers.clear();
    await Promise.all(
      regions.map(
        (r) =>
          new Promise<void>((resolve) => {
            if (!r.server?.listening) return resolve();
            r.server.closeAllConnections();
            r.server.close(() => resolve());
          }),
      ),
    );
    // Writes already sent finish first: dynalite must not be stopped under a request.
    const wires = regions.flatMap((r) => [r.wire, r.replicaWire]);
    await Promise.all(wires.map((w) => w.drain(DRAIN_MS)));
    for (const w of wires) w.close();
    await Promise.all(owned.map((d) => d.stop()));
  };

  try {
    for (const spec of options.regions) {
      let endpoint = spec.dynamoEndpoint;
      if (!endpoint) {
        const dynamo = await startDynalite();
        owned.push(dynamo);
        endpoint = dynamo.endpoint;
      }
      regions.push({
        name: spec.name,
        wire: new DynamoWire(endpoint, HANDLER_SOCKETS),
        replicaWire: new DynamoWire(endpoint, REPLICA_SOCKETS),
        locks: new KeyLocks(),
        versions: new Map(),
        isolated: false,
        endpoint: "",
        writesSeen: 0,
        outbound: [],
        otherTables: new Map(),
      });
    }
    const schemas = await Promise.all(regions.map((r) => prepareTables(r.wire, options.tables)));
    for (const name of options.tables) {
      const [a, b] = schemas.map((s) => s.get(name)!.join(","));
      if (a !== b) throw new Error(`Table ${name} has key (${a}) in ${names[0]} but (${b}) in ${names[1]}`);
    }
    tableKeys = schemas[0];
    const linkOptions = { delayMs, onSettled: options.onSettled, isStopped: () => stopped };
    const [first, second] = regions;
    first.outbound.push(new ReplicationLink(first, second, linkOptions));
    second.outbound.push(new ReplicationLink(second, first, linkOptions));

    for (const [i, region] of regions.entries()) {
      const server = createServer((req, res) => handle(region, req, res));
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      region.server = server;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.regions[i].port ?? 0, "127.0.0.1", () => resolve());
      });
      region.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
  } catch (err) {
    await stop();
    throw err;
  }

  /** Stamps each write with its version and queues it for the other region; the caller holds the items' locks. */
  function commit(region: ProxyRegion, writes: readonly ItemWrite[]): void {
    const now = clock(region.name);
    const committedAt = performance.now();
    for (const w of writes) {
      if (w.image === undefined) {
        for (const link of region.outbound) link.failed++;
        continue;
      }
      const version = nextVersion(region.versions.get(w.id), now, region.name);
      region.versions.set(w.id, version);
      region.writesSeen++;
      const write = { table: w.table, id: w.id, key: w.key, image: w.image, version, committedAt };
      for (const link of region.outbound) link.enqueue(write);
    }
  }

  function handle(region: ProxyRegion, req: IncomingMessage, res: ServerResponse): void {
    const operation = operationOf(req.headers);
    if (req.method !== "POST" || !WRITES.has(operation)) {
      region.wire.pipe(req, res);
      return;
    }
    readBody(req)
      .then((body) => handleWrite(region, operation, req.headers, body, res))
      .catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        sendJson(res, 500, { __type: INTERNAL_ERROR, message: `replicator: ${err instanceof Error ? err.message : String(err)}` });
      });
  }

  async function handleWrite(
    region: ProxyRegion,
    operation: string,
    headers: IncomingHttpHeaders,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const input = parseJson(body);
    // Malformed: dynalite answers it, and nothing was written.
    if (!input) return relay(res, await region.wire.send(headers, body));
    switch (operation) {
      case "BatchWriteItem":
        return batchWrite(region, input, headers, body, res);
      case "TransactWriteItems":
        return transactWrite(region, input, res);
      default:
        return singleWrite(region, operation, input, headers, body, res);
    }
  }

  async function singleWrite(
    region: ProxyRegion,
    operation: string,
    input: Record<string, unknown>,
    headers: IncomingHttpHeaders,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const table = input.TableName as string;
    const keyAttributes = tableKeys.get(table);
    const source = operation === "PutItem" ? input.Item : input.Key;
    if (!keyAttributes || !isItem(source)) return relay(res, await region.wire.send(headers, body));
    const id = itemId(table, keyAttributes, source);
    const key = keyOf(source, keyAttributes);
    // UpdateItem: ReturnValues ALL_NEW gives the image this very write produced. Where the client
    // asked for nothing we ask for it and strip it from the answer; where it asked for something
    // else we read the item back, still under the item's lock, so no other write can slip between.
    const returnValues = (input.ReturnValues as string | undefined) ?? "NONE";
    const askNew = operation === "UpdateItem" && returnValues === "NONE";
    const sent = askNew ? Buffer.from(JSON.stringify({ ...input, ReturnValues: "ALL_NEW" })) : body;

    const response = await region.locks.run([id], async (): Promise<WireResponse> => {
      const r = await region.wire.send(headers, sent);
      if (r.status !== 200) return r;
      let image: WireItem | null | undefined = null;
      if (operation === "PutItem") image = source;
      else if (operation === "UpdateItem") {
        image = askNew || returnValues === "ALL_NEW" ? (parseJson(r.body)?.Attributes as WireItem | undefined) : undefined;
        if (!image) {
          const read = await region.wire
            .call<{ Item?: WireItem }>("GetItem", { TableName: table, Key: key, ConsistentRead: true })
            .catch(() => undefined);
          image = read?.status === 200 ? (read.output.Item ?? null) : undefined;
        }
      }
      commit(region, [{ table, id, key, image }]);
      return r;
    });

    if (!askNew || response.status !== 200) return relay(res, response);
    const { Attributes: _ours, ...output } = parseJson(response.body) ?? {};
    sendJson(res, 200, output, response.headers["x-amzn-requestid"] as string | undefined);
  }

  async function batchWrite(
    region: ProxyRegion,
    input: Record<string, unknown>,
    headers: IncomingHttpHeaders,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const writes = batchItems(input.RequestItems);
    if (writes.length === 0) return relay(res, await region.wire.send(headers, body));
    const response = await region.locks.run(
      writes.map((w) => w.id),
      async () => {
        const r = await region.wire.send(headers, body);
        if (r.status === 200) {
          // Unprocessed items were not written: they come back in a retry, as a new write.
          const unprocessed = new Set(batchItems(parseJson(r.body)?.UnprocessedItems).map((w) => w.id));
          commit(
            region,
            writes.filter((w) => !unprocessed.has(w.id)),
          );
        }
        return r;
      },
    );
    relay(res, response);
  }

  /** The items of replicated tables in a BatchWriteItem's RequestItems (or UnprocessedItems). */
  function batchItems(requestItems: unknown): ItemWrite[] {
    const writes: ItemWrite[] = [];
    if (!isItem(requestItems)) return writes;
    for (const [table, requests] of Object.entries(requestItems)) {
      const keyAttributes = tableKeys.get(table);
      if (!keyAttributes || !Array.isArray(requests)) continue;
      for (const request of requests as { PutRequest?: { Item?: WireItem }; DeleteRequest?: { Key?: WireItem } }[]) {
        const item = request.PutRequest?.Item;
        const source = item ?? request.DeleteRequest?.Key;
        if (!isItem(source)) continue;
        writes.push({ table, id: itemId(table, keyAttributes, source), key: keyOf(source, keyAttributes), image: item ?? null });
      }
    }
    return writes;
  }

  async function transactWrite(region: ProxyRegion, input: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const items = await parseTransaction(input, (table) => keyAttributesOf(region, table));
    if ("status" in items) return sendJson(res, items.status, items.payload);
    const outcome = await region.locks.run(
      items.map((i) => i.id),
      async () => {
        const result = await runTransaction(region.wire, items);
        if (result.ok) {
          const replicated = result.written.filter((w) => tableKeys.has(w.item.table));
          commit(
            region,
            replicated.map(({ item, image }) => ({ table: item.table, id: item.id, key: item.key, image })),
          );
        }
        return result;
      },
    );
    if (outcome.ok) sendJson(res, 200, {});
    else sendJson(res, outcome.status, outcome.payload);
  }

  function keyAttributesOf(region: ProxyRegion, table: string): Promise<readonly string[] | Refusal> {
    const known = tableKeys.get(table);
    if (known) return Promise.resolve(known);
    let pending = region.otherTables.get(table);
    if (!pending) {
      pending = describe(region.wire, table).then((d): readonly string[] | Refusal =>
        d.status === 200 ? keyAttributesIn(d.output) : { status: d.status, payload: d.output },
      );
      region.otherTables.set(table, pending);
      // Do not remember a failure: the table may be created later.
      void pending.then((r) => {
        if ("status" in r) region.otherTables.delete(table);
      });
    }
    return pending;
  }

  const byName = (name: string): ProxyRegion => {
    const region = regions.find((r) => r.name === name);
    if (!region) throw new Error(`Unknown region ${name}: expected one of ${names.join(", ")}`);
    return region;
  };
  const linksOf = (region: ProxyRegion): ReplicationLink[] =>
    regions.flatMap((r) => r.outbound).filter((l) => l.from === region || l.to === region);
  const allLinks = (): ReplicationLink[] => regions.flatMap((r) => r.outbound);

  let stopping: Promise<void> | undefined;
  return {
    endpoints: Object.fromEntries(regions.map((r) => [r.name, r.endpoint])),
    dynamoEndpoints: Object.fromEntries(regions.map((r) => [r.name, r.wire.endpoint])),
    isolate(name) {
      const region = byName(name);
      region.isolated = true;
      for (const link of linksOf(region)) link.clearTimer();
    },
    heal(name) {
      const region = byName(name);
      region.isolated = false;
      for (const link of linksOf(region)) link.pump();
    },
    flush() {
      if (stopped) return Promise.reject(new Error("replicator stopped"));
      return new Promise<void>((resolve, reject) => {
        let left = 0;
        const done = () => {
          if (--left > 0) return;
          flushers.delete(reject);
          resolve();
        };
        for (const link of allLinks()) if (!link.held) left += link.watch(done);
        if (left === 0) return resolve();
        flushers.add(reject);
      });
    },
    stats() {
      return {
        regions: Object.fromEntries(regions.map((r) => [r.name, { writesSeen: r.writesSeen, isolated: r.isolated }])),
        directions: Object.fromEntries(
          allLinks().map((l) => [
            `${l.from.name}->${l.to.name}`,
            {
              from: l.from.name,
              to: l.to.name,
              held: l.held,
              replicated: l.replicated,
              discarded: l.discarded,
              failed: l.failed,
              pending: l.pending,
              lagMs: l.lag(),
            },
          ]),
        ),
      };
    },
    stop: () => (stopping ??= stop()),
  };
}
