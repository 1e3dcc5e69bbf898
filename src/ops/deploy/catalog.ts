/**
 * How the orphan finder recognizes each kind of resource the stacks declare, in AWS and in the
 * synthesized stack alike: its identity (a key built from names: the `Name` tag of a VPC, a
 * function's name and a statement id, ...), how to find its copies in a region (read-only calls),
 * the `terraform import` ID, the ID Terraform records in state, and the delete command.
 *
 * Names are never spelled here: they are read from the synthesized stack, which builds them with
 * src/contracts/names.ts, and looked up in AWS. A resource without a unique name in AWS (VPC and
 * its parts, KMS key, HTTP API and its parts, security-group rules) is found by its `Name` tag,
 * description or parent, so that a copy made by an apply whose state was lost is found too.
 *
 * Types re-applied in place (a second create of the same thing is a PUT: alarms, policies, bucket
 * settings, ...) need no finding: IN_PLACE_TYPES lists them. Any other type is reported as not checked.
 */
import { crc32 } from "node:zlib";
import {
  type ApiGatewayV2Client,
  GetApisCommand,
  GetIntegrationsCommand,
  GetRoutesCommand,
  GetStagesCommand,
} from "@aws-sdk/client-apigatewayv2";
import { type CloudTrailClient, DescribeTrailsCommand } from "@aws-sdk/client-cloudtrail";
import { type CloudWatchLogsClient, DescribeLogGroupsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribeFlowLogsCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcEndpointsCommand,
  DescribeVpcPeeringConnectionsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  type Filter,
  type Tag,
} from "@aws-sdk/client-ec2";
import {
  DescribeListenersCommand,
  DescribeRulesCommand,
  type ElasticLoadBalancingV2Client,
  paginateDescribeLoadBalancers,
  paginateDescribeTargetGroups,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetRoleCommand, type IAMClient } from "@aws-sdk/client-iam";
