/**
 * The deployment configuration: one typed, frozen object, validated once at the edge.
 *
 * Sources, later wins: defaults < `cdktf.json` "context" < environment variables.
 * A bad value fails synth with one message naming the setting, the value and the allowed form.
 */

import { AURORA_MAX_CONNECTIONS, CONNECTIONS_PER_CONTAINER, MIGRATOR_CONNECTIONS } from "./ledger";
import { KNOWN_REGIONS, REGION_ZONE_IDS, ZONE_COUNT } from "./regions";

export type RegionRole = "primary" | "dr";
export const REGION_ROLES: readonly RegionRole[] = ["primary", "dr"];

export interface DeploymentConfig {
  readonly environmentSuffix: string;
  readonly primaryRegion: string;
  readonly drRegion: string;
  readonly primaryVpcCidr: string;
  readonly drVpcCidr: string;
  /** Availability-zone ids of the primary region's subnets (three, distinct). */
  readonly primaryZoneIds: readonly string[];
  readonly drZoneIds: readonly string[];
  readonly stateBucket: string;
  readonly stateBucketRegion: string;
  readonly stateKeyPrefix: string;
  readonly costCenter: string;
  readonly domainName?: string;
  readonly hostedZoneId?: string;
  readonly primaryCertificateArn?: string;
  readonly drCertificateArn?: string;
  readonly alarmEmail?: string;
  /** Name or ARN of an existing Secrets Manager secret holding the Aurora master credentials. */
  readonly dbSecretId: string;
  readonly dbMasterUsername: string;
  /** Bump to push a rotated secret value into the cluster (write-only argument version). */
  readonly dbPasswordVersion: number;
  readonly dbInstanceClass: string;
  readonly primaryDbInstanceCount: number;
  readonly drDbInstanceCount: number;
  readonly auroraEngineVersion: string;
  readonly lambdaMemoryMb: number;
  readonly lambdaReservedConcurrency: number;
  /** Most processor invocations at once: each holds one connection to the Aurora writer. */
  readonly processorMaxConcurrency: number;
  /** Most balance reads at once: each holds one connection to the region's reader endpoint. */
  readonly balancesMaxConcurrency: number;
  readonly logRetentionDays: number;
  readonly maxPaymentAmountMinor: number;
  readonly riskLimitMinor: number;
  readonly allowedCurrencies: readonly string[];
  readonly corsAllowOrigin?: string;
  readonly apiThrottleRateLimit: number;
  readonly apiThrottleBurstLimit: number;
  readonly replicationLagThresholdSeconds: number;
  readonly wafRateLimitPer5Minutes: number;
  readonly wafRateLimitPerMerchantPer5Minutes: number;
  readonly authCacheTtlSeconds: number;
  /** A payment its own region accepted and left RECEIVED this long is re-enqueued by that region's sweeper. */
  readonly sweeperAgeSeconds: number;
  /** A payment the other region accepted and left RECEIVED this long is adopted by this region's sweeper. */
  readonly sweeperAdoptAgeSeconds: number;
  readonly sweeperMaxPerRun: number;
  readonly sweeperPendingAlarmThreshold: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Logs retention values CloudWatch accepts. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

type Raw = Record<string, unknown>;

interface Setting {
  /** Key in DeploymentConfig and in cdktf.json context. */
  readonly key: keyof DeploymentConfig;
  readonly env: string;
  readonly description: string;
  /** Default, possibly derived from settings already resolved. */
  readonly fallback?: (resolved: Partial<Record<keyof DeploymentConfig, unknown>>) => unknown;
  /** Human-readable allowed form, used in error messages and the README table. */
  readonly form: string;
  readonly parse: (value: string) => unknown | undefined;
}

/** The region's first known zones, or all it has when that is fewer (refused by checkRelations). */
const defaultZones = (region: unknown) => (REGION_ZONE_IDS[String(region)] ?? []).slice(0, ZONE_COUNT);
const zoneList = (v: string) => (/^[a-z0-9]+-az\d+(,[a-z0-9]+-az\d+)*$/.test(v) ? v.split(",") : undefined);
const pattern = (re: RegExp) => (v: string) => (re.test(v) ? v : undefined);
const region = (v: string) => (KNOWN_REGIONS.includes(v) ? v : undefined);
const intIn = (min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
};

const ARN = {
  acm: /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/,
  secret: /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
};

export const SETTINGS: readonly Setting[] = [
  {
    key: "environmentSuffix",
    env: "ENVIRONMENT_SUFFIX",
    description: "Suffix on every resource name",
    fallback: () => "dev",
    form: "3-10 characters of a-z, 0-9 and -",
    parse: pattern(/^[a-z0-9-]{3,10}$/),
  },
  {
    key: "primaryRegion",
    env: "PRIMARY_REGION",
    description: "Region serving traffic",
    fallback: () => "ap-southeast-1",
    form: "a known AWS region such as ap-southeast-1",
    parse: region,
  },
  {
    key: "drRegion",
    env: "DR_REGION",
    description: "Warm-standby region",
    fallback: () => "ap-southeast-2",
    form: "a known AWS region such as ap-southeast-2, not the primary region",
    parse: region,
  },
  {
    key: "primaryVpcCidr",
    env: "PRIMARY_VPC_CIDR",
    description: "Primary VPC CIDR",
    fallback: () => "10.0.0.0/16",
    form: "an IPv4 CIDR from /16 to /22 such as 10.0.0.0/16",
    parse: parseCidr,
  },
  {
    key: "drVpcCidr",
    env: "DR_VPC_CIDR",
    description: "DR VPC CIDR (must not overlap the primary)",
    fallback: () => "10.1.0.0/16",
    form: "an IPv4 CIDR from /16 to /22 such as 10.1.0.0/16",
    parse: parseCidr,
  },
  {
    key: "primaryZoneIds",
    env: "PRIMARY_ZONE_IDS",
    description: "Availability-zone ids of the primary subnets (the same zones in every account)",
    fallback: (r) => defaultZones(r.primaryRegion),
    form: `${ZONE_COUNT} distinct zone ids of the primary region, comma-separated, such as apse1-az1,apse1-az2,apse1-az3`,
    parse: zoneList,
  },
  {
    key: "drZoneIds",
    env: "DR_ZONE_IDS",
    description: "Availability-zone ids of the DR subnets",
    fallback: (r) => defaultZones(r.drRegion),
    form: `${ZONE_COUNT} distinct zone ids of the DR region, comma-separated, such as apse2-az1,apse2-az2,apse2-az3`,
    parse: zoneList,
  },
  {
    key: "stateBucket",
    env: "STATE_BUCKET",
    description: "S3 bucket holding Terraform state",
    fallback: (r) => `payment-processing-tfstate-${r.environmentSuffix}`,
    form: "an S3 bucket name (3-63 characters of a-z, 0-9, . and -)",
    parse: pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
  },
  {
    key: "stateBucketRegion",
    env: "STATE_BUCKET_REGION",
    description: "Region of the state bucket; defaults to the DR region so the DR side stays changeable while the primary region is down",
    fallback: (r) => r.drRegion,
    form: "a known AWS region",
    parse: region,
  },
  {
    key: "stateKeyPrefix",
    env: "STATE_KEY_PREFIX",
    description: "Prefix of the state object keys (one key per stack)",
    fallback: (r) => `payment-processing/${r.environmentSuffix}`,
    form: "a path of a-z, 0-9, -, _ and /, not starting or ending with /",
    parse: pattern(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/),
  },
  {
    key: "costCenter",
    env: "COST_CENTER",
    description: "CostCenter tag",
    fallback: () => "payments-platform",
    form: "1-64 characters of letters, digits, space and _.:/=+-@",
    parse: pattern(/^[A-Za-z0-9 _.:/=+\-@]{1,64}$/),
  },
  {
    key: "domainName",
    env: "DOMAIN_NAME",
    description: "API domain for Route53 failover records (optional, needs hostedZoneId)",
    form: "a DNS name such as api.example.com",
    parse: pattern(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/),
  },
  {
    key: "hostedZoneId",
    env: "HOSTED_ZONE_ID",
    description: "Route53 hosted zone of domainName (optional, needs domainName)",
    form: "a Route53 zone id such as Z0123456789ABCDEFGHIJ",
    parse: pattern(/^Z[A-Z0-9]{1,31}$/),
  },
  {
    key: "primaryCertificateArn",
    env: "PRIMARY_CERTIFICATE_ARN",
    description: "ACM certificate for the primary ALB (optional: HTTPS listener)",
    form: "an ACM certificate ARN in the primary region",
    parse: pattern(ARN.acm),
  },
  {
    key: "drCertificateArn",
    env: "DR_CERTIFICATE_ARN",
    description: "ACM certificate for the DR ALB (optional: HTTPS listener)",
    form: "an ACM certificate ARN in the DR region",
    parse: pattern(ARN.acm),
  },
  {
    key: "alarmEmail",
    env: "ALARM_EMAIL",
    description: "E-mail subscribed to the alert topics (optional)",
    form: "an e-mail address",
    parse: pattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/),
  },
  {
    key: "dbSecretId",
    env: "DB_SECRET_ID",
    description: "Existing Secrets Manager secret (name or ARN) with the Aurora master `username` and `password`",
    fallback: (r) => `payment-processing/aurora-master-${r.environmentSuffix}`,
    form: "a secret name (letters, digits, /_+=.@-) or a Secrets Manager secret ARN",
    parse: (v) => (v.startsWith("arn:") ? pattern(ARN.secret)(v) : pattern(/^[A-Za-z0-9/_+=.@-]{1,512}$/)(v)),
  },
  {
    key: "dbMasterUsername",
    env: "DB_MASTER_USERNAME",
    description: "Aurora master user name (the password comes only from the secret)",
    fallback: () => "payadmin",
    form: "1-16 characters, a letter then letters, digits or _",
    parse: pattern(/^[A-Za-z][A-Za-z0-9_]{0,15}$/),
  },
  {
    key: "dbPasswordVersion",
    env: "DB_PASSWORD_VERSION",
    description: "Version of the write-only master password; increase it after rotating the secret",
    fallback: () => 1,
    form: "an integer from 1 to 1000000",
    parse: intIn(1, 1_000_000),
  },
  {
    key: "dbInstanceClass",
    env: "DB_INSTANCE_CLASS",
    description: "Aurora instance class",
    fallback: () => "db.t4g.medium",
    form: "an RDS instance class such as db.r6g.large",
    parse: pattern(/^db\.[a-z0-9]+\.[a-z0-9]+$/),
  },
  {
    key: "primaryDbInstanceCount",
    env: "PRIMARY_DB_INSTANCE_COUNT",
    description: "Aurora instances in the primary cluster (writer + readers)",
    fallback: () => 2,
    form: "an integer from 1 to 15",
    parse: intIn(1, 15),
  },
  {
    key: "drDbInstanceCount",
    env: "DR_DB_INSTANCE_COUNT",
    description: "Aurora instances in the DR secondary cluster",
    fallback: () => 1,
    form: "an integer from 1 to 15",
    parse: intIn(1, 15),
  },
  {
    key: "auroraEngineVersion",
    env: "AURORA_ENGINE_VERSION",
    description: "Aurora MySQL 3.x (MySQL 8.0) engine version",
    fallback: () => "8.0.mysql_aurora.3.08.2",
    form: "8.0.mysql_aurora.3.NN.N",
    parse: pattern(/^8\.0\.mysql_aurora\.3\.\d{2}\.\d+$/),
  },
  {
    key: "lambdaMemoryMb",
    env: "LAMBDA_MEMORY_MB",
    description: "Memory of each function",
    fallback: () => 512,
    form: "an integer from 128 to 10240",
    parse: intIn(128, 10240),
  },
  {
    key: "lambdaReservedConcurrency",
    env: "LAMBDA_RESERVED_CONCURRENCY",
    description: "Reserved concurrency of each function",
    fallback: () => 50,
    form: "an integer from 1 to 1000",
    parse: intIn(1, 1000),
  },
  {
    key: "processorMaxConcurrency",
    env: "PROCESSOR_MAX_CONCURRENCY",
    description:
      "Most transaction-processor invocations at once (SQS event source maximum concurrency and the function's reserved concurrency); each holds one Aurora connection, and together they must stay within half of the instance class's max_connections",
    fallback: () => 20,
    form: "an integer from 2 to 1000",
    parse: intIn(2, 1000),
  },
  {
    key: "balancesMaxConcurrency",
    env: "BALANCES_MAX_CONCURRENCY",
    description:
      "Most GET /balances invocations at once (the balances function's reserved concurrency); each holds one Aurora connection, counted in the same budget as the processor's",
    fallback: () => 5,
    form: "an integer from 1 to 1000",
    parse: intIn(1, 1000),
  },
  {
    key: "logRetentionDays",
    env: "LOG_RETENTION_DAYS",
    description: "CloudWatch Logs retention (PCI DSS 10.5.1 wants 365)",
    fallback: () => 365,
    form: `one of ${LOG_RETENTION_DAYS.join(", ")}`,
    parse: (v) => {
      const n = intIn(1, 3653)(v);
      return n !== undefined && LOG_RETENTION_DAYS.includes(n) ? n : undefined;
    },
  },
  {
    key: "maxPaymentAmountMinor",
    env: "MAX_PAYMENT_AMOUNT_MINOR",
    description: "Largest accepted amount, in minor units",
    fallback: () => 100_000_000,
    form: "an integer from 1 to 9007199254740991",
    parse: intIn(1, Number.MAX_SAFE_INTEGER),
  },
  {
    key: "riskLimitMinor",
    env: "RISK_LIMIT_MINOR",
    description: "Amounts above this are marked FAILED by the processor",
    fallback: () => 5_000_000,
    form: "an integer from 1 to 9007199254740991",
    parse: intIn(1, Number.MAX_SAFE_INTEGER),
  },
  {
    key: "allowedCurrencies",
    env: "ALLOWED_CURRENCIES",
    description: "ISO 4217 codes the API accepts",
    fallback: () => ["SGD", "AUD", "USD", "EUR", "GBP", "JPY", "HKD", "NZD", "MYR", "IDR", "THB", "PHP", "INR", "CNY"],
    form: "comma-separated three-letter upper-case codes such as SGD,AUD",
    parse: (v) => (/^[A-Z]{3}(,[A-Z]{3})*$/.test(v) ? v.split(",") : undefined),
  },
  {
    key: "corsAllowOrigin",
    env: "CORS_ALLOW_ORIGIN",
    description: "Origin allowed by CORS (optional)",
    form: "an https origin such as https://shop.example.com",
    parse: pattern(/^https:\/\/[a-z0-9.-]+(:\d{1,5})?$/),
  },
  {
    key: "apiThrottleRateLimit",
    env: "API_THROTTLE_RATE_LIMIT",
    description: "HTTP API default steady-state requests per second",
    fallback: () => 500,
    form: "an integer from 1 to 10000",
    parse: intIn(1, 10000),
  },
  {
    key: "apiThrottleBurstLimit",
    env: "API_THROTTLE_BURST_LIMIT",
    description: "HTTP API default burst",
    fallback: () => 1000,
    form: "an integer from 1 to 5000",
    parse: intIn(1, 5000),
  },
  {
    key: "wafRateLimitPer5Minutes",
    env: "WAF_RATE_LIMIT_PER_5_MINUTES",
    description: "Requests one IP may send to the ALB in 5 minutes before WAF blocks it",
    fallback: () => 2000,
    form: "an integer from 10 to 2000000000",
    parse: intIn(10, 2_000_000_000),
  },
  {
    key: "wafRateLimitPerMerchantPer5Minutes",
    env: "WAF_RATE_LIMIT_PER_MERCHANT_PER_5_MINUTES",
    description:
      "Requests one API key (the Authorization header) may send to the ALB in 5 minutes before WAF blocks it; the HTTP API cannot key a limit on a credential",
    fallback: () => 1500,
    form: "an integer from 10 to 2000000000",
    parse: intIn(10, 2_000_000_000),
  },
  {
    key: "authCacheTtlSeconds",
    env: "AUTH_CACHE_TTL_SECONDS",
    description:
      "How long the gateway keeps a verified or unknown API key in memory: a revoked key stops working within this time (plus about 1 s of replication in the other region)",
    fallback: () => 60,
    form: "an integer from 0 (no cache) to 900",
    parse: intIn(0, 900),
  },
  {
    key: "sweeperAgeSeconds",
    env: "SWEEPER_AGE_SECONDS",
    description:
      "Age after which a region's sweeper re-enqueues a payment that region accepted and that is still RECEIVED (the gateway's crash window between its write and its send); well above the gateway's 10 s timeout",
    fallback: () => 120,
    form: "an integer from 30 to 3600",
    parse: intIn(30, 3600),
  },
  {
    key: "sweeperAdoptAgeSeconds",
    env: "SWEEPER_ADOPT_AGE_SECONDS",
    description:
      "Age after which a region's sweeper adopts a payment the other region accepted and that is still RECEIVED (the other region is presumed lost); far above what a healthy region leaves pending and above the ~90 s DNS failover, so the regions do not race",
    fallback: () => 600,
    form: "an integer from 60 to 86400, at least sweeperAgeSeconds",
    parse: intIn(60, 86_400),
  },
  {
    key: "sweeperMaxPerRun",
    env: "SWEEPER_MAX_PER_RUN",
    description: "Most payments one sweeper run (every minute) re-enqueues, oldest first; the rest wait for the next run",
    fallback: () => 500,
    form: "an integer from 1 to 2000",
    parse: intIn(1, 2000),
  },
  {
    key: "sweeperPendingAlarmThreshold",
    env: "SWEEPER_PENDING_ALARM_THRESHOLD",
    description:
      "The payment-sweeper-pending alarm fires when more payments than this are still RECEIVED past sweeperAgeSeconds for 5 minutes in a row",
    fallback: () => 10,
    form: "an integer from 0 to 1000000",
    parse: intIn(0, 1_000_000),
  },
  {
    key: "replicationLagThresholdSeconds",
    env: "REPLICATION_LAG_THRESHOLD_SECONDS",
    description: "Aurora global replication lag alarm threshold",
    fallback: () => 5,
    form: "an integer from 1 to 3600",
    parse: intIn(1, 3600),
  },
];

