import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { TerraformStack } from "cdktf";
import type { Construct, IConstruct } from "constructs";
import type { Naming } from "../../contracts/names";
import type { RegionKey } from "../security/region-key";

/**
 * AWS provider versions the synthesized configuration supports. The @cdktf/provider-aws bindings
 * pin the exact 6.x version they were generated from; the configuration uses nothing that only one
 * major version understands (no resource-level `region`: aliased providers instead), so the last
 * 5.x line and 6.x both run it.
 */
export const AWS_PROVIDER_VERSIONS = ">= 5.100.0, < 7.0.0";

/**
 * Terraform versions the synthesized configuration needs: write-only arguments (the Aurora master
 * password) came in 1.11. Declared as the `targetVersions` context, which CDK Terrain (the cdktf
 * fork, see `npm run check:cdktn`) checks every feature against at synth (its default, >=1.5.7,
 * refuses write-only arguments); cdktf ignores it. Set on each stack, so that every way of
 * synthesizing it (the app command, `cdktn synth`, the tests' Apps) carries it.
 */
export const TERRAFORM_TARGET_VERSIONS = { terraform: ">=1.11.0" } as const;

export interface AwsStackProps {
  /** The region every resource of the stack lives in (unless it names another provider). */
  readonly region: string;
  readonly naming: Naming;
  /** Tags on every resource, through the provider's default_tags. */
  readonly tags: Readonly<Record<string, string>>;
  /** Retention of every log group the stack creates. */
  readonly logRetentionDays: number;
  /** The account, when known at synth (tests); @default read from `aws_caller_identity` */
  readonly account?: string;
  /** @default read from `aws_partition` */
  readonly partition?: string;
}

/**
 * A stack bound to one AWS region. Its constructs look up the region, account, partition,
 * naming and the region's key here (`AwsStack.of(this)`, like aws-cdk's `Stack.of`) instead of
 * taking them as props one by one.
 */
export class AwsStack extends TerraformStack {
  /** The AwsStack a construct belongs to. */
  static of(scope: IConstruct): AwsStack {
    const stack = TerraformStack.of(scope);
    if (!(stack instanceof AwsStack)) throw new Error(`${scope.node.path} is not inside an AwsStack`);
    return stack;
  }

  readonly region: string;
  readonly naming: Naming;
  readonly provider: AwsProvider;
  readonly logRetentionDays: number;
  private readonly knownAccount?: string;
  private readonly knownPartition?: string;
  private callerIdentity?: DataAwsCallerIdentity;
  private partitionData?: DataAwsPartition;
  private regionKey?: RegionKey;
  private readonly regionProviders = new Map<string, AwsProvider>();
  private readonly tags: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: AwsStackProps) {
    super(scope, id);
    this.node.setContext("targetVersions", TERRAFORM_TARGET_VERSIONS);
    this.region = props.region;
    this.naming = props.naming;
    this.logRetentionDays = props.logRetentionDays;
    this.knownAccount = props.account;
    this.knownPartition = props.partition;
    this.tags = props.tags;
    this.provider = new AwsProvider(this, "aws", { region: props.region, defaultTags: [{ tags: { ...props.tags } }] });
    this.addOverride("terraform.required_providers.aws.version", AWS_PROVIDER_VERSIONS);
  }

  /**
   * The provider for a resource of this stack that must live in `region`: undefined (the
   * default provider) for the stack's own region, else one aliased provider per region (alias =
   * the region name), created on first use with the same default tags. Resources pass it as
   * `provider:`, never the provider-6-only resource-level `region`.
   */
  providerFor(region: string): AwsProvider | undefined {
    if (region === this.region) return undefined;
    let provider = this.regionProviders.get(region);
    if (!provider) {
      provider = new AwsProvider(this, `aws-${region}`, { alias: region, region, defaultTags: [{ tags: { ...this.tags } }] });
      this.regionProviders.set(region, provider);
    }
    return provider;
  }

  /** The deploying account (a data source, read once per stack). */
  get accountId(): string {
    if (this.knownAccount) return this.knownAccount;
    this.callerIdentity ??= new DataAwsCallerIdentity(this, "account", {});
    return this.callerIdentity.accountId;
  }

  /** `aws`, `aws-cn`, ...: for ARNs built before their resource exists. */
  get partition(): string {
    if (this.knownPartition) return this.knownPartition;
    this.partitionData ??= new DataAwsPartition(this, "partition", {});
    return this.partitionData.partition;
  }

  /** The region's customer-managed key, which encrypts everything the stack stores. */
  get key(): RegionKey {
    if (!this.regionKey) throw new Error(`Stack ${this.node.id} has no region key`);
    return this.regionKey;
  }

  set key(key: RegionKey) {
    if (this.regionKey) throw new Error(`Stack ${this.node.id} already has a region key`);
    this.regionKey = key;
  }

  /** `service.region.amazonaws.com`, as `kms:ViaService` conditions name a service. */
  serviceEndpoint(service: string): string {
    return `${service}.${this.region}.amazonaws.com`;
  }
}
