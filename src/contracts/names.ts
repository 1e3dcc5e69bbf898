import type { DeploymentConfig, RegionRole } from "./config";
import { QUEUES, type QueueId } from "./functions";
import { TABLES, type TableId } from "./tables";

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

  // Names that the stacks, the operator CLI and the tests must agree on: one builder each.

  /** DynamoDB table, e.g. `payment-transactions-{suffix}` (the same name in both regions). */
  table(id: TableId): string {
    return this.name(TABLES[id].baseName, "dynamodbTable");
  }

  /** SQS queue, e.g. `payment-transaction-queue-{suffix}`. */
  queue(id: QueueId): string {
    return this.name(`${QUEUES[id].baseName}-queue`, "sqsQueue");
  }

  deadLetterQueue(id: QueueId): string {
    return this.name(`${QUEUES[id].baseName}-dlq`, "sqsQueue");
  }

  /** Lambda function of a handler folder: `payment-gateway-{suffix}`, `payment-health-{suffix}`. */
  function(handler: string): string {
    return this.name(functionBaseName(handler), "lambda");
  }

  /** The function's role: IAM is global, so the region keeps primary's and dr's apart. */
  functionRole(handler: string, region: string): string {
    return this.regional(functionBaseName(handler), region, "iamRole");
  }

  auroraGlobalCluster(): string {
    return this.name("payment-aurora-global", "rdsCluster");
  }

  /** "primary" and "dr" name the region a cluster is declared in, not which one writes now. */
  auroraCluster(role: RegionRole): string {
    return this.name(`payment-aurora-${role}`, "rdsCluster");
  }

  /** `Name` tag of a region's Route53 health check (the DR side is "secondary" in a failover pair). */
  healthCheck(role: RegionRole, region: string): string {
    return this.name(`payment-health-${failoverSide(role)}-${region}`);
  }

  /** The topic the notifier publishes to (subscribers are the merchants' integrations). */
  notificationTopic(): string {
    return this.name("payment-notifications");
  }

  /** The alias of the region's customer-managed key. */
  keyAlias(): string {
    return `alias/${this.name("payment-processing")}`;
  }

  /** The region's CloudWatch dashboard (a dashboard name is per region, like the key's alias). */
  dashboard(): string {
    return this.name("payment-processing");
  }

  transactionLogBucket(region: string): string {
    return this.regional("payment-transaction-logs", region, "s3Bucket");
  }
}

/** Every function name starts with `payment-`; `payment-gateway` already does. */
function functionBaseName(handler: string): string {
  return handler.startsWith("payment-") ? handler : `payment-${handler}`;
}

export type FailoverSide = "primary" | "secondary";

/** Route53 failover records call the DR region's side "secondary". */
export function failoverSide(role: RegionRole): FailoverSide {
  return role === "primary" ? "primary" : "secondary";
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
