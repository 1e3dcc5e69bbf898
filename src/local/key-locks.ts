/**
 * One write at a time per item. The replicator holds an item's lock from sending a write until it
 * has stamped that write's version, so the order of the stamps is the order the emulator applied
 * the writes in, and a read-back under the lock sees exactly that write's result.
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `fn` once every earlier holder of any of `ids` has finished. All the ids are taken at
   * once, in call order, so two callers can never wait on each other (no deadlock).
   */
  async run<T>(ids: readonly string[], fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const earlier: Promise<void>[] = [];
    for (const id of ids) {
      const tail = this.tails.get(id);
      if (tail === mine) continue; // the same id twice
      if (tail) earlier.push(tail);
      this.tails.set(id, mine);
    }
    try {
      if (earlier.length > 0) await Promise.all(earlier);
      return await fn();
    } finally {
      release();
      for (const id of ids) if (this.tails.get(id) === mine) this.tails.delete(id);
    }
  }

  /** Items with a holder or a waiter (0 when idle; for tests and stats). */
  get size(): number {
    return this.tails.size;
  }
}
