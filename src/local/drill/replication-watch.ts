/**
 * What the replicator did during the drill, from its onSettled callback: the lag of writes that
 * flowed normally (outside the outage), and the backlog the primary had held, delivered after the
 * heal. Kept apart because the held writes' "lag" is the outage, not the replication.
 */
import type { SettledWrite } from "../replicator";

export interface ReplicationFigures {
  /** Commit in one region to settlement in the other, for writes the outage did not delay (before the cut, after the backlog). */
  readonly lagMs: { readonly p50: number | null; readonly p99: number | null; readonly max: number | null; readonly samples: number };
  /** Writes held by the outage (either way), and how long after the heal the last of them settled. */
  readonly backlog: { readonly writes: number; readonly settledSecondsAfterHeal: number | null };
  /** Replicated images older than the destination's item: last writer wins threw them away. */
  readonly discarded: number;
}

interface Sample {
  readonly committedAt: number;
  readonly settledAt: number;
  readonly lagMs: number;
  readonly outcome: SettledWrite["outcome"];
}

export class ReplicationWatch {
  private readonly samples: Sample[] = [];
  private isolatedAt: number | undefined;
  private healedAt: number | undefined;

  /** For startReplicator's onSettled. */
  readonly onSettled = (w: SettledWrite): void => {
    this.samples.push({ committedAt: w.committedAt, settledAt: w.committedAt + w.lagMs, lagMs: w.lagMs, outcome: w.outcome });
  };

  isolated(): void {
    this.isolatedAt = performance.now();
  }

  healed(): void {
    this.healedAt = performance.now();
  }

  figures(): ReplicationFigures {
    const from = this.isolatedAt ?? Number.POSITIVE_INFINITY;
    const to = this.healedAt ?? Number.POSITIVE_INFINITY;
    // Held: settled after the cut although committed before the heal.
    const held = (s: Sample) => s.settledAt >= from && s.committedAt < to;
    const backlog = this.samples.filter(held);
    const lastSettled = backlog.length === 0 ? undefined : Math.max(...backlog.map((s) => s.settledAt));
    // Normal: before the cut, or committed once the backlog was through (writes queued behind it waited for the outage too).
    const normal = this.samples
      .filter((s) => s.settledAt < from || s.committedAt > (lastSettled ?? to))
      .map((s) => s.lagMs)
      .sort((a, b) => a - b);
    const at = (q: number) =>
      normal.length === 0 ? null : Math.round(normal[Math.min(normal.length - 1, Math.floor(q * normal.length))]!);
    return {
      lagMs: {
        p50: at(0.5),
        p99: at(0.99),
        max: normal.length === 0 ? null : Math.round(normal[normal.length - 1]!),
        samples: normal.length,
      },
      backlog: {
        writes: backlog.length,
        settledSecondsAfterHeal:
          lastSettled === undefined || this.healedAt === undefined ? null : Math.round((lastSettled - this.healedAt) / 100) / 10,
      },
      discarded: this.samples.filter((s) => s.outcome === "discarded").length,
    };
  }
}
