/**
 * The runbook's steps as the drill runs them (src/ops/README.md, "Unplanned failover"): each step
 * is the command an operator types, run as the operator CLI's own code with the clients it would
 * get, injected: the Aurora steps (status, failover, wait, switchover) through the drill's Aurora
 * control plane over the local global database (aurora-control.ts), reconcile through the DR
 * region's DynamoDB and SQS and the ledger's endpoints. Aurora's own automatic work (rebuilding
 * the returning region as a secondary, keeping the old writer's snapshot) and the sweeper's
 * timer are recorded as automatic steps.
 */
import type { LedgerConnection } from "../../../lambdas/shared/ledger";
import type { OperationResult } from "../../ops/command-line";
import type { LedgerReconcileResult } from "../../ops/dr/ledger-reconcile";
import { type DrContext, failover, getStatus, switchover, waitForWriter } from "../../ops/dr/operations";
import { type PaymentsContext, reconcile } from "../../ops/dr/payments";
import { probe } from "./dns";
import type { StepRecord } from "./report";

/** `reconcile --ledger` as the CLI runs it, with the connections it would open. */
export type LedgerReconcile = (options: {
  readonly since: Date;
  readonly snapshot?: LedgerConnection;
  readonly yes: boolean;
}) => Promise<LedgerReconcileResult>;

/** An entry a reconcile posted again, and which one. */
export interface LedgerRepair {
  readonly transactionId: string;
  readonly by: "reconcile --ledger" | "reconcile --ledger --snapshot";
}

export interface RunbookContext {
  readonly urls: { readonly primary: string; readonly dr: string };
  /** The DR region's clients, its DynamoDB through the replicator's proxy (the operator works in DR). */
  readonly dr: PaymentsContext;
  /** The DR CLI's context: config and the Aurora control plane's clients. */
  readonly aurora: DrContext;
  readonly reconcileLedger: LedgerReconcile;
  /** What the reconciles posted again, for the report. */
  readonly repairs: LedgerRepair[];
  /** The old writer's restored snapshot, once its region is back (a read-only connection). */
  readonly snapshot: () => LedgerConnection | undefined;
  /** Aurora's automatic work once the lost region is back: the snapshot kept, a new secondary rebuilt. */
  readonly restoreLostRegion: () => Promise<string>;
  /** `reconcile --ledger --since`: the promotion minus a window that covers the replication lag. */
  readonly ledgerSince: () => Date;
  readonly reconcileOlderThanSeconds: number;
  readonly sweeper: { readonly intervalSeconds: number; readonly adoptAgeSeconds: number };
}

export interface RunbookStep {
  readonly command: string;
  readonly how: StepRecord["how"];
  run(): Promise<string>;
}

/** The lines of a CLI result that say what it did (its tables stay in the logs), or its error. */
function outcome(result: OperationResult, keep: (line: string) => boolean): string {
  if (result.error) throw new Error(result.error);
  return result.lines.filter(keep).join(" ").replace(/\s+/g, " ").trim();
}

const iso = (d: Date) => d.toISOString();

/** `reconcile --ledger`, recorded as the CLI line the operator types. */
function ledgerStep(ctx: RunbookContext, what: "after the promotion" | "after the return" | "snapshot"): RunbookStep {
  const snapshot = what === "snapshot";
  return {
    command: `npm run dr -- reconcile --ledger --region dr --since <${what === "after the promotion" ? "promotion - 60 s" : "the same"}>${snapshot ? " --snapshot <restored snapshot>" : ""} --yes`,
    how: "run",
    run: async () => {
      const connection = snapshot ? ctx.snapshot() : undefined;
      if (snapshot && !connection) throw new Error("no snapshot to compare: the old writer's region has not returned");
      const result = await ctx.reconcileLedger({ since: ctx.ledgerSince(), yes: true, ...(connection ? { snapshot: connection } : {}) });
      for (const repair of result.report.repairs) {
        if (repair.result === "posted")
          ctx.repairs.push({ transactionId: repair.transactionId, by: snapshot ? "reconcile --ledger --snapshot" : "reconcile --ledger" });
      }
      return `since ${iso(ctx.ledgerSince())}: ${outcome(result, (l) => /^(Re-posted|Nothing|Missing|Entries|Disagree|Snapshot)/i.test(l.trim()))}`;
    },
  };
}

