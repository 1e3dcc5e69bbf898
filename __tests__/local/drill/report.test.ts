/**
 * The drill's report (src/local/drill/report.ts) is built from what the system recorded (the
 * ledger, the tables, the delivered notifications), not from what the load generator believes:
 * fixtures where the two disagree show which one the figures follow.
 */
import type { Ack } from "../../../src/local/drill/load";
import { buildReport, type DrillSources, type LedgerRow, type TableRow } from "../../../src/local/drill/report";
import { drillSvg } from "../../../src/local/drill/svg";

const P = "ap-southeast-1";
const D = "ap-southeast-2";
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const KILL = T0 + 10_000;
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const id = (n: number) => `00000000-0000-8000-8000-${String(n).padStart(12, "0")}`;

const row = (n: number, region: string, s: number, status = "PROCESSED"): TableRow => ({
  transaction_id: id(n),
  status,
  accepted_region: region,
  created_at: at(s),
});
const entry = (n: number, region: string, s: number, legs = 2): LedgerRow => ({
  transaction_id: id(n),
  region,
  outcome: "POSTED",
  posted_at: at(s),
  legs,
});

/**
 * The load generator's own view: it believes all five payments were accepted by the primary
 * and all of them went through. Only the ids and the times of its 202s reach the report.
 */
const clientView: Ack[] = [1, 2, 3, 4, 5].map((n) => ({
  transactionId: id(n),
  idempotencyKey: `key-${n}`,
  at: T0 + n * 1000,
  role: "primary",
}));

function sources(overrides: Partial<DrillSources> = {}): DrillSources {
  return {
    regions: { primary: P, dr: D },
    startedAt: T0,
    killedAt: KILL,
    returnedAt: T0 + 20_000,
    endedAt: T0 + 30_000,
    acknowledged: clientView.map((a) => ({ transactionId: a.transactionId, at: a.at })),
    clientErrors: [T0 + 10_500, T0 + 11_000],
    ledger: [
      entry(1, P, 1.5), // posted before the kill
      entry(2, D, 14), // stranded at the kill, the survivor saw it, DR posted it
      entry(3, P, 22), // stranded, the survivor could not see it, the primary posted it on its return
      entry(3, P, 23), // ...and a second entry: posted twice
      entry(6, D, 15), // never acknowledged to the client (it gave up or timed out), yet posted
      // 4 and 5: acknowledged, never posted
    ],
    atKill: {
      primary: [row(1, P, 1), row(2, P, 2, "RECEIVED"), row(3, P, 9.4, "RECEIVED"), row(4, P, 4, "RECEIVED"), row(5, P, 5, "RECEIVED")],
      dr: [row(1, P, 1, "RECEIVED"), row(2, P, 2, "RECEIVED"), row(4, P, 4, "RECEIVED"), row(5, P, 5, "RECEIVED")],
    },
    atEnd: {
      primary: [row(1, P, 1), row(2, P, 2), row(3, P, 9.4), row(4, P, 4, "RECEIVED"), row(5, D, 12, "RECEIVED"), row(6, D, 13)],
      dr: [row(1, P, 1), row(2, P, 2), row(3, P, 9.4), row(4, P, 4, "RECEIVED"), row(5, D, 12, "RECEIVED"), row(6, D, 13)],
    },
    notifications: [
      { transaction_id: id(1), region: P },
      { transaction_id: id(2), region: D },
      { transaction_id: id(2), region: P },
      { transaction_id: id(3), region: P },
    ],
    strandedQueue: { ready: 3, delayed: 0, inflight: 1 },
    heldWrites: 2,
    replication: {
      lagMs: { p50: 1001, p99: 1100, max: 1200, samples: 10 },
      backlog: { writes: 2, settledSecondsAfterHeal: 1.2 },
      discarded: 0,
    },
    deadLetters: { primary: 0, dr: 0 },
    processorDeliveries: { primary: 4, dr: 3 },
    marks: [
      { kind: "kill", label: "primary killed", at: KILL },
      { kind: "detection", label: "detection", at: KILL + 2_000 },
      { kind: "runbook", label: "npm run dr -- status", at: KILL + 2_100 },
      { kind: "return", label: "primary back", at: T0 + 20_000 },
      { kind: "failback", label: "fail-back", at: T0 + 25_000 },
    ],
    steps: [],
    allClientsMovedAt: KILL + 4_000,
    machine: { cores: 2, loadAverage: [1.5, 2] },
    ...overrides,
  };
}

