/**
 * moto in server mode for the rehearsal: started from .venv-moto (npm run setup:rehearse) on a free
 * loopback port, configured through /moto-api/config, and stopped after. Also the few AWS calls the
 * rehearsal makes itself (prerequisite secret, emptying the state bucket, looking for leftovers),
 * sent unsigned: moto reads the service and region from the Authorization header's credential scope.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import * as path from "node:path";
import { ROOT } from "./terraform";

export const MOTO_SERVER = path.join(ROOT, ".venv-moto", "bin", "moto_server");
const HOST = "127.0.0.1";

export interface Moto {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts moto_server on a free loopback port; resolves once it answers. */
export async function startMoto(logFile: string): Promise<Moto> {
  if (!existsSync(MOTO_SERVER)) throw new Error(`${path.relative(ROOT, MOTO_SERVER)} not found: run npm run setup:rehearse`);
  const port = await freePort();
  mkdirSync(path.dirname(logFile), { recursive: true });
  const out = createWriteStream(logFile, { flags: "w" });
  const child: ChildProcess = spawn(MOTO_SERVER, ["-H", HOST, "-p", String(port)], {
    // AWS-managed IAM policies (the RDS enhanced monitoring role attaches one) exist only with this.
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const endpoint = `http://${HOST}:${port}`;
  let exited: string | undefined;
  child.on("exit", (code, signal) => (exited = `moto_server exited (${code ?? signal}); see ${logFile}`));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(exited);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within 60 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { endpoint, port, stop };
}

/** POST /moto-api/config, e.g. {"lambda": {"use_docker": false}}. */
export async function configureMoto(endpoint: string, config: object): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/config`, {
    method: "POST",
    body: JSON.stringify(config),
    headers: { "Content-Type": "application/json" },
  });
  if (!response.ok) throw new Error(`moto config ${JSON.stringify(config)} refused: ${response.status} ${await response.text()}`);
}

function authorization(service: string, region: string): string {
  return `AWS4-HMAC-SHA256 Credential=test/20250101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;
}

/** A JSON-protocol call (Secrets Manager, Resource Groups Tagging, ...). */
export async function jsonCall(endpoint: string, service: string, region: string, target: string, body: object): Promise<any> {
  const response = await fetch(`${endpoint}/`, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, Authorization: authorization(service, region) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${target} in ${region}: ${response.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : {};
}

/** A query-protocol call (IAM, EC2): returns the XML text. */
export async function queryCall(endpoint: string, service: string, region: string, params: Record<string, string>): Promise<string> {
  const response = await fetch(`${endpoint}/`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: authorization(service, region) },
    body: new URLSearchParams(params).toString(),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${service} ${params.Action} in ${region}: ${response.status} ${text.slice(0, 300)}`);
  return text;
}

/** A REST call to S3 (path style): returns the XML text. */
export async function s3Call(endpoint: string, region: string, method: string, pathAndQuery: string, body?: string): Promise<string> {
  const response = await fetch(`${endpoint}${pathAndQuery}`, {
    method,
    headers: { Authorization: authorization("s3", region), ...(body ? { "Content-Type": "application/xml" } : {}) },
    body,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`S3 ${method} ${pathAndQuery}: ${response.status} ${text.slice(0, 300)}`);
  return text;
}

/** Every `<tag>value</tag>` in an XML text. */
export function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => m[1]);
}

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Deletes every object version and delete marker of a bucket (the bootstrap's state bucket keeps them). */
export async function emptyBucket(endpoint: string, region: string, bucket: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const listing = await s3Call(endpoint, region, "GET", `/${bucket}?versions&max-keys=1000`);
    const entries = [...listing.matchAll(/<(Version|DeleteMarker)>([\s\S]*?)<\/\1>/g)].map((m) => ({
      key: xmlValues(m[2], "Key")[0],
      versionId: xmlValues(m[2], "VersionId")[0],
    }));
    if (!entries.length) return deleted;
    const body = `<Delete><Quiet>true</Quiet>${entries.map((e) => `<Object><Key>${xmlEscape(e.key)}</Key><VersionId>${e.versionId}</VersionId></Object>`).join("")}</Delete>`;
    const result = await s3Call(endpoint, region, "POST", `/${bucket}?delete`, body);
    if (result.includes("<Error>")) throw new Error(`emptying ${bucket}: ${result.slice(0, 300)}`);
    deleted += entries.length;
  }
}
