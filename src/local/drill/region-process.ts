/**
 * The parent's handle on one drill region's compute (region-child.ts, forked under tsx): start
 * it against emulators the parent keeps, stall its processing, kill it (SIGKILL: no cleanup, as
 * a region that vanishes) or stop it gracefully. Its last stats survive it.
 */
import { type ChildProcess, fork } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../contracts/context";
import type { Resources } from "../emulators";
import type { LedgerEndpoint } from "../ledger";
import type { PollerStats } from "../sqs-poller";
import type { SweeperStats } from "../sweeper-timer";
import type { Role } from "./dns";

export interface RegionSpec {
  readonly role: Role;
  readonly region: string;
  /** Fixed, so that the region comes back at the same address (the load balancer's DNS name). */
  readonly port: number;
  /** The replicator's proxy for this region: every table write is replicated. */
  readonly dynamoEndpoint: string;
  readonly fauxqsEndpoint: string;
  readonly resources: Resources;
  readonly ledger: LedgerEndpoint;
  readonly demoKey: string;
  readonly visibilityTimeoutSeconds: number;
  readonly processorConcurrency: number;
  /** The pending-sweeper on its timer (s): how often, and the ages of its own and of the other region's payments. */
  readonly sweeper: { readonly intervalSeconds: number; readonly ageSeconds: number; readonly adoptAgeSeconds: number };
  /** The region's request, batch and handler log lines go here (appended). */
  readonly logFile: string;
}

export interface RegionStats {
  readonly pollers: { readonly transactions: PollerStats; readonly notifications: PollerStats };
  readonly sweeper: SweeperStats;
}

export type ChildMessage = { type: "ready"; url: string } | ({ type: "stats" } & RegionStats) | { type: "failed"; error: string };

export type ParentMessage = { type: "stall" } | { type: "stop" };

export interface RegionProcess {
  readonly spec: RegionSpec;
  readonly url: string;
  /** The last stats the process sent (kept after it died). */
  readonly stats: () => RegionStats | undefined;
  /** Stops its transaction poller: messages pile up in its queue. */
  stall(): void;
  /** SIGKILL: in-flight requests and batches die with it. */
  kill(): Promise<void>;
  /** Graceful: pollers and server drain, then it exits. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

export async function startRegionProcess(spec: RegionSpec): Promise<RegionProcess> {
  const fd = openSync(spec.logFile, "a");
  let child: ChildProcess;
  try {
    child = fork(path.join(__dirname, "region-child.ts"), [JSON.stringify(spec)], {
      cwd: PROJECT_ROOT,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", fd, fd, "ipc"],
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: "WARN" },
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let last: RegionStats | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${spec.region} did not start within ${START_TIMEOUT_MS} ms (log: ${spec.logFile})`)),
      START_TIMEOUT_MS,
    );
    child.on("message", (raw) => {
      const message = raw as ChildMessage;
      if (message.type === "ready") {
        clearTimeout(timer);
        resolve(message.url);
      } else if (message.type === "stats") last = { pollers: message.pollers, sweeper: message.sweeper };
      else if (message.type === "failed") reject(new Error(`${spec.region} failed to start: ${message.error}`));
    });
    child.once("exit", (code) => reject(new Error(`${spec.region} exited (${code}) before it was ready (log: ${spec.logFile})`)));
  }).catch(async (err: unknown) => {
    child.kill("SIGKILL");
    await exited;
    throw err;
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    spec,
    url,
    stats: () => last,
    stall: () => {
      if (alive()) child.send({ type: "stall" } satisfies ParentMessage);
    },
    kill: async () => {
      if (alive()) child.kill("SIGKILL");
      await exited;
    },
    stop: async () => {
      if (!alive()) return;
      child.send({ type: "stop" } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