test("counts come from the ledger and the tables, not from the load generator's bookkeeping", () => {
  const { figures, timeline, examples, passed, failures } = buildReport(sources());
  expect(figures.acknowledged).toBe(5);
  // The client believes all five went through; the ledger has three of them (and one it never acknowledged).
  expect(figures.acknowledgedPosted).toBe(3);
  expect(figures.lostAfterReturn).toBe(2);
  expect(examples.lost).toEqual([id(4), id(5)]);
  expect(figures.ledgerEntries).toEqual({ total: 5, posted: 5, rejected: 0, byRegion: { [P]: 3, [D]: 2 } });
  expect(figures.postedTwice).toBe(1);
  expect(examples.postedTwice).toEqual([id(3)]);
  // Seven deliveries completed by the processors for five entries: two posted nothing.
  expect(figures.deliveries).toEqual({ completed: 7, fenced: 2 });
  // The client thinks the primary accepted everything; the tables say 5 and 6 were accepted in DR.
  const accepted = timeline.reduce((n, p) => ({ primary: n.primary + p.accepted.primary, dr: n.dr + p.accepted.dr }), {
    primary: 0,
    dr: 0,
  });
  expect(accepted).toEqual({ primary: 4, dr: 2 });
  expect(figures.seconds.firstAcceptedInDr).toBe(2);
  expect(passed).toBe(false);
  expect(failures).toHaveLength(2);
  expect(buildReport(sources()).warnings).toEqual([]);
});

test("a POSTED entry without both legs counts as a posting fault, like a second entry", () => {
  const report = buildReport(
    sources({ ledger: [entry(1, P, 1.5, 1), entry(2, D, 14), entry(3, P, 22), entry(4, D, 15), entry(5, D, 16)] }),
  );
  expect(report.figures.postedTwice).toBe(1);
  expect(report.figures.lostAfterReturn).toBe(0);
  expect(report.failures).toEqual(["1 payment(s) posted twice (or without exactly two legs)"]);
});

test("the recovery point: acknowledged but unposted at the kill, and what the survivor's table lacked", () => {
  const { figures } = buildReport(sources());
  // 1 was posted before the kill; 2..5 were acknowledged by then and not posted.
  expect(figures.atKill.acknowledged).toBe(5);
  expect(figures.atKill.acknowledgedNotPosted).toBe(4);
  // The survivor's table at the kill had 2, 4 and 5, not 3 (accepted 0.6 s before the kill).
  expect(figures.atKill.unseenBySurvivor).toBe(1);
  // Posted or not: the survivor also lacked 1's projection (PROCESSED there, RECEIVED here), written 9 s before the kill.
  expect(figures.atKill.survivorLacked).toBe(2);
  expect(figures.atKill.survivorLackedWindowSeconds).toBe(9);
  expect(figures.atKill.strandedMessages).toBe(4);
  // Of the visible ones, 4 and 5 were never posted: that time is unknown, not the last of the others.
  expect(figures.seconds.strandedVisiblePosted).toBeNull();
  expect(figures.seconds.unseenPosted).toBe(12);
  expect(figures.unseenPostedBy).toEqual({ [P]: 1 });
  const healed = buildReport(sources({ ledger: [entry(1, P, 1.5), entry(2, D, 14), entry(3, P, 22), entry(4, D, 15), entry(5, D, 16)] }));
  expect(healed.figures.seconds.strandedVisiblePosted).toBe(6);
  expect(healed.figures.strandedVisiblePostedBy).toEqual({ [D]: 3 });
  expect(healed.passed).toBe(true);
});

test("notifications: delivered, sent twice (by which regions), and posted without one", () => {
  const { figures } = buildReport(sources());
  expect(figures.notifications).toEqual({ delivered: 4, twice: 1, twiceBy: { [`${P}+${D}`]: 1 }, postedNeverNotified: 1 });
  expect(figures.seconds.detection).toBe(2);
  expect(figures.seconds.allClientsMoved).toBe(4);
  expect(figures.seconds.failBackAfterReturn).toBe(5);
});

test("the picture draws both regions' series, the client errors and every moment, escaped", () => {
  const report = buildReport(
    sources({ marks: [...sources().marks, { kind: "health", label: "Route53: <dr> unhealthy", at: T0 + 5_000 }] }),
  );
  const svg = drillSvg(report, "drill & co");
  expect(svg.startsWith("<svg")).toBe(true);
  expect(svg.match(/<polyline /g)).toHaveLength(4);
  for (const label of [
    "primary killed (10 s)",
    "detection (12 s)",
    "npm run dr -- status (12.1 s)",
    "first DR accept (12 s)",
    "all clients in DR (14 s)",
    "fail-back (25 s)",
  ]) {
    expect(svg).toContain(label);
  }
  expect(svg).toContain("Route53: &lt;dr&gt; unhealthy");
  // A health change outside the scenario makes the figures less than clean: said in the report and the picture.
  expect(report.warnings).toEqual([expect.stringContaining("Route53: <dr> unhealthy at 5 s, outside the scenario")]);
  expect(svg).toContain("warning: Route53: &lt;dr&gt; unhealthy at 5 s");
  expect(svg).toContain("drill &amp; co");
});

