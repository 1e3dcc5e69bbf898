/**
 * The migrator handler against a real MariaDB. Secrets Manager has no emulator among the test
 * servers, so only its client is mocked (aws-sdk-client-mock).
 */
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import mysql from "mysql2/promise";
import { handler } from "../../lambdas/ledger-migrator";
import { MIGRATIONS_HASH } from "../../lambdas/shared/ledger/migrate";
import { logger } from "../../lambdas/shared/runtime";
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

/**
 * Runs the migrator with its logger at DEBUG and every write to stdout, stderr and the console
 * captured: `outcome` is all there is of the result or the error (message, stack, cause and own
 * properties), `output` all that was printed.
 */
async function migrateCapturing(): Promise<{ failed: boolean; outcome: string; output: string }> {
  const written: string[] = [];
  const capture = ((chunk: string | Uint8Array) => {
    written.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  const spies = [
    jest.spyOn(process.stdout, "write").mockImplementation(capture),
    jest.spyOn(process.stderr, "write").mockImplementation(capture),
    ...(["log", "info", "warn", "error", "debug"] as const).map((method) =>
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        written.push(args.map((a) => inspect(a, { depth: 10 })).join(" "));
      }),
    ),
  ];
  logger.setLogLevel("DEBUG");
  try {
    const result = await migrator({ fingerprint: MIGRATIONS_HASH });
    return { failed: false, outcome: `${inspect(result, { depth: 10 })} ${JSON.stringify(result)}`, output: written.join("") };
  } catch (err) {
    const e = err as Error;
    return {
      failed: true,
      outcome: `${inspect(e, { depth: 10, showHidden: true })} ${e.message} ${e.stack} ${JSON.stringify(e)}`,
      output: written.join(""),
    };
  } finally {
    logger.setLogLevel("SILENT");
    for (const spy of spies) spy.mockRestore();
  }
}

describe("no secret material in an error, a log line or the result", () => {
  const password = `pw-${randomUUID()}`;
  const nowhere = (run: { outcome: string; output: string }, secret: string) => {
    // The whole text, and the password's ends: a parser's message quotes 10 characters of a long text.
    for (const text of [secret, password, password.slice(0, 8), password.slice(-8)]) {
      expect(run.outcome).not.toContain(text);
      expect(run.output).not.toContain(text);
    }
  };

  test.each([
    ["not JSON at all", password, 0],
    ["an unquoted password", `{"password": ${password}}`, 13],
    ["an unterminated object", `{"password":"${password}"`, 14 + password.length],
    ["text after the object", `{"password":"${password}"} ${password}`, 16 + password.length],
  ])("a master secret that is %s: the error names the secret and the position only", async (_name, secret, position) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secret });
    const run = await migrateCapturing();
    expect(run.failed).toBe(true);
    expect(run.outcome).toContain(`The master secret ${SECRET_ARN} is not valid JSON (syntax error at position ${position})`);
    nowhere(run, secret);
  });

  test.each([
    ["no password (other keys hold the text)", JSON.stringify({ username: "admin", passwd: password }), "password"],
    ["a password that is not a string", `{"password": ["${password}"], "username": "${password}x"}`, "password"],
    ["a string instead of an object", JSON.stringify(password), "(the whole secret)"],
  ])("a JSON master secret with %s: the error names the secret and the field only", async (_name, secret, field) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secret });
    const run = await migrateCapturing();
    expect(run.failed).toBe(true);
    expect(run.outcome).toContain(`The master secret ${SECRET_ARN} is not JSON with a password`);
    expect(run.outcome).toContain(`wrong or missing: ${field}`);
    nowhere(run, secret);
  });

  test("a password the database refuses: access denied, without the password", async () => {
    const secret = JSON.stringify({ password });
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secret });
    const run = await migrateCapturing();
    expect(run.failed).toBe(true);
    expect(run.outcome).toMatch(/Access denied for user/);
    nowhere(run, secret);
  });

  test("a successful run logs (so the capture sees the logs) and shows the password nowhere", async () => {
    const run = await migrateCapturing();
    expect(run.failed).toBe(false);
    expect(run.output).toContain("ledger migrated");
    for (const text of [server.rootPassword, JSON.stringify({ password: server.rootPassword })]) {
      expect(run.outcome).not.toContain(text);
      expect(run.output).not.toContain(text);
    }
  });
});
