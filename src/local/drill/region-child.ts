/**
 * One drill region's compute in a process of its own (the handlers read their config from
 * process.env, so one region per process): the six handlers, the HTTP API, the SQS pollers and
 * the sweeper, against emulators that live in the drill's parent (region-process.ts), so that
 * killing this process loses the compute and nothing else, as a regional outage would.
 *
 * argv[2]: a RegionSpec as JSON. Talks to the parent over IPC: sends `ready`, then `stats` every
 * second; takes `stall` (stop the transaction poller) and `stop` (graceful exit).
 */
import { createWriteStream } from "node:fs";
import { deploymentConfig } from "../../contracts/context";
import { attachEmulators } from "../emulators";
import { startLocalRegion } from "../region";
import type { ChildMessage, ParentMessage, RegionSpec } from "./region-process";

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as RegionSpec;
  const send = (message: ChildMessage) => process.send?.(message);
  const out = createWriteStream(spec.logFile, { flags: "a" });
  const log = (line: string) => out.write(`${new Date().toISOString()} ${line}\n`);
  const config = deploymentConfig();
  const emulators = attachEmulators({
    region: spec.region,
    dynamoEndpoint: spec.dynamoEndpoint,
    fauxqsEndpoint: spec.fauxqsEndpoint,
    resources: spec.resources,
    config,
    ledger: spec.ledger,
    visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds,
  });
  const region = await startLocalRegion({
    port: spec.port,
    region: spec.region,
    emulators,
    ledger: spec.ledger,
    demoKey: spec.demoKey,
    config,
    visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds,
    processorConcurrency: spec.processorConcurrency,
    handlerLogLevel: "WARN",
    log,
    sweeperIntervalMs: spec.sweeper.intervalSeconds * 1000,
    sweeperAgeSeconds: spec.sweeper.ageSeconds,
    sweeperAdoptAgeSeconds: spec.sweeper.adoptAgeSeconds,
  });
  send({ type: "ready", url: region.url });
  const stats = setInterval(() => send({ type: "stats", pollers: region.pollers, sweeper: { ...region.sweeper } }), 1000);
  process.on("message", (raw) => {
    const message = raw as ParentMessage;
    if (message.type === "stall") void region.stopPoller("transactions").then(() => log("transaction poller stopped (stall)"));
    if (message.type === "stop") {
      clearInterval(stats);
      void region.stop().finally(() => process.exit(0));
    }
  });
  // The parent is gone: nothing to serve any more.
  process.on("disconnect", () => process.exit(0));
}

main().catch((err: unknown) => {
  process.send?.({ type: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies ChildMessage);
  process.exit(1);
});