/** The environment variable of a setting. */
export function settingEnv(key: keyof DeploymentConfig): string {
  const setting = SETTINGS.find((s) => s.key === key);
  if (!setting) throw new Error(`No setting ${key}`);
  return setting.env;
}

/**
 * Resolves and validates the configuration.
 * @param context values from cdktf.json "context" (and `--context`), keyed like DeploymentConfig
 * @param env environment variables, named as in SETTINGS
 */
export function loadConfig(context: Raw = {}, env: NodeJS.ProcessEnv = {}): DeploymentConfig {
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const key of Object.keys(context)) {
    if (!known.has(key)) {
      throw new ConfigError(`Unknown setting "${key}" in cdktf.json context. Known settings: ${[...known].join(", ")}.`);
    }
  }

  const resolved: Partial<Record<keyof DeploymentConfig, unknown>> = {};
  for (const setting of SETTINGS) {
    const fromEnv = env[setting.env];
    const fromContext = context[setting.key];
    let raw: string | undefined;
    let source: string;
    if (fromEnv !== undefined && fromEnv !== "") {
      raw = fromEnv;
      source = `environment variable ${setting.env}`;
    } else if (fromContext !== undefined && fromContext !== null && fromContext !== "") {
      raw = Array.isArray(fromContext) ? fromContext.join(",") : String(fromContext);
      source = `cdktf.json context "${setting.key}"`;
    } else {
      resolved[setting.key] = setting.fallback?.(resolved);
      continue;
    }
    const value = setting.parse(raw.trim());
    if (value === undefined) {
      throw new ConfigError(`Invalid ${setting.key} (${source}): "${raw}". Expected ${setting.form}.`);
    }
    resolved[setting.key] = value;
  }

  const config = resolved as unknown as DeploymentConfig;
  checkRelations(config);
  return Object.freeze({
    ...config,
    allowedCurrencies: Object.freeze([...config.allowedCurrencies]),
    primaryZoneIds: Object.freeze([...config.primaryZoneIds]),
    drZoneIds: Object.freeze([...config.drZoneIds]),
  });
}