import { DescribeKeyCommand, type KMSClient, paginateListAliases, paginateListKeys } from "@aws-sdk/client-kms";
import { GetPolicyCommand, type LambdaClient, ListEventSourceMappingsCommand, paginateListFunctions } from "@aws-sdk/client-lambda";
import {
  DescribeDBClusterParameterGroupsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSubnetGroupsCommand,
  DescribeGlobalClustersCommand,
  type RDSClient,
} from "@aws-sdk/client-rds";
import { ListBucketsCommand, type S3Client } from "@aws-sdk/client-s3";
import { ListSchedulesCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import { paginateListTopics, type SNSClient } from "@aws-sdk/client-sns";
import { GetQueueUrlCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { ListWebACLsCommand, type WAFV2Client } from "@aws-sdk/client-wafv2";

/** The clients of one region (IAM, S3's bucket list and CloudTrail included; built on first use). */
export interface RegionClients {
  readonly apigatewayv2: ApiGatewayV2Client;
  readonly cloudtrail: CloudTrailClient;
  readonly dynamodb: DynamoDBClient;
  readonly ec2: EC2Client;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly iam: IAMClient;
  readonly kms: KMSClient;
  readonly lambda: LambdaClient;
  readonly logs: CloudWatchLogsClient;
  readonly rds: RDSClient;
  readonly s3: S3Client;
  readonly scheduler: SchedulerClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly wafv2: WAFV2Client;
}

/** A copy of a declared kind of resource, found in AWS. */
export interface Found {
  readonly type: string;
  /** Identity, compared with the key of the synthesized resources of the same type. */
  readonly key: string;
  /** What `terraform import` takes. */
  readonly importId: string;
  /** The `id` (or `arn`) Terraform records for it in state. */
  readonly stateId: string;
  /** For the report: its AWS id and what names it. */
  readonly label: string;
  /** The stateId of the resource it lives in (VPC, route table, security group, API, load balancer, listener, function). */
  readonly parent?: string;
  readonly created?: Date;
  /** The AWS CLI command that deletes it. */
  readonly delete: string;
}

/** A resource of this kind that the stack declares, with its key. */
export interface Wanted {
  readonly address: string;
  readonly key: string;
  readonly args: TerraformArgs;
}

export interface FindContext {
  readonly region: string;
  readonly clients: RegionClients;
  /** What the kinds before this one found in the region (parents come first). */
  readonly found: readonly Found[];
}

/** The key of the resource a `${type.name.attribute}` expression refers to; undefined for anything else. */
export type Ref = (expression: unknown) => string | undefined;

/**
 * A resource's arguments or a state's attributes as Terraform JSON has them: nested values of any
 * shape, which each kind reads with its own `key` function.
 */
// biome-ignore lint/suspicious/noExplicitAny: Terraform's JSON is schemaless here; each kind checks what it reads.
export type TerraformArgs = Readonly<Record<string, any>>;

export interface Kind {
  readonly type: string;
  key(args: TerraformArgs, ref: Ref): string | undefined;
  find(ctx: FindContext, wanted: readonly Wanted[]): Promise<Found[]>;
  /** Copies whose key the stack does not declare belong to something else (inline rules, the local route): ignored. */
  readonly onlyDeclared?: boolean;
  /** Deleted with its parent (an API's routes, a load balancer's listeners): no delete line of its own then. */
  readonly goesWithParent?: boolean;
}

/** Types whose second create is a PUT of the same thing, or that Terraform adopts: nothing to find. */
export const IN_PLACE_TYPES: ReadonlySet<string> = new Set([
  "aws_cloudwatch_dashboard",
  "aws_cloudwatch_metric_alarm",
  "aws_default_security_group",
  "aws_iam_role_policy",
  "aws_iam_role_policy_attachment",
  "aws_lambda_function_event_invoke_config",
  "aws_lambda_invocation",
  "aws_lb_target_group_attachment",
  "aws_s3_bucket_lifecycle_configuration",
  "aws_s3_bucket_logging",
  "aws_s3_bucket_ownership_controls",
  "aws_s3_bucket_policy",
  "aws_s3_bucket_public_access_block",
  "aws_s3_bucket_replication_configuration",
  "aws_s3_bucket_server_side_encryption_configuration",
  "aws_s3_bucket_versioning",
  "aws_sns_topic_policy",
  "aws_sqs_queue_policy",
  "aws_sqs_queue_redrive_allow_policy",
  "aws_wafv2_web_acl_association",
  "aws_wafv2_web_acl_logging_configuration",
]);

// ------------------------------------------------------------------------------------ helpers

const str = (v: unknown): string | undefined => (typeof v === "string" && !v.includes("${") ? v : undefined);
const tagName = (args: TerraformArgs) => str(args.tags?.Name);
const nameTag = (tags: readonly Tag[] | undefined) => tags?.find((t) => t.Key === "Name")?.Value;
const join = (...parts: (string | number | undefined)[]) => (parts.some((p) => p === undefined || p === "") ? undefined : parts.join("|"));
const q = (value: string) => (/^[A-Za-z0-9_./:@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
const aws = (region: string, service: string, command: string, params: Record<string, string>) =>
  `aws ${service} ${command} --region ${region} ${Object.entries(params)
    .map(([k, v]) => `--${k} ${q(v)}`)
    .join(" ")}`;
const names = (wanted: readonly Wanted[]) => [...new Set(wanted.map((w) => w.key))];
const keyOfId = (found: readonly Found[], type: string, stateId: string | undefined) =>
  found.find((f) => f.type === type && f.stateId === stateId)?.key;
const idsOf = (found: readonly Found[], type: string) => found.filter((f) => f.type === type).map((f) => f.stateId);

/** A not-found answer (by the error's name), as opposed to a real failure. */
function absent(err: unknown, ...notFound: string[]): boolean {
  const name = (err as { name?: string; Code?: string }).name ?? "";
  return notFound.includes(name) || notFound.includes((err as { Code?: string }).Code ?? "");
}

/** EC2 filters take at most 200 values; the stacks declare far fewer. */
const filter = (name: string, values: readonly string[]): Filter[] => [{ Name: name, Values: [...values] }];

/** Terraform's route id: "r-" + route table id + the CRC-32 of the destination (hashcode.String). */
export const routeStateId = (routeTableId: string, destination: string) => `r-${routeTableId}${crc32(destination)}`;

/** The function name in an API integration's URI (`.../functions/<function ARN>/invocations`) or an ARN. */
const functionNameOf = (arnOrUri: string | undefined) => /:function:([^:/]+)/.exec(arnOrUri ?? "")?.[1];
const queueNameOf = (arn: string | undefined) => /^arn:[^:]+:sqs:[^:]+:[^:]+:(.+)$/.exec(arn ?? "")?.[1];

// ------------------------------------------------------------------------------------ network

const vpc: Kind = {
  type: "aws_vpc",
  key: (args) => tagName(args),
  async find({ region, clients }, wanted) {
    const { Vpcs = [] } = await clients.ec2.send(new DescribeVpcsCommand({ Filters: filter("tag:Name", names(wanted)) }));
    return Vpcs.map((v) => ({
      type: "aws_vpc",
      key: nameTag(v.Tags)!,
      importId: v.VpcId!,
      stateId: v.VpcId!,
      label: `${v.VpcId} (Name ${nameTag(v.Tags)}, ${v.CidrBlock})`,
      delete: aws(region, "ec2", "delete-vpc", { "vpc-id": v.VpcId! }),
    }));
  },
};

/** A resource found by its `Name` tag that lives in a VPC. */
function taggedInVpc(
  type: string,
  what: string,
  describe: (ctx: FindContext, values: string[]) => Promise<{ id: string; vpcId?: string; tags?: Tag[] }[]>,
  remove: (region: string, item: { id: string; vpcId?: string }) => string,
): Kind {
  return {
    type,
    key: (args) => tagName(args),
    async find(ctx, wanted) {
      const items = await describe(ctx, names(wanted));
      return items.map((item) => ({
        type,
        key: nameTag(item.tags)!,
        importId: item.id,
        stateId: item.id,
        label: `${item.id} (${what} Name ${nameTag(item.tags)}${item.vpcId ? ` in ${item.vpcId}` : ""})`,
        parent: item.vpcId,
        delete: remove(ctx.region, item),
      }));
    },
  };
}

const subnet = taggedInVpc(
  "aws_subnet",
  "subnet",
  async ({ clients }, values) =>
    ((await clients.ec2.send(new DescribeSubnetsCommand({ Filters: filter("tag:Name", values) }))).Subnets ?? []).map((s) => ({
      id: s.SubnetId!,
      vpcId: s.VpcId,
      tags: s.Tags,
    })),
  (region, s) => aws(region, "ec2", "delete-subnet", { "subnet-id": s.id }),
);

const internetGateway = taggedInVpc(
  "aws_internet_gateway",
  "internet gateway",
  async ({ clients }, values) =>
    ((await clients.ec2.send(new DescribeInternetGatewaysCommand({ Filters: filter("tag:Name", values) }))).InternetGateways ?? []).map(
      (g) => ({ id: g.InternetGatewayId!, vpcId: g.Attachments?.[0]?.VpcId, tags: g.Tags }),
    ),
  (region, g) =>
    `${g.vpcId ? `${aws(region, "ec2", "detach-internet-gateway", { "internet-gateway-id": g.id, "vpc-id": g.vpcId })} && ` : ""}${aws(region, "ec2", "delete-internet-gateway", { "internet-gateway-id": g.id })}`,
);

const routeTable = taggedInVpc(
  "aws_route_table",
  "route table",
  async ({ clients }, values) =>
    ((await clients.ec2.send(new DescribeRouteTablesCommand({ Filters: filter("tag:Name", values) }))).RouteTables ?? []).map((t) => ({
      id: t.RouteTableId!,
      vpcId: t.VpcId,
      tags: t.Tags,
    })),
  (region, t) => aws(region, "ec2", "delete-route-table", { "route-table-id": t.id }),
);

const vpcEndpoint = taggedInVpc(
  "aws_vpc_endpoint",
  "endpoint",
  async ({ clients }, values) =>
    ((await clients.ec2.send(new DescribeVpcEndpointsCommand({ Filters: filter("tag:Name", values) }))).VpcEndpoints ?? [])
      .filter((e) => !["deleted", "deleting"].includes(String(e.State).toLowerCase()))
      .map((e) => ({ id: e.VpcEndpointId!, vpcId: e.VpcId, tags: e.Tags })),
  (region, e) => aws(region, "ec2", "delete-vpc-endpoints", { "vpc-endpoint-ids": e.id }),
);

const vpcPeering = taggedInVpc(
  "aws_vpc_peering_connection",
  "peering connection",
  async ({ clients }, values) =>
    (
      (await clients.ec2.send(new DescribeVpcPeeringConnectionsCommand({ Filters: filter("tag:Name", values) }))).VpcPeeringConnections ??
      []
    )
      .filter((p) => !["deleted", "rejected", "failed", "expired"].includes(String(p.Status?.Code)))
      .map((p) => ({ id: p.VpcPeeringConnectionId!, vpcId: p.RequesterVpcInfo?.VpcId, tags: p.Tags })),
  (region, p) => aws(region, "ec2", "delete-vpc-peering-connection", { "vpc-peering-connection-id": p.id }),
);

/** The accepter side (in the peer's region): the same connection, imported by its id. */
const vpcPeeringAccepter: Kind = {
  ...vpcPeering,
  type: "aws_vpc_peering_connection_accepter",
  find: retype(vpcPeering, "aws_vpc_peering_connection_accepter", false),
};

function retype(kind: Kind, type: string, keepParent: boolean): Kind["find"] {
  return async (ctx, wanted) => (await kind.find(ctx, wanted)).map((f) => ({ ...f, type, parent: keepParent ? f.parent : undefined }));
}

const securityGroup: Kind = {
  type: "aws_security_group",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const { SecurityGroups = [] } = await clients.ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: filter("group-name", names(wanted)) }),
    );
    return SecurityGroups.map((g) => ({
      type: "aws_security_group",
      key: g.GroupName!,
      importId: g.GroupId!,
      stateId: g.GroupId!,
      label: `${g.GroupId} (security group ${g.GroupName} in ${g.VpcId})`,
      parent: g.VpcId,
      delete: aws(region, "ec2", "delete-security-group", { "group-id": g.GroupId! }),
    }));
  },
};

