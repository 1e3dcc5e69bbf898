/**
 * A local stand-in for the sweeper's EventBridge Scheduler schedule: invokes the pending-sweeper
 * handler every `intervalMs`, one run at a time (as reserved concurrency 1 does in AWS: a tick
 * that finds the previous run still going is skipped). A run that fails is logged; the next tick
 * runs as usual.
 */
import type { Context } from "aws-lambda";

/** What one run reports (lambdas/pending-sweeper's summary), as far as the timer reads it. */
export interface SweepRun {
  readonly swept: number;
  readonly adopted: number;
}

export type SweeperHandler = (event: unknown, context: Context) => Promise<SweepRun>;

export interface SweeperTimerOptions {
  readonly handler: SweeperHandler;
  readonly intervalMs: number;
  /** The function's timeout: a run still going after this counts as failed. */
  readonly timeoutMs: number;
  readonly makeContext: (functionName: string, timeoutMs: number) => Context;
  readonly functionName: string;
  readonly log: (line: string) => void;
}

export interface SweeperStats {
  runs: number;
  failed: number;
  swept: number;
  adopted: number;
}

export interface SweeperTimer {
  readonly stats: SweeperStats;
  /** Stops ticking and waits for a run in progress. */
  stop(): Promise<void>;
}

export function startSweeperTimer(options: SweeperTimerOptions): SweeperTimer {
  const stats: SweeperStats = { runs: 0, failed: 0, swept: 0, adopted: 0 };
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    const started = performance.now();
    running = (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = await Promise.race([
          options.handler({}, options.makeContext(options.functionName, options.timeoutMs)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
          }),
        ]);
        stats.runs++;
        stats.swept += result.swept;
        stats.adopted += result.adopted;
        if (result.swept > 0) {
          const ms = (performance.now() - started).toFixed(0);
          options.log(`sweep -> re-enqueued ${result.swept} (${result.adopted} adopted) ${ms} ms [${options.functionName}]`);
        }
      } catch (err) {
        stats.runs++;
        stats.failed++;
        options.log(`sweep failed [${options.functionName}] (${err instanceof Error ? err.message : String(err)})`);
      } finally {
        clearTimeout(timer);
        running = undefined;
      }
    })();
  };
  const interval = setInterval(tick, options.intervalMs);
  return {
    stats,
    stop: async () => {
      clearInterval(interval);
      await running;
    },
  };
}