function checkRelations(c: DeploymentConfig): void {
  if (c.primaryRegion === c.drRegion) {
    throw new ConfigError(`Invalid drRegion: "${c.drRegion}" is also the primaryRegion. Expected two different regions.`);
  }
  if (cidrsOverlap(c.primaryVpcCidr, c.drVpcCidr)) {
    throw new ConfigError(
      `Invalid drVpcCidr: "${c.drVpcCidr}" overlaps primaryVpcCidr "${c.primaryVpcCidr}". Expected non-overlapping ranges.`,
    );
  }
  if ((c.domainName === undefined) !== (c.hostedZoneId === undefined)) {
    throw new ConfigError(
      c.domainName
        ? `Invalid domainName: "${c.domainName}" is set without hostedZoneId. Expected both or neither.`
        : `Invalid hostedZoneId: "${c.hostedZoneId}" is set without domainName. Expected both or neither.`,
    );
  }
  if (c.domainName && !(c.primaryCertificateArn && c.drCertificateArn)) {
    throw new ConfigError(
      `Invalid domainName: "${c.domainName}" needs primaryCertificateArn and drCertificateArn. Expected both certificates, so that payment traffic behind the failover record is HTTPS only.`,
    );
  }
  for (const [key, arn, region] of [
    ["primaryCertificateArn", c.primaryCertificateArn, c.primaryRegion],
    ["drCertificateArn", c.drCertificateArn, c.drRegion],
  ] as const) {
    if (arn && arn.split(":")[3] !== region) {
      throw new ConfigError(`Invalid ${key}: "${arn}" is not in ${region}. Expected an ACM certificate ARN in ${region}.`);
    }
  }
  for (const [key, region, zones] of [
    ["primaryZoneIds", c.primaryRegion, c.primaryZoneIds],
    ["drZoneIds", c.drRegion, c.drZoneIds],
  ] as const) {
    checkZones(key, region, zones);
  }
  checkConnectionBudget(c);
  if (c.sweeperAdoptAgeSeconds < c.sweeperAgeSeconds) {
    throw new ConfigError(
      `Invalid sweeperAdoptAgeSeconds: ${c.sweeperAdoptAgeSeconds} is below sweeperAgeSeconds ${c.sweeperAgeSeconds}. Expected at least sweeperAgeSeconds: a region adopts the other region's payments only after it would re-enqueue its own.`,
    );
  }
  if (c.riskLimitMinor > c.maxPaymentAmountMinor) {
    throw new ConfigError(
      `Invalid riskLimitMinor: ${c.riskLimitMinor} is above maxPaymentAmountMinor ${c.maxPaymentAmountMinor}. Expected at most the maximum amount.`,
    );
  }
}

