/**
 * One direction of replication (source region -> destination region): a FIFO of committed writes,
 * each applied to the destination's emulator once its delay has passed, under the destination's
 * item lock and by last writer wins. Dispatch is in commit order and each item's lock queues in
 * call order, so an item's replicated writes land in the order they were made.
 */
import { type DynamoWire, itemId, type WireItem } from "./dynamo-wire";
import { compareVersions, type ItemVersion } from "./item-version";
import type { KeyLocks } from "./key-locks";

export interface RegionState {
  readonly name: string;
  /** The region's emulator for replicated writes: its own few sockets, so a backlog after heal cannot starve the handlers. */
  readonly replicaWire: DynamoWire;
  readonly locks: KeyLocks;
  /** Each item's current version in this region; kept after a delete (the tombstone). */
  readonly versions: Map<string, ItemVersion>;
  isolated: boolean;
}

/** A write committed in its source region, waiting to be applied elsewhere. */
export interface CommittedWrite {
  readonly table: string;
  /** src/local/dynamo-wire.ts itemId */
  readonly id: string;
  readonly key: WireItem;
  /** The item after the write; null for a delete. */
  readonly image: WireItem | null;
  readonly version: ItemVersion;
  /** performance.now() at commit: lag is measured on this process's monotonic clock. */
  readonly committedAt: number;
}

export type Outcome = "applied" | "discarded" | "failed";

export interface SettledWrite extends CommittedWrite {
  readonly from: string;
  readonly to: string;
  readonly outcome: Outcome;
  /** Commit in the source to settlement in the destination, ms. */
  readonly lagMs: number;
}

interface Pending extends CommittedWrite {
  readonly seq: number;
  readonly dueAt: number;
  waiters?: Array<() => void>;
}

export interface LinkOptions {
  readonly delayMs: number;
  readonly onSettled?: (write: SettledWrite) => void;
  readonly isStopped: () => boolean;
}

/** Lag samples for the median: the last LAG_WINDOW applied writes (the max is over all). */
const LAG_WINDOW = 10_000;
const RETRY_MAX_MS = 1000;
/** BatchWriteItem's limit. */
const MAX_BATCH = 25;
/** As many as the replica wire has sockets (src/local/replicator.ts). */
const MAX_BATCHES_IN_FLIGHT = 8;

type Attempt = "applied" | "discarded" | "failed" | "parked";

export class ReplicationLink {
  replicated = 0;
  discarded = 0;
  failed = 0;
  private readonly queue: (Pending | undefined)[] = [];
  private head = 0;
  /** Dispatched but found held (isolated) when their turn came: they go first on heal. */
  private parked: Pending[] = [];
  private readonly inFlight = new Set<Pending>();
  private batchesInFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly lags = new Float64Array(LAG_WINDOW);
  private lagCount = 0;
  private lagMax = 0;

  constructor(
    readonly from: RegionState,
    readonly to: RegionState,
    private readonly options: LinkOptions,
  ) {}

  /** Replication is held while either end is isolated. */
  get held(): boolean {
    return this.from.isolated || this.to.isolated;
  }

  /** Committed here, not yet applied or discarded there. */
  get pending(): number {
    return this.queue.length - this.head + this.parked.length + this.inFlight.size;
  }

  enqueue(write: CommittedWrite): void {
    this.queue.push({ ...write, seq: ++this.seq, dueAt: write.committedAt + this.options.delayMs });
    if (!this.timer) this.pump();
  }

