/**
 * The migrator handler against a real MariaDB. Secrets Manager has no emulator among the test
 * servers, so only its client is mocked (aws-sdk-client-mock).
 */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import mysql from "mysql2/promise";
import { handler } from "../../lambdas/ledger-migrator";
import { MIGRATIONS_HASH } from "../../lambdas/shared/ledger/migrate";
import { applyEnv } from "../../src/local/emulators";
import { fakeContext } from "../../src/local/lambda-events";
import { type MariaDb, startMariaDb } from "../../src/local/mariadb";

const SECRET_ARN = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:payment-processing/aurora-master-test-AbCdEf";

let server: MariaDb;
let restoreEnv: () => void;
// The handler is imported (not isolated), so that this mock replaces its client.
const secrets = mockClient(SecretsManagerClient);
const migrator = (event: unknown) => handler(event, fakeContext("ledger-migrator"));

beforeAll(async () => {
  server = await startMariaDb();
  restoreEnv = applyEnv({
    AWS_REGION: "ap-southeast-1",
    POWERTOOLS_LOG_LEVEL: "SILENT",
    POWERTOOLS_METRICS_DISABLED: "true",
    DB_WRITER_ENDPOINT: server.host,
    DB_PORT: String(server.port),
    DB_NAME: "payments_migrator_test",
    DB_MASTER_SECRET_ARN: SECRET_ARN,
    DB_MASTER_USERNAME: server.rootUser,
    DB_AUTH_MODE: "password",
    DB_PASSWORD: "app-password-for-the-test",
  });
});

afterAll(async () => {
  restoreEnv?.();
  secrets.restore();
  await server?.stop();
});

beforeEach(() => {
  secrets.reset();
  secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: JSON.stringify({ password: server.rootPassword }) });
});

test("applies the migrations from empty, then a re-run applies nothing; the app user can only read and insert", async () => {
  const first = await migrator({ fingerprint: MIGRATIONS_HASH });
  expect(first.applied.length).toBeGreaterThan(0);
  expect(first.hash).toBe(MIGRATIONS_HASH);
  const again = await migrator({ fingerprint: MIGRATIONS_HASH });
  expect(again.applied).toEqual([]);
  expect(again.executed).toEqual(first.executed);
  expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([SECRET_ARN, SECRET_ARN]);

  const app = await mysql.createConnection({
    host: server.host,
    port: server.port,
    user: "payments_app",
    password: "app-password-for-the-test",
    database: "payments_migrator_test",
  });
  try {
    await app.query("SELECT COUNT(*) FROM journal_entries");
    await expect(app.query("DELETE FROM journal_entries")).rejects.toMatchObject({ code: "ER_TABLEACCESS_DENIED_ERROR" });
  } finally {
    await app.end();
  }
});

test("refuses to run when the synthesized fingerprint differs from the deployed migrations", async () => {
  await expect(migrator({ fingerprint: "0".repeat(64) })).rejects.toThrow(/differ from the synthesized fingerprint/);
  expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
});

test("a master secret without a password fails the invocation (and so the deploy)", async () => {
  secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: "admin" }) });
  await expect(migrator({ fingerprint: MIGRATIONS_HASH })).rejects.toThrow(/not JSON with a password/);
});
