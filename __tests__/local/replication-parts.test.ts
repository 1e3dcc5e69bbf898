/** The replicator's small parts on their own: per-item write locks and last-writer-wins versions. */
import { compareVersions, nextVersion } from "../../src/local/item-version";
import { KeyLocks } from "../../src/local/key-locks";
import { sleep } from "../helpers/observe";

describe("KeyLocks", () => {
  test("writes to one item run one at a time, in call order", async () => {
    const locks = new KeyLocks();
    const events: string[] = [];
    const write = (name: string, ms: number) =>
      locks.run(["t\u0000a"], async () => {
        events.push(`${name} start`);
        await sleep(ms);
        events.push(`${name} end`);
      });
    await Promise.all([write("first", 20), write("second", 0), write("third", 0)]);
    expect(events).toEqual(["first start", "first end", "second start", "second end", "third start", "third end"]);
    expect(locks.size).toBe(0);
  });

  test("different items do not wait for each other; a multi-item holder waits for each", async () => {
    const locks = new KeyLocks();
    const events: string[] = [];
    const slow = locks.run(["a"], async () => {
      await sleep(30);
      events.push("a");
    });
    const fast = locks.run(["b"], async () => {
      events.push("b");
    });
    const both = locks.run(["b", "a"], async () => {
      events.push("a+b");
    });
    await Promise.all([slow, fast, both]);
    expect(events).toEqual(["b", "a", "a+b"]);
  });

  test("the same id twice in one call does not deadlock, and a failure releases the lock", async () => {
    const locks = new KeyLocks();
    await expect(locks.run(["x", "x"], async () => "ok")).resolves.toBe("ok");
    await expect(locks.run(["x"], async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(locks.run(["x"], async () => "after")).resolves.toBe("after");
  });
});

describe("item versions", () => {
  test("a later write in the same region is newer even within the same millisecond", () => {
    const first = nextVersion(undefined, 1000, "r1");
    const second = nextVersion(first, 1000, "r1");
    expect(compareVersions(second, first)).toBeGreaterThan(0);
    expect(second).toEqual({ wall: 1000, counter: 1, region: "r1" });
  });

  test("a write that saw a version is newer than it, even with a clock behind", () => {
    const seen = nextVersion(undefined, 5000, "r1");
    const later = nextVersion(seen, 4000, "r2");
    expect(compareVersions(later, seen)).toBeGreaterThan(0);
  });

  test("concurrent writes order by wall clock, then by region name", () => {
    const a = nextVersion(undefined, 1000, "r1");
    const b = nextVersion(undefined, 1001, "r2");
    expect(compareVersions(a, b)).toBeLessThan(0);
    const tie1 = nextVersion(undefined, 1000, "r1");
    const tie2 = nextVersion(undefined, 1000, "r2");
    expect(compareVersions(tie1, tie2)).toBeLessThan(0);
    expect(compareVersions(tie2, tie1)).toBeGreaterThan(0);
    expect(compareVersions(tie1, { ...tie1 })).toBe(0);
  });
});