  /**
   * Dispatches what is due (parked writes first) in batches, at most MAX_BATCHES_IN_FLIGHT at a
   * time: a batch holds its items' locks while it waits for the emulator, so a backlog after heal
   * must not lock thousands of items that handlers may be writing. Sets the timer for the next.
   */
  pump(): void {
    this.clearTimer();
    if (this.held || this.options.isStopped()) return;
    const now = performance.now();
    // Batches settle in any order: parked writes go back in commit order.
    if (this.parked.length > 1) this.parked.sort((a, b) => a.seq - b.seq);
    while (this.batchesInFlight < MAX_BATCHES_IN_FLIGHT) {
      const batch = this.takeBatch(now);
      if (batch.length === 0) break;
      this.dispatch(batch);
    }
    // Due but not dispatched: the next settled batch pumps again.
    const next = this.queue[this.head];
    if (next && next.dueAt > now && this.parked.length === 0) this.timer = setTimeout(() => this.pump(), next.dueAt - now);
    // Drop the consumed front now and then instead of shifting on every write.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The next due writes, in order, of distinct items: an item's next write goes in a later batch. */
  private takeBatch(now: number): Pending[] {
    const batch: Pending[] = [];
    const ids = new Set<string>();
    while (batch.length < MAX_BATCH) {
      const fromQueue = this.parked.length === 0;
      const next = fromQueue ? this.queue[this.head] : this.parked[0];
      if (!next || next.dueAt > now || ids.has(next.id)) break;
      if (fromQueue) this.queue[this.head++] = undefined;
      else this.parked.shift();
      batch.push(next);
      ids.add(next.id);
    }
    return batch;
  }

  /** Calls `done` once per write pending now, when it settles; returns how many. */
  watch(done: () => void): number {
    let count = 0;
    const add = (p: Pending | undefined) => {
      if (!p) return;
      p.waiters ??= [];
      p.waiters.push(done);
      count++;
    };
    for (let i = this.head; i < this.queue.length; i++) add(this.queue[i]);
    for (const p of this.parked) add(p);
    for (const p of this.inFlight) add(p);
    return count;
  }

  lag(): { p50: number | null; max: number | null; samples: number } {
    const n = Math.min(this.lagCount, LAG_WINDOW);
    if (n === 0) return { p50: null, max: null, samples: 0 };
    const sorted = this.lags.slice(0, n).sort();
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return { p50: round(sorted[Math.ceil(n / 2) - 1]), max: round(this.lagMax), samples: this.lagCount };
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private dispatch(batch: Pending[]): void {
    this.batchesInFlight++;
    for (const p of batch) this.inFlight.add(p);
    // Taking the items' locks now, in dispatch order, is what keeps each item's writes in order.
    const attempt = this.to.locks
      .run(
        batch.map((p) => p.id),
        () => this.applyLocked(batch),
      )
      .catch((): Attempt[] => batch.map(() => "failed"));
    void attempt.then((results) => {
      this.batchesInFlight--;
      for (const [i, p] of batch.entries()) this.settle(p, results[i]);
      // More may be due, and writes parked by an isolation that has ended since must not wait for the next heal.
      this.pump();
    });
  }

  /** Results in batch order. */
  private async applyLocked(batch: Pending[]): Promise<Attempt[]> {
    if (this.held || this.options.isStopped()) return batch.map(() => "parked");
    const results = new Map<Pending, Attempt>();
    const newer = batch.filter((p) => {
      const current = this.to.versions.get(p.id);
      if (current && compareVersions(p.version, current) <= 0) results.set(p, "discarded");
      return !results.has(p);
    });
    if (newer.length > 0) {
      for (const [p, result] of await this.write(newer)) {
        results.set(p, result);
        if (result === "applied") this.to.versions.set(p.id, p.version);
      }
    }
    return batch.map((p) => results.get(p) ?? "failed");
  }

  /**
   * Puts the images (or deletes the items) straight into the destination's emulator, never
   * through its proxy: no ping-pong. One BatchWriteItem costs dynalite a third of the CPU per item
   * of single writes, which matters when a backlog flows after heal.
   */
  private async write(items: Pending[]): Promise<Map<Pending, Attempt>> {
    const results = new Map<Pending, Attempt>();
    let remaining = items;
    for (let attempt = 0; remaining.length > 0; attempt++) {
      try {
        const res = await this.to.replicaWire.call<{ UnprocessedItems?: unknown }>("BatchWriteItem", {
          RequestItems: requestItems(remaining),
        });
        if (res.status === 200) {
          const unprocessed = unprocessedIds(res.output.UnprocessedItems, remaining);
          for (const p of remaining) if (!unprocessed.has(p.id)) results.set(p, "applied");
          remaining = remaining.filter((p) => unprocessed.has(p.id));
          if (remaining.length === 0) break;
        } else if (res.status < 500) {
          // Refused (bad item, missing table): it will not succeed later. One bad item refuses
          // the whole batch, so the others are tried alone.
          if (remaining.length === 1) results.set(remaining[0], "failed");
          else for (const p of remaining) for (const [one, result] of await this.write([p])) results.set(one, result);
          break;
        }
      } catch {
        // The emulator is unreachable (stopped for the drill?): keep trying, in order.
      }
      const giveUp: Attempt | undefined = this.options.isStopped() ? "failed" : this.held ? "parked" : undefined;
      if (giveUp) {
        for (const p of remaining) results.set(p, giveUp);
        break;
      }
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, 10 * 2 ** attempt)).unref());
    }
    return results;
  }

  private settle(p: Pending, result: Attempt): void {
    this.inFlight.delete(p);
    if (result === "parked") {
      if (!this.options.isStopped()) this.parked.push(p);
      return;
    }
    const lagMs = performance.now() - p.committedAt;
    if (result === "applied") {
      this.replicated++;
      this.lags[this.lagCount % LAG_WINDOW] = lagMs;
      this.lagCount++;
      if (lagMs > this.lagMax) this.lagMax = lagMs;
    } else if (result === "discarded") this.discarded++;
    else this.failed++;
    const { seq: _seq, dueAt: _dueAt, waiters, ...write } = p;
    this.options.onSettled?.({ ...write, from: this.from.name, to: this.to.name, outcome: result, lagMs });
    for (const done of waiters ?? []) done();
  }
}

/** BatchWriteItem's RequestItems for these writes (distinct items). */
function requestItems(items: readonly Pending[]): Record<string, unknown[]> {
  const byTable: Record<string, unknown[]> = {};
  for (const p of items) {
    byTable[p.table] ??= [];
    byTable[p.table].push(p.image ? { PutRequest: { Item: p.image } } : { DeleteRequest: { Key: p.key } });
  }
  return byTable;
}

/** Ids of the writes that BatchWriteItem handed back unprocessed. */
function unprocessedIds(unprocessed: unknown, sent: readonly Pending[]): Set<string> {
  const ids = new Set<string>();
  if (!unprocessed || typeof unprocessed !== "object") return ids;
  for (const [table, requests] of Object.entries(unprocessed as Record<string, unknown[]>)) {
    // A write's key lists its attributes in key-schema order (keyOf), as itemId needs them.
    const keyAttributes = Object.keys(sent.find((p) => p.table === table)?.key ?? {});
    for (const request of requests as { PutRequest?: { Item: WireItem }; DeleteRequest?: { Key: WireItem } }[]) {
      const item = request.PutRequest?.Item ?? request.DeleteRequest?.Key;
      if (item) ids.add(itemId(table, keyAttributes, item));
    }
  }
  return ids;
}
