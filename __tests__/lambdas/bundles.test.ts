/**
 * The ledger clients' deployment packages as built and zipped, not their TypeScript: each one,
 * unpacked and run by a fresh `node` that sees only a Lambda-like environment, connects to
 * MariaDB over TLS and does its work. The processor posts a batch, the balance reader reads
 * balances, the migrator migrates a new database. What the packages leave out
 * (src/infra/compute/bundle-plugins.ts: mysql2's character-set tables and error code, the SDK's
 * credential chain, umzug's command line) must not be on these paths.
 *
 * TLS as in AWS, with a password for the IAM token (MariaDB has no IAM plugin): the server's
 * certificate comes from a local CA, every user the packages connect as REQUIRES SSL, and the
 * host name is verified. These packages are the same build with the local CA in place of the RDS
 * CAs; the deployed build, which trusts only its regions' RDS CAs, refuses this server.
 *
 * The other packages (gateway, notifier, health, sweeper) run as deployed against the emulators:
 * the SDK's credential chain and X-Ray's patchers they leave out are not on their paths either.
 *
 * One MariaDB, one set of emulators and one moto server (Secrets Manager, for the migrator) for
 * the file; the packages are built once (and kept on disk while the sources do not change).
 */
import { execFileSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyStructuredResultV2, SQSBatchResponse } from "aws-lambda";
import mysql from "mysql2/promise";
import { ledgerConnection, postBatch } from "../../lambdas/shared/ledger";
import { MIGRATIONS_HASH } from "../../lambdas/shared/ledger/migrate";
import { type Moto, startMoto } from "../../scripts/terraform/moto";
import { deploymentConfig } from "../../src/contracts/context";
import { ENV, environmentOf, FUNCTIONS, type FunctionContract } from "../../src/contracts/functions";
import { regionalRdsCertificates } from "../../src/infra/compute/bundle-plugins";
import { type Bundle, bundleHandler } from "../../src/infra/compute/bundling";
import { type Emulators, startEmulators } from "../../src/local/emulators";
import { httpApiEvent, paymentBody, sqsEvent, sqsRecord } from "../../src/local/lambda-events";
import { type LocalLedger, startLocalLedger } from "../../src/local/ledger";
import { type MariaDb, type ServerTls, startMariaDb } from "../../src/local/mariadb";
import { getTransaction, seedTransactions } from "../../src/local/seed";
import { issueServerCertificate, localCertificateAuthority } from "../../src/local/tls";
import { issueKey } from "../../src/ops/keys/operations";
import { invokePackage, unpack } from "../helpers/built-package";

const ROOT = path.resolve(__dirname, "../..");
const MASTER = { user: "bundle_master", password: "bundle-master-password" };
const MIGRATED_DATABASE = "bundle_migrated";

let server: MariaDb;
let serverTls: ServerTls;
let ledger: LocalLedger;
let root: mysql.Connection;
let emu: Emulators;
let moto: Moto;
let secretArn: string;
/** Unpacked packages, built to trust the local CA. */
const packages: Record<"processor" | "balances" | "migrator", string> = { processor: "", balances: "", migrator: "" };
/** Deployed packages (the RDS CAs of the configured regions): the processor's, and those without a ledger. */
let deployedProcessor: string;
const deployed: Record<"gateway" | "notifier" | "health" | "sweeper", string> = { gateway: "", notifier: "", health: "", sweeper: "" };
const unpacked: string[] = [];

const built = (bundle: Bundle) => {
  const dir = unpack(bundle);
  unpacked.push(dir);
  return dir;
};

