/** The report as text: what `npm run drill` prints, including the AWS figures it measures against. */
import type { DrillOptions } from "./options";
import type { DrillReport } from "./report";

const secs = (v: number | null) => (v === null ? "did not happen" : `${v} s`);

/** The README's figures next to the drill's. */
export function comparison(report: DrillReport, o: DrillOptions): Array<[string, string, string]> {
  const f = report.figures;
  const detect = o.healthIntervalSeconds * o.healthThreshold;
  return [
    [
      "traffic reaches the DR region",
      "about 90 s (10 s x 3 health checks + 60 s TTL)",
      `first payment accepted in DR ${secs(f.seconds.firstAcceptedInDr)}, every client ${secs(f.seconds.allClientsMoved)} after the kill (checks ${o.healthIntervalSeconds} s x ${o.healthThreshold} = ${detect} s + TTL ${o.dnsTtlSeconds} s)`,
    ],
    [
      "DynamoDB replication",
      "about 1 s",
      `lag ${f.replication.lagMs.p50 ?? "-"} ms median, ${f.replication.lagMs.p99 ?? "-"} ms p99 (delay set to ${o.replicationDelayMs} ms); the survivor lacked the latest write of ${f.atKill.survivorLacked} acknowledged payment(s), ${f.atKill.survivorLackedWindowSeconds} s of writes`,
    ],
    ["Aurora replication lag", "under 1 s (lag alarm at 5 s)", ledgerComparison(f.ledger)],
    [
      "payments lost / posted twice",
      "none",
      `${f.lostAfterReturn} lost ${o.noReturn ? "(the primary never returned)" : "after the return"}, ${f.postedTwice} posted twice`,
    ],
  ];
}

function ledgerComparison(l: DrillReport["figures"]["ledger"]): string {
  if (!l) return "not measured in this run";
  const lag = l.lagMs.p50 === null ? "not sampled" : `${l.lagMs.p50} ms median, ${l.lagMs.max} ms max`;
  return `secondary ${l.lagSeconds} s behind (MariaDB replication, sampled: ${lag}); the lossy promotion lost ${l.lostAtPromotion} entr(y/ies), ${l.lostWindowSeconds} s of commits; ${l.notRepaired} left unrepaired`;
}

const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ") || "none";

/** The ledger's failover: what the lossy promotion lost, what the old writer took afterwards, how all of it came back. */
function ledgerLines(l: DrillReport["figures"]["ledger"], row: (label: string, value: string | number) => string): string[] {
  if (!l) return [];
  const secs = (v: number | null) => (v === null ? "did not happen" : `${v} s after the kill`);
  return [
    `The ledger (Aurora global database: DR secondary ${l.lagSeconds} s behind${l.splitBrainSeconds > 0 ? `, the old writer unfenced ${l.splitBrainSeconds} s after the promotion` : ""})`,
    row(
      "replication lag sampled before the kill",
      l.lagMs.p50 === null ? "no sample" : `${l.lagMs.p50} ms median, ${l.lagMs.max} ms max (${l.lagMs.samples} samples)`,
    ),
    row("entries the promoted writer lacked (recovery point)", `${l.lostAtPromotion} entr(y/ies), ${l.lostWindowSeconds} s of commits`),
    row("entries the old writer took after the kill / after the promotion", `${l.writtenAfterKill} / ${l.writtenAfterPromotion}`),
    row("promoted / old writer fenced", `${secs(l.promotedSeconds)} / ${secs(l.fencedSeconds)}`),
    row("repaired, by", counts(l.repairedBy)),
    row("never repaired (must be 0)", l.notRepaired),
    row("last repair", secs(l.lastRepairSeconds)),
  ];
}