/** Key: group, source (referenced group or CIDR), ports. */
const ingressRule: Kind = {
  type: "aws_vpc_security_group_ingress_rule",
  onlyDeclared: true,
  // Not goesWithParent: a rule naming another group keeps that group from being deleted; revoke it first.
  key: (args, ref) =>
    join(
      ref(args.security_group_id),
      args.referenced_security_group_id ? ref(args.referenced_security_group_id) : str(args.cidr_ipv4),
      args.ip_protocol,
      args.from_port,
      args.to_port,
    ),
  async find({ region, clients, found }) {
    const groups = idsOf(found, "aws_security_group");
    if (!groups.length) return [];
    const { SecurityGroupRules = [] } = await clients.ec2.send(
      new DescribeSecurityGroupRulesCommand({ Filters: filter("group-id", groups) }),
    );
    return SecurityGroupRules.filter((r) => !r.IsEgress).flatMap((r) => {
      const source = r.ReferencedGroupInfo?.GroupId ? keyOfId(found, "aws_security_group", r.ReferencedGroupInfo.GroupId) : r.CidrIpv4;
      const key = join(keyOfId(found, "aws_security_group", r.GroupId), source, r.IpProtocol, r.FromPort, r.ToPort);
      if (!key) return [];
      return [
        {
          type: "aws_vpc_security_group_ingress_rule",
          key,
          importId: r.SecurityGroupRuleId!,
          stateId: r.SecurityGroupRuleId!,
          label: `${r.SecurityGroupRuleId} (ingress ${r.IpProtocol} ${r.FromPort}-${r.ToPort} of ${r.GroupId})`,
          parent: r.GroupId,
          delete: aws(region, "ec2", "revoke-security-group-ingress", {
            "group-id": r.GroupId!,
            "security-group-rule-ids": r.SecurityGroupRuleId!,
          }),
        },
      ];
    });
  },
};

