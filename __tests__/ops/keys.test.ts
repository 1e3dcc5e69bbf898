/**
 * `npm run ops -- keys ...` against dynalite (the real DynamoDB wire protocol, no mocks): one
 * emulated keys table per region, the DR one inside a whole emulated region whose gateway must
 * accept a key issued in the primary once the global table has replicated it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { BatchWriteItemCommand, CreateTableCommand, DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import type { HttpEvent, HttpResult } from "../../lambdas/shared/http";
import type { RegionRole } from "../../src/contracts/config";
import { applyEnv, type Dynamo, type Emulators, startDynalite, startEmulators, tableSchema } from "../../src/local/emulators";
import { httpApiEvent, paymentBody } from "../../src/local/lambda-events";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { main } from "../../src/ops/cli";
import { type KeysIo, runKeys } from "../../src/ops/keys/cli";
import { loadHandler, parseBody } from "../helpers/load";

const GATEWAY = path.resolve(__dirname, "../../lambdas/payment-gateway/index.ts");
/** The deployment's default suffix: the CLI looks for `payment-merchant-keys-dev`. */
const TABLE = "payment-merchant-keys-dev";
const KEY = /pk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}/;

let primary: Dynamo;
let primaryClient: DynamoDBClient;
/** The DR region: keys table, transactions table, queue, and a gateway's environment. */
let dr: Emulators;
let restoreEnv: () => void;

