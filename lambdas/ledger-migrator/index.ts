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
import * as z from "zod/mini";
import { ENV } from "../../src/contracts/functions";
import { LEDGER_USERS } from "../../src/contracts/ledger";
import { ConfigError, intEnv, once, requireEnv } from "../shared/env";
import { ledgerConnection } from "../shared/ledger";
import { MIGRATIONS_HASH, migrate } from "../shared/ledger/migrate";
import { passwordTls } from "../shared/ledger-config";
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
    // In AWS: TLS to Aurora and an IAM-authenticated app user. Locally (tests): a password, TLS when asked for.
    aws: mode === "iam",
    tls: mode === "iam" || passwordTls(),
  };
});

const secrets = once(() => tracer.captureAWSv3Client(new SecretsManagerClient({ maxAttempts: 3 })));

/** The master secret: JSON with `password` (and optionally `username`). */
const nonEmpty = () => z.string().check(z.minLength(1));
const masterSecret = z.object({ password: nonEmpty(), username: z.optional(nonEmpty()) });
type MasterSecret = z.infer<typeof masterSecret>;

/**
 * The master credentials from the secret's text. A failure names the secret and where it is
 * wrong, never what it holds: JSON.parse's own message quotes the text (and so would reach
 * CloudWatch and Terraform's invocation error), and zod's issues are reduced to field names.
 */
function masterCredentials(secretArn: string, secretString: string | undefined): MasterSecret {
  if (secretString === undefined) throw new Error(`The master secret ${secretArn} has no SecretString (a binary secret?)`);
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    throw new Error(`The master secret ${secretArn} is not valid JSON (syntax error at position ${jsonErrorPosition(secretString)})`);
  }
  const parsed = masterSecret.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "(the whole secret)"))];
    throw new Error(
      `The master secret ${secretArn} is not JSON with a password (an object with a non-empty string "password" and optionally "username"): wrong or missing: ${fields.join(", ")}`,
    );
  }
  return parsed.data;
}

/** V8's messages that carry a position end with it; those that quote the input do not. */
const POSITION_AT_END = /JSON at position (\d+)$/;

/**
 * The position of the first character at which `text` stops being the start of valid JSON: the
 * longest prefix that JSON.parse accepts or finds merely unfinished (prefixes of valid JSON are
 * closed under shortening, so a binary search finds it). Reads only positions from the parser.
 */
function jsonErrorPosition(text: string): number {
  const couldContinue = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : "";
      if (message === "Unexpected end of JSON input") return true;
      const at = POSITION_AT_END.exec(message);
      return at !== null && Number(at[1]) >= length;
    }
  };
  let [low, high] = [0, text.length];
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (couldContinue(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

const invocation = z.looseObject({ fingerprint: z.optional(z.string()) });

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
  const master = masterCredentials(cfg.secretArn, out.SecretString);
  // The password goes to the connection's handshake only: no statement and no message holds it.
  const connection = ledgerConnection({
    host: cfg.host,
    port: cfg.port,
    user: master.username ?? cfg.masterUsername,
    tls: cfg.tls,
    auth: { kind: "password", password: master.password },
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