/** Routes and associations of the route tables found: read from the tables themselves. */
async function routeTablesFound({ clients, found }: FindContext) {
  const ids = idsOf(found, "aws_route_table");
  if (!ids.length) return [];
  return (await clients.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: ids }))).RouteTables ?? [];
}

const route: Kind = {
  type: "aws_route",
  onlyDeclared: true,
  goesWithParent: true,
  key: (args, ref) => join(ref(args.route_table_id), str(args.destination_cidr_block)),
  async find(ctx) {
    return (await routeTablesFound(ctx)).flatMap((t) =>
      (t.Routes ?? [])
        .filter((r) => r.DestinationCidrBlock && r.GatewayId !== "local")
        .map((r) => ({
          type: "aws_route",
          key: join(keyOfId(ctx.found, "aws_route_table", t.RouteTableId), r.DestinationCidrBlock)!,
          importId: `${t.RouteTableId}_${r.DestinationCidrBlock}`,
          stateId: routeStateId(t.RouteTableId!, r.DestinationCidrBlock!),
          label: `${r.DestinationCidrBlock} in ${t.RouteTableId} (via ${r.GatewayId ?? r.VpcPeeringConnectionId ?? r.NatGatewayId ?? "?"})`,
          parent: t.RouteTableId,
          delete: aws(ctx.region, "ec2", "delete-route", {
            "route-table-id": t.RouteTableId!,
            "destination-cidr-block": r.DestinationCidrBlock!,
          }),
        })),
    );
  },
};

const routeTableAssociation: Kind = {
  type: "aws_route_table_association",
  onlyDeclared: true,
  key: (args, ref) => join(ref(args.subnet_id), ref(args.route_table_id)),
  async find(ctx) {
    return (await routeTablesFound(ctx)).flatMap((t) =>
      (t.Associations ?? [])
        .filter((a) => a.SubnetId && !a.Main)
        .flatMap((a) => {
          const key = join(keyOfId(ctx.found, "aws_subnet", a.SubnetId), keyOfId(ctx.found, "aws_route_table", t.RouteTableId));
          if (!key) return [];
          return [
            {
              type: "aws_route_table_association",
              key,
              importId: `${a.SubnetId}/${t.RouteTableId}`,
              stateId: a.RouteTableAssociationId!,
              label: `${a.RouteTableAssociationId} (${a.SubnetId} to ${t.RouteTableId})`,
              parent: t.RouteTableId,
              delete: aws(ctx.region, "ec2", "disassociate-route-table", { "association-id": a.RouteTableAssociationId! }),
            },
          ];
        }),
    );
  },
};

/** One flow log per VPC: key = the VPC's key. */
const flowLog: Kind = {
  type: "aws_flow_log",
  onlyDeclared: true,
  key: (args, ref) => ref(args.vpc_id),
  async find({ region, clients, found }) {
    const vpcs = idsOf(found, "aws_vpc");
    if (!vpcs.length) return [];
    const { FlowLogs = [] } = await clients.ec2.send(new DescribeFlowLogsCommand({ Filter: filter("resource-id", vpcs) }));
    return FlowLogs.map((l) => ({
      type: "aws_flow_log",
      key: keyOfId(found, "aws_vpc", l.ResourceId)!,
      importId: l.FlowLogId!,
      stateId: l.FlowLogId!,
      label: `${l.FlowLogId} (flow log of ${l.ResourceId})`,
      parent: l.ResourceId,
      created: l.CreationTime,
      delete: aws(region, "ec2", "delete-flow-logs", { "flow-log-ids": l.FlowLogId! }),
    }));
  },
};

// ------------------------------------------------------------------------------------ KMS

/** A key has no unique name: found by its description (which names the deployment and region). */
const kmsKey: Kind = {
  type: "aws_kms_key",
  key: (args) => str(args.description),
  async find({ region, clients }, wanted) {
    const descriptions = new Set(names(wanted));
    const found: Found[] = [];
    for await (const page of paginateListKeys({ client: clients.kms }, {})) {
      for (const { KeyId } of page.Keys ?? []) {
        const { KeyMetadata: key } = await clients.kms.send(new DescribeKeyCommand({ KeyId }));
        if (key?.KeyManager !== "CUSTOMER" || !descriptions.has(key.Description ?? "")) continue;
        if (key.KeyState === "PendingDeletion" || key.KeyState === "PendingReplicaDeletion") continue;
        found.push({
          type: "aws_kms_key",
          key: key.Description!,
          importId: key.KeyId!,
          stateId: key.KeyId!,
          label: `${key.KeyId} (KMS key "${key.Description}", created ${key.CreationDate?.toISOString()})`,
          created: key.CreationDate,
          delete: aws(region, "kms", "schedule-key-deletion", { "key-id": key.KeyId!, "pending-window-in-days": "7" }),
        });
      }
    }
    return found;
  },
};

const kmsAlias: Kind = {
  type: "aws_kms_alias",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    for await (const page of paginateListAliases({ client: clients.kms }, {})) {
      for (const a of page.Aliases ?? []) {
        if (!wantedNames.has(a.AliasName ?? "")) continue;
        found.push({
          type: "aws_kms_alias",
          key: a.AliasName!,
          importId: a.AliasName!,
          stateId: a.AliasName!,
          label: `${a.AliasName} (to key ${a.TargetKeyId})`,
          delete: aws(region, "kms", "delete-alias", { "alias-name": a.AliasName! }),
        });
      }
    }
    return found;
  },
};

