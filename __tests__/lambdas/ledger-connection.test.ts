import { classifyError, LedgerConstraintError, LedgerError, LedgerUnavailableError, ledgerConnection } from "../../lambdas/shared/ledger";
import { connectionOptions } from "../../lambdas/shared/ledger/connection";

const AWS = { host: "ledger.cluster-abc.ap-southeast-1.rds.amazonaws.com", port: 3306, database: "ledger", user: "ledger_app" };

describe("ledger connection options", () => {
  const saved = { ...process.env };
  beforeAll(() => {
    // The signer signs locally; these never leave the process.
    process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
    process.env.AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  });
  afterAll(() => {
    process.env = saved;
  });

  test("IAM: a fresh RDS auth token as the password, sent in clear text over verified TLS with the RDS CA", async () => {
    const options = await connectionOptions({ ...AWS, auth: { kind: "iam", regions: ["ap-southeast-1", "ap-southeast-2"] }, tls: true });
    expect(options.password).toMatch(
      /^ledger\.cluster-abc\.ap-southeast-1\.rds\.amazonaws\.com:3306\/\?Action=connect&DBUser=ledger_app&.*X-Amz-Signature=[0-9a-f]{64}/,
    );
    expect(options.password).toContain("X-Amz-Expires=900");
    expect(options.enableCleartextPlugin).toBe(true);
    const ssl = options.ssl as { ca: string[]; rejectUnauthorized: boolean; verifyIdentity: boolean };
    expect(ssl.ca.length).toBeGreaterThan(10);
    expect(ssl.ca.every((pem) => pem.includes("BEGIN CERTIFICATE"))).toBe(true);
    expect(ssl).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
    expect(options).toMatchObject({ connectTimeout: 3000, multipleStatements: true, database: "ledger" });
  });

  test("IAM: the token is signed for the region asked for (the writer's region after a failover)", async () => {
    const config = { ...AWS, auth: { kind: "iam" as const, regions: ["ap-southeast-1", "ap-southeast-2"] }, tls: true };
    expect((await connectionOptions(config)).password).toContain("%2Fap-southeast-1%2Frds-db%2Faws4_request");
    expect((await connectionOptions(config, "ap-southeast-2")).password).toContain("%2Fap-southeast-2%2Frds-db%2Faws4_request");
  });

  test("IAM without TLS is refused as a configuration error (the token would travel in clear text)", async () => {
    const conn = ledgerConnection({ ...AWS, auth: { kind: "iam", regions: ["ap-southeast-1", "ap-southeast-2"] }, tls: false });
    const error = await conn.session((sql) => sql.query("SELECT 1")).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).not.toBeInstanceOf(LedgerUnavailableError);
    expect(conn.stats.connects).toBe(0);
  });

  test("password: no TLS locally, the RDS CA when asked", async () => {
    const local = await connectionOptions({ ...AWS, host: "127.0.0.1", auth: { kind: "password", password: "pw" }, tls: false });
    expect(local).toMatchObject({ password: "pw" });
    expect(local.ssl).toBeUndefined();
    expect(local.enableCleartextPlugin).toBeUndefined();
    const remote = await connectionOptions({ ...AWS, auth: { kind: "password", password: "pw" }, tls: true });
    expect(remote.ssl).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true });
  });
});

describe("ledger error classes", () => {
  const server = (errno: number, code = "ER_X") =>
    Object.assign(new Error(`server error ${errno}`), { errno, code, sqlMessage: `message ${errno}` });

  test.each([
    [1290, "read-only (--read-only, Aurora reader)"],
    [1836, "read-only mode"],
    [1792, "read-only transaction"],
    [1213, "deadlock"],
    [1205, "lock wait timeout"],
    [1062, "duplicate key race"],
    [1045, "access denied"],
    [1142, "missing privilege"],
    [1146, "table not migrated yet"],
    [1053, "server shutting down"],
  ])("errno %i (%s) is retryable", (errno) => {
    const e = classifyError(server(errno), "posting");
    expect(e).toBeInstanceOf(LedgerUnavailableError);
    expect(e).toMatchObject({ retryable: true, errno });
    expect(e.message).toMatch(/^posting: /);
  });

  test.each(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT"])(
    "%s is retryable",
    (code) => {
      expect(classifyError(Object.assign(new Error(code), { code }), "x")).toBeInstanceOf(LedgerUnavailableError);
    },
  );

  test("any fatal driver error is retryable", () => {
    expect(classifyError(Object.assign(new Error("boom"), { fatal: true, code: "SOMETHING_NEW" }), "x")).toBeInstanceOf(
      LedgerUnavailableError,
    );
  });

  test.each([3819, 4025, 1452, 1406])("errno %i (the rows were refused) is a constraint error, not retryable", (errno) => {
    const e = classifyError(server(errno), "x");
    expect(e).toBeInstanceOf(LedgerConstraintError);
    expect(e.retryable).toBe(false);
  });

  test("anything else is a plain LedgerError, and ledger errors pass through unchanged", () => {
    const e = classifyError(server(1064, "ER_PARSE_ERROR"), "x");
    expect(e.constructor).toBe(LedgerError);
    expect(e.retryable).toBe(false);
    expect(classifyError(e, "y")).toBe(e);
  });
});
