/**
 * The drill's knobs, with two sets of defaults: the full run (`npm run drill`) rehearses the
 * README's figures (Route53 10 s x 3 plus a 60 s TTL, 1 s of DynamoDB and of Aurora
 * replication), the short run (`--short`, CI) squeezes the same story into about 30 s of load.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../../contracts/context";

export interface DrillOptions {
  readonly mode: "full" | "short";
  /** Seeds the payment schedule, the payments and the resolvers' phases: the same seed gives the same schedule. */
  readonly seed: number;
  /** Payments started per second (Poisson arrivals). */
  readonly rate: number;
  /** How long new payments start, s from the start of the load. */
  readonly durationSeconds: number;
  /** When the primary region dies, s from the start of the load. */
  readonly killAtSeconds: number;
  /** When it comes back (compute restarted, replication healed); ignored with `noReturn`. */
  readonly returnAtSeconds: number;
  /** The primary never comes back: the load and the drain run to the end without it. */
  readonly noReturn: boolean;
  /** After the return, replication heals this long after the primary's compute restarted (0: healed first), so its stale copies race the survivor's adoption. */
  readonly healAfterSeconds: number;
  /** DynamoDB global-tables replication delay, each way. */
  readonly replicationDelayMs: number;
  /** How far the ledger's secondary (the DR cluster) stays behind its writer: MariaDB's replication delay, whole seconds. */
  readonly ledgerLagSeconds: number;
  /** Write fencing is best effort: the old writer stays reachable and takes writes this long after the promotion (0: fenced at once, and unreachable from the kill). */
  readonly splitBrainSeconds: number;
  /** Route53 health checks: one probe of each region's /health per interval; a region flips after `healthThreshold` results in a row. */
  readonly healthIntervalSeconds: number;
  readonly healthThreshold: number;
  /** TTL of the failover record: how long a resolver keeps the answer it has. */
  readonly dnsTtlSeconds: number;
  /** Client resolvers (their refreshes are spread over the TTL): traffic moves resolver by resolver. */
  readonly resolvers: number;
  /** From the detection until the operator starts the unplanned-failover runbook. */
  readonly operatorDelaySeconds: number;
  /** The primary's processors stop this long before the kill, so its queue holds a backlog as a degrading region's would (0: none). */
  readonly processorStallSeconds: number;
  /** Batches each region's transaction processor handles at once (Lambda's concurrent invocations). */
  readonly processorConcurrency: number;
  /** The sweeper in each region: how often, and how old a RECEIVED payment must be (own region / adopted from the other). */
  readonly sweepIntervalSeconds: number;
  readonly sweeperAgeSeconds: number;
  readonly sweeperAdoptAgeSeconds: number;
  /** `reconcile --older-than` in the runbook step. */
  readonly reconcileOlderThanSeconds: number;
  /** Each client request gives up after this and is retried with the same Idempotency-Key. */
  readonly clientTimeoutMs: number;
  /** After its 202, a client polls GET this often until the payment has a final status (and POSTs again on a 404). */
  readonly clientPollSeconds: number;
  /** Visibility timeout of the queues (how soon a batch a dead processor held comes back). */
  readonly visibilityTimeoutSeconds: number;
  /** After the return and the end of the load: how long to wait for every acknowledged payment to be posted. */
  readonly drainTimeoutSeconds: number;
  /** Where the report (JSON), the picture (SVG) and the regions' logs go. */
  readonly outDir: string;
}

const OUT_DIR = path.join(PROJECT_ROOT, "cdktf.out", "drill");

export const FULL: DrillOptions = {
  mode: "full",
  seed: 1,
  // Each payment costs about 45 ms of CPU across the drill's processes: 10/s leaves a 2-core
  // machine room for everything else; --rate 20 wants a free core more.
  rate: 10,
  durationSeconds: 240,
  killAtSeconds: 60,
  returnAtSeconds: 180,
  noReturn: false,
  healAfterSeconds: 0,
  replicationDelayMs: 1000,
  ledgerLagSeconds: 1,
  splitBrainSeconds: 0,
  healthIntervalSeconds: 10,
  healthThreshold: 3,
  dnsTtlSeconds: 60,
  resolvers: 8,
  operatorDelaySeconds: 0,
  // A stall longer than the ledger's lag leaves nothing for a lossy promotion to lose: off by default.
  processorStallSeconds: 0,
  processorConcurrency: 4,
  sweepIntervalSeconds: 10,
  sweeperAgeSeconds: 30,
  sweeperAdoptAgeSeconds: 60,
  reconcileOlderThanSeconds: 10,
  clientTimeoutMs: 5000,
  clientPollSeconds: 2,
  visibilityTimeoutSeconds: 10,
  drainTimeoutSeconds: 120,
  outDir: OUT_DIR,
};

