/**
 * The drill's report, built by one pure function from what the system itself recorded: the
 * ledger's journal entries, each region's transactions table (at the kill and at the end), the
 * notifications SNS delivered, the queues and the replicator. The load generator contributes
 * only the ids it got a 202 for (and, for the picture alone, its failed attempts): whatever it
 * believes beyond that is not evidence.
 */
import type { Role } from "./dns";
import type { ReplicationFigures } from "./replication-watch";

/** A transactions-table item as scanned from a region's emulator. */
export interface TableRow {
  readonly transaction_id: string;
  readonly status: string;
  readonly accepted_region?: string;
  readonly created_at: string;
  readonly updated_at?: string;
}

/** A journal entry, with the number of its postings (two legs for a POSTED entry). */
export interface LedgerRow {
  readonly transaction_id: string;
  readonly region: string;
  readonly outcome: string;
  /** ISO 8601, UTC. */
  readonly posted_at: string;
  readonly legs: number;
}

/** One notification SNS delivered (read from the observer queue subscribed to a region's topic). */
export interface NotificationRow {
  readonly transaction_id: string;
  readonly region: string;
}

export interface Mark {
  readonly label: string;
  /** Wall-clock ms. */
  readonly at: number;
  readonly kind: "stall" | "kill" | "detection" | "health" | "runbook" | "promotion" | "repair" | "traffic" | "return" | "failback";
}

export interface StepRecord {
  readonly command: string;
  /** "simulated" only in reports of drills before the ledger failed over too. */
  readonly how: "simulated" | "run" | "automatic";
  readonly at: number;
  /** When the step finished (absent in older reports). */
  readonly endedAt?: number;
  readonly outcome: string;
}

export interface QueueDepth {
  readonly ready: number;
  readonly delayed: number;
  readonly inflight: number;
}

export interface DrillSources {
  readonly regions: Readonly<Record<Role, string>>;
  /** Wall-clock ms: the start of the load, and the moment the primary's compute was killed. */
  readonly startedAt: number;
  readonly killedAt: number;
  readonly returnedAt?: number;
  readonly endedAt: number;
  /** The primary never came back. */
  readonly noReturn?: boolean;
  /** From the load generator: only what it got a 202 for, and from which region. */
  readonly acknowledged: ReadonlyArray<{ readonly transactionId: string; readonly at: number; readonly region?: string }>;
  /** From the load generator: a client POSTed again (same key and body) because GET answered 404. */
  readonly reposts?: ReadonlyArray<{ readonly transactionId: string; readonly at: number }>;
  /** From the load generator, for the picture only: when its requests failed (refused, reset, timed out, 5xx). */
  readonly clientErrors: readonly number[];
  /** The surviving ledger: the writer's entries at the end. */
  readonly ledger: readonly LedgerRow[];
  /** The ledger's own failover: what each server held, when the secondary was promoted and the old writer fenced. */
  readonly ledgerFailover?: LedgerFailoverSources;
  /** Each region's table right after the kill (the primary's as it died, the survivor's as it was). */
  readonly atKill: Readonly<Record<Role, readonly TableRow[]>>;
  /** Each region's table at the end, after the replication has settled. */
  readonly atEnd: Readonly<Record<Role, readonly TableRow[]>>;
  readonly notifications: readonly NotificationRow[];
  /** The primary's transaction queue right after the kill: stranded messages. */
  readonly strandedQueue: QueueDepth;
  /** Table writes the primary had made that were not yet replicated when it was cut off (the replicator's count). */
  readonly heldWrites: number;
  readonly replication: ReplicationFigures;
  readonly deadLetters: Readonly<Record<Role, number>>;
  /** Transaction messages each region's processors completed (from the compute, not the load). */
  readonly processorDeliveries: Readonly<Record<Role, number>>;
  readonly marks: readonly Mark[];
  readonly steps: readonly StepRecord[];
  /** When resolvers all held the DR answer (undefined: not all of them before the end). */
  readonly allClientsMovedAt?: number;
  /** The machine the drill ran on: its cores and load average (1 min) at the start and at the end. */
  readonly machine: { readonly cores: number; readonly loadAverage: readonly [number, number] };
}