export function formatReport(report: DrillReport, o: DrillOptions): string[] {
  const f = report.figures;
  const r = report.regions;
  const row = (label: string, value: string | number) => `  ${label.padEnd(52)} ${value}`;
  const byRegion = Object.entries(f.ledgerEntries.byRegion)
    .map(([region, n]) => `${region} ${n}`)
    .join(", ");
  const by = (counts: Record<string, number>) => {
    const text = Object.entries(counts)
      .map(([region, n]) => `${region} ${n}`)
      .join(", ");
    return text ? ` (posted by ${text})` : "";
  };
  const lines = [
    `Two-region drill (${o.mode}, seed ${o.seed}, ${o.rate}/s for ${o.durationSeconds} s): primary ${r.primary} killed at ${o.killAtSeconds} s, ${o.noReturn ? "never back" : `back at ${o.returnAtSeconds} s`}; DR ${r.dr}`,
    "Payments (counted in the ledger and the tables)",
    row("acknowledged with 202 (the clients' list)", f.acknowledged),
    row("of those, posted in the ledger", f.acknowledgedPosted),
    row("ledger entries", `${f.ledgerEntries.total} (POSTED ${f.ledgerEntries.posted}, REJECTED ${f.ledgerEntries.rejected}; ${byRegion})`),
    "At the kill",
    row("acknowledged, not posted yet", f.atKill.acknowledgedNotPosted),
    row("  of those, not in the survivor's table", f.atKill.unseenBySurvivor),
    row(
      "acknowledged whose latest write the survivor lacked (recovery point)",
      `${f.atKill.survivorLacked} payment(s), ${f.atKill.survivorLackedWindowSeconds} s of writes`,
    ),
    row(
      "acknowledged there, item, message and entry never left it",
      `${f.atKill.unrecoverableByOperator} (only the clients can recover them)`,
    ),
    row("table writes not replicated (held in the primary)", f.atKill.heldWrites),
    row("messages stranded in the primary's queue", f.atKill.strandedMessages),
    ...ledgerLines(f.ledger, row),
    o.noReturn ? "At the end (the primary never returned)" : "After the return",
    row("acknowledged, never posted, clients retrying as documented (must be 0)", f.lostAfterReturn),
    row("  ... for a client that stops at the 202", f.lostWithoutRetry === null ? "0 (the region returned)" : f.lostWithoutRetry),
    row(
      "clients that POSTed again after a 404 / payments only that recovered",
      `${f.clients.repostedAfter404} / ${f.clients.recoveredByRepost}`,
    ),
    row("posted twice (must be 0)", f.postedTwice),
    row(
      "processor deliveries / of those fenced by the ledger",
      `${f.deliveries.completed} / ${f.deliveries.fenced} (as the processes last reported)`,
    ),
    row(
      "notifications delivered / twice / posted, never notified",
      `${f.notifications.delivered} / ${f.notifications.twice} / ${f.notifications.postedNeverNotified}`,
    ),
    ...(f.notifications.twice > 0
      ? [
          row(
            "  twice, by sending regions",
            Object.entries(f.notifications.twiceBy)
              .map(([k, n]) => `${k} ${n}`)
              .join(", "),
          ),
        ]
      : []),
    row(
      "replication backlog delivered after the return",
      `${f.replication.backlog.writes} writes, settled ${secs(f.replication.backlog.settledSecondsAfterHeal)} after the heal`,
    ),
    row("replicated images discarded (last writer wins)", f.replication.discarded),
    row("transaction dead letters (primary / dr)", `${f.deadLetters.primary} / ${f.deadLetters.dr}`),
    "Times after the kill",
    row("detection (Route53 marks the primary unhealthy)", secs(f.seconds.detection)),
    row("first payment accepted in DR", secs(f.seconds.firstAcceptedInDr)),
    row("every client resolves to DR", secs(f.seconds.allClientsMoved)),
    row("stranded payments the survivor saw: all posted", `${secs(f.seconds.strandedVisiblePosted)}${by(f.strandedVisiblePostedBy)}`),
    row("payments the survivor could not see: all posted", `${secs(f.seconds.unseenPosted)}${by(f.unseenPostedBy)}`),
    row("fail-back, after the return", secs(f.seconds.failBackAfterReturn)),
    "Runbook (unplanned failover, src/ops/README.md)",
    ...report.steps.map((s) => `  t=${s.t} s  [${s.how}] ${s.command}\n      ${s.outcome}`),
    "Measured against the README's AWS figures",
    ...comparison(report, o).map(([what, aws, drill]) => `  ${what}: AWS ${aws}; drill: ${drill}`),
  ];
  const m = report.machine;
  lines.push(`Machine: ${m.cores} cores, load average ${m.loadAverage[0]} at the start, ${m.loadAverage[1]} at the end`);
  if (report.warnings.length > 0) lines.push("Warnings:", ...report.warnings.map((x) => `  ${x}`));
  if (report.failures.length > 0) lines.push("FAILED:", ...report.failures.map((x) => `  ${x}`));
  else lines.push("PASSED: nothing acknowledged was lost, nothing was posted twice, every ledger entry the failover lost was repaired.");
  return lines;
}