// ------------------------------------------------------------------------------------ API Gateway (HTTP API)

const httpApi: Kind = {
  type: "aws_apigatewayv2_api",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    let token: string | undefined;
    do {
      const page = await clients.apigatewayv2.send(new GetApisCommand({ NextToken: token }));
      for (const api of page.Items ?? []) {
        if (!wantedNames.has(api.Name ?? "")) continue;
        found.push({
          type: "aws_apigatewayv2_api",
          key: api.Name!,
          importId: api.ApiId!,
          stateId: api.ApiId!,
          label: `${api.ApiId} (HTTP API ${api.Name})`,
          created: api.CreatedDate,
          delete: aws(region, "apigatewayv2", "delete-api", { "api-id": api.ApiId! }),
        });
      }
      token = page.NextToken;
    } while (token);
    return found;
  },
};

/** An API's stages, routes or integrations: one read per API found. */
function apiPart(
  type: string,
  key: Kind["key"],
  list: (
    clients: RegionClients,
    apiId: string,
  ) => Promise<
    { partKey: string | undefined; id: string; importId: string; label: string; remove: Record<string, string>; command: string }[]
  >,
): Kind {
  return {
    type,
    key,
    onlyDeclared: true,
    goesWithParent: true,
    async find({ region, clients, found }) {
      const apis = found.filter((f) => f.type === "aws_apigatewayv2_api");
      const result: Found[] = [];
      for (const api of apis) {
        for (const part of await list(clients, api.stateId)) {
          const partKey = join(api.key, part.partKey);
          if (!partKey) continue;
          result.push({
            type,
            key: partKey,
            importId: `${api.stateId}/${part.importId}`,
            stateId: part.id,
            label: `${part.label} of API ${api.stateId}`,
            parent: api.stateId,
            delete: aws(region, "apigatewayv2", part.command, { "api-id": api.stateId, ...part.remove }),
          });
        }
      }
      return result;
    },
  };
}

const apiStage = apiPart(
  "aws_apigatewayv2_stage",
  (args, ref) => join(ref(args.api_id), str(args.name)),
  async (clients, ApiId) =>
    ((await clients.apigatewayv2.send(new GetStagesCommand({ ApiId }))).Items ?? []).map((s) => ({
      partKey: s.StageName,
      id: s.StageName!,
      importId: s.StageName!,
      label: `stage ${s.StageName}`,
      remove: { "stage-name": s.StageName! },
      command: "delete-stage",
    })),
);

const apiRoute = apiPart(
  "aws_apigatewayv2_route",
  (args, ref) => join(ref(args.api_id), str(args.route_key)),
  async (clients, ApiId) =>
    ((await clients.apigatewayv2.send(new GetRoutesCommand({ ApiId }))).Items ?? []).map((r) => ({
      partKey: r.RouteKey,
      id: r.RouteId!,
      importId: r.RouteId!,
      label: `route ${r.RouteId} "${r.RouteKey}"`,
      remove: { "route-id": r.RouteId! },
      command: "delete-route",
    })),
);

/** Key: the API and the function it proxies to. */
const apiIntegration = apiPart(
  "aws_apigatewayv2_integration",
  (args, ref) => join(ref(args.api_id), ref(args.integration_uri)),
  async (clients, ApiId) =>
    ((await clients.apigatewayv2.send(new GetIntegrationsCommand({ ApiId }))).Items ?? []).map((i) => ({
      partKey: functionNameOf(i.IntegrationUri),
      id: i.IntegrationId!,
      importId: i.IntegrationId!,
      label: `integration ${i.IntegrationId} (${functionNameOf(i.IntegrationUri)})`,
      remove: { "integration-id": i.IntegrationId! },
      command: "delete-integration",
    })),
);

// ------------------------------------------------------------------------------------ Lambda

const lambdaFunction: Kind = {
  type: "aws_lambda_function",
  key: (args) => str(args.function_name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    for await (const page of paginateListFunctions({ client: clients.lambda }, {})) {
      for (const f of page.Functions ?? []) {
        if (!wantedNames.has(f.FunctionName ?? "")) continue;
        found.push({
          type: "aws_lambda_function",
          key: f.FunctionName!,
          importId: f.FunctionName!,
          stateId: f.FunctionName!,
          label: `function ${f.FunctionName}`,
          delete: aws(region, "lambda", "delete-function", { "function-name": f.FunctionName! }),
        });
      }
    }
    return found;
  },
};

/** Key: function and statement id; read from each found function's resource policy. */
const lambdaPermission: Kind = {
  type: "aws_lambda_permission",
  onlyDeclared: true,
  goesWithParent: true,
  key: (args, ref) => join(ref(args.function_name), str(args.statement_id)),
  async find({ region, clients, found }) {
    const result: Found[] = [];
    for (const fn of found.filter((f) => f.type === "aws_lambda_function")) {
      let policy: { Statement?: { Sid?: string }[] };
      try {
        policy = JSON.parse((await clients.lambda.send(new GetPolicyCommand({ FunctionName: fn.stateId }))).Policy ?? "{}");
      } catch (err) {
        if (absent(err, "ResourceNotFoundException")) continue;
        throw err;
      }
      for (const { Sid } of policy.Statement ?? []) {
        if (!Sid) continue;
        result.push({
          type: "aws_lambda_permission",
          key: join(fn.key, Sid)!,
          importId: `${fn.stateId}/${Sid}`,
          stateId: Sid,
          label: `permission ${Sid} of ${fn.stateId}`,
          parent: fn.stateId,
          delete: aws(region, "lambda", "remove-permission", { "function-name": fn.stateId, "statement-id": Sid }),
        });
      }
    }
    return result;
  },
};

