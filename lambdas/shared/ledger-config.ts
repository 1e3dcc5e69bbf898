/**
 * The ledger connection as the function's environment describes it (src/contracts/functions.ts):
 * in AWS the global writer endpoint, TLS and IAM tokens; in the local runtime a password.
 */
import { ENV } from "../../src/contracts/functions";
import { ConfigError, intEnv, optionalEnv, requireEnv } from "./env";
import type { LedgerConfig } from "./ledger";

/** @param endpoint the variable naming the host: the writer (default) or the region's reader endpoint */
export function ledgerConfigFromEnv(endpoint: string = ENV.dbWriterEndpoint): LedgerConfig {
  const base = {
    host: requireEnv(endpoint),
    port: intEnv(ENV.dbPort, 3306, 1, 65_535),
    database: requireEnv(ENV.dbName),
    user: requireEnv(ENV.dbUser),
  };
  const mode = requireEnv(ENV.dbAuthMode);
  if (mode === "iam") {
    // Default: the function's own region (a reader endpoint is always in it).
    const regions = (optionalEnv(ENV.dbIamRegions) ?? optionalEnv("AWS_REGION") ?? "").split(",").filter((r) => r !== "");
    if (regions.length === 0) throw new ConfigError(`Missing environment variable ${ENV.dbIamRegions}`);
    return { ...base, tls: true, auth: { kind: "iam", regions } };
  }
  if (mode === "password") return { ...base, tls: passwordTls(), auth: { kind: "password", password: requireEnv(ENV.dbPassword) } };
  throw new ConfigError(`Invalid environment variable ${ENV.dbAuthMode}: "${mode}" (expected iam or password)`);
}

/** TLS with a password (IAM always has it): only when asked for. */
export function passwordTls(): boolean {
  const value = optionalEnv(ENV.dbTls) ?? "false";
  if (value !== "true" && value !== "false")
    throw new ConfigError(`Invalid environment variable ${ENV.dbTls}: "${value}" (expected true or false)`);
  return value === "true";
}
