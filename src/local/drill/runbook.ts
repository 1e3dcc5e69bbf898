/**
 * The runbook's steps as the drill runs them (src/ops/README.md, "Unplanned failover"): each
 * step is the command an operator would type and what the drill does for it here. The Aurora
 * steps are simulated: the two regions share one MariaDB as the global writer endpoint, so there
 * is no writer to move (and no replication lag to lose). Reconcile is the operator CLI's own
 * (src/ops/dr/payments.ts) against the DR region; the sweeper is the pending-sweeper Lambda on
 * the local runtime's timer.
 */
import { type PaymentsContext, reconcile } from "../../ops/dr/payments";
import { probe } from "./dns";
import type { StepRecord } from "./report";

export interface RunbookContext {
  readonly urls: { readonly primary: string; readonly dr: string };
  /** The DR region's clients, its DynamoDB through the replicator's proxy (the operator works in DR). */
  readonly dr: PaymentsContext;
  readonly reconcileOlderThanSeconds: number;
  readonly sweeper: { readonly intervalSeconds: number; readonly adoptAgeSeconds: number };
}

export interface RunbookStep {
  readonly command: string;
  readonly how: StepRecord["how"];
  run(): Promise<string>;
}

const SHARED_WRITER = "one MariaDB is the writer endpoint of both regions: there is no writer to move";

export function unplannedFailover(ctx: RunbookContext): RunbookStep[] {
  return [
    {
      command: "npm run dr -- status",
      how: "simulated",
      run: async () => {
        const [primary, dr] = await Promise.all([probe(ctx.urls.primary, 2000), probe(ctx.urls.dr, 2000)]);
        return `/health: primary ${primary ? "ok" : "unreachable"}, dr ${dr ? "ok" : "unreachable"}; Aurora: ${SHARED_WRITER}`;
      },
    },
    {
      command: "npm run dr -- failover --yes --allow-data-loss",
      how: "simulated",
      run: async () =>
        `nothing to promote: ${SHARED_WRITER}; the ledger loses nothing here (in AWS: up to the replication lag, typically < 1 s)`,
    },
    {
      command: "npm run dr -- wait --to dr --writer-only",
      how: "simulated",
      run: async () => "nothing to wait for: the processors of both regions reach the writer already",
    },
    {
      command: `npm run dr -- reconcile --region dr --older-than ${ctx.reconcileOlderThanSeconds} --adopt --yes`,
      how: "run",
      run: async () => {
        const result = await reconcile(ctx.dr, { olderThanSeconds: ctx.reconcileOlderThanSeconds, adopt: true, yes: true });
        if (result.error) throw new Error(result.error);
        // The report's last lines: what was enqueued (the table of stranded payments stays in the logs).
        return result.lines.filter((line) => line.startsWith("Enqueued") || line.startsWith("Nothing")).join(" ");
      },
    },
    {
      command: `sweeper in the DR region, every ${ctx.sweeper.intervalSeconds} s`,
      how: "automatic",
      run: async () =>
        `on its timer since the start (the pending-sweeper Lambda): adopts the lost region's payments once older than ${ctx.sweeper.adoptAgeSeconds} s`,
    },
  ];
}

/** After the region is back: its compute and replication resume on their own; the writer stays put. */
export function afterReturn(): RunbookStep[] {
  return [
    {
      command: "npm run dr -- switchover --to primary --yes",
      how: "simulated",
      run: async () => `nothing to switch back: ${SHARED_WRITER}`,
    },
  ];
}

/** Runs steps in order, recording when each started and what it said (a failed step is recorded, not thrown). */
export async function runSteps(steps: readonly RunbookStep[], record: (step: StepRecord) => void): Promise<void> {
  for (const step of steps) {
    const at = Date.now();
    let outcome: string;
    try {
      outcome = await step.run();
    } catch (err) {
      outcome = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
    }
    record({ command: step.command, how: step.how, at, outcome });
  }
}
