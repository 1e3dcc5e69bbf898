import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { Route } from "@cdktf/provider-aws/lib/route";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { INTERFACE_ENDPOINT_SERVICES } from "../../src/infra/network/network";
import { resourcesOf, synthAppToDisk, synthStacks } from "./support";

const { primary, dr, state } = synthStacks();

describe("network", () => {
  test("primary and dr VPCs use their own non-overlapping CIDRs with DNS on", () => {
    expect(primary).toHaveResourceWithProperties(Vpc, { cidr_block: "10.0.0.0/16", enable_dns_hostnames: true, enable_dns_support: true });
    expect(dr).toHaveResourceWithProperties(Vpc, { cidr_block: "10.1.0.0/16" });
    expect(dr).not.toHaveResourceWithProperties(Vpc, { cidr_block: "10.0.0.0/16" });
  });

  test("three public and three private subnets placed by zone id over three AZs of the stack's region", () => {
    const subnets = resourcesOf(primary, Subnet.tfResourceType);
    expect(subnets).toHaveLength(6);
    for (const tier of ["public", "private"]) {
      const zones = subnets
        .filter((s) => s.tags.Tier === tier)
        .map((s) => s.availability_zone_id)
        .sort();
      expect(zones).toEqual(["apse1-az1", "apse1-az2", "apse1-az3"]);
    }
    // Zone names differ per account; only ids are used.
    expect(subnets.some((s) => "availability_zone" in s)).toBe(false);
    expect(subnets.map((s) => s.cidr_block).sort()).toEqual([
      "10.0.0.0/20",
      "10.0.16.0/20",
      "10.0.32.0/20",
      "10.0.48.0/20",
      "10.0.64.0/20",
      "10.0.80.0/20",
    ]);
    expect(subnets.every((s) => s.map_public_ip_on_launch === false)).toBe(true);
    const drZones = resourcesOf(dr, Subnet.tfResourceType).map((s) => s.availability_zone_id);
    expect(new Set(drZones)).toEqual(new Set(["apse2-az1", "apse2-az2", "apse2-az3"]));
  });

  test("configured zone ids place the subnets", () => {
    const { primary: custom } = synthStacks({ primaryRegion: "us-east-1", primaryZoneIds: "use1-az4,use1-az5,use1-az6" });
    const zones = resourcesOf(custom, Subnet.tfResourceType).map((s) => s.availability_zone_id);
    expect(new Set(zones)).toEqual(new Set(["use1-az4", "use1-az5", "use1-az6"]));
  });

  test("one route table per tier; only the public one routes to the internet", () => {
    expect(resourcesOf(primary, RouteTable.tfResourceType)).toHaveLength(2);
    const routes = resourcesOf(primary, Route.tfResourceType);
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatchObject({ destination_cidr_block: "0.0.0.0/0" });
    expect(routes[0].gateway_id).toMatch(/aws_internet_gateway/);
  });

  test("gateway endpoints for S3 and DynamoDB on the private route table", () => {
    for (const service of ["s3", "dynamodb"]) {
      expect(primary).toHaveResourceWithProperties(VpcEndpoint, {
        service_name: `com.amazonaws.ap-southeast-1.${service}`,
        vpc_endpoint_type: "Gateway",
        route_table_ids: [expect.stringMatching(/aws_route_table\.network_private-rt/)],
      });
    }
  });

  test("interface endpoints with private DNS for every AWS API the Lambdas call", () => {
    const interfaces = resourcesOf(dr, VpcEndpoint.tfResourceType).filter((e) => e.vpc_endpoint_type === "Interface");
    expect(interfaces.map((e) => e.service_name).sort()).toEqual(
      ["kms", "logs", "secretsmanager", "sns", "sqs", "sts", "xray"].map((s) => `com.amazonaws.ap-southeast-2.${s}`),
    );
    expect(INTERFACE_ENDPOINT_SERVICES).toHaveLength(7);
    for (const e of interfaces) {
      expect(e.private_dns_enabled).toBe(true);
      expect(e.subnet_ids).toHaveLength(3);
      expect(e.security_group_ids).toEqual([expect.stringMatching(/aws_security_group\.network_endpoint-sg/)]);
    }
  });

  test("endpoint security group admits HTTPS from the VPC CIDR only", () => {
    expect(primary).toHaveResourceWithProperties(SecurityGroup, {
      name: "payment-endpoints-sg-dev",
      ingress: [expect.objectContaining({ from_port: 443, to_port: 443, protocol: "tcp", cidr_blocks: ["10.0.0.0/16"] })],
      egress: [],
    });
  });

  test("the default security group is managed with no rules", () => {
    const sg = resourcesOf(primary, DefaultSecurityGroup.tfResourceType);
    expect(sg).toHaveLength(1);
    expect(sg[0].ingress).toBeUndefined();
    expect(sg[0].egress).toBeUndefined();
  });

  test("VPC flow logs capture all traffic into a KMS-encrypted log group", () => {
    expect(primary).toHaveResourceWithProperties(FlowLog, { traffic_type: "ALL", log_destination_type: "cloud-watch-logs" });
    expect(primary).toHaveResourceWithProperties(CloudwatchLogGroup, {
      name: "/aws/vpc/flow-logs/payment-vpc-dev",
      kms_key_id: expect.stringMatching(/aws_kms_key\.encryption_key/),
      retention_in_days: 365,
    });
    const policy = resourcesOf(primary, IamRolePolicy.tfResourceType).find((p) => p.name === "write-flow-logs");
    const statement = JSON.parse(policy!.policy).Statement[0];
    expect(statement.Action).toEqual(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]);
    expect(statement.Resource[0]).toMatch(/aws_cloudwatch_log_group\.network_flow-logs/);
  });
});