/** Key: function and source queue. */
const eventSourceMapping: Kind = {
  type: "aws_lambda_event_source_mapping",
  onlyDeclared: true,
  key: (args, ref) => join(ref(args.function_name), ref(args.event_source_arn)),
  async find({ region, clients, found }) {
    const result: Found[] = [];
    for (const fn of found.filter((f) => f.type === "aws_lambda_function")) {
      const { EventSourceMappings = [] } = await clients.lambda.send(new ListEventSourceMappingsCommand({ FunctionName: fn.stateId }));
      for (const m of EventSourceMappings) {
        const key = join(fn.key, queueNameOf(m.EventSourceArn));
        if (!key) continue;
        result.push({
          type: "aws_lambda_event_source_mapping",
          key,
          importId: m.UUID!,
          stateId: m.UUID!,
          label: `event source mapping ${m.UUID} (${queueNameOf(m.EventSourceArn)} to ${fn.stateId})`,
          parent: fn.stateId,
          delete: aws(region, "lambda", "delete-event-source-mapping", { uuid: m.UUID! }),
        });
      }
    }
    return result;
  },
};

// ------------------------------------------------------------------------------------ load balancing

const loadBalancer: Kind = {
  type: "aws_lb",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    for await (const page of paginateDescribeLoadBalancers({ client: clients.elbv2 }, {})) {
      for (const lb of page.LoadBalancers ?? []) {
        if (!wantedNames.has(lb.LoadBalancerName ?? "")) continue;
        found.push({
          type: "aws_lb",
          key: lb.LoadBalancerName!,
          importId: lb.LoadBalancerArn!,
          stateId: lb.LoadBalancerArn!,
          label: `load balancer ${lb.LoadBalancerName} in ${lb.VpcId}`,
          parent: lb.VpcId,
          created: lb.CreatedTime,
          delete: aws(region, "elbv2", "delete-load-balancer", { "load-balancer-arn": lb.LoadBalancerArn! }),
        });
      }
    }
    return found;
  },
};

const targetGroup: Kind = {
  type: "aws_lb_target_group",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    for await (const page of paginateDescribeTargetGroups({ client: clients.elbv2 }, {})) {
      for (const tg of page.TargetGroups ?? []) {
        if (!wantedNames.has(tg.TargetGroupName ?? "")) continue;
        found.push({
          type: "aws_lb_target_group",
          key: tg.TargetGroupName!,
          importId: tg.TargetGroupArn!,
          stateId: tg.TargetGroupArn!,
          label: `target group ${tg.TargetGroupName}`,
          delete: aws(region, "elbv2", "delete-target-group", { "target-group-arn": tg.TargetGroupArn! }),
        });
      }
    }
    return found;
  },
};

/** Key: load balancer and port. */
const listener: Kind = {
  type: "aws_lb_listener",
  onlyDeclared: true,
  goesWithParent: true,
  key: (args, ref) => join(ref(args.load_balancer_arn), args.port),
  async find({ region, clients, found }) {
    const result: Found[] = [];
    for (const lb of found.filter((f) => f.type === "aws_lb")) {
      const { Listeners = [] } = await clients.elbv2.send(new DescribeListenersCommand({ LoadBalancerArn: lb.stateId }));
      for (const l of Listeners) {
        result.push({
          type: "aws_lb_listener",
          key: join(lb.key, l.Port)!,
          importId: l.ListenerArn!,
          stateId: l.ListenerArn!,
          label: `listener ${l.Protocol}:${l.Port} of ${lb.key}`,
          parent: lb.stateId,
          delete: aws(region, "elbv2", "delete-listener", { "listener-arn": l.ListenerArn! }),
        });
      }
    }
    return result;
  },
};

/** Key: listener and priority. */
const listenerRule: Kind = {
  type: "aws_lb_listener_rule",
  onlyDeclared: true,
  goesWithParent: true,
  key: (args, ref) => join(ref(args.listener_arn), args.priority),
  async find({ region, clients, found }) {
    const result: Found[] = [];
    for (const l of found.filter((f) => f.type === "aws_lb_listener")) {
      const { Rules = [] } = await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: l.stateId }));
      for (const r of Rules.filter((rule) => !rule.IsDefault)) {
        result.push({
          type: "aws_lb_listener_rule",
          key: join(l.key, Number(r.Priority))!,
          importId: r.RuleArn!,
          stateId: r.RuleArn!,
          label: `listener rule priority ${r.Priority} of ${l.key}`,
          parent: l.stateId,
          delete: aws(region, "elbv2", "delete-rule", { "rule-arn": r.RuleArn! }),
        });
      }
    }
    return result;
  },
};

// ------------------------------------------------------------------------------------ named resources

/** A resource with a unique name per region (or account): looked up by name, imported by name. */
function named(
  type: string,
  nameArg: string,
  lookup: (ctx: FindContext, name: string) => Promise<{ importId: string; stateId?: string; label?: string; created?: Date } | undefined>,
  remove: (region: string, name: string, importId: string) => string,
): Kind {
  return {
    type,
    key: (args) => str(args[nameArg]),
    async find(ctx, wanted) {
      const result: Found[] = [];
      for (const name of names(wanted)) {
        const hit = await lookup(ctx, name);
        if (!hit) continue;
        result.push({
          type,
          key: name,
          importId: hit.importId,
          stateId: hit.stateId ?? hit.importId,
          label: hit.label ?? name,
          created: hit.created,
          delete: remove(ctx.region, name, hit.importId),
        });
      }
      return result;
    },
  };
}

