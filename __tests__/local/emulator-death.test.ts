/**
 * The local runtime after its emulators died by a signal (a crash, the OOM killer, a developer's
 * kill -9): calls to them fail instead of hanging, and stop() still finishes. A child killed by a
 * signal has a null exit code and its "exit" event has already come by the time stop() runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { loadConfig } from "../../src/contracts/config";
import { startFauxqs } from "../../src/local/emulators";
import { startLocalLedger } from "../../src/local/ledger";
import { startLocalRegion } from "../../src/local/region";
import { sleep } from "../helpers/observe";

/** Resolves "settled" once `promise` settles, or "still pending" after `ms`: a hang fails the test at once, by name. */
async function within(ms: number, promise: Promise<unknown>): Promise<"settled" | "still pending"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        () => "settled" as const,
        () => "settled" as const,
      ),
      new Promise<"still pending">((resolve) => (timer = setTimeout(() => resolve("still pending"), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function untilDead(pid: number, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${ms} ms`);
    await sleep(20);
  }
}

test("fauxqs killed by a signal: a call in flight and later calls reject, and stop() resolves", async () => {
  const fauxqs = await startFauxqs();
  const pid = fauxqs.pid!;
  expect(alive(pid)).toBe(true);
  try {
    // Stopped, it cannot answer: the call is surely in flight when the kill comes.
    process.kill(pid, "SIGSTOP");
    const inFlight = fauxqs.inspectQueue("some-queue");
    process.kill(pid, "SIGKILL");
    expect(await within(5_000, inFlight)).toBe("settled");
    await expect(inFlight).rejects.toThrow("fauxqs exited (killed by SIGKILL)");
    await expect(fauxqs.reset()).rejects.toThrow("fauxqs exited (killed by SIGKILL)");
    // The exit event has come and gone: stop() must not wait for another one.
    expect(await within(5_000, fauxqs.stop())).toBe("settled");
    await expect(fauxqs.stop()).resolves.toBeUndefined();
  } finally {
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
});

test("a local region whose fauxqs and MariaDB were killed with SIGKILL still stops", async () => {
  const lines: string[] = [];
  // The region's own ledger would be stopped by it; this one is killed here and stopped below.
  const ledger = await startLocalLedger();
  const region = await startLocalRegion({
    port: 0,
    log: (line) => lines.push(line),
    handlerLogLevel: "SILENT",
    ledger,
    // The pollers and the sweeper are all calling the dead emulator when stop() comes.
    sweeperIntervalMs: 100,
    sweeperAgeSeconds: 0,
    prefix: "dead",
    config: loadConfig({}, {}),
  });
  const fauxqsPid = region.emulators.fauxqs.pid!;
  const mariadbPid = Number(fs.readFileSync(path.join(ledger.server.dir, "mysqld.pid"), "utf8").trim());
  expect(alive(fauxqsPid)).toBe(true);
  expect(alive(mariadbPid)).toBe(true);
  try {
    process.kill(fauxqsPid, "SIGKILL");
    process.kill(mariadbPid, "SIGKILL");
    await Promise.all([untilDead(fauxqsPid), untilDead(mariadbPid)]);
    // Let the pollers and a sweeper run meet the dead endpoints.
    await sleep(500);

    expect(await within(20_000, region.stop())).toBe("settled");
    await expect(region.stop()).resolves.toBeUndefined();
    // The port is closed.
    await expect(fetch(`${region.url}/health`)).rejects.toThrow();
    expect(await within(10_000, ledger.stop())).toBe("settled");
    expect(fs.existsSync(ledger.server.dir)).toBe(false);
  } finally {
    for (const pid of [fauxqsPid, mariadbPid]) if (alive(pid)) process.kill(pid, "SIGKILL");
    await ledger.stop();
  }
}, 60_000);
