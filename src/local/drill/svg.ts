/**
 * The report's picture, as a self-contained SVG (no dependency): payments accepted (tables) and
 * posted (ledger) per second in each region, the clients' failed requests in a strip below, and
 * the drill's moments as vertical markers.
 */
import type { Role } from "./dns";
import type { DrillReport, Mark } from "./report";

const W = 1000;
const LEFT = 52;
const RIGHT = 16;
const TOP = 64;
const PLOT_H = 250;
const GAP = 14;
const STRIP_H = 60;
const BOTTOM = 64;
const H = TOP + PLOT_H + GAP + STRIP_H + BOTTOM;

const COLORS: Record<Role, string> = { primary: "#1f77b4", dr: "#ff7f0e" };
const MARK_COLORS: Record<Mark["kind"], string> = {
  stall: "#8c564b",
  kill: "#d62728",
  detection: "#9467bd",
  health: "#bcbd22",
  runbook: "#2ca02c",
  promotion: "#e377c2",
  repair: "#006d2c",
  traffic: "#17becf",
  return: "#1f77b4",
  failback: "#7f7f7f",
};

const esc = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** 1, 2, 5 x 10^n at or above `value`. */
function niceCeil(value: number): number {
  if (value <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= value)!;
}

export function drillSvg(report: DrillReport, caption: string): string {
  const points = report.timeline;
  const span = Math.max(1, points.length);
  const x = (t: number) => LEFT + (t / span) * (W - LEFT - RIGHT);
  const yMax = niceCeil(Math.max(1, ...points.flatMap((p) => [p.accepted.primary, p.accepted.dr, p.posted.primary, p.posted.dr])));
  const y = (v: number) => TOP + PLOT_H - (v / yMax) * PLOT_H;
  const errMax = niceCeil(Math.max(1, ...points.map((p) => p.clientErrors)));
  const stripTop = TOP + PLOT_H + GAP;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<title>${esc(`${caption}: ${headline(report)}`)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${esc(caption)}</text>`,
    `<text x="${LEFT}" y="38" fill="#333">${esc(headline(report))}</text>`,
  );
  if (report.warnings.length > 0) {
    out.push(
      `<text x="${LEFT}" y="54" fill="#d62728">${esc(`warning: ${report.warnings[0]}${report.warnings.length > 1 ? ` (+${report.warnings.length - 1} more)` : ""}`)}</text>`,
    );
  }
  // Axes and grid.
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    out.push(
      `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${Math.round(v * 10) / 10}</text>`,
    );
  }
  out.push(`<text transform="translate(14 ${TOP + PLOT_H / 2}) rotate(-90)" text-anchor="middle" fill="#555">payments per second</text>`);
  const tickStep = niceCeil(span / 12);
  for (let t = 0; t <= span; t += tickStep) {
    out.push(
      `<line x1="${x(t)}" x2="${x(t)}" y1="${stripTop + STRIP_H}" y2="${stripTop + STRIP_H + 4}" stroke="#555"/>`,
      `<text x="${x(t)}" y="${stripTop + STRIP_H + 16}" text-anchor="middle" fill="#555">${t}</text>`,
    );
  }
  out.push(
    `<text x="${(LEFT + W - RIGHT) / 2}" y="${stripTop + STRIP_H + 30}" text-anchor="middle" fill="#555">seconds since the start of the load</text>`,
  );
  out.push(
    `<rect x="${LEFT}" y="${TOP}" width="${W - LEFT - RIGHT}" height="${PLOT_H}" fill="none" stroke="#999"/>`,
    `<rect x="${LEFT}" y="${stripTop}" width="${W - LEFT - RIGHT}" height="${STRIP_H}" fill="none" stroke="#999"/>`,
    `<text x="${LEFT - 6}" y="${stripTop + 10}" text-anchor="end" fill="#555">${errMax}</text>`,
    // Top right: the strip is empty there once the load is over.
    `<text x="${W - RIGHT - 4}" y="${stripTop + 12}" text-anchor="end" fill="#555">client requests failed per second (refused, reset, timed out, 5xx)</text>`,
  );
  // Client errors as bars in their strip.
  const barW = Math.max(1, (W - LEFT - RIGHT) / span - 0.5);
  for (const p of points) {
    if (p.clientErrors === 0) continue;
    const h = (p.clientErrors / errMax) * STRIP_H;
    out.push(
      `<rect x="${x(p.t).toFixed(1)}" y="${(stripTop + STRIP_H - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="#aaa"/>`,
    );
  }
  // The four series.
  const line = (values: number[], color: string, dashed: boolean) =>
    `<polyline fill="none" stroke="${color}" stroke-width="1.5"${dashed ? ' stroke-dasharray="4 3"' : ""} points="${values
      .map((v, i) => `${x(i + 0.5).toFixed(1)},${y(v).toFixed(1)}`)
      .join(" ")}"/>`;
  for (const role of ["primary", "dr"] as const) {
    out.push(
      line(
        points.map((p) => p.accepted[role]),
        COLORS[role],
        false,
      ),
      line(
        points.map((p) => p.posted[role]),
        COLORS[role],
        true,
      ),
    );
  }
  // Markers: the runbook's steps, all within a moment, as one.
  const marks = mergeRunbook(report.marks);
  let lastX = -Infinity;
  let stack = 0;
  for (const m of marks) {
    const mx = x(m.t);
    stack = mx - lastX < 12 ? stack + 1 : 0;
    lastX = mx;
    const color = MARK_COLORS[m.kind];
    out.push(
      `<line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${TOP}" y2="${stripTop + STRIP_H}" stroke="${color}" stroke-dasharray="2 2"/>`,
      `<text transform="translate(${(mx + 3 + stack * 11).toFixed(1)} ${TOP + 4}) rotate(90)" fill="${color}">${esc(`${m.label} (${m.t} s)`)}</text>`,
    );
  }
  // Legend.
  const legendY = H - 12;
  const items: Array<[string, string, boolean]> = [
    ["accepted in the primary", COLORS.primary, false],
    ["posted by the primary", COLORS.primary, true],
    ["accepted in DR", COLORS.dr, false],
    ["posted by DR", COLORS.dr, true],
  ];
  items.forEach(([label, color, dashed], i) => {
    const lx = LEFT + i * 190;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="4 3"' : ""}/>`,
      `<text x="${lx + 30}" y="${legendY}">${esc(label)}</text>`,
    );
  });
  out.push(`<text x="${W - RIGHT}" y="${legendY}" text-anchor="end" fill="#555">accepted: tables; posted: ledger</text>`, "</svg>");
  return `${out.join("\n")}\n`;
}

