/**
 * Configuration from environment variables, read once per container. Every accessor throws a
 * ConfigError naming the variable, so a misconfigured function fails with a clear message.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value.trim() === "") {
    throw new ConfigError(`Missing environment variable ${name}`);
  }
  return value.trim();
}

export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

export function intEnv(name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) {
    throw new ConfigError(`Invalid environment variable ${name}: expected an integer, got "${raw}"`);
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`Invalid environment variable ${name}: ${raw} is outside ${min}..${max}`);
  }
  return value;
}

/** Memoises a config loader: the environment is read on first use and then never again. */
export function once<T>(load: () => T): () => T {
  let value: T | undefined;
  let loaded = false;
  return () => {
    if (!loaded) {
      value = load();
      loaded = true;
    }
    return value as T;
  };
}

/** ISO 4217 shape; the allow-list decides which codes are actually accepted. */
const ISO_4217 = /^[A-Z]{3}$/;

/** The accepted currencies: required, since the deployment config is the one list of them. */
export function currenciesEnv(name: string): string[] {
  const list = requireEnv(name)
    .split(",")
    .map((c) => c.trim().toUpperCase())
    .filter((c) => c.length > 0);
  if (list.length === 0) throw new ConfigError(`Invalid environment variable ${name}: empty list`);
  for (const c of list) {
    if (!ISO_4217.test(c)) throw new ConfigError(`Invalid environment variable ${name}: "${c}" is not an ISO 4217 code`);
  }
  return list;
}