export function unplannedFailover(ctx: RunbookContext): RunbookStep[] {
  return [
    {
      command: "npm run dr -- status",
      how: "run",
      run: async () => {
        const [primary, dr] = await Promise.all([probe(ctx.urls.primary, 2000), probe(ctx.urls.dr, 2000)]);
        const report = await getStatus(ctx.aurora);
        const writer = report.topology?.writer;
        const lag = report.lag?.milliseconds === undefined ? (report.lag?.error ?? "unknown") : `${report.lag.milliseconds} ms`;
        return `/health: primary ${primary ? "ok" : "unreachable"}, dr ${dr ? "ok" : "unreachable"}; Aurora writer ${writer?.role ?? "unknown"} (read from ${report.topology?.readFrom ?? "-"}), last lag ${lag}; ${report.healthy ? "HEALTHY" : `DEGRADED (${report.problems.length} problems)`}`;
      },
    },
    {
      command: "npm run dr -- failover --to dr --yes --allow-data-loss",
      how: "run",
      run: async () =>
        outcome(await failover(ctx.aurora, { to: "dr", yes: true, allowDataLoss: true }), (l) => /^(RPO estimate|Started)/.test(l)),
    },
    {
      command: "npm run dr -- wait --to dr --writer-only",
      how: "run",
      run: async () =>
        outcome(await waitForWriter(ctx.aurora, { to: "dr", writerOnly: true, timeoutSeconds: 60, pollSeconds: 0.5 }), () => true),
    },
    {
      command: `npm run dr -- reconcile --region dr --older-than ${ctx.reconcileOlderThanSeconds} --adopt --yes`,
      how: "run",
      run: async () =>
        outcome(await reconcile(ctx.dr, { olderThanSeconds: ctx.reconcileOlderThanSeconds, adopt: true, yes: true }), (l) =>
          /^(Enqueued|Nothing)/.test(l),
        ),
    },
    ledgerStep(ctx, "after the promotion"),
    {
      command: `sweeper in the DR region, every ${ctx.sweeper.intervalSeconds} s`,
      how: "automatic",
      run: async () =>
        `on its timer since the start (the pending-sweeper Lambda): adopts the lost region's payments once older than ${ctx.sweeper.adoptAgeSeconds} s`,
    },
  ];
}

/** After the region is back: Aurora rebuilds it, the operator reconciles again and against the snapshot, then switches back. */
export function afterReturn(ctx: RunbookContext): RunbookStep[] {
  return [
    { command: "Aurora: the old primary rebuilt as a secondary, its snapshot kept", how: "automatic", run: ctx.restoreLostRegion },
    ledgerStep(ctx, "after the return"),
    ledgerStep(ctx, "snapshot"),
    {
      command: "npm run dr -- switchover --to primary --yes",
      how: "run",
      run: async () => outcome(await switchover(ctx.aurora, { to: "primary", yes: true }), (l) => /^(Planned|Started)/.test(l)),
    },
    {
      command: "npm run dr -- wait --to primary",
      how: "run",
      run: async () =>
        outcome(await waitForWriter(ctx.aurora, { to: "primary", writerOnly: false, timeoutSeconds: 120, pollSeconds: 0.5 }), () => true),
    },
  ];
}

/** Runs steps in order, recording when each started and ended and what it said (a failed step is recorded, not thrown). */
export async function runSteps(steps: readonly RunbookStep[], record: (step: StepRecord) => void): Promise<void> {
  for (const step of steps) {
    const at = Date.now();
    let said: string;
    try {
      said = await step.run();
    } catch (err) {
      said = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
    }
    record({ command: step.command, how: step.how, at, endedAt: Date.now(), outcome: said });
  }
}
