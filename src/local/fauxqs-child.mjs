// Runs the fauxqs SQS/SNS/S3 emulator in its own process. fauxqs is ESM-only and jest runs
// tests as CommonJS without VM-module support, so the tests talk to it over HTTP (like a real
// AWS endpoint) and drive it over the IPC channel for a few control operations.
//
// argv[2]: JSON options { region }. Prints nothing; sends {type:"ready", port, address} on IPC.
import { startFauxqs } from "fauxqs";

const options = JSON.parse(process.argv[2] ?? "{}");
const server = await startFauxqs({
  port: 0,
  host: "localhost",
  logger: false,
  defaultRegion: options.region ?? "us-east-1",
});

process.on("message", async (msg) => {
  const { id, op, args } = msg;
  try {
    let result;
    switch (op) {
      case "inspectQueue": {
        const q = server.inspectQueue(args.name);
        result = q
          ? {
              ready: q.messages.ready.length,
              delayed: q.messages.delayed.length,
              inflight: q.messages.inflight.length,
            }
          : null;
        break;
      }
      case "deleteQueue":
        server.deleteQueue(args.name, args.region ? { region: args.region } : undefined);
        result = null;
        break;
      case "reset":
        server.reset();
        result = null;
        break;
      case "stop":
        await server.stop();
        result = null;
        break;
      default:
        throw new Error(`unknown op ${op}`);
    }
    process.send({ id, ok: true, result });
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack ? err.stack : err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready", port: server.port, address: server.address });