export interface LedgerFailoverSources {
  readonly lagSeconds: number;
  readonly splitBrainSeconds: number;
  /** Right after the kill: the old writer's entries, and the DR secondary's (all the promotion keeps). */
  readonly atKill: { readonly writer: readonly LedgerRow[]; readonly survivor: readonly LedgerRow[] };
  /** The old writer's entries at the end (its snapshot once its region returned). */
  readonly oldWriterAtEnd: readonly LedgerRow[];
  readonly promotedAt?: number;
  readonly fencedAt?: number;
  /** The secondary's replication lag as sampled before the kill (Seconds_Behind_Master), ms. */
  readonly lagReadingsMs: readonly number[];
  /** What the runbook's reconciles posted again (from their own results). */
  readonly repairs: ReadonlyArray<{ readonly transactionId: string; readonly by: string }>;
}

export interface LedgerFigures {
  readonly lagSeconds: number;
  readonly splitBrainSeconds: number;
  /** Sampled before the kill. */
  readonly lagMs: { readonly p50: number | null; readonly max: number | null; readonly samples: number };
  /** Entries the old writer had committed at the kill that the promoted writer lacked: the ledger's recovery point. */
  readonly lostAtPromotion: number;
  /** From the oldest of those entries to the kill. */
  readonly lostWindowSeconds: number;
  /** Entries the old writer took after the kill, and of those after the promotion (split brain): on it only. */
  readonly writtenAfterKill: number;
  readonly writtenAfterPromotion: number;
  /** How each of those entries came back into the surviving ledger: by which reconcile, or by a processor (a redelivery, an adoption, a client's POST again). */
  readonly repairedBy: Record<string, number>;
  readonly notRepaired: number;
  /** Seconds after the kill of the last repair (null: nothing to repair, or not all repaired). */
  readonly lastRepairSeconds: number | null;
  readonly promotedSeconds: number | null;
  readonly fencedSeconds: number | null;
}

export interface DrillFigures {
  /** Payments the clients got a 202 for. */
  readonly acknowledged: number;
  /** Of those, with a journal entry. */
  readonly acknowledgedPosted: number;
  readonly ledgerEntries: {
    readonly total: number;
    readonly posted: number;
    readonly rejected: number;
    readonly byRegion: Record<string, number>;
  };
  readonly atKill: {
    readonly acknowledged: number;
    readonly acknowledgedNotPosted: number;
    /** Of those, not in the survivor's table. */
    readonly unseenBySurvivor: number;
    /** Acknowledged payments, posted or not, whose latest write the survivor's table lacked: the accept path's recovery point. */
    readonly survivorLacked: number;
    /** From the oldest of those writes to the kill: the recovery point in seconds of writes. */
    readonly survivorLackedWindowSeconds: number;
    /** Acknowledged in the lost region whose item, message and ledger entry never left it: only the client can recover them. */
    readonly unrecoverableByOperator: number;
    readonly heldWrites: number;
    readonly strandedMessages: number;
  };
  /** Acknowledged and never posted in the surviving ledger at the end (after the return, or without one): lost for a client that retries as documented. Must be 0. */
  readonly lostAfterReturn: number;
  /** Clients that POSTed again after a 404, and the payments that only such a POST recovered. */
  readonly clients: { readonly repostedAfter404: number; readonly recoveredByRepost: number };
  /** Acknowledged, never posted, for a client that stops at the 202: the unrecoverable ones when the region never returns (null when it returned). */
  readonly lostWithoutRetry: number | null;
  readonly ledger?: LedgerFigures;
  /** More than one journal entry for a transaction id, or a POSTED entry without exactly two legs. Must be 0. */
  readonly postedTwice: number;
  /** Messages the processors completed, and how many of them found their entry already in the ledger (posted nothing). */
  readonly deliveries: { readonly completed: number; readonly fenced: number };
  readonly notifications: {
    readonly delivered: number;
    readonly twice: number;
    /** The payments notified more than once, by the regions that sent them (e.g. "ap-southeast-1+ap-southeast-2"). */
    readonly twiceBy: Record<string, number>;
    readonly postedNeverNotified: number;
  };
  /** Seconds after the kill (null: did not happen). */
  readonly seconds: {
    readonly detection: number | null;
    readonly firstAcceptedInDr: number | null;
    readonly allClientsMoved: number | null;
    /** Until every acknowledged payment that was not posted at the kill and that the survivor could see was posted. */
    readonly strandedVisiblePosted: number | null;
    /** Until the last acknowledged payment the survivor could not see was posted (after the return). */
    readonly unseenPosted: number | null;
    readonly failBackAfterReturn: number | null;
  };
  readonly strandedVisiblePostedBy: Record<string, number>;
  readonly unseenPostedBy: Record<string, number>;
  readonly deadLetters: Readonly<Record<Role, number>>;
  readonly replication: ReplicationFigures;
}

