/**
 * ledger-migrator: invoked by Terraform at deploy (aws_lambda_invocation, re-run when the set of
 * migrations changes). Reads the Aurora master password from Secrets Manager (the only function
 * allowed to), connects to the global writer over TLS, applies pending migrations with umzug
 * under a named lock, and (re)creates the application's database users for IAM authentication
 * (the processor's: SELECT and INSERT; the balance reader's: SELECT).
 * Idempotent: a re-run applies nothing and changes nothing. A failure fails the deploy.
 */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { ENV } from "../../src/contracts/functions";
import { LEDGER_USERS } from "../../src/contracts/ledger";
import { ConfigError, intEnv, once, requireEnv } from "../shared/env";
import { ledgerConnection } from "../shared/ledger";
import { MIGRATIONS_HASH, migrate } from "../shared/ledger/migrate";
import { instrumented, logger, tracer } from "../shared/runtime";

const config = once(() => {
  const mode = requireEnv(ENV.dbAuthMode);
  if (mode !== "iam" && mode !== "password") throw new ConfigError(`Invalid environment variable ${ENV.dbAuthMode}: "${mode}"`);
  return {
    host: requireEnv(ENV.dbWriterEndpoint),
    port: intEnv(ENV.dbPort, 3306, 1, 65_535),
    database: requireEnv(ENV.dbName),
    secretArn: requireEnv(ENV.dbMasterSecretArn),
    masterUsername: requireEnv(ENV.dbMasterUsername),
    // In AWS: TLS to Aurora and an IAM-authenticated app user. Locally (tests): no TLS, a password.
    aws: mode === "iam",
  };
});

const secrets = once(() => tracer.captureAWSv3Client(new SecretsManagerClient({ maxAttempts: 3 })));

/** The master secret: JSON with `password` (and optionally `username`). */
const masterSecret = z.object({ password: z.string().min(1), username: z.string().min(1).optional() });

const invocation = z.object({ fingerprint: z.string().optional() }).passthrough();

export interface MigratorResult {
  applied: string[];
  executed: string[];
  hash: string;
}

export const handler = instrumented(async (event: unknown, _context: Context): Promise<MigratorResult> => {
  const cfg = config();
  const { fingerprint } = invocation.parse(event ?? {});
  if (fingerprint !== undefined && fingerprint !== MIGRATIONS_HASH) {
    // Terraform passes the fingerprint it synthesized: a mismatch means code and deploy disagree.
    throw new Error(`Deployed migrations ${MIGRATIONS_HASH} differ from the synthesized fingerprint ${fingerprint}`);
  }
  const out = await secrets().send(new GetSecretValueCommand({ SecretId: cfg.secretArn }));
  const parsed = masterSecret.safeParse(JSON.parse(out.SecretString ?? "{}"));
  if (!parsed.success) throw new Error("The master secret is not JSON with a password");
  const connection = ledgerConnection({
    host: cfg.host,
    port: cfg.port,
    user: parsed.data.username ?? cfg.masterUsername,
    tls: cfg.aws,
    auth: { kind: "password", password: parsed.data.password },
  });
  try {
    const auth = cfg.aws ? ({ kind: "iam" } as const) : ({ kind: "password", password: requireEnv(ENV.dbPassword) } as const);
    const result = await migrate(connection, {
      database: cfg.database,
      appUser: { name: LEDGER_USERS.writer, auth },
      readUser: { name: LEDGER_USERS.reader, auth },
      log: (message, details) => logger.info(message, details ?? {}),
    });
    logger.info("ledger migrated", { applied: result.applied, executed: result.executed.length, hash: result.hash });
    return result;
  } finally {
    await connection.close();
  }
});