export const SHORT: DrillOptions = {
  ...FULL,
  mode: "short",
  durationSeconds: 30,
  killAtSeconds: 10,
  returnAtSeconds: 20,
  healthIntervalSeconds: 1,
  dnsTtlSeconds: 2,
  sweepIntervalSeconds: 1,
  sweeperAgeSeconds: 10,
  sweeperAdoptAgeSeconds: 15,
  reconcileOlderThanSeconds: 2,
  clientPollSeconds: 1,
  visibilityTimeoutSeconds: 5,
  drainTimeoutSeconds: 45,
};

/** Flag -> option, with its unit as the flag reads it and how to convert. */
const NUMERIC: ReadonlyArray<{ flag: string; key: keyof DrillOptions; scale?: number; integer?: boolean; min: number }> = [
  { flag: "seed", key: "seed", integer: true, min: 0 },
  { flag: "rate", key: "rate", min: 0.1 },
  { flag: "duration", key: "durationSeconds", min: 1 },
  { flag: "kill-at", key: "killAtSeconds", min: 1 },
  { flag: "return-at", key: "returnAtSeconds", min: 1 },
  { flag: "heal-after", key: "healAfterSeconds", min: 0 },
  { flag: "replication-delay", key: "replicationDelayMs", scale: 1000, min: 0 },
  { flag: "ledger-lag", key: "ledgerLagSeconds", integer: true, min: 0 },
  { flag: "split-brain", key: "splitBrainSeconds", min: 0 },
  { flag: "health-interval", key: "healthIntervalSeconds", min: 0.1 },
  { flag: "health-threshold", key: "healthThreshold", integer: true, min: 1 },
  { flag: "dns-ttl", key: "dnsTtlSeconds", min: 0 },
  { flag: "resolvers", key: "resolvers", integer: true, min: 1 },
  { flag: "operator-delay", key: "operatorDelaySeconds", min: 0 },
  { flag: "processor-stall", key: "processorStallSeconds", min: 0 },
  { flag: "processor-concurrency", key: "processorConcurrency", integer: true, min: 1 },
  { flag: "sweep-interval", key: "sweepIntervalSeconds", min: 0.1 },
  { flag: "sweeper-age", key: "sweeperAgeSeconds", min: 0 },
  { flag: "sweeper-adopt-age", key: "sweeperAdoptAgeSeconds", min: 0 },
  { flag: "reconcile-older-than", key: "reconcileOlderThanSeconds", min: 0 },
  { flag: "client-timeout", key: "clientTimeoutMs", scale: 1000, min: 0.1 },
  { flag: "client-poll", key: "clientPollSeconds", min: 0.1 },
  { flag: "visibility-timeout", key: "visibilityTimeoutSeconds", integer: true, min: 1 },
  { flag: "drain-timeout", key: "drainTimeoutSeconds", min: 1 },
];