beforeAll(async () => {
  primary = await startDynalite();
  primaryClient = new DynamoDBClient({
    region: "ap-southeast-1",
    endpoint: primary.endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await primaryClient.send(new CreateTableCommand(tableSchema("merchantKeys", TABLE)));
  dr = await startEmulators({ region: "ap-southeast-2", prefix: "dev" });
  restoreEnv = applyEnv(dr.baseEnv);
});

afterAll(async () => {
  restoreEnv?.();
  primaryClient?.destroy();
  await Promise.all([primary?.stop(), dr?.stop()]);
});

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function keys(...argv: string[]): Promise<Run> {
  return keysVia(primary.endpoint, ...argv);
}

async function keysVia(primaryEndpoint: string, ...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: KeysIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
    context: () => ({}),
    client: (_config, role: RegionRole) =>
      new DynamoDBClient({
        region: role === "primary" ? "ap-southeast-1" : "ap-southeast-2",
        endpoint: role === "primary" ? primaryEndpoint : dr.dynamo.endpoint,
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
      }),
  };
  const code = await runKeys(argv, io);
  return { code, out, err };
}

const items = async (client: DynamoDBClient) => (await client.send(new ScanCommand({ TableName: TABLE }))).Items ?? [];
const prefixOf = (run: Run) => /Issued key (pk_[a-z2-7]{12})/.exec(run.out.join("\n"))?.[1];

/** Stands in for the global table's replication (about 1 s in AWS): copies every key item across. */
async function replicate(from: DynamoDBClient, to: DynamoDBClient): Promise<void> {
  const all = await items(from);
  for (let i = 0; i < all.length; i += 25) {
    await to.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: all.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
  }
}

test("help, and a bad command line prints one error and the usage (exit 1)", async () => {
  const help = await keys("help");
  expect(help.code).toBe(0);
  expect(help.out.join("\n")).toMatch(/issue --merchant <id>/);
  for (const argv of [
    [],
    ["rotate"],
    ["issue"],
    ["issue", "--merchant"],
    ["list", "--merchant", "m", "--region", "eu"],
    ["revoke", "--key", "x", "--force"],
  ]) {
    const run = await keys(...argv);
    expect(run.code).toBe(1);
    expect(run.err[0]).toMatch(/^error: /);
    expect(run.err.join("\n")).toContain("Usage: npm run ops -- keys");
  }
  // The operator CLI's entry point knows the group.
  const errors: string[] = [];
  expect(await main(["nope"], (l) => errors.push(l))).toBe(1);
  expect(errors.join("\n")).toMatch(/keys\s+Merchant API keys/);
});

test("issue without --yes is a dry run: exit 1, nothing written", async () => {
  const run = await keys("issue", "--merchant", "m-dry");
  expect(run.code).toBe(1);
  expect(run.out.join("\n")).toMatch(/Dry run: would issue a key for merchant m-dry/);
  expect(run.out.join("\n")).not.toMatch(KEY);
  expect((await items(primaryClient)).filter((i) => i.merchant_id?.S === "m-dry")).toHaveLength(0);
});

test("issue --yes prints the key once; the table holds only the SHA-256 of its secret", async () => {
  const run = await keys("issue", "--merchant", "m-issue", "--yes");
  expect(run.code).toBe(0);
  const printed = run.out.filter((l) => KEY.test(l));
  expect(printed).toHaveLength(1);
  const key = KEY.exec(printed[0]!)![0];
  const [, keyId, secret] = /^pk_([a-z2-7]{12})_(.+)$/.exec(key)!;
  const stored = (await items(primaryClient)).find((i) => i.key_id?.S === keyId)!;
  expect(stored.merchant_id?.S).toBe("m-issue");
  expect(stored.secret_sha256?.S).toBe(createHash("sha256").update(secret!).digest("hex"));
  expect(JSON.stringify(stored)).not.toContain(secret);
  // Listing never shows the secret nor its hash.
  const list = await keys("list", "--merchant", "m-issue");
  expect(list.code).toBe(0);
  const text = list.out.join("\n");
  expect(text).toContain(`pk_${keyId}`);
  expect(text).toMatch(/prefix\s+created\s+expires\s+status/);
  expect(text).toMatch(new RegExp(`pk_${keyId}\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+-\\s+active`));
  expect(text).not.toContain(secret);
  expect(text).not.toContain(stored.secret_sha256!.S!);
});

test("rotation: two active keys at most; revoke one, then a new one can be issued", async () => {
  const first = await keys("issue", "--merchant", "m-rot", "--yes");
  const second = await keys("issue", "--merchant", "m-rot", "--expires-in-days", "30", "--yes");
  expect([first.code, second.code]).toEqual([0, 0]);
  const third = await keys("issue", "--merchant", "m-rot", "--yes");
  expect(third.code).toBe(1);
  expect(third.err.join("\n")).toMatch(/already has 2 active keys .*revoke one first/);

  const revokeDry = await keys("revoke", "--key", prefixOf(first)!);
  expect(revokeDry.code).toBe(1);
  expect(revokeDry.out.join("\n")).toMatch(/Dry run: would revoke key pk_\w+ of merchant m-rot/);
  const revoked = await keys("revoke", "--key", prefixOf(first)!, "--yes");
  expect(revoked.code).toBe(0);
  expect(revoked.out.join("\n")).toMatch(/Revoked key [\s\S]* within 60 s/);
  expect((await keys("revoke", "--key", prefixOf(first)!, "--yes")).out.join("\n")).toMatch(/already revoked/);

  expect((await keys("issue", "--merchant", "m-rot", "--yes")).code).toBe(0);
  const list = (await keys("list", "--merchant", "m-rot")).out.join("\n");
  expect(list).toMatch(new RegExp(`${prefixOf(first)}\\s+\\S+\\s+-\\s+revoked \\d{4}-`));
  expect(list).toMatch(new RegExp(`${prefixOf(second)}\\s+\\S+\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+active`));
  expect(list.split("\n").filter((l) => / active$/.test(l))).toHaveLength(2);
});

test("an expired key does not count as active", async () => {
  const past = new Date(Date.now() + 1500).toISOString();
  expect((await keys("issue", "--merchant", "m-exp", "--expires-at", past, "--yes")).code).toBe(0);
  expect((await keys("issue", "--merchant", "m-exp", "--yes")).code).toBe(0);
  await new Promise((r) => setTimeout(r, 1600));
  expect((await keys("list", "--merchant", "m-exp")).out.join("\n")).toMatch(/ expired$/m);
  expect((await keys("issue", "--merchant", "m-exp", "--yes")).code).toBe(0);
  expect((await keys("issue", "--merchant", "m-exp", "--expires-at", "2001-01-01T00:00:00Z", "--yes")).err.join("\n")).toMatch(
    /not in the future/,
  );
});

test("revoking an unknown key is refused; a whole key is accepted as its prefix", async () => {
  const none = await keys("revoke", "--key", "pk_aaaaaaaaaaaa", "--yes");
  expect(none.code).toBe(1);
  expect(none.err.join("\n")).toMatch(/no key pk_aaaaaaaaaaaa/);
  const bad = await keys("revoke", "--key", "not-a-key");
  expect(bad.code).toBe(1);
});

test("a key issued in the primary works in DR once replicated, and a DR revocation replicates back", async () => {
  const drGateway = loadHandler<HttpEvent, HttpResult>(GATEWAY, { AUTH_CACHE_TTL_SECONDS: "0" });
  const issued = await keys("issue", "--merchant", "m-dr", "--yes");
  const key = KEY.exec(issued.out.join("\n"))![0];
  const authorization = `Bearer ${key}`;
  const postInDr = () =>
    drGateway(
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { authorization, "content-type": "application/json", "idempotency-key": `dr-${Date.now()}` },
        body: JSON.stringify(paymentBody({ merchant_id: undefined })),
      }),
    );

  // Not yet in the DR replica: unknown there.
  expect((await postInDr()).statusCode).toBe(401);
  const drClient = dr.clients.dynamodb;
  await replicate(primaryClient, drClient);
  const accepted = await postInDr();
  expect(accepted.statusCode).toBe(202);
  expect(parseBody(accepted).status).toBe("RECEIVED");

  // The primary region is gone: the operator works on the DR table.
  const listDr = await keys("list", "--merchant", "m-dr", "--region", "dr");
  expect(listDr.out.join("\n")).toMatch(/\(dr region ap-southeast-2\)/);
  expect(listDr.out.join("\n")).toContain(prefixOf(issued));
  expect((await keys("revoke", "--key", prefixOf(issued)!, "--region", "dr", "--yes")).code).toBe(0);
  expect((await postInDr()).statusCode).toBe(401);
  await replicate(drClient, primaryClient);
  expect((await keys("list", "--merchant", "m-dr")).out.join("\n")).toMatch(/revoked \d{4}-/);
});

