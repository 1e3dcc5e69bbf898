/** The drill's plan: options, the seeded schedule, and how Route53 failover reaches the clients. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { FailoverDns } from "../../../src/local/drill/dns";
import { PaymentLoad } from "../../../src/local/drill/load";
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
  // The ledger's failover: a lag in whole seconds, split brain, a region that never returns.
  expect(parseDrillArgs(["--short", "--ledger-lag", "2", "--split-brain", "3", "--no-return", "--return-at", "5"])?.options).toEqual({
    ...SHORT,
    ledgerLagSeconds: 2,
    splitBrainSeconds: 3,
    noReturn: true,
    returnAtSeconds: 5,
  });
  expect(() => parseDrillArgs(["--ledger-lag", "1.5"])).toThrow("--ledger-lag");
});

test("the clients follow the documented protocol: poll to a final status, POST again on 404, and check recent final statuses after a failover", async () => {
  // Two front doors: the primary answers everything until it is lost; DR knows only what was POSTed to it.
  const posted: Record<string, string[]> = { primary: [], dr: [] };
  let primaryLost = false;
  const door = (role: "primary" | "dr") =>
    createServer((req, res) => {
      if (role === "primary" && primaryLost) {
        res.socket?.destroy();
        return;
      }
      const json = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      const id = (key: string) => `id-${key}`;
      if (req.method === "POST") {
        const key = String(req.headers["idempotency-key"]);
        posted[role]!.push(key);
        req.resume();
        return json(202, { transaction_id: id(key), status: "RECEIVED" });
      }
      const known = role === "primary" || posted.dr!.some((k) => req.url === `/transactions/${id(k)}`);
      return known ? json(200, { status: "PROCESSED" }) : json(404, { error: "NotFound" });
    });
  const servers = { primary: door("primary"), dr: door("dr") };
  await Promise.all(Object.values(servers).map((srv) => new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()))));
  const url = (role: "primary" | "dr") => `http://127.0.0.1:${(servers[role].address() as AddressInfo).port}`;
  try {
    const startedAt = Date.now();
    // Two payments at once, a third after the primary is lost: it meets the failover first.
    const [a, b, c] = paymentSchedule(1, 10, 3, 1);
    const schedule = [
      { ...a!, atMs: 0 },
      { ...b!, atMs: 0 },
      { ...c!, atMs: 700 },
    ];
    let dnsMoved = false;
    const load = new PaymentLoad({
      schedule,
      apiKey: "key",
      // The clients' resolver moves to DR a while after the primary was lost (its TTL).
      route: () => (dnsMoved ? { role: "dr", url: url("dr") } : { role: "primary", url: url("primary") }),
      timeoutMs: 500,
      pollMs: 50,
      recheckWindowMs: 60_000,
      startedAt,
      stopAt: startedAt + 10_000,
      seed: 1,
    });
    const running = load.run();
    // The first two reach their final status in the primary, then it is lost before its items replicated.
    while (load.acks.length < 2) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    primaryLost = true;
    await new Promise((r) => setTimeout(r, 700));
    dnsMoved = true;
    const result = await running;
    expect(result.acks.map((ack) => ack.role)).toEqual(["primary", "primary", "dr"]);
    expect(result.rechecked).toBe(2);
    // Checked again in DR: unknown there, so POSTed again with the same key, and posted.
    expect(result.reposts.map((r) => r.role)).toEqual(["dr", "dr"]);
    expect(posted.dr!.sort()).toEqual(schedule.map((p) => p.idempotencyKey).sort());
    expect(result.unresolved).toEqual([]);
  } finally {
    await Promise.all(Object.values(servers).map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  }
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