describe("encryption", () => {
  const keyPolicy = (stack: string) => JSON.parse(resourcesOf(stack, KmsKey.tfResourceType)[0].policy);

  test("each region has its own rotating CMK and alias carrying the suffix", () => {
    for (const stack of [primary, dr]) {
      expect(stack).toHaveResourceWithProperties(KmsKey, { enable_key_rotation: true, deletion_window_in_days: 7 });
      expect(stack).toHaveResourceWithProperties(KmsAlias, { name: "alias/payment-processing-dev" });
    }
  });

  test("key policy names the account root and specific services, never a wildcard principal or action", () => {
    const policy = keyPolicy(primary);
    const principals = policy.Statement.map((s: any) => s.Principal);
    expect(principals).not.toContain("*");
    expect(principals[0].AWS).toMatch(/^arn:\$\{data\.aws_partition\..*\}:iam::\$\{data\.aws_caller_identity\..*\.account_id\}:root$/);
    const services = policy.Statement.map((s: any) => s.Principal.Service).filter(Boolean);
    expect(services).toEqual(
      expect.arrayContaining([
        "logs.ap-southeast-1.amazonaws.com",
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
        "s3.amazonaws.com",
        "dynamodb.amazonaws.com",
        "rds.amazonaws.com",
        "cloudtrail.amazonaws.com",
      ]),
    );
    for (const s of policy.Statement) {
      for (const action of [].concat(s.Action)) expect(action).not.toContain("*");
    }
  });

  test("only the primary key lets CloudTrail in (the trail lives in primary)", () => {
    const drServices = keyPolicy(dr)
      .Statement.map((s: any) => s.Principal.Service)
      .filter(Boolean);
    expect(drServices).not.toContain("cloudtrail.amazonaws.com");
    expect(drServices).toContain("logs.ap-southeast-2.amazonaws.com");
  });
});

describe("providers, state and tags", () => {
  test("each stack's provider targets its region and tags every resource", () => {
    expect(primary).toHaveProviderWithProperties(AwsProvider, {
      region: "ap-southeast-1",
      default_tags: [
        { tags: expect.objectContaining({ Environment: "dev", Project: "payment-processing-dr", CostCenter: "payments-platform" }) },
      ],
    });
    expect(dr).toHaveProviderWithProperties(AwsProvider, { region: "ap-southeast-2" });
  });

  test("remote state: encrypted S3 backend, one key per stack, S3 lock file, bucket outside the primary region", () => {
    const backend = (stack: string) => JSON.parse(stack).terraform.backend.s3;
    expect(backend(primary)).toEqual({
      bucket: "payment-processing-tfstate-dev",
      key: "payment-processing/dev/primary.tfstate",
      region: "ap-southeast-2",
      encrypt: true,
      use_lockfile: true,
    });
    expect(backend(dr).key).toBe("payment-processing/dev/dr.tfstate");
    expect(backend(dr).dynamodb_table).toBeUndefined();
  });

  test("state settings follow configuration", () => {
    const custom = synthStacks({ stateBucket: "acme-tfstate", stateBucketRegion: "ap-northeast-1", stateKeyPrefix: "pay/prod" });
    expect(JSON.parse(custom.dr).terraform.backend.s3).toMatchObject({
      bucket: "acme-tfstate",
      region: "ap-northeast-1",
      key: "pay/prod/dr.tfstate",
    });
  });

  test("the state bootstrap stack keeps its own state locally and creates a private, versioned, encrypted bucket", () => {
    expect(JSON.parse(state).terraform.backend.local).toEqual({ path: "../../../terraform.state.tfstate" });
    expect(state).toHaveResourceWithProperties(S3Bucket, { bucket: "payment-processing-tfstate-dev", force_destroy: false });
    expect(state).toHaveResourceWithProperties(S3BucketVersioningA, { versioning_configuration: { status: "Enabled" } });
    expect(state).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(state).toHaveProviderWithProperties(AwsProvider, { region: "ap-southeast-2" });
  });
});

describe("synthesized app", () => {
  test("writes the primary, dr and state stacks; dr reads nothing that primary does not output", () => {
    const out = synthAppToDisk();
    expect(out.primary.terraform.backend.s3.key).toBe("payment-processing/dev/primary.tfstate");
    expect(out.dr.terraform.backend.s3.key).toBe("payment-processing/dev/dr.tfstate");
    expect(Object.keys(out.state.resource)).toContain("aws_s3_bucket");
    // Primary never depends on dr: references flow one way.
    expect(JSON.stringify(out.primary)).not.toMatch(/terraform_remote_state/);
  });
});