test("a region that does not answer is one error line, exit 1", async () => {
  const errLines: string[] = [];
  const gone = await startDynalite();
  await gone.stop();
  const run = await runKeys(["list", "--merchant", "m-1"], {
    out: () => undefined,
    err: (l) => errLines.push(l),
    env: {},
    context: () => ({}),
    client: () =>
      new DynamoDBClient({
        region: "ap-southeast-1",
        endpoint: gone.endpoint,
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
        maxAttempts: 1,
      }),
  });
  expect(run).toBe(1);
  expect(errLines).toHaveLength(1);
  expect(errLines[0]).toMatch(/^error: primary region ap-southeast-1: /);
});

test("src/ops/README.md lists exactly the DynamoDB rights the keys commands use on the wire", async () => {
  const proxy = await startRecordingProxy(primary.endpoint);
  try {
    const issued = await keysVia(proxy.endpoint, "issue", "--merchant", "m-rights", "--yes");
    await keysVia(proxy.endpoint, "list", "--merchant", "m-rights");
    await keysVia(proxy.endpoint, "revoke", "--key", prefixOf(issued)!, "--yes");
  } finally {
    await proxy.stop();
  }
  const used = [...new Set(proxy.requests.map((r) => `dynamodb:${String(r.headers["x-amz-target"]).replace("DynamoDB_20120810.", "")}`))];
  const readme = readFileSync(path.resolve(__dirname, "../../src/ops/README.md"), "utf8");
  const section = readme.slice(readme.indexOf("**IAM rights the `keys` commands need**"), readme.indexOf("## DR operations"));
  const listed = [...new Set([...section.matchAll(/`(dynamodb:[A-Za-z]+)`/g)].map((m) => m[1]!))];
  // The gateway's own rights are named there too, for contrast; the CLI's are those before "Nothing else".
  const cliListed = [...new Set([...section.slice(0, section.indexOf("Nothing")).matchAll(/`(dynamodb:[A-Za-z]+)`/g)].map((m) => m[1]!))];
  expect(cliListed.sort()).toEqual(used.sort());
  expect(listed).toEqual(expect.arrayContaining(used));
});