/** The ledger's own failover: the old writer had 1, 2 and 3 at the kill, DR's secondary only 1. */
function ledgerSources(overrides: Partial<DrillSources> = {}): DrillSources {
  const promotedAt = KILL + 3_000;
  return sources({
    acknowledged: [1, 2, 3, 4].map((n) => ({ transactionId: id(n), at: T0 + n * 1000, region: P })),
    ledger: [entry(1, P, 1.5), entry(2, D, 14), entry(3, D, 16.5), entry(4, D, 17)],
    atEnd: {
      primary: [],
      dr: [row(1, P, 1), row(2, P, 2), row(3, P, 3), row(4, P, 4)],
    },
    ledgerFailover: {
      lagSeconds: 1,
      splitBrainSeconds: 2,
      atKill: { writer: [entry(1, P, 1.5), entry(2, P, 9.2), entry(3, P, 9.6)], survivor: [entry(1, P, 1.5)] },
      // 4 was written to the old writer after the promotion (split brain).
      oldWriterAtEnd: [entry(1, P, 1.5), entry(2, P, 9.2), entry(3, P, 9.6), entry(4, P, 13.5)],
      promotedAt,
      fencedAt: promotedAt + 2_000,
      lagReadingsMs: [0, 1000, 1000],
      repairs: [{ transactionId: id(2), by: "reconcile --ledger" }],
    },
    steps: [
      {
        command: "npm run dr -- failover --to dr --yes --allow-data-loss",
        how: "run",
        at: promotedAt - 10,
        endedAt: promotedAt,
        outcome: "",
      },
      {
        command: "npm run dr -- reconcile --ledger --region dr --since <x> --yes",
        how: "run",
        at: T0 + 13_900,
        endedAt: T0 + 14_100,
        outcome: "",
      },
      {
        command: "npm run dr -- reconcile --ledger --region dr --since <x> --snapshot <y> --yes",
        how: "run",
        at: T0 + 16_000,
        endedAt: T0 + 16_600,
        outcome: "",
      },
    ],
    ...overrides,
  });
}

test("the ledger's recovery point is what the promoted writer lacked; each repair is attributed, and an unrepaired entry fails the drill", () => {
  const report = buildReport(ledgerSources());
  const l = report.figures.ledger!;
  expect([l.lostAtPromotion, l.lostWindowSeconds]).toEqual([2, 0.8]);
  expect([l.writtenAfterKill, l.writtenAfterPromotion]).toEqual([1, 1]);
  // 2 was re-posted by reconcile --ledger (its own result says so); 3 and 4 came back through processors.
  expect(l.repairedBy).toEqual({ "reconcile --ledger": 1, processor: 2 });
  expect([l.notRepaired, l.lastRepairSeconds, l.promotedSeconds, l.fencedSeconds]).toEqual([0, 7, 3, 5]);
  expect(l.lagMs).toEqual({ p50: 1000, max: 1000, samples: 3 });
  expect(report.passed).toBe(true);

  // The same entry lost and never posted again: reported and failed, whatever the tables say.
  const broken = buildReport(ledgerSources({ ledger: [entry(1, P, 1.5), entry(2, D, 14), entry(4, D, 17)] }));
  expect(broken.figures.ledger!.notRepaired).toBe(1);
  expect(broken.examples.ledgerNotRepaired).toEqual([id(3)]);
  expect(broken.passed).toBe(false);
  expect(broken.failures).toEqual(expect.arrayContaining([expect.stringContaining("never repaired")]));
});

test("a region that never returns: what only the clients can recover, and what a client that stops at the 202 loses", () => {
  // 3 was acknowledged in the primary; its item, message and entry never left it. Its client POSTed again after a 404.
  const base = sources({
    noReturn: true,
    returnedAt: undefined,
    acknowledged: [1, 2, 3].map((n) => ({ transactionId: id(n), at: T0 + n * 1000, region: P })),
    reposts: [{ transactionId: id(3), at: KILL + 5_000 }],
    ledger: [entry(1, P, 1.5), entry(2, D, 14), entry(3, D, 16)],
  });
  const report = buildReport(base);
  expect(report.figures.atKill.unrecoverableByOperator).toBe(1);
  expect(report.figures.lostAfterReturn).toBe(0);
  expect(report.figures.lostWithoutRetry).toBe(1);
  expect(report.figures.clients).toEqual({ repostedAfter404: 1, recoveredByRepost: 1 });
  expect(report.passed).toBe(true);
  // Had the client stopped at its 202, nothing would have posted 3: lost, and the drill fails.
  const stopped = buildReport({ ...base, reposts: [], ledger: [entry(1, P, 1.5), entry(2, D, 14)] });
  expect(stopped.figures.lostAfterReturn).toBe(1);
  expect(stopped.passed).toBe(false);
  expect(stopped.failures[0]).toContain("never returned");
});