export const USAGE = `Usage: npm run drill -- [--short] [flags]

A two-region disaster drill on this machine: steady payment load, the primary region killed
mid-load with its ledger writer, the unplanned-failover runbook (a lossy Aurora promotion and
the reconciles that repair it), the primary back; a report of what was lost, posted twice and
how long recovery took (text, JSON and SVG in --out).

  --short                     CI mode: ~30 s of load, fast detection and sweeper (defaults below in [])
  --seed <n>                  PRNG seed of the schedule, payments and resolvers (${FULL.seed})
  --rate <n>                  payments started per second (${FULL.rate})
  --duration <s>              seconds of load (${FULL.durationSeconds} [${SHORT.durationSeconds}])
  --kill-at <s>               the primary dies at this second of the load (${FULL.killAtSeconds} [${SHORT.killAtSeconds}])
  --return-at <s>             the primary comes back (${FULL.returnAtSeconds} [${SHORT.returnAtSeconds}])
  --no-return                 the primary never comes back
  --heal-after <s>            after the return, replication heals this long after its compute restarted (${FULL.healAfterSeconds})
  --replication-delay <s>     DynamoDB replication delay each way (${FULL.replicationDelayMs / 1000})
  --ledger-lag <s>            Aurora: the DR secondary's replication delay, whole seconds (${FULL.ledgerLagSeconds})
  --split-brain <s>           the old writer stays reachable and takes writes this long after the promotion (${FULL.splitBrainSeconds})
  --health-interval <s>       Route53 health check interval (${FULL.healthIntervalSeconds} [${SHORT.healthIntervalSeconds}])
  --health-threshold <n>      results in a row that flip a region's health (${FULL.healthThreshold})
  --dns-ttl <s>               TTL of the failover record (${FULL.dnsTtlSeconds} [${SHORT.dnsTtlSeconds}])
  --resolvers <n>             client resolvers, refreshing at spread phases (${FULL.resolvers})
  --operator-delay <s>        detection -> runbook start (${FULL.operatorDelaySeconds})
  --processor-stall <s>       the primary's processors stop this long before the kill (${FULL.processorStallSeconds} [${SHORT.processorStallSeconds}])
  --processor-concurrency <n> batches each region's processor handles at once (${FULL.processorConcurrency})
  --sweep-interval <s>        sweeper period in each region (${FULL.sweepIntervalSeconds} [${SHORT.sweepIntervalSeconds}])
  --sweeper-age <s>           own RECEIVED payments older than this are re-enqueued (${FULL.sweeperAgeSeconds} [${SHORT.sweeperAgeSeconds}])
  --sweeper-adopt-age <s>     the other region's, older than this, are adopted (${FULL.sweeperAdoptAgeSeconds} [${SHORT.sweeperAdoptAgeSeconds}])
  --reconcile-older-than <s>  the runbook's reconcile --older-than (${FULL.reconcileOlderThanSeconds} [${SHORT.reconcileOlderThanSeconds}])
  --client-timeout <s>        a client request times out after this and is retried (${FULL.clientTimeoutMs / 1000})
  --client-poll <s>           after a 202, a client polls GET this often until a final status (${FULL.clientPollSeconds} [${SHORT.clientPollSeconds}])
  --visibility-timeout <s>    queue visibility timeout (${FULL.visibilityTimeoutSeconds} [${SHORT.visibilityTimeoutSeconds}])
  --drain-timeout <s>         wait this long at most for the last payments to post (${FULL.drainTimeoutSeconds} [${SHORT.drainTimeoutSeconds}])
  --out <dir>                 report, picture and logs (cdktf.out/drill)
  --from <report.json>        no drill: print an earlier run's report and draw its picture again into --out
  -h, --help                  this text`;

export class DrillUsageError extends Error {}

export interface DrillCommand {
  readonly options: DrillOptions;
  /** An earlier run's report.json to print and draw again, instead of a drill. */
  readonly from?: string;
}

/** The command line; throws DrillUsageError on a bad flag or value. Returns undefined for --help. */
export function parseDrillArgs(argv: readonly string[]): DrillCommand | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        short: { type: "boolean" },
        "no-return": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        out: { type: "string" },
        from: { type: "string" },
        ...Object.fromEntries(NUMERIC.map((n) => [n.flag, { type: "string" as const }])),
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new DrillUsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return undefined;
  const options: Record<string, unknown> = { ...(values.short ? SHORT : FULL) };
  for (const n of NUMERIC) {
    const raw = values[n.flag];
    if (typeof raw !== "string") continue;
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value) || value < n.min || (n.integer && !Number.isInteger(value))) {
      throw new DrillUsageError(`--${n.flag} ${JSON.stringify(raw)}: expected ${n.integer ? "an integer" : "a number"} >= ${n.min}`);
    }
    options[n.key] = value * (n.scale ?? 1);
  }
  if (values["no-return"]) options.noReturn = true;
  if (typeof values.out === "string") options.outDir = path.resolve(values.out);
  const checked = checkDrillOptions(options as unknown as DrillOptions);
  return typeof values.from === "string" ? { options: checked, from: path.resolve(values.from) } : { options: checked };
}

/** The relations between options; throws DrillUsageError naming the flags. */
export function checkDrillOptions(o: DrillOptions): DrillOptions {
  if (o.killAtSeconds >= o.durationSeconds) throw new DrillUsageError("--kill-at must be before the end of the load (--duration)");
  if (!o.noReturn && o.returnAtSeconds <= o.killAtSeconds) throw new DrillUsageError("--return-at must be after --kill-at");
  if (o.processorStallSeconds > o.killAtSeconds) throw new DrillUsageError("--processor-stall must not be longer than --kill-at");
  return o;
}
