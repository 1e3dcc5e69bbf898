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
      `lag ${f.replication.lagMs.p50 ?? "-"} ms median, ${f.replication.lagMs.p99 ?? "-"} ms p99 (delay set to ${o.replicationDelayMs} ms); the survivor missed ${f.atKill.unseenBySurvivor} acknowledged unposted payment(s), ${f.atKill.unseenWindowSeconds} s of writes`,
    ],
    ["Aurora replication lag", "under 1 s", "not measured: one MariaDB is both regions' writer endpoint (no lag by construction)"],
    ["payments lost / posted twice", "none", `${f.lostAfterReturn} lost after the return, ${f.postedTwice} posted twice`],
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
    `Two-region drill (${o.mode}, seed ${o.seed}, ${o.rate}/s for ${o.durationSeconds} s): primary ${r.primary} killed at ${o.killAtSeconds} s, back at ${o.returnAtSeconds} s; DR ${r.dr}`,
    "Payments (counted in the ledger and the tables)",
    row("acknowledged with 202 (the clients' list)", f.acknowledged),
    row("of those, posted in the ledger", f.acknowledgedPosted),
    row("ledger entries", `${f.ledgerEntries.total} (POSTED ${f.ledgerEntries.posted}, REJECTED ${f.ledgerEntries.rejected}; ${byRegion})`),
    "At the kill",
    row("acknowledged, not posted yet", f.atKill.acknowledgedNotPosted),
    row(
      "  of those, not in the survivor's table (recovery point)",
      `${f.atKill.unseenBySurvivor} payment(s), ${f.atKill.unseenWindowSeconds} s of writes`,
    ),
    row("table writes not replicated (held in the primary)", f.atKill.heldWrites),
    row("messages stranded in the primary's queue", f.atKill.strandedMessages),
    "After the return",
    row("acknowledged, never posted (must be 0)", f.lostAfterReturn),
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
  else lines.push("PASSED: nothing acknowledged was lost, nothing was posted twice.");
  return lines;
}