const logGroup = named(
  "aws_cloudwatch_log_group",
  "name",
  async ({ clients }, name) => {
    const { logGroups = [] } = await clients.logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name }));
    const group = logGroups.find((g) => g.logGroupName === name);
    return group ? { importId: name, label: `log group ${name}`, created: new Date(group.creationTime ?? 0) } : undefined;
  },
  (region, name) => aws(region, "logs", "delete-log-group", { "log-group-name": name }),
);

const iamRole = named(
  "aws_iam_role",
  "name",
  async ({ clients }, name) => {
    try {
      const { Role } = await clients.iam.send(new GetRoleCommand({ RoleName: name }));
      return { importId: name, label: `IAM role ${name}`, created: Role?.CreateDate };
    } catch (err) {
      if (absent(err, "NoSuchEntityException", "NoSuchEntity")) return undefined;
      throw err;
    }
  },
  // Its inline and attached policies go first (aws iam list-role-policies / list-attached-role-policies).
  (_region, name) => `aws iam delete-role --role-name ${q(name)}`,
);

const dynamodbTable = named(
  "aws_dynamodb_table",
  "name",
  async ({ clients }, name) => {
    try {
      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));
      return { importId: name, label: `table ${name}`, created: Table?.CreationDateTime };
    } catch (err) {
      if (absent(err, "ResourceNotFoundException")) return undefined;
      throw err;
    }
  },
  (region, name) => aws(region, "dynamodb", "delete-table", { "table-name": name }),
);