/** Runbook steps within a few seconds of each other as one marker (promotions and repairs stay apart). */
function mergeRunbook(marks: DrillReport["marks"]): DrillReport["marks"] {
  const others = marks.filter((m) => m.kind !== "runbook");
  const groups: Array<Array<DrillReport["marks"][number]>> = [];
  for (const m of marks.filter((x) => x.kind === "runbook")) {
    const last = groups[groups.length - 1];
    if (last && m.t - last[last.length - 1]!.t <= 5) last.push(m);
    else groups.push([m]);
  }
  const merged = groups.map((g) => ({
    kind: "runbook" as const,
    t: g[0]!.t,
    label: g.length === 1 ? g[0]!.label : `runbook (${g.length} steps)`,
  }));
  return [...others, ...merged].sort((a, b) => a.t - b.t);
}

/** The figures that matter, in one line. */
export function headline(report: DrillReport): string {
  const f = report.figures;
  const s = f.seconds;
  const secs = (v: number | null) => (v === null ? "n/a" : `${v} s`);
  const ledger = f.ledger ? `ledger lost ${f.ledger.lostAtPromotion} at the promotion, ${f.ledger.notRepaired} unrepaired` : undefined;
  return [
    `acknowledged ${f.acknowledged}, lost ${f.lostAfterReturn}, posted twice ${f.postedTwice}`,
    `recovery point ${f.atKill.survivorLacked ?? f.atKill.unseenBySurvivor} payment(s) / ${f.atKill.survivorLackedWindowSeconds ?? 0} s`,
    ...(ledger ? [ledger] : []),
    `kill -> detection ${secs(s.detection)}, first DR accept ${secs(s.firstAcceptedInDr)}, all clients in DR ${secs(s.allClientsMoved)}`,
  ].join("  |  ");
}
