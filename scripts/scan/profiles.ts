import * as path from "node:path";

/** One way of synthesizing the app for the scan: settings as environment variables (config.ts names). */
export interface ScanProfile {
  readonly name: string;
  /** Output directory, relative to the repository root. */
  readonly outdir: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * default: `npm run synth` as configured. full: every optional feature on (DNS failover, HTTPS
 * listeners, alarm e-mail, CORS) with placeholder ids, so that their resources are scanned too.
 */
export const SCAN_PROFILES: readonly ScanProfile[] = [
  { name: "default", outdir: "cdktf.out", env: {} },
  {
    name: "full",
    outdir: path.join("cdktf.out", "scan-full"),
    env: {
      DOMAIN_NAME: "api.example.com",
      HOSTED_ZONE_ID: "Z0123456789ABCDEFGHIJ",
      PRIMARY_CERTIFICATE_ARN: "arn:aws:acm:ap-southeast-1:123456789012:certificate/00000000-0000-4000-8000-000000000001",
      DR_CERTIFICATE_ARN: "arn:aws:acm:ap-southeast-2:123456789012:certificate/00000000-0000-4000-8000-000000000002",
      ALARM_EMAIL: "payments-oncall@example.com",
      CORS_ALLOW_ORIGIN: "https://shop.example.com",
    },
  },
];