/** Buckets: the account's bucket list (names are global; the stacks put the region in them). */
const s3Bucket: Kind = {
  type: "aws_s3_bucket",
  key: (args) => str(args.bucket),
  async find({ clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const { Buckets = [] } = await clients.s3.send(new ListBucketsCommand({}));
    return Buckets.filter((b) => wantedNames.has(b.Name ?? "")).map((b) => ({
      type: "aws_s3_bucket",
      key: b.Name!,
      importId: b.Name!,
      stateId: b.Name!,
      label: `bucket ${b.Name}`,
      created: b.CreationDate,
      delete: `aws s3 rb s3://${b.Name} --force`,
    }));
  },
};

const sqsQueue = named(
  "aws_sqs_queue",
  "name",
  async ({ clients }, name) => {
    try {
      const { QueueUrl } = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      return QueueUrl ? { importId: QueueUrl, label: `queue ${name}` } : undefined;
    } catch (err) {
      if (absent(err, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")) return undefined;
      throw err;
    }
  },
  (region, _name, url) => aws(region, "sqs", "delete-queue", { "queue-url": url }),
);

const snsTopic: Kind = {
  type: "aws_sns_topic",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    for await (const page of paginateListTopics({ client: clients.sns }, {})) {
      for (const { TopicArn } of page.Topics ?? []) {
        const name = TopicArn?.split(":").pop() ?? "";
        if (!wantedNames.has(name)) continue;
        found.push({
          type: "aws_sns_topic",
          key: name,
          importId: TopicArn!,
          stateId: TopicArn!,
          label: `topic ${name}`,
          delete: aws(region, "sns", "delete-topic", { "topic-arn": TopicArn! }),
        });
      }
    }
    return found;
  },
};

/** RDS resources: one list call each, filtered on the declared identifiers. */
function rdsNamed<T>(
  type: string,
  nameArg: string,
  list: (rds: RDSClient, marker?: string) => Promise<{ items: T[]; marker?: string }>,
  nameOf: (item: T) => string | undefined,
  extra: (item: T) => { label: string; parent?: string; created?: Date },
  remove: (region: string, name: string) => string,
): Kind {
  return {
    type,
    key: (args) => str(args[nameArg]),
    async find({ region, clients }, wanted) {
      const wantedNames = new Set(names(wanted));
      const found: Found[] = [];
      let marker: string | undefined;
      do {
        const page = await list(clients.rds, marker);
        for (const item of page.items) {
          const name = nameOf(item);
          if (!name || !wantedNames.has(name)) continue;
          found.push({ type, key: name, importId: name, stateId: name, ...extra(item), delete: remove(region, name) });
        }
        marker = page.marker;
      } while (marker);
      return found;
    },
  };
}

const clusterParameterGroup = rdsNamed(
  "aws_rds_cluster_parameter_group",
  "name",
  async (rds, Marker) => {
    const page = await rds.send(new DescribeDBClusterParameterGroupsCommand({ Marker }));
    return { items: page.DBClusterParameterGroups ?? [], marker: page.Marker };
  },
  (g) => g.DBClusterParameterGroupName,
  (g) => ({ label: `cluster parameter group ${g.DBClusterParameterGroupName}` }),
  (region, name) => aws(region, "rds", "delete-db-cluster-parameter-group", { "db-cluster-parameter-group-name": name }),
);

const dbSubnetGroup = rdsNamed(
  "aws_db_subnet_group",
  "name",
  async (rds, Marker) => {
    const page = await rds.send(new DescribeDBSubnetGroupsCommand({ Marker }));
    return { items: page.DBSubnetGroups ?? [], marker: page.Marker };
  },
  (g) => g.DBSubnetGroupName,
  (g) => ({ label: `DB subnet group ${g.DBSubnetGroupName} in ${g.VpcId}`, parent: g.VpcId }),
  (region, name) => aws(region, "rds", "delete-db-subnet-group", { "db-subnet-group-name": name }),
);

const rdsCluster = rdsNamed(
  "aws_rds_cluster",
  "cluster_identifier",
  async (rds, Marker) => {
    const page = await rds.send(new DescribeDBClustersCommand({ Marker }));
    return { items: page.DBClusters ?? [], marker: page.Marker };
  },
  (c) => c.DBClusterIdentifier,
  (c) => ({ label: `Aurora cluster ${c.DBClusterIdentifier} (${c.Status})`, created: c.ClusterCreateTime }),
  (region, name) => aws(region, "rds", "delete-db-cluster", { "db-cluster-identifier": name }).concat(" --skip-final-snapshot"),
);

const rdsInstance = rdsNamed(
  "aws_rds_cluster_instance",
  "identifier",
  async (rds, Marker) => {
    const page = await rds.send(new DescribeDBInstancesCommand({ Marker }));
    return { items: page.DBInstances ?? [], marker: page.Marker };
  },
  (i) => i.DBInstanceIdentifier,
  (i) => ({ label: `Aurora instance ${i.DBInstanceIdentifier} of ${i.DBClusterIdentifier}`, created: i.InstanceCreateTime }),
  (region, name) => aws(region, "rds", "delete-db-instance", { "db-instance-identifier": name }),
);

const globalCluster = rdsNamed(
  "aws_rds_global_cluster",
  "global_cluster_identifier",
  async (rds, Marker) => {
    const page = await rds.send(new DescribeGlobalClustersCommand({ Marker }));
    return { items: page.GlobalClusters ?? [], marker: page.Marker };
  },
  (g) => g.GlobalClusterIdentifier,
  (g) => ({ label: `global cluster ${g.GlobalClusterIdentifier}` }),
  (region, name) => aws(region, "rds", "delete-global-cluster", { "global-cluster-identifier": name }),
);

const webAcl: Kind = {
  type: "aws_wafv2_web_acl",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const found: Found[] = [];
    let marker: string | undefined;
    do {
      const page = await clients.wafv2.send(new ListWebACLsCommand({ Scope: "REGIONAL", NextMarker: marker }));
      for (const acl of page.WebACLs ?? []) {
        if (!wantedNames.has(acl.Name ?? "")) continue;
        found.push({
          type: "aws_wafv2_web_acl",
          key: acl.Name!,
          importId: `${acl.Id}/${acl.Name}/REGIONAL`,
          stateId: acl.Id!,
          label: `web ACL ${acl.Name} (${acl.Id})`,
          delete: aws(region, "wafv2", "delete-web-acl", { name: acl.Name!, scope: "REGIONAL", id: acl.Id!, "lock-token": acl.LockToken! }),
        });
      }
      marker = page.WebACLs?.length ? page.NextMarker : undefined;
    } while (marker);
    return found;
  },
};

const schedule: Kind = {
  type: "aws_scheduler_schedule",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const found: Found[] = [];
    for (const name of names(wanted)) {
      const { Schedules = [] } = await clients.scheduler.send(new ListSchedulesCommand({ NamePrefix: name }));
      for (const s of Schedules.filter((x) => x.Name === name)) {
        const group = s.GroupName ?? "default";
        found.push({
          type: "aws_scheduler_schedule",
          key: name,
          importId: `${group}/${name}`,
          stateId: `${group}/${name}`,
          label: `schedule ${group}/${name}`,
          created: s.CreationDate,
          delete: aws(region, "scheduler", "delete-schedule", { name, "group-name": group }),
        });
      }
    }
    return found;
  },
};

const trail: Kind = {
  type: "aws_cloudtrail",
  key: (args) => str(args.name),
  async find({ region, clients }, wanted) {
    const wantedNames = new Set(names(wanted));
    const { trailList = [] } = await clients.cloudtrail.send(new DescribeTrailsCommand({ includeShadowTrails: false }));
    return trailList
      .filter((t) => wantedNames.has(t.Name ?? ""))
      .map((t) => ({
        type: "aws_cloudtrail",
        key: t.Name!,
        importId: t.Name!,
        stateId: t.TrailARN!,
        label: `trail ${t.Name}`,
        delete: aws(region, "cloudtrail", "delete-trail", { name: t.Name! }),
      }));
  },
};

/**
 * Every kind the finder looks for, parents before the parts that live in them (a part's key and
 * parent are read from what the kinds before it found).
 */
export const KINDS: readonly Kind[] = [
  kmsKey,
  kmsAlias,
  vpc,
  subnet,
  internetGateway,
  routeTable,
  route,
  routeTableAssociation,
  vpcEndpoint,
  securityGroup,
  ingressRule,
  flowLog,
  vpcPeering,
  vpcPeeringAccepter,
  logGroup,
  iamRole,
  dynamodbTable,
  s3Bucket,
  sqsQueue,
  snsTopic,
  clusterParameterGroup,
  dbSubnetGroup,
  globalCluster,
  rdsCluster,
  rdsInstance,
  lambdaFunction,
  lambdaPermission,
  eventSourceMapping,
  httpApi,
  apiIntegration,
  apiRoute,
  apiStage,
  targetGroup,
  loadBalancer,
  listener,
  listenerRule,
  webAcl,
  schedule,
  trail,
];