beforeAll(async () => {
  // A fresh clone has no .venv-moto: install the pinned moto as the rehearsal does (once).
  if (!existsSync(path.join(ROOT, ".venv-moto", "bin", "moto_server"))) {
    execFileSync("bash", [path.join(ROOT, "scripts/terraform/setup.sh")], { stdio: "inherit" });
  }
  const ca = localCertificateAuthority();
  serverTls = issueServerCertificate(ca, ["localhost", "127.0.0.1"]);
  const starting = Promise.all([
    startMariaDb({ tls: serverTls }),
    startEmulators({ prefix: "bundles" }),
    startMoto(path.join(mkdtempSync(path.join(tmpdir(), "bundles-moto-")), "moto.log")),
  ]);
  // Built while the servers start (a cache hit when the sources have not changed).
  const testBuild = { caCertificates: [ca.certificate] };
  packages.processor = built(bundleHandler(FUNCTIONS.processor.handler, testBuild));
  packages.balances = built(bundleHandler(FUNCTIONS.balances.handler, testBuild));
  packages.migrator = built(bundleHandler(FUNCTIONS.migrator.handler, testBuild));
  const config = deploymentConfig();
  const deployedBuild = { databaseRegions: [config.primaryRegion, config.drRegion] };
  deployedProcessor = built(bundleHandler(FUNCTIONS.processor.handler, deployedBuild));
  for (const name of ["gateway", "notifier", "health", "sweeper"] as const)
    deployed[name] = built(bundleHandler(FUNCTIONS[name].handler, deployedBuild));
  [server, emu, moto] = await starting;

  ledger = await startLocalLedger({ server, database: "bundle_ledger", user: "bundle_app", readUser: "bundle_reader" });
  root = await mysql.createConnection({ host: server.host, port: server.port, user: server.rootUser, password: server.rootPassword });
  // Every account a package connects as refuses a connection without TLS.
  await root.query("ALTER USER ?@'%' REQUIRE SSL", [ledger.user]);
  await root.query("ALTER USER ?@'%' REQUIRE SSL", [ledger.readUser]);
  await root.query("CREATE USER ?@'%' IDENTIFIED BY ? REQUIRE SSL", [MASTER.user, MASTER.password]);
  await root.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [MASTER.user]);

  const secrets = new SecretsManagerClient({
    region: emu.region,
    endpoint: moto.endpoint,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  const secret = await secrets.send(
    new CreateSecretCommand({ Name: "bundles-master", SecretString: JSON.stringify({ username: MASTER.user, password: MASTER.password }) }),
  );
  secretArn = secret.ARN!;
  secrets.destroy();
}, 120_000);

afterAll(async () => {
  await root?.end();
  await Promise.all([ledger?.stop(), server?.stop(), emu?.stop(), moto?.stop()]);
  for (const dir of unpacked) rmSync(dir, { recursive: true, force: true });
});

/** What a Lambda container's environment would hold here: the region, credentials, the emulators' endpoints, the function's own. */
function lambdaEnv(handler: string, own: Record<string, string>): Record<string, string> {
  const aws = Object.fromEntries(Object.entries(emu.baseEnv).filter(([k]) => k.startsWith("AWS_")));
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    ...aws,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
    [ENV.s3ForcePathStyle]: "true",
    [ENV.serviceName]: handler,
    [ENV.logLevel]: "WARN",
    [ENV.tracingEnabled]: "false",
    [ENV.metricsDisabled]: "true",
    ...own,
  };
}

const processorEnv = () =>
  lambdaEnv(
    FUNCTIONS.processor.handler,
    environmentOf(FUNCTIONS.processor, {
      transactionsTable: emu.resources.transactionsTable,
      notificationQueueUrl: emu.resources.notificationQueueUrl,
      transactionLogBucket: emu.resources.logBucket,
      riskLimitMinor: "5000000",
      sideEffectLeaseSeconds: "30",
      dbWriterEndpoint: server.host,
      dbPort: String(server.port),
      dbName: ledger.database,
      dbUser: ledger.user,
      dbAuthMode: "password",
      dbPassword: ledger.password,
      dbTls: "true",
    }),
  );

const balancesEnv = () =>
  lambdaEnv(
    FUNCTIONS.balances.handler,
    environmentOf(FUNCTIONS.balances, {
      merchantKeysTable: emu.resources.merchantKeysTable,
      authCacheTtlSeconds: "60",
      dbReaderEndpoint: server.host,
      dbPort: String(server.port),
      dbName: ledger.database,
      dbUser: ledger.readUser,
      dbAuthMode: "password",
      dbPassword: ledger.readPassword,
      dbTls: "true",
    }),
  );

/** A function's own variables as the emulators' environment sets them (src/local/emulators.ts). */
function contractEnv(contract: FunctionContract): Record<string, string> {
  const names = [...contract.required, ...contract.optional].map((key) => ENV[key]);
  return Object.fromEntries(names.flatMap((name) => (emu.baseEnv[name] === undefined ? [] : [[name, emu.baseEnv[name]!]])));
}

const logText = (run: { logs: ReadonlyArray<Record<string, unknown>> }) => JSON.stringify(run.logs);