export interface TimelinePoint {
  /** Seconds since the start of the load. */
  readonly t: number;
  readonly accepted: Readonly<Record<Role, number>>;
  readonly posted: Readonly<Record<Role, number>>;
  readonly clientErrors: number;
}

export interface DrillReport {
  readonly regions: Readonly<Record<Role, string>>;
  readonly figures: DrillFigures;
  readonly timeline: readonly TimelinePoint[];
  /** Seconds since the start of the load. */
  readonly marks: ReadonlyArray<{ readonly label: string; readonly t: number; readonly kind: Mark["kind"] }>;
  readonly steps: ReadonlyArray<StepRecord & { readonly t: number }>;
  /** A few ids of each problem, for a look in the logs. */
  readonly examples: {
    readonly lost: readonly string[];
    readonly postedTwice: readonly string[];
    readonly unseen: readonly string[];
    readonly notifiedTwice: readonly string[];
    /** Entries the ledger's promotion lost (or the old writer took after the kill) that were never repaired. */
    readonly ledgerNotRepaired?: readonly string[];
  };
  readonly machine: DrillSources["machine"];
  readonly passed: boolean;
  readonly failures: readonly string[];
  /** What makes the figures less than a clean measurement (never a failure by itself). */
  readonly warnings: readonly string[];
}

const EXAMPLES = 10;

/** ISO 8601 (or MariaDB's `YYYY-MM-DD hh:mm:ss.ffffff`, UTC) to epoch ms. */
export function parseTime(value: string): number {
  const iso = value.includes("T") ? value : `${value.replace(" ", "T")}Z`;
  return Date.parse(iso);
}

const seconds = (from: number, to: number | undefined): number | null =>
  to === undefined || !Number.isFinite(to) ? null : Math.round((to - from) / 100) / 10;

function countBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(key(row), (counts.get(key(row)) ?? 0) + 1);
  return counts;
}

