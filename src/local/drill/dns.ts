/**
 * Route53 failover, as the clients see it: health checks on each region's /health, a failover
 * record that answers the primary while it is healthy (else the DR region), and resolvers that
 * keep an answer for the record's TTL. In AWS: checks every 10 s from several checker regions, a
 * region declared unhealthy after 3 failures in a row (and healthy again after 3 successes),
 * and a 60 s TTL, hence the README's "about 90 s". Here one checker, as many resolvers as the
 * drill says, each refreshing at its own phase of the TTL: traffic moves resolver by resolver.
 */
import { request } from "node:http";

export type Role = "primary" | "dr";

/**
 * Route53 allows 4 s for the connection and 2 s more for a 2xx/3xx. Locally the kernel accepts
 * the connection at once even while the region's process is starved of CPU by everything else
 * on the machine, so the answer gets the 4 s: a busy laptop should not fail a region over.
 */
const PROBE_TIMEOUT_MS = 4000;

export interface HealthChange {
  readonly at: number;
  readonly role: Role;
  readonly healthy: boolean;
}

export interface DnsOptions {
  readonly urls: Readonly<Record<Role, string>>;
  readonly intervalMs: number;
  readonly threshold: number;
  readonly ttlMs: number;
  /** Each resolver's first refresh after `startedAt`, ms (schedule.ts resolverPhases). */
  readonly phasesMs: readonly number[];
  readonly startedAt: number;
  readonly onHealthChange?: (change: HealthChange) => void;
}

/** One GET /health: healthy on a 2xx or 3xx within the timeout, as a Route53 HTTP check. */
export function probe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/health`, { method: "GET", timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}

export class FailoverDns {
  /** The record's answer over time, oldest first (answers only change here). */
  private readonly answers: Array<{ at: number; role: Role }>;
  private readonly healthy: Record<Role, boolean> = { primary: true, dr: true };
  private readonly streak: Record<Role, number> = { primary: 0, dr: 0 };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Regions the health checkers cannot reach any more (a partition), whatever their /health says. */
  private readonly cutOff = new Set<Role>();
  readonly changes: HealthChange[] = [];

  constructor(private readonly options: DnsOptions) {
    this.answers = [{ at: options.startedAt, role: "primary" }];
  }

  start(): void {
    this.timer = setInterval(() => this.check(), this.options.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.stopped = true;
  }

  /** What the failover record answers now. */
  get answer(): Role {
    return this.answers[this.answers.length - 1]!.role;
  }

  /** The region a client of `resolver` reaches at `at`: the answer its resolver fetched at its last refresh. */
  resolve(resolver: number, at: number = Date.now()): Role {
    return this.answerAt(this.lastRefresh(resolver, at));
  }

  /** When each resolver first holds `role` at or after `since` (undefined if not by `until`). */
  movedAt(role: Role, since: number, until: number): Array<number | undefined> {
    const { ttlMs, phasesMs, startedAt } = this.options;
    return phasesMs.map((phase) => {
      // A TTL of 0: every lookup asks the record itself.
      if (ttlMs === 0) return this.answers.find((a) => a.at >= since && a.role === role)?.at;
      const first = startedAt + phase;
      let t = since <= first ? first : first + Math.ceil((since - first) / ttlMs) * ttlMs;
      for (; t <= until; t += ttlMs) if (this.answerAt(t) === role) return t;
      return undefined;
    });
  }

  private lastRefresh(resolver: number, at: number): number {
    const { ttlMs, startedAt } = this.options;
    if (ttlMs === 0) return at;
    const first = startedAt + (this.options.phasesMs[resolver] ?? 0);
    if (at < first) return startedAt;
    return first + Math.floor((at - first) / ttlMs) * ttlMs;
  }

  private answerAt(at: number): Role {
    let role = this.answers[0]!.role;
    for (const a of this.answers) if (a.at <= at) role = a.role;
    return role;
  }

  /** The checkers lose sight of a region (partitioned from the internet), while clients that cached its address may still reach it. */
  cut(role: Role): void {
    this.cutOff.add(role);
  }

  /** One round of probes; results count as they arrive (a slow probe overlaps the next round, as Route53's checkers do). */
  private check(): void {
    for (const role of ["primary", "dr"] as const) {
      if (this.cutOff.has(role)) this.observe(role, false, Date.now());
      else void probe(this.options.urls[role], PROBE_TIMEOUT_MS).then((ok) => this.observe(role, ok, Date.now()));
    }
  }

  /** One health-check result (the probes call it; tests may too). */
  observe(role: Role, ok: boolean, at: number): void {
    if (this.stopped) return;
    // A streak counts results that disagree with the current status; any agreeing one resets it.
    this.streak[role] = ok === this.healthy[role] ? 0 : this.streak[role] + 1;
    if (this.streak[role] < this.options.threshold) return;
    this.healthy[role] = ok;
    this.streak[role] = 0;
    const change = { at, role, healthy: ok };
    this.changes.push(change);
    this.options.onHealthChange?.(change);
    // Failover routing: the primary while healthy, else the secondary if healthy, else the primary.
    const next: Role = this.healthy.primary || !this.healthy.dr ? "primary" : "dr";
    if (next !== this.answer) this.answers.push({ at, role: next });
  }
}