async function journal(ids: readonly string[]): Promise<Array<{ transaction_id: string; amount: number; outcome: string }>> {
  const [rows] = await root.query(
    `SELECT transaction_id, amount, outcome FROM \`${ledger.database}\`.journal_entries WHERE transaction_id IN (?) ORDER BY amount`,
    [ids],
  );
  return rows as Array<{ transaction_id: string; amount: number; outcome: string }>;
}

async function balancesFor(merchantId: string, apiKey?: string) {
  const key =
    apiKey ??
    (
      await issueKey(
        { dynamodb: emu.clients.dynamodb, table: emu.resources.merchantKeysTable, region: emu.region, cacheTtlSeconds: 60 },
        { merchantId, yes: true },
      )
    ).key!;
  const run = await invokePackage<APIGatewayProxyStructuredResultV2>(
    packages.balances,
    FUNCTIONS.balances.handler,
    balancesEnv(),
    httpApiEvent({ method: "GET", path: "/balances", headers: { authorization: `Bearer ${key}` } }),
  );
  return { run, key };
}

test("the processor's package posts a batch over TLS and projects it: PROCESSED items, the entries in the ledger", async () => {
  const messages = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [
    { amount: 1_001, merchant_id: "bundle-merchant" },
    { amount: 1_002, merchant_id: "bundle-merchant" },
    { amount: 1_003, merchant_id: "bundle-merchant" },
  ]);
  const run = await invokePackage<SQSBatchResponse>(
    packages.processor,
    FUNCTIONS.processor.handler,
    processorEnv(),
    sqsEvent(messages.map((m) => sqsRecord(JSON.stringify(m)))),
  );
  expect(run.error).toBeUndefined();
  expect(run.result).toEqual({ batchItemFailures: [] });
  const ids = messages.map((m) => m.transaction_id);
  expect(await journal(ids)).toEqual(ids.map((id, i) => ({ transaction_id: id, amount: 1_001 + i, outcome: "POSTED" })));
  for (const id of ids) expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, id))?.status).toBe("PROCESSED");
});

test("the balance reader's package reads the merchant's balances over TLS, as the SELECT-only reader", async () => {
  const admin = ledgerConnection({
    host: server.host,
    port: server.port,
    database: ledger.database,
    user: server.rootUser,
    tls: false,
    auth: { kind: "password", password: server.rootPassword },
  });
  try {
    await postBatch(
      admin,
      [
        {
          transactionId: "00000000-0000-8000-8000-00000000b001",
          merchantId: "bundle-reader",
          amount: 700,
          currency: "SGD",
          outcome: "POSTED",
        },
        {
          transactionId: "00000000-0000-8000-8000-00000000b002",
          merchantId: "bundle-reader",
          amount: 42,
          currency: "USD",
          outcome: "POSTED",
        },
      ],
      { region: "ap-southeast-1" },
    );
  } finally {
    await admin.close();
  }
  const { run } = await balancesFor("bundle-reader");
  expect(run.error).toBeUndefined();
  expect(run.result?.statusCode).toBe(200);
  expect(JSON.parse(String(run.result?.body))).toEqual({
    merchant_id: "bundle-reader",
    balances: [
      { currency: "SGD", balance: 700, postings: 1 },
      { currency: "USD", balance: 42, postings: 1 },
    ],
  });
});

test("the migrator's package reads the master secret, migrates a new database over TLS and creates its users; a re-run applies nothing", async () => {
  const env = lambdaEnv(
    FUNCTIONS.migrator.handler,
    environmentOf(FUNCTIONS.migrator, {
      dbWriterEndpoint: server.host,
      dbPort: String(server.port),
      dbName: MIGRATED_DATABASE,
      dbMasterSecretArn: secretArn,
      dbMasterUsername: MASTER.user,
      dbAuthMode: "password",
      dbPassword: "bundle-app-password",
      dbTls: "true",
    }),
  );
  type Migrated = { applied: string[]; executed: string[]; hash: string };
  const first = await invokePackage<Migrated>(packages.migrator, FUNCTIONS.migrator.handler, env, { fingerprint: MIGRATIONS_HASH });
  expect(first.error).toBeUndefined();
  expect(first.result?.applied.length).toBeGreaterThan(0);
  expect(first.result?.hash).toBe(MIGRATIONS_HASH);
  const again = await invokePackage<Migrated>(packages.migrator, FUNCTIONS.migrator.handler, env, { fingerprint: MIGRATIONS_HASH });
  expect(again.result).toEqual({ applied: [], executed: first.result?.executed, hash: MIGRATIONS_HASH });
  const [tables] = await root.query(
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'journal_entries'",
    [MIGRATED_DATABASE],
  );
  expect(tables).toEqual([{ t: "journal_entries" }]);
});