export function buildReport(s: DrillSources): DrillReport {
  const kill = s.killedAt;
  const roleOf = (region: string | undefined): Role | undefined =>
    region === s.regions.primary ? "primary" : region === s.regions.dr ? "dr" : undefined;

  // The ledger: one entry per transaction id is what its unique key allows; count anyway.
  const entriesPerId = countBy(s.ledger, (r) => r.transaction_id);
  const firstPost = new Map<string, LedgerRow>();
  for (const row of s.ledger) {
    const seen = firstPost.get(row.transaction_id);
    if (!seen || parseTime(row.posted_at) < parseTime(seen.posted_at)) firstPost.set(row.transaction_id, row);
  }
  const postedTwice = new Set([...entriesPerId].filter(([, n]) => n > 1).map(([id]) => id));
  for (const row of s.ledger) if (row.outcome === "POSTED" && row.legs !== 2) postedTwice.add(row.transaction_id);
  const postedTwiceIds = [...postedTwice];
  const postedBefore = (id: string, at: number) => {
    const row = firstPost.get(id);
    return row !== undefined && parseTime(row.posted_at) <= at;
  };

  // What was acknowledged (the clients' 202s), judged by the ledger and the tables.
  const acked = new Map<string, number>();
  for (const a of s.acknowledged) if (!acked.has(a.transactionId) || a.at < acked.get(a.transactionId)!) acked.set(a.transactionId, a.at);
  const ackedIds = [...acked.keys()];
  const lost = ackedIds.filter((id) => !firstPost.has(id));
  const ackedAtKill = ackedIds.filter((id) => acked.get(id)! <= kill);
  const notPostedAtKill = ackedAtKill.filter((id) => !postedBefore(id, kill));
  const survivorSaw = new Set(s.atKill.dr.map((r) => r.transaction_id));
  const unseen = notPostedAtKill.filter((id) => !survivorSaw.has(id));
  const visible = notPostedAtKill.filter((id) => survivorSaw.has(id));
  const primaryAtKill = new Map(s.atKill.primary.map((r) => [r.transaction_id, r]));
  const survivorAtKill = new Map(s.atKill.dr.map((r) => [r.transaction_id, r]));
  // The accept path's recovery point: every acknowledged payment whose latest write (its acceptance, or its projection) the survivor lacked.
  const lacked = ackedAtKill.filter((id) => {
    const theirs = primaryAtKill.get(id);
    const ours = survivorAtKill.get(id);
    if (!theirs) return false;
    return !ours || ours.status !== theirs.status || (ours.updated_at ?? "") < (theirs.updated_at ?? "");
  });
  const lackedSince = lacked
    .map((id) => parseTime(primaryAtKill.get(id)?.updated_at ?? primaryAtKill.get(id)?.created_at ?? ""))
    .filter(Number.isFinite);
  const ledgerAtKill = s.ledgerFailover?.atKill;
  // Without the ledger's failover (one writer for both regions), whatever it held at the kill survived.
  const survivorLedgerAtKill = new Set(
    (ledgerAtKill?.survivor ?? s.ledger.filter((r) => parseTime(r.posted_at) <= kill)).map((r) => r.transaction_id),
  );
  const ackRegion = new Map(s.acknowledged.map((a) => [a.transactionId, a.region]));
  const unrecoverable = ackedAtKill.filter(
    (id) => ackRegion.get(id) === s.regions.primary && !survivorSaw.has(id) && !survivorLedgerAtKill.has(id),
  );
  const reposted = new Set((s.reposts ?? []).map((r) => r.transactionId));
  const postedByRegion = (ids: readonly string[]) =>
    Object.fromEntries(
      countBy(
        ids.filter((id) => firstPost.has(id)),
        (id) => firstPost.get(id)!.region,
      ),
    );
  const lastPost = (ids: readonly string[]): number | undefined => {
    if (ids.length === 0 || ids.some((id) => !firstPost.has(id))) return undefined;
    return Math.max(...ids.map((id) => parseTime(firstPost.get(id)!.posted_at)));
  };

  // Notifications SNS delivered, per transaction id, and who sent the repeats.
  const notified = countBy(s.notifications, (n) => n.transaction_id);
  const senders = new Map<string, string[]>();
  for (const n of s.notifications) senders.set(n.transaction_id, [...(senders.get(n.transaction_id) ?? []), n.region]);
  const repeatedIds = [...senders].filter(([, regions]) => regions.length > 1).map(([id]) => id);
  const repeats = repeatedIds.map((id) => senders.get(id)!);

  // Acceptances from the tables at the end (each region's item, replicated: one row per id).
  const items = new Map<string, TableRow>();
  // The survivor's rows first: a region that never returned keeps stale copies.
  for (const row of [...s.atEnd.dr, ...s.atEnd.primary]) if (!items.has(row.transaction_id)) items.set(row.transaction_id, row);
  const firstDr = Math.min(
    ...[...items.values()]
      .filter((r) => roleOf(r.accepted_region) === "dr" && parseTime(r.created_at) >= kill)
      .map((r) => parseTime(r.created_at)),
  );

  const markAt = (kind: Mark["kind"]) => s.marks.find((m) => m.kind === kind && m.at >= kill)?.at;
  const ledger = s.ledgerFailover ? ledgerFigures(s, s.ledgerFailover, firstPost) : undefined;
  const figures: DrillFigures = {
    acknowledged: ackedIds.length,
    acknowledgedPosted: ackedIds.length - lost.length,
    ledgerEntries: {
      total: s.ledger.length,
      posted: s.ledger.filter((r) => r.outcome === "POSTED").length,
      rejected: s.ledger.filter((r) => r.outcome === "REJECTED").length,
      byRegion: Object.fromEntries(countBy(s.ledger, (r) => r.region)),
    },
    atKill: {
      acknowledged: ackedAtKill.length,
      acknowledgedNotPosted: notPostedAtKill.length,
      unseenBySurvivor: unseen.length,
      survivorLacked: lacked.length,
      survivorLackedWindowSeconds: lackedSince.length === 0 ? 0 : Math.round((kill - Math.min(...lackedSince)) / 100) / 10,
      unrecoverableByOperator: unrecoverable.length,
      heldWrites: s.heldWrites,
      strandedMessages: s.strandedQueue.ready + s.strandedQueue.delayed + s.strandedQueue.inflight,
    },
    lostAfterReturn: lost.length,
    clients: {
      repostedAfter404: reposted.size,
      recoveredByRepost: unrecoverable.filter((id) => reposted.has(id) && firstPost.has(id)).length,
    },
    lostWithoutRetry: s.noReturn ? unrecoverable.length : null,
    ...(ledger ? { ledger: ledger.figures } : {}),
    postedTwice: postedTwiceIds.length,
    deliveries: {
      completed: s.processorDeliveries.primary + s.processorDeliveries.dr,
      fenced: Math.max(0, s.processorDeliveries.primary + s.processorDeliveries.dr - s.ledger.length),
    },
    notifications: {
      delivered: s.notifications.length,
      twice: repeats.length,
      twiceBy: Object.fromEntries(countBy(repeats, (regions) => [...regions].sort().join("+"))),
      postedNeverNotified: [...firstPost.keys()].filter((id) => !notified.has(id)).length,
    },
    seconds: {
      detection: seconds(kill, markAt("detection")),
      firstAcceptedInDr: seconds(kill, firstDr),
      allClientsMoved: seconds(kill, s.allClientsMovedAt),
      strandedVisiblePosted: seconds(kill, lastPost(visible)),
      unseenPosted: seconds(kill, lastPost(unseen)),
      failBackAfterReturn: s.returnedAt === undefined ? null : seconds(s.returnedAt, s.marks.find((m) => m.kind === "failback")?.at),
    },
    strandedVisiblePostedBy: postedByRegion(visible),
    unseenPostedBy: postedByRegion(unseen),
    deadLetters: s.deadLetters,
    replication: s.replication,
  };

  const failures: string[] = [];
  if (figures.lostAfterReturn > 0)
    failures.push(
      `${figures.lostAfterReturn} acknowledged payment(s) never posted ${s.noReturn ? "(the primary never returned; the clients retried as documented)" : "after the primary came back"}`,
    );
  if (ledger && ledger.figures.notRepaired > 0)
    failures.push(`${ledger.figures.notRepaired} ledger entr(y/ies) the promotion lost or the old writer took later were never repaired`);
  if (figures.postedTwice > 0) failures.push(`${figures.postedTwice} payment(s) posted twice (or without exactly two legs)`);

  const warnings: string[] = [];
  for (const m of s.marks.filter((mark) => mark.kind === "health")) {
    warnings.push(
      `${m.label} at ${seconds(s.startedAt, m.at)} s, outside the scenario: the machine was too busy for the load (lower --rate, or a quieter machine)`,
    );
  }
  const errorsBefore = s.clientErrors.filter((t) => t < (s.marks.find((m) => m.kind === "stall")?.at ?? kill)).length;
  if (errorsBefore > ackedIds.length / 100) {
    warnings.push(`${errorsBefore} client requests failed before the outage began: the regions were overloaded in normal operation`);
  }

  return {
    regions: s.regions,
    figures,
    timeline: timeline(s, items, roleOf),
    marks: [
      ...s.marks,
      ...(Number.isFinite(firstDr) ? [{ kind: "traffic" as const, label: "first DR accept", at: firstDr }] : []),
      ...(s.allClientsMovedAt !== undefined ? [{ kind: "traffic" as const, label: "all clients in DR", at: s.allClientsMovedAt }] : []),
    ]
      .sort((a, b) => a.at - b.at)
      .map((m) => ({ label: m.label, t: Math.round((m.at - s.startedAt) / 100) / 10, kind: m.kind })),
    steps: s.steps.map((step) => ({ ...step, t: Math.round((step.at - s.startedAt) / 100) / 10 })),
    examples: {
      lost: lost.slice(0, EXAMPLES),
      postedTwice: postedTwiceIds.slice(0, EXAMPLES),
      unseen: unseen.slice(0, EXAMPLES),
      notifiedTwice: repeatedIds.slice(0, EXAMPLES),
      ...(ledger ? { ledgerNotRepaired: ledger.notRepaired.slice(0, EXAMPLES) } : {}),
    },
    machine: s.machine,
    passed: failures.length === 0,
    failures,
    warnings,
  };
}

