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

export function listEnv(name: string, fallback: readonly string[]): string[] {
  const raw = optionalEnv(name);
  if (raw === undefined) return [...fallback];
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new ConfigError(`Invalid environment variable ${name}: empty list`);
  return items;
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

export const DEFAULT_CURRENCIES = [
  "SGD", "AUD", "USD", "EUR", "GBP", "JPY", "NZD", "HKD", "CAD", "CHF", "CNY", "INR", "MYR", "THB", "IDR", "PHP", "KRW",
] as const;

/** ISO 4217 shape; the allow-list decides which codes are actually accepted. */
const ISO_4217 = /^[A-Z]{3}$/;

export function currenciesEnv(name = "ALLOWED_CURRENCIES"): string[] {
  const list = listEnv(name, DEFAULT_CURRENCIES).map((c) => c.toUpperCase());
  for (const c of list) {
    if (!ISO_4217.test(c)) throw new ConfigError(`Invalid environment variable ${name}: "${c}" is not an ISO 4217 code`);
  }
  return list;
}