test("the deployed ledger packages carry the RDS root CAs of the deployment's two regions and no other certificate", () => {
  const { primaryRegion, drRegion } = deploymentConfig();
  const code = readFileSync(path.join(deployedProcessor, "index.js"), "utf8");
  const ours = regionalRdsCertificates([primaryRegion, drRegion]);
  expect(ours.length).toBeGreaterThanOrEqual(2);
  // A certificate's body (base64, whatever the quoting of its line breaks in the minified code).
  const body = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s/g, "");
  const flat = code.replace(/\\n|\n/g, "");
  for (const pem of ours) expect(flat).toContain(body(pem));
  expect(code.split("-----BEGIN CERTIFICATE-----").length - 1).toBe(ours.length);
  for (const pem of regionalRdsCertificates(["us-east-1"])) expect(flat).not.toContain(body(pem));
});

test("the deployed processor package trusts only its regions' RDS CAs: it refuses this server, and the batch waits", async () => {
  const [message] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{ amount: 2_001 }]);
  const record = sqsRecord(JSON.stringify(message));
  const run = await invokePackage<SQSBatchResponse>(deployedProcessor, FUNCTIONS.processor.handler, processorEnv(), sqsEvent([record]));
  expect(run.result).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
  expect(logText(run)).toMatch(/certificate/i);
  expect(await journal([message!.transaction_id])).toEqual([]);
});

test("in IAM mode the processor's package signs a token from the environment's credentials and sends it over TLS (MariaDB, without IAM, refuses it as a password)", async () => {
  const [message] = await seedTransactions(emu.clients.dynamodb, emu.resources.transactionsTable, [{ amount: 3_001 }]);
  const record = sqsRecord(JSON.stringify(message));
  const { [ENV.dbPassword]: _password, [ENV.dbTls]: _tls, ...passwordEnv } = processorEnv();
  const env = { ...passwordEnv, [ENV.dbAuthMode]: "iam", [ENV.dbIamRegions]: emu.region, AWS_SESSION_TOKEN: "session-token" };
  const run = await invokePackage<SQSBatchResponse>(packages.processor, FUNCTIONS.processor.handler, env, sqsEvent([record]));
  expect(run.result).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
  // The token was signed (a credentials failure would say so) and offered as the password, over TLS (the user REQUIRES SSL).
  expect(logText(run)).toMatch(/Access denied for user '[^']+'@'[^']+' \(using password: YES\)/);
  expect(logText(run)).not.toMatch(/CredentialsProviderError|Could not load credentials|not in this deployment package/);
});

test("a server error reaches the handler classified (mysql2's error names are read lazily in the package)", async () => {
  const key = (
    await issueKey(
      { dynamodb: emu.clients.dynamodb, table: emu.resources.merchantKeysTable, region: emu.region, cacheTtlSeconds: 60 },
      { merchantId: "bundle-denied", yes: true },
    )
  ).key!;
  const run = await invokePackage<APIGatewayProxyStructuredResultV2>(
    packages.balances,
    FUNCTIONS.balances.handler,
    { ...balancesEnv(), [ENV.dbPassword]: "not-the-password" },
    httpApiEvent({ method: "GET", path: "/balances", headers: { authorization: `Bearer ${key}` } }),
  );
  expect(run.result?.statusCode).toBe(503);
  expect(logText(run)).toMatch(/access denied \(credentials or IAM token not accepted yet\): Access denied for user/);
});

