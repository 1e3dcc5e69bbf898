/**
 * Where the drill meets feature/sweeper (the pending-sweeper Lambda with its timer in the local
 * runtime, and `npm run dr -- reconcile`), in one place. Until that branch is merged, both
 * parts are the stand-in of pending-sweep.ts. After the merge:
 *
 * - `regionSweeperOptions` returns `{ sweeperIntervalMs, sweeperAgeSeconds, sweeperAdoptAgeSeconds }`
 *   from the settings (startLocalRegion then runs the real sweeper on its timer), and
 *   `startStandInSweeper` returns undefined;
 * - `reconcile` calls `reconcile` of src/ops/dr/payments.ts with the DR region's clients,
 *   `{ config: { ...config, environmentSuffix: DRILL_PREFIX }, role: "dr", region, dynamodb, sqs }`
 *   and `{ olderThanSeconds, adopt: true, yes: true }`, and returns its lines;
 * - RECONCILE_HOW becomes "run", SWEEPER_IMPLEMENTATION names the pending-sweeper, and
 *   pending-sweep.ts goes.
 *
 * Tried on a merge with feature/sweeper (1522d09): besides this file, region.ts's options keep
 * both sides (without that branch's `ledger?: LocalLedger`), and emulators.ts's baseEnvironment
 * takes `maxReceiveCount` too; the short drill then passes with the real sweeper and reconcile.
 */
import type { LocalRegion, LocalRegionOptions } from "../region";
import { type SweeperTimer, type SweepTarget, startSweeperTimer, sweepPending } from "./pending-sweep";
import type { StepRecord } from "./report";

/** The sweeper's settings in the drill (ms). */
export interface SweeperSettings {
  readonly intervalMs: number;
  readonly ageMs: number;
  readonly adoptAgeMs: number;
  /** A payment re-enqueued is not re-enqueued again sooner than this (the real sweeper marks swept_at). */
  readonly resweepMs: number;
}

/** How the runbook's reconcile step is carried out here (src/local/drill/runbook.ts). */
export const RECONCILE_HOW: StepRecord["how"] = "stand-in";

/** What runs the sweeper in each region. */
export const SWEEPER_IMPLEMENTATION = "stand-in of src/local/drill/pending-sweep.ts until feature/sweeper is merged";

/** Options for startLocalRegion that run the region's own sweeper (none until the runtime has one). */
export function regionSweeperOptions(_settings: SweeperSettings): Partial<LocalRegionOptions> {
  return {};
}

/** The stand-in sweeper next to the region's compute (it dies with it). */
export function startStandInSweeper(region: LocalRegion, settings: SweeperSettings, log: (line: string) => void): SweeperTimer | undefined {
  return startSweeperTimer(
    sweepTarget(region),
    { ownAgeMs: settings.ageMs, adoptAgeMs: settings.adoptAgeMs, intervalMs: settings.intervalMs, resweepMs: settings.resweepMs },
    log,
  );
}

function sweepTarget(region: LocalRegion): SweepTarget {
  return {
    dynamodb: region.emulators.clients.dynamodb,
    sqs: region.emulators.clients.sqs,
    table: region.resources.transactionsTable,
    queueUrl: region.resources.transactionQueueUrl,
    region: region.region,
  };
}

/** The runbook's command line for adopting the lost region's stranded payments. */
export const reconcileCommand = (olderThanSeconds: number) =>
  `npm run dr -- reconcile --region dr --older-than ${olderThanSeconds} --adopt --yes`;

/** `reconcile --adopt --yes` against the DR region (stand-in): re-enqueues every pending payment older than `olderThanMs`; one line. */
export async function reconcile(target: SweepTarget, olderThanMs: number): Promise<string> {
  const result = await sweepPending(target, { ownAgeMs: olderThanMs, adoptAgeMs: olderThanMs });
  return `re-enqueued ${result.enqueued.length} pending payment(s) into ${target.region}'s queue (found by accepting region: ${JSON.stringify(result.found)})`;
}
