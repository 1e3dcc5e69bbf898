/**
 * Outbox benchmark: how long a payment waits when the gateway's SendMessage fails after its
 * write (the commit point): from its 202 to the ledger posting it, relayed by the pending-sweeper.
 * One local region (src/local/region.ts: HTTP API, pollers, the sweeper on its timer, a MariaDB
 * ledger) whose SQS endpoint is a proxy that refuses SendMessage, the gateway's one call, and
 * passes SendMessageBatch (the sweeper's and the processor's). Part 'outbox' of `npm run bench`,
 * or alone:
 *
 *   npx tsx scripts/bench/outbox.ts                          # deployed and drill-scale settings
 *   BENCH_OUTBOX_SETTINGS=drill npx tsx scripts/bench/outbox.ts
 *
 * Payments are posted at even offsets over one sweep interval, so the waits span the schedule's
 * phase: each waits from sweeperAgeSeconds to sweeperAgeSeconds + the interval, plus a poll of the
 * transaction queue and a batch.
 */
import { deploymentConfig } from "../../src/contracts/context";
import { SWEEPER } from "../../src/contracts/functions";
import { FULL as DRILL } from "../../src/local/drill/options";
import { attachEmulators, startEmulators } from "../../src/local/emulators";
import { startLocalLedger } from "../../src/local/ledger";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { startLocalRegion } from "../../src/local/region";
import { type BenchRow, printTable, summarize } from "./stats";

interface Setting {
  readonly name: string;
  readonly intervalSeconds: number;
  readonly ageSeconds: number;
}

const SETTINGS: Record<string, Setting> = {
  // As deployed: the sweeper's schedule, sweeperAgeSeconds from the deployment's config.
  deployed: { name: "deployed", intervalSeconds: SWEEPER.intervalSeconds, ageSeconds: deploymentConfig().sweeperAgeSeconds },
  // As the full drill runs the sweeper.
  drill: { name: "drill-scale", intervalSeconds: DRILL.sweepIntervalSeconds, ageSeconds: DRILL.sweeperAgeSeconds },
};
const WANT = (process.env.BENCH_OUTBOX_SETTINGS ?? "deployed,drill").split(",");
const PAYMENTS = Number(process.env.BENCH_OUTBOX_PAYMENTS ?? 6);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function measure(setting: Setting): Promise<{ waits: number[]; deferred: number }> {
  const ledger = await startLocalLedger();
  const emu = await startEmulators({ prefix: `ob${Date.now().toString(36)}`, ledger });
  const sqs = await startRecordingProxy(emu.fauxqs.endpoint, { fault: (r) => (r.operation === "SendMessage" ? "refuse" : undefined) });
  const region = await startLocalRegion({
    port: 0,
    log: () => undefined,
    handlerLogLevel: "ERROR",
    ledger,
    emulators: attachEmulators({
      region: emu.region,
      dynamoEndpoint: emu.dynamo.endpoint,
      fauxqsEndpoint: sqs.endpoint,
      resources: emu.resources,
      ledger,
    }),
    sweeperIntervalMs: setting.intervalSeconds * 1000,
    sweeperAgeSeconds: setting.ageSeconds,
  });
  try {
    const headers = { authorization: `Bearer ${region.demo.apiKey}`, "content-type": "application/json" };
    const accepted: Array<{ id: string; at: number }> = [];
    for (let i = 0; i < PAYMENTS; i++) {
      const res = await fetch(`${region.url}/transactions`, {
        method: "POST",
        headers: { ...headers, "idempotency-key": `outbox-bench-${Date.now()}-${i}` },
        body: JSON.stringify({ amount: 1000 + i, currency: "SGD", customer_id: "c-1", session_id: "s-1" }),
      });
      if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
      accepted.push({ id: ((await res.json()) as { transaction_id: string }).transaction_id, at: Date.now() });
      await sleep((setting.intervalSeconds * 1000) / PAYMENTS);
    }
    const waits = new Map<string, number>();
    const deadline = Date.now() + (setting.ageSeconds + 3 * setting.intervalSeconds) * 1000;
    while (waits.size < accepted.length && Date.now() < deadline) {
      for (const { id, at } of accepted) {
        if (waits.has(id)) continue;
        const res = await fetch(`${region.url}/transactions/${id}`, { headers });
        const body = (await res.json()) as { posted?: boolean; posted_at?: string };
        if (body.posted && body.posted_at) waits.set(id, (Date.parse(body.posted_at) - at) / 1000);
      }
      await sleep(250);
    }
    if (waits.size < accepted.length) throw new Error(`${accepted.length - waits.size} payment(s) never posted within the bound`);
    return { waits: [...waits.values()], deferred: sqs.requests.filter((r) => r.operation === "SendMessage").length };
  } finally {
    await region.stop();
    await sqs.stop();
    await emu.stop();
    await ledger.stop();
  }
}

export async function benchOutbox(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const key of WANT) {
    const setting = SETTINGS[key];
    if (!setting) throw new Error(`unknown outbox setting ${key} (expected ${Object.keys(SETTINGS).join(", ")})`);
    const { waits, deferred } = await measure(setting);
    if (deferred !== PAYMENTS) throw new Error(`expected ${PAYMENTS} refused sends, saw ${deferred}`);
    rows.push(
      summarize(
        `outbox, ${setting.name} sweeper (every ${setting.intervalSeconds} s, age ${setting.ageSeconds} s): 202 with the send failed -> posted`,
        "s",
        waits,
        `${setting.ageSeconds}-${setting.ageSeconds + setting.intervalSeconds} s + a poll`,
      ),
    );
  }
  return rows;
}

if (require.main === module) {
  benchOutbox().then(printTable, (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