test("the host name is verified: a certificate from the same CA for another name is refused", async () => {
  const { key } = await balancesFor("bundle-renamed");
  await server.replaceTls(issueServerCertificate(localCertificateAuthority(), ["ledger.elsewhere.invalid"]));
  try {
    const { run } = await balancesFor("bundle-renamed", key);
    expect(run.result?.statusCode).toBe(503);
    expect(logText(run)).toMatch(/does not match certificate's altnames/);
  } finally {
    await server.replaceTls(serverTls);
  }
  const { run: restored } = await balancesFor("bundle-renamed", key);
  expect(restored.result?.statusCode).toBe(200);
});

describe("the packages without a ledger, as deployed", () => {
  test("the gateway's package accepts a payment: 202, the item stored, the message queued", async () => {
    const { key } = (await issueKey(
      { dynamodb: emu.clients.dynamodb, table: emu.resources.merchantKeysTable, region: emu.region, cacheTtlSeconds: 60 },
      { merchantId: "bundle-payer", yes: true },
    )) as { key: string };
    const run = await invokePackage<APIGatewayProxyStructuredResultV2>(
      deployed.gateway,
      FUNCTIONS.gateway.handler,
      lambdaEnv(FUNCTIONS.gateway.handler, contractEnv(FUNCTIONS.gateway)),
      httpApiEvent({
        method: "POST",
        path: "/transactions",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}`, "idempotency-key": "bundle-payment-0001" },
        body: JSON.stringify(paymentBody({ merchant_id: undefined })),
      }),
    );
    expect(run.error).toBeUndefined();
    expect(run.result?.statusCode).toBe(202);
    const { transaction_id: id } = JSON.parse(String(run.result?.body)) as { transaction_id: string };
    expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, id))?.status).toBe("RECEIVED");
    const queued = await emu.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emu.resources.transactionQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(queued.Messages?.map((m) => JSON.parse(m.Body!).transaction_id)).toContain(id);
  });

  test("the notifier's package publishes a notification to the topic", async () => {
    const notification = {
      type: "transaction.status_changed",
      transaction_id: "00000000-0000-8000-8000-00000000c001",
      merchant_id: "bundle-payer",
      customer_id: "c",
      status: "PROCESSED",
      amount: 5,
      currency: "SGD",
      occurred_at: new Date().toISOString(),
    };
    const run = await invokePackage<SQSBatchResponse>(
      deployed.notifier,
      FUNCTIONS.notifier.handler,
      lambdaEnv(FUNCTIONS.notifier.handler, contractEnv(FUNCTIONS.notifier)),
      sqsEvent([sqsRecord(JSON.stringify(notification))]),
    );
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual({ batchItemFailures: [] });
  });

  test("the health package checks the table and the queue: 200", async () => {
    const run = await invokePackage<APIGatewayProxyStructuredResultV2>(
      deployed.health,
      FUNCTIONS.health.handler,
      lambdaEnv(FUNCTIONS.health.handler, contractEnv(FUNCTIONS.health)),
      httpApiEvent({ method: "GET", path: "/health" }),
    );
    expect(run.error).toBeUndefined();
    expect(run.result?.statusCode).toBe(200);
    expect(JSON.parse(String(run.result?.body))).toMatchObject({ status: "ok" });
  });

  test("traced as in Lambda: the health package sends X-Ray subsegments of its DynamoDB and SQS calls to the daemon", async () => {
    const daemon = createSocket("udp4");
    const segments: Array<{ name?: string; namespace?: string; trace_id?: string }> = [];
    daemon.on("message", (packet) => segments.push(JSON.parse(packet.toString("utf8").split("\n")[1] ?? "{}")));
    await new Promise<void>((resolve) => daemon.bind(0, "127.0.0.1", resolve));
    const traceId = "1-5f84c7a3-0123456789abcdef01234567";
    try {
      const { [ENV.tracingEnabled]: _off, ...env } = lambdaEnv(FUNCTIONS.health.handler, contractEnv(FUNCTIONS.health));
      const run = await invokePackage<APIGatewayProxyStructuredResultV2>(
        deployed.health,
        FUNCTIONS.health.handler,
        {
          ...env,
          LAMBDA_TASK_ROOT: "/var/task",
          AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
          AWS_LAMBDA_FUNCTION_NAME: FUNCTIONS.health.handler,
          AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
          AWS_XRAY_CONTEXT_MISSING: "LOG_ERROR",
          _X_AMZN_TRACE_ID: `Root=${traceId};Parent=0123456789abcdef;Sampled=1`,
        },
        httpApiEvent({ method: "GET", path: "/health" }),
        { settleMs: 100 },
      );
      expect(run.result?.statusCode).toBe(200);
      const aws = segments.filter((s) => s.namespace === "aws" && s.trace_id === traceId).map((s) => s.name);
      expect(aws.sort()).toEqual(["DynamoDB", "SQS"]);
    } finally {
      daemon.close();
    }
  });

  test("the sweeper's package reads the pending index and reports", async () => {
    const run = await invokePackage<{ pending: number; failed: number }>(
      deployed.sweeper,
      FUNCTIONS.sweeper.handler,
      lambdaEnv(FUNCTIONS.sweeper.handler, contractEnv(FUNCTIONS.sweeper)),
      {},
    );
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ failed: 0 });
    expect(run.result?.pending).toBeGreaterThanOrEqual(0);
  });
});