/**
 * The functions' connections to the Aurora writer stay within half of its max_connections, so
 * that a failover's reconnect storm, the migrator and operators still get in.
 */
function checkConnectionBudget(c: DeploymentConfig): void {
  const max = AURORA_MAX_CONNECTIONS[c.dbInstanceClass];
  if (max === undefined) {
    throw new ConfigError(
      `Invalid dbInstanceClass: "${c.dbInstanceClass}" has no known max_connections, so the connection budget of processorMaxConcurrency cannot be checked. Expected one of ${Object.keys(AURORA_MAX_CONNECTIONS).join(", ")}.`,
    );
  }
  // A one-instance cluster (the DR default) serves the writer and the reader endpoint from one instance.
  const needed = (c.processorMaxConcurrency + c.balancesMaxConcurrency) * CONNECTIONS_PER_CONTAINER + MIGRATOR_CONNECTIONS;
  if (needed > Math.floor(max / 2)) {
    const room = Math.floor(max / 2) - MIGRATOR_CONNECTIONS - c.balancesMaxConcurrency * CONNECTIONS_PER_CONTAINER;
    throw new ConfigError(
      `Invalid processorMaxConcurrency: ${c.processorMaxConcurrency} processor and ${c.balancesMaxConcurrency} balancesMaxConcurrency invocations (${CONNECTIONS_PER_CONTAINER} connection each) plus the migrator need ${needed} connections, over half of the ${max} max_connections of dbInstanceClass ${c.dbInstanceClass}. Expected processorMaxConcurrency of at most ${room} with these balancesMaxConcurrency, or a larger dbInstanceClass.`,
    );
  }
}

