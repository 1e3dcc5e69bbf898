/**
 * pending-sweeper: invoked once a minute by EventBridge Scheduler, one run at a time (reserved
 * concurrency 1). Re-enqueues into this region's transaction queue the payments still RECEIVED:
 *
 * - its own region's (accepted_region = this region) once older than sweeperAgeSeconds: the
 *   gateway's crash window (written, never sent) and a send whose take-back also failed;
 * - the other region's once older than sweeperAdoptAgeSeconds: payments a lost region accepted
 *   and that replicated here. That age is far above anything a healthy region leaves pending and
 *   above the DNS failover, so in normal operation the two regions never race for a payment. The
 *   operator adopts sooner with `npm run dr -- reconcile --adopt --yes` after declaring a failover.
 *
 * A race, or a payment swept twice, is harmless for money: the ledger's unique transaction_id
 * posts it once, and the processor only completes the projection of one already posted. What a
 * race can repeat is a notification, which the adoption age keeps rare.
 *
 * Bounded work: at most sweeperMaxPerRun payments per run, oldest first, found by reading at most
 * 10 pages of the pending index per shard (the rest is counted server-side): lambdas/shared/sweep.ts.
 * Metrics: PaymentsPending (every run, 0 included), PaymentsSwept, PaymentsAdopted.
 */
import type { Context } from "aws-lambda";
import { ENV } from "../../src/contracts/functions";
import { documentClient, sqs } from "../shared/clients";
import { intEnv, once, requireEnv } from "../shared/env";
import { countPayments, instrumented, logger, reportPayments } from "../shared/runtime";
import { enqueuePending, findPending } from "../shared/sweep";

/** Index pages (500 entries each) one run reads per shard to find what to sweep; the rest is counted. */
const MAX_LIST_PAGES = 10;

const config = once(() => {
  const ageSeconds = intEnv(ENV.sweeperAgeSeconds, 120);
  return {
    transactionsTable: requireEnv(ENV.transactionsTable),
    queueUrl: requireEnv(ENV.transactionQueueUrl),
    ageSeconds,
    adoptAgeSeconds: intEnv(ENV.sweeperAdoptAgeSeconds, 600, ageSeconds),
    maxPerRun: intEnv(ENV.sweeperMaxPerRun, 500, 1, 10_000),
    resweepSeconds: intEnv(ENV.sweeperResweepSeconds, 3600),
    region: requireEnv("AWS_REGION"),
  };
});

/** What one run did (also its log line). */
export interface SweepSummary {
  /** RECEIVED past sweeperAgeSeconds, either region's (a lower bound when `pendingAtLeast`). */
  pending: number;
  pendingAtLeast: boolean;
  /** Eligible this run: own past the age, the other region's past the adoption age. */
  eligible: number;
  swept: number;
  adopted: number;
  /** Processed meanwhile, or swept within the guard time. */
  skipped: number;
  failed: number;
}

export const handler = instrumented(async (_event: unknown, _context: Context): Promise<SweepSummary> => {
  const cfg = config();
  const now = Date.now();
  const found = await findPending(documentClient(), {
    table: cfg.transactionsTable,
    olderThanSeconds: cfg.ageSeconds,
    // Own payments past the age; the other region's (or unknown) only past the adoption age.
    eligible: (ref, age) => ref.acceptedRegion === cfg.region || age >= cfg.adoptAgeSeconds,
    limit: cfg.maxPerRun,
    // Bounded reading too: right after a failover most entries may be the other region's, not yet adoptable.
    maxListPages: MAX_LIST_PAGES,
    now,
  });
  reportPayments("pending", found.total);

  const result = await enqueuePending(documentClient(), sqs(), found.refs, {
    table: cfg.transactionsTable,
    queueUrl: cfg.queueUrl,
    region: cfg.region,
    resweepSeconds: cfg.resweepSeconds,
    now,
  });
  const adopted = result.enqueued.filter((item) => item.accepted_region !== cfg.region);
  countPayments("swept", result.enqueued.length);
  countPayments("adopted", adopted.length);

  const summary: SweepSummary = {
    pending: found.total,
    pendingAtLeast: found.totalIsLowerBound,
    eligible: found.refs.length,
    swept: result.enqueued.length,
    adopted: adopted.length,
    skipped: result.skipped.length,
    failed: result.failed.length,
  };
  if (summary.swept > 0) {
    logger.info("re-enqueued pending payments", {
      ...summary,
      swept_ids: result.enqueued.map((i) => i.transaction_id),
      adopted_from: [...new Set(adopted.map((i) => i.accepted_region ?? "unknown"))],
    });
  } else if (summary.pending > 0) logger.info("pending payments, none eligible now", { ...summary });
  if (result.failed.length > 0) {
    // Marks were taken back: the next run retries them. Fail the run so the errors alarm sees it.
    logger.error("some pending payments could not be re-enqueued", { failures: result.failed.slice(0, 20) });
    throw new Error(`${result.failed.length} pending payment(s) could not be re-enqueued; the next run retries them`);
  }
  return summary;
});