/**
 * The ledger's failover, from what each server held: the entries the promotion lost (the old
 * writer's at the kill that DR's secondary lacked), those the old writer took after the kill, and
 * how each came back into the surviving ledger: posted again by a reconcile (its own result says
 * which ids), or by a processor (a redelivered or adopted message, or a client's POST again).
 */
function ledgerFigures(
  s: DrillSources,
  f: LedgerFailoverSources,
  surviving: Map<string, LedgerRow>,
): { figures: LedgerFigures; notRepaired: string[] } {
  const kill = s.killedAt;
  const survivor = new Set(f.atKill.survivor.map((r) => r.transaction_id));
  const atKill = new Set(f.atKill.writer.map((r) => r.transaction_id));
  const lostTail = f.atKill.writer.filter((r) => !survivor.has(r.transaction_id));
  const afterKill = f.oldWriterAtEnd.filter((r) => !atKill.has(r.transaction_id));
  const afterPromotion = f.promotedAt === undefined ? [] : afterKill.filter((r) => parseTime(r.posted_at) >= f.promotedAt!);
  const reposted = new Map(f.repairs.map((r) => [r.transactionId, r.by]));
  const repairedBy = new Map<string, number>();
  const notRepaired: string[] = [];
  let lastRepair = -Infinity;
  for (const row of [...lostTail, ...afterKill]) {
    const now = surviving.get(row.transaction_id);
    if (!now) {
      notRepaired.push(row.transaction_id);
      continue;
    }
    lastRepair = Math.max(lastRepair, parseTime(now.posted_at));
    const how = reposted.get(row.transaction_id) ?? "processor";
    repairedBy.set(how, (repairedBy.get(how) ?? 0) + 1);
  }
  const oldest = Math.min(...lostTail.map((r) => parseTime(r.posted_at)));
  const sorted = [...f.lagReadingsMs].sort((a, b) => a - b);
  return {
    figures: {
      lagSeconds: f.lagSeconds,
      splitBrainSeconds: f.splitBrainSeconds,
      lagMs: {
        p50: sorted.length ? sorted[Math.floor(sorted.length / 2)]! : null,
        max: sorted.length ? sorted[sorted.length - 1]! : null,
        samples: sorted.length,
      },
      lostAtPromotion: lostTail.length,
      lostWindowSeconds: lostTail.length === 0 ? 0 : Math.round((kill - oldest) / 100) / 10,
      writtenAfterKill: afterKill.length,
      writtenAfterPromotion: afterPromotion.length,
      repairedBy: Object.fromEntries(repairedBy),
      notRepaired: notRepaired.length,
      lastRepairSeconds: notRepaired.length > 0 || !Number.isFinite(lastRepair) ? null : seconds(kill, lastRepair),
      promotedSeconds: seconds(kill, f.promotedAt),
      fencedSeconds: seconds(kill, f.fencedAt),
    },
    notRepaired,
  };
}

/** Accepted (tables) and posted (ledger) per second and region, client errors per second. */
function timeline(
  s: DrillSources,
  items: Map<string, TableRow>,
  roleOf: (region: string | undefined) => Role | undefined,
): TimelinePoint[] {
  const length = Math.max(1, Math.ceil((s.endedAt - s.startedAt) / 1000));
  const points = Array.from({ length }, (_, t) => ({
    t,
    accepted: { primary: 0, dr: 0 },
    posted: { primary: 0, dr: 0 },
    clientErrors: 0,
  }));
  const at = (ms: number) => points[Math.floor((ms - s.startedAt) / 1000)];
  for (const row of items.values()) {
    const role = roleOf(row.accepted_region);
    const point = at(parseTime(row.created_at));
    if (role && point) point.accepted[role]++;
  }
  for (const row of s.ledger) {
    const role = roleOf(row.region);
    const point = at(parseTime(row.posted_at));
    if (role && point) point.posted[role]++;
  }
  for (const ms of s.clientErrors) {
    const point = at(ms);
    if (point) point.clientErrors++;
  }
  return points;
}