/** Three distinct zone ids that the region offers to every account. */
function checkZones(key: string, region: string, zones: readonly string[]): void {
  const known = REGION_ZONE_IDS[region] ?? [];
  const expected = `Expected ${ZONE_COUNT} distinct zone ids of ${region} (known: ${known.join(", ") || "none"}).`;
  if (known.length < ZONE_COUNT) {
    throw new ConfigError(
      `Invalid ${key}: ${region} offers only ${known.length} availability zone(s) to every account (${known.join(", ")}); this deployment needs ${ZONE_COUNT}. Choose another region, or set ${key} to ${ZONE_COUNT} zone ids your account has there.`,
    );
  }
  const unknown = zones.filter((z) => !known.includes(z));
  if (zones.length !== ZONE_COUNT || new Set(zones).size !== zones.length || unknown.length > 0) {
    throw new ConfigError(`Invalid ${key}: "${zones.join(",")}". ${expected}`);
  }
}

/** Parses "a.b.c.d/n" with n in 16..22 (room for six /n+4 subnets) and the network address aligned. */
function parseCidr(v: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix < 16 || prefix > 22) return undefined;
  const base = ipToInt(octets);
  if (base % 2 ** (32 - prefix) !== 0) return undefined;
  return v;
}

function ipToInt(octets: number[]): number {
  return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

/** Start address and size of a CIDR. */
export function cidrRange(cidr: string): { start: number; size: number; prefix: number } {
  const [ip, prefix] = cidr.split("/");
  return { start: ipToInt(ip.split(".").map(Number)), size: 2 ** (32 - Number(prefix)), prefix: Number(prefix) };
}

function cidrsOverlap(a: string, b: string): boolean {
  const x = cidrRange(a);
  const y = cidrRange(b);
  return x.start < y.start + y.size && y.start < x.start + x.size;
}

/**
 * The subnet layout of a region's VPC: sixteenths of it, public subnets first, then private ones,
 * one of each per zone. The other region derives from it where the peer's functions live.
 */
export function subnetCidrs(vpcCidr: string, zoneCount: number): { public: string[]; private: string[] } {
  const range = (offset: number) => Array.from({ length: zoneCount }, (_, i) => cidrSubnet(vpcCidr, 4, offset + i));
  return { public: range(0), private: range(zoneCount) };
}

/** The i-th subnet of `newBits` more bits inside `cidr` (like Terraform's cidrsubnet). */
export function cidrSubnet(cidr: string, newBits: number, index: number): string {
  const { start, prefix } = cidrRange(cidr);
  const size = 2 ** (32 - prefix - newBits);
  const n = start + index * size;
  return `${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".")}/${prefix + newBits}`;
}

export interface RegionSettings {
  readonly role: RegionRole;
  readonly region: string;
  readonly vpcCidr: string;
  readonly zoneIds: readonly string[];
  readonly certificateArn?: string;
  readonly dbInstanceCount: number;
}

/** The settings of one side of the deployment. */
export function regionOf(config: DeploymentConfig, role: RegionRole): RegionSettings {
  return role === "primary"
    ? {
        role,
        region: config.primaryRegion,
        vpcCidr: config.primaryVpcCidr,
        zoneIds: config.primaryZoneIds,
        certificateArn: config.primaryCertificateArn,
        dbInstanceCount: config.primaryDbInstanceCount,
      }
    : {
        role,
        region: config.drRegion,
        vpcCidr: config.drVpcCidr,
        zoneIds: config.drZoneIds,
        certificateArn: config.drCertificateArn,
        dbInstanceCount: config.drDbInstanceCount,
      };
}
