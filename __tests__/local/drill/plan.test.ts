/** The drill's plan: options, the seeded schedule, and how Route53 failover reaches the clients. */
import { FailoverDns } from "../../../src/local/drill/dns";
import { DrillUsageError, FULL, parseDrillArgs, SHORT } from "../../../src/local/drill/options";
import { paymentSchedule, resolverPhases } from "../../../src/local/drill/schedule";

test("the same seed gives the same schedule; another seed another one", () => {
  const a = paymentSchedule(7, 20, 30, 8);
  expect(paymentSchedule(7, 20, 30, 8)).toEqual(a);
  expect(paymentSchedule(8, 20, 30, 8)).not.toEqual(a);
  expect(resolverPhases(7, 8, 60_000)).toEqual(resolverPhases(7, 8, 60_000));
  // About rate x duration payments, in order, within the load, each with its own key.
  expect(a.length).toBeGreaterThan(500);
  expect(a.length).toBeLessThan(700);
  expect(a.every((p, i) => i === 0 || p.atMs >= a[i - 1]!.atMs)).toBe(true);
  expect(a.at(-1)!.atMs).toBeLessThan(30_000);
  expect(new Set(a.map((p) => p.idempotencyKey)).size).toBe(a.length);
});

test("flags: --short starts from the CI defaults; bad values and impossible orders are refused", () => {
  expect(parseDrillArgs([])).toEqual({ options: FULL });
  expect(parseDrillArgs(["--short", "--seed", "3", "--replication-delay", "0.5"])).toEqual({
    options: { ...SHORT, seed: 3, replicationDelayMs: 500 },
  });
  expect(parseDrillArgs(["--help"])).toBeUndefined();
  expect(() => parseDrillArgs(["--rate", "fast"])).toThrow(DrillUsageError);
  expect(() => parseDrillArgs(["--kill-at", "300"])).toThrow("--kill-at must be before the end of the load");
  expect(() => parseDrillArgs(["--return-at", "30"])).toThrow("--return-at must be after --kill-at");
  expect(() => parseDrillArgs(["--unknown"])).toThrow(DrillUsageError);
});

test("Route53: the primary flips after `threshold` failures in a row; each resolver moves when its TTL runs out", () => {
  const start = 0;
  const dns = new FailoverDns({
    urls: { primary: "http://primary", dr: "http://dr" },
    intervalMs: 10_000,
    threshold: 3,
    ttlMs: 60_000,
    phasesMs: [5_000, 50_000],
    startedAt: start,
  });
  dns.observe("primary", false, 100_000);
  dns.observe("primary", true, 110_000); // a success resets the streak
  for (const t of [120_000, 130_000, 140_000]) dns.observe("primary", false, t);
  expect(dns.answer).toBe("dr");
  expect(dns.changes).toEqual([{ role: "primary", healthy: false, at: 140_000 }]);
  // Resolver 0 refreshes at 5 s + k x 60 s (next: 185 s), resolver 1 at 50 s + k x 60 s (next: 170 s).
  expect([dns.resolve(0, 169_000), dns.resolve(1, 169_000)]).toEqual(["primary", "primary"]);
  expect([dns.resolve(0, 171_000), dns.resolve(1, 171_000)]).toEqual(["primary", "dr"]);
  expect(dns.resolve(0, 185_000)).toBe("dr");
  expect(dns.movedAt("dr", 140_000, 300_000)).toEqual([185_000, 170_000]);
  // Back after three successes in a row.
  for (const t of [200_000, 210_000, 220_000]) dns.observe("primary", true, t);
  expect(dns.answer).toBe("primary");
});
