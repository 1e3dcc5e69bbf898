import { DeploymentConfig } from "./config";

export const PROJECT = "payment-processing-dr";

/** AWS name length limits that the names below must respect. */
export const NAME_LIMITS = {
  alb: 32,
  targetGroup: 32,
  s3Bucket: 63,
  iamRole: 64,
  lambda: 64,
  sqsQueue: 80,
  dynamodbTable: 255,
  rdsCluster: 63,
  securityGroup: 255,
} as const;

export type NameKind = keyof typeof NAME_LIMITS;

/**
 * Builds `<base>-<suffix>` and fails synth, rather than apply, when AWS would reject the length.
 */
export function resourceName(base: string, suffix: string, kind?: NameKind): string {
  const name = `${base}-${suffix}`;
  if (kind && name.length > NAME_LIMITS[kind]) {
    throw new Error(`Name "${name}" is ${name.length} characters; AWS allows at most ${NAME_LIMITS[kind]} for ${kind}.`);
  }
  if (kind === "s3Bucket" && !/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(name)) {
    throw new Error(`Bucket name "${name}" must be lower-case letters, digits and hyphens.`);
  }
  return name;
}

/** Names bound to one deployment (one suffix). */
export class Naming {
  constructor(readonly suffix: string) {}

  name(base: string, kind?: NameKind): string {
    return resourceName(base, this.suffix, kind);
  }

  /** Region-qualified name, for names that are global (S3) or must differ per region (IAM). */
  regional(base: string, region: string, kind?: NameKind): string {
    return resourceName(`${base}-${region}`, this.suffix, kind);
  }
}

/** Tags applied to every resource through the provider's default_tags. */
export function defaultTags(config: DeploymentConfig, role: string): Record<string, string> {
  return {
    Environment: config.environmentSuffix,
    Project: PROJECT,
    CostCenter: config.costCenter,
    RegionRole: role,
    ManagedBy: "cdktf",
  };
}
