import { configTable } from "../../scripts/config-table";
import { ConfigError, cidrSubnet, loadConfig, SETTINGS } from "../../src/contracts/config";

describe("loadConfig", () => {
  test("defaults describe the documented two-region deployment", () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({
      environmentSuffix: "dev",
      primaryRegion: "ap-southeast-1",
      drRegion: "ap-southeast-2",
      primaryVpcCidr: "10.0.0.0/16",
      drVpcCidr: "10.1.0.0/16",
      stateBucket: "payment-processing-tfstate-dev",
      stateBucketRegion: "ap-southeast-2",
      stateKeyPrefix: "payment-processing/dev",
      dbInstanceClass: "db.t4g.medium",
      logRetentionDays: 365,
      sweeperAgeSeconds: 120,
      sweeperAdoptAgeSeconds: 600,
      sweeperMaxPerRun: 500,
    });
    expect(config.domainName).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  test("the state bucket is not in the primary region by default", () => {
    const config = loadConfig({}, {});
    expect(config.stateBucketRegion).not.toBe(config.primaryRegion);
  });

  test("environment variables win over cdktf.json context, which wins over defaults", () => {
    const config = loadConfig({ environmentSuffix: "ctx", drRegion: "ap-northeast-1" }, { ENVIRONMENT_SUFFIX: "env01" });
    expect(config.environmentSuffix).toBe("env01");
    expect(config.drRegion).toBe("ap-northeast-1");
    expect(config.stateBucket).toBe("payment-processing-tfstate-env01");
  });

  test("zones default to the region's first three zone ids and follow the region", () => {
    expect(loadConfig({}, {}).primaryZoneIds).toEqual(["apse1-az1", "apse1-az2", "apse1-az3"]);
    expect(loadConfig({}, {}).drZoneIds).toEqual(["apse2-az1", "apse2-az2", "apse2-az3"]);
    expect(loadConfig({}, { PRIMARY_REGION: "us-east-1" }).primaryZoneIds).toEqual(["use1-az1", "use1-az2", "use1-az4"]);
    expect(loadConfig({ primaryRegion: "us-east-1", primaryZoneIds: ["use1-az2", "use1-az4", "use1-az6"] }, {}).primaryZoneIds).toEqual([
      "use1-az2",
      "use1-az4",
      "use1-az6",
    ]);
  });

  test("the connection budget grows with the instance class", () => {
    expect(loadConfig({}, { PROCESSOR_MAX_CONCURRENCY: "39" }).processorMaxConcurrency).toBe(39);
    expect(() => loadConfig({}, { PROCESSOR_MAX_CONCURRENCY: "39", BALANCES_MAX_CONCURRENCY: "6" })).toThrow(/need 46 connections/);
    expect(loadConfig({}, { PROCESSOR_MAX_CONCURRENCY: "400", DB_INSTANCE_CLASS: "db.r6g.large" }).processorMaxConcurrency).toBe(400);
  });

  test("numbers and lists parse from strings", () => {
    const config = loadConfig({ allowedCurrencies: ["SGD", "USD"] }, { LAMBDA_MEMORY_MB: "1024" });
    expect(config.lambdaMemoryMb).toBe(1024);
    expect(config.allowedCurrencies).toEqual(["SGD", "USD"]);
  });

  const invalid: Array<[string, Record<string, string>, RegExp]> = [
    [
      "suffix with upper case",
      { ENVIRONMENT_SUFFIX: "Prod" },
      /Invalid environmentSuffix \(environment variable ENVIRONMENT_SUFFIX\): "Prod"\. Expected 3-10 characters of a-z, 0-9 and -/,
    ],
    ["suffix too long", { ENVIRONMENT_SUFFIX: "abcdefghijk" }, /Invalid environmentSuffix .*"abcdefghijk"/],
    ["suffix too short", { ENVIRONMENT_SUFFIX: "ab" }, /Invalid environmentSuffix .*"ab"/],
    ["unknown region", { PRIMARY_REGION: "ap-southeast-9" }, /Invalid primaryRegion .*"ap-southeast-9"\. Expected a known AWS region/],
    ["the same region twice", { DR_REGION: "ap-southeast-1" }, /Invalid drRegion: "ap-southeast-1" is also the primaryRegion/],
    ["malformed CIDR", { PRIMARY_VPC_CIDR: "10.0.0/16" }, /Invalid primaryVpcCidr .*"10\.0\.0\/16"\. Expected an IPv4 CIDR/],
    ["CIDR with octet over 255", { PRIMARY_VPC_CIDR: "10.300.0.0/16" }, /Invalid primaryVpcCidr/],
    ["CIDR not aligned to its prefix", { DR_VPC_CIDR: "10.1.1.0/16" }, /Invalid drVpcCidr .*"10\.1\.1\.0\/16"/],
    ["CIDR too small for six subnets", { DR_VPC_CIDR: "10.1.0.0/24" }, /Invalid drVpcCidr/],
    [
      "overlapping CIDRs",
      { DR_VPC_CIDR: "10.0.128.0/17" },
      /Invalid drVpcCidr: "10\.0\.128\.0\/17" overlaps primaryVpcCidr "10\.0\.0\.0\/16"/,
    ],
    [
      "malformed certificate ARN",
      { PRIMARY_CERTIFICATE_ARN: "arn:aws:acm:ap-southeast-1:123:certificate/x" },
      /Invalid primaryCertificateArn .*Expected an ACM certificate ARN/,
    ],
    [
      "certificate in the wrong region",
      { DR_CERTIFICATE_ARN: "arn:aws:acm:ap-southeast-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" },
      /Invalid drCertificateArn: .* is not in ap-southeast-2/,
    ],
    [
      "malformed secret ARN",
      { DB_SECRET_ID: "arn:aws:secretsmanager:ap-southeast-1:12:secret:x" },
      /Invalid dbSecretId .*Expected a secret name .* or a Secrets Manager secret ARN/,
    ],
    [
      "domain without hosted zone",
      { DOMAIN_NAME: "api.example.com" },
      /Invalid domainName: "api\.example\.com" is set without hostedZoneId/,
    ],
    [
      "domain and zone without certificates",
      { DOMAIN_NAME: "api.example.com", HOSTED_ZONE_ID: "Z123ABC" },
      /Invalid domainName: "api\.example\.com" needs primaryCertificateArn and drCertificateArn/,
    ],
    ["hosted zone without domain", { HOSTED_ZONE_ID: "Z123ABC" }, /Invalid hostedZoneId: "Z123ABC" is set without domainName/],
    ["malformed e-mail", { ALARM_EMAIL: "ops-at-example.com" }, /Invalid alarmEmail .*"ops-at-example\.com"\. Expected an e-mail address/],
    ["non-numeric memory", { LAMBDA_MEMORY_MB: "lots" }, /Invalid lambdaMemoryMb .*"lots"\. Expected an integer from 128 to 10240/],
    ["retention CloudWatch does not offer", { LOG_RETENTION_DAYS: "100" }, /Invalid logRetentionDays .*"100"\. Expected one of 1, 3, 5/],
    ["lower-case currency", { ALLOWED_CURRENCIES: "sgd,USD" }, /Invalid allowedCurrencies/],
    [
      "risk limit above the maximum amount",
      { RISK_LIMIT_MINOR: "200000000" },
      /Invalid riskLimitMinor: 200000000 is above maxPaymentAmountMinor/,
    ],
    [
      "a processor concurrency over half the instance class's connections",
      { PROCESSOR_MAX_CONCURRENCY: "40" },
      /Invalid processorMaxConcurrency: 40 processor and 5 balancesMaxConcurrency invocations \(1 connection each\) plus the migrator need 46 connections, over half of the 90 max_connections of dbInstanceClass db\.t4g\.medium\. Expected processorMaxConcurrency of at most 39 with these balancesMaxConcurrency, or a larger dbInstanceClass\./,
    ],
    [
      "a sweeper that would adopt the other region's payments before its own",
      { SWEEPER_AGE_SECONDS: "300", SWEEPER_ADOPT_AGE_SECONDS: "120" },
      /Invalid sweeperAdoptAgeSeconds: 120 is below sweeperAgeSeconds 300/,
    ],
    [
      "a sweeper age within the gateway's own request time",
      { SWEEPER_AGE_SECONDS: "5" },
      /Invalid sweeperAgeSeconds .*"5"\. Expected an integer from 30 to 3600/,
    ],
    [
      "an instance class without a known connection limit",
      { DB_INSTANCE_CLASS: "db.x9.huge" },
      /Invalid dbInstanceClass: "db\.x9\.huge" has no known max_connections/,
    ],
    [
      "a region with fewer than three zones",
      { PRIMARY_REGION: "us-west-1" },
      /Invalid primaryZoneIds: us-west-1 offers only 2 availability zone\(s\) .*needs 3\. Choose another region, or set primaryZoneIds/,
    ],
    [
      "zone ids of another region",
      { DR_ZONE_IDS: "apse1-az1,apse1-az2,apse1-az3" },
      /Invalid drZoneIds: "apse1-az1,apse1-az2,apse1-az3"\. Expected 3 distinct zone ids of ap-southeast-2 \(known: apse2-az1, apse2-az2, apse2-az3\)/,
    ],
    [
      "the same zone twice",
      { PRIMARY_ZONE_IDS: "apse1-az1,apse1-az1,apse1-az2" },
      /Invalid primaryZoneIds: "apse1-az1,apse1-az1,apse1-az2"/,
    ],
    ["two zones", { PRIMARY_ZONE_IDS: "apse1-az1,apse1-az2" }, /Invalid primaryZoneIds: "apse1-az1,apse1-az2"/],
    [
      "a zone name instead of an id",
      { PRIMARY_ZONE_IDS: "ap-southeast-1a,ap-southeast-1b,ap-southeast-1c" },
      /Invalid primaryZoneIds \(environment variable PRIMARY_ZONE_IDS\): .*Expected 3 distinct zone ids/,
    ],
  ];
  test.each(invalid)("rejects %s with a message naming the setting, value and form", (_name, env, message) => {
    expect(() => loadConfig({}, env)).toThrow(ConfigError);
    expect(() => loadConfig({}, env)).toThrow(message);
  });

  test("a bad value in cdktf.json context names the context as its source", () => {
    expect(() => loadConfig({ primaryRegion: "mars-1" }, {})).toThrow(
      /Invalid primaryRegion \(cdktf.json context "primaryRegion"\): "mars-1"/,
    );
  });

  test("an unknown context key is refused rather than silently ignored", () => {
    expect(() => loadConfig({ enviromentSuffix: "typo" }, {})).toThrow(/Unknown setting "enviromentSuffix"/);
  });

  test("accepts a full, valid configuration", () => {
    const config = loadConfig(
      {},
      {
        DOMAIN_NAME: "api.pay.example.com",
        HOSTED_ZONE_ID: "Z0123456789ABCDEFGHIJ",
        PRIMARY_CERTIFICATE_ARN: "arn:aws:acm:ap-southeast-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        DR_CERTIFICATE_ARN: "arn:aws:acm:ap-southeast-2:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        DB_SECRET_ID: "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:payments/aurora-AbCdEf",
        ALARM_EMAIL: "oncall@example.com",
      },
    );
    expect(config.domainName).toBe("api.pay.example.com");
    expect(config.primaryCertificateArn).toMatch(/^arn:aws:acm:ap-southeast-1/);
  });

  test("every setting has an environment variable and an allowed form", () => {
    for (const s of SETTINGS) {
      expect(s.env).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(s.form.length).toBeGreaterThan(3);
    }
  });
});

describe("cidrSubnet", () => {
  test("splits a /16 into /20s like Terraform's cidrsubnet", () => {
    expect(cidrSubnet("10.0.0.0/16", 4, 0)).toBe("10.0.0.0/20");
    expect(cidrSubnet("10.0.0.0/16", 4, 3)).toBe("10.0.48.0/20");
    expect(cidrSubnet("10.1.0.0/16", 4, 5)).toBe("10.1.80.0/20");
  });
});

test("the README's configuration table is the one generated from the settings", () => {
  const readme = require("node:fs").readFileSync(require("node:path").join(__dirname, "..", "..", "README.md"), "utf8") as string;
  expect(readme).toContain(configTable());
  for (const s of SETTINGS) expect(readme).toContain(`| \`${s.key}\` | \`${s.env}\` |`);
});
