/**
 * `npm run ops -- deploy orphans` against moto in server mode (the real AWS control-plane wire
 * protocols, no mocks), on the app as `cdktf synth` writes it: resources made outside the state
 * (as an apply killed before its first state save leaves them) are listed with the import line
 * that hands each to its address, second copies with the command that deletes them, and what the
 * state holds is not listed. Installs the pinned moto (npm run setup:rehearse) when missing.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CreateApiCommand, CreateRouteCommand } from "@aws-sdk/client-apigatewayv2";
import { CreateLogGroupCommand } from "@aws-sdk/client-cloudwatch-logs";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import {
  AssociateRouteTableCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  type TagSpecification,
} from "@aws-sdk/client-ec2";
import { CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { CreateRoleCommand } from "@aws-sdk/client-iam";
import { CreateAliasCommand, CreateKeyCommand, ScheduleKeyDeletionCommand } from "@aws-sdk/client-kms";
import { AddPermissionCommand, CreateFunctionCommand } from "@aws-sdk/client-lambda";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { CreateTopicCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { zipSync } from "fflate";
import { configureMoto, type Moto, startMoto } from "../../scripts/terraform/moto";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { commandUsage } from "../../src/ops/command-line";
import { IN_PLACE_TYPES, KINDS, type RegionClients } from "../../src/ops/deploy/catalog";
import { buildRegionClients, DEPLOY_USAGE, runDeploy } from "../../src/ops/deploy/cli";
import { declared, importLine } from "../../src/ops/deploy/orphans";
import { loadSynthStack } from "../../src/ops/deploy/stack";
import { synthAppToDisk } from "../infra/support";

const ROOT = path.resolve(__dirname, "../..");
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

let moto: Moto;
let outdir: string;
let primaryDir: string;
let drDir: string;
let region: string;
let aws: RegionClients;
/** The primary stack's synthesized resources: address -> arguments. */
let declaredArgs: Map<string, Record<string, any>>;

beforeAll(async () => {
  // A fresh clone has no .venv-moto: install the pinned moto as the rehearsal does (once).
  if (!existsSync(path.join(ROOT, ".venv-moto", "bin", "moto_server"))) {
    execFileSync("bash", [path.join(ROOT, "scripts/terraform/setup.sh")], { stdio: "inherit" });
  }
  const logDir = mkdtempSync(path.join(tmpdir(), "orphans-moto-"));
  outdir = synthAppToDisk().outdir;
  moto = await startMoto(path.join(logDir, "moto.log"));
  await configureMoto(moto.endpoint, { lambda: { use_docker: false } });
  primaryDir = path.join(outdir, "stacks", "primary");
  drDir = path.join(outdir, "stacks", "dr");
  const stack = loadSynthStack(primaryDir);
  region = stack.region;
  aws = clientsFor(moto.endpoint)(region);
  declaredArgs = new Map(stack.resources.map((r) => [r.address, r.args as Record<string, any>]));
}, 180_000);

afterAll(async () => {
  if (aws) for (const client of Object.values(aws)) client.destroy();
  await moto?.stop();
});

const clientsFor = (endpoint: string) => (r: string) => buildRegionClients(r, { endpoint, credentials: CREDENTIALS });

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function orphans(argv: string[], endpoint = moto.endpoint): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDeploy(["orphans", ...argv], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
    context: () => ({}),
    clients: clientsFor(endpoint),
  });
  return { code, out, err };
}

/** The declared resources of a type, with their addresses. */
const ofType = (type: string) => [...declaredArgs].filter(([address]) => address.startsWith(`${type}.`));
const first = (type: string) => ofType(type)[0]!;
/** The resource a `${type.name.attr}` argument refers to. */
const target = (expression: string) => /^\$\{([a-z0-9_]+\.[A-Za-z0-9_-]+)\./.exec(expression)![1]!;
const nameTags = (type: "vpc" | "subnet" | "route-table" | "security-group", name: string): TagSpecification[] => [
  { ResourceType: type, Tags: [{ Key: "Name", Value: name }] },
];
const line = (address: string, id: string) => importLine(primaryDir, address, id);

describe("orphans of the primary stack", () => {
  const made: Record<string, string> = {};
  const stateFile = () => path.join(outdir, "primary.tfstate");

  beforeAll(async () => {
    // Named resources an interrupted apply made: each has exactly one address to go to.
    const [logGroup, logArgs] = first("aws_cloudwatch_log_group");
    await aws.logs.send(new CreateLogGroupCommand({ logGroupName: logArgs.name }));
    made[logGroup] = logArgs.name;
    const [role, roleArgs] = first("aws_iam_role");
    const { Role } = await aws.iam.send(
      new CreateRoleCommand({ RoleName: roleArgs.name, AssumeRolePolicyDocument: roleArgs.assume_role_policy }),
    );
    made[role] = roleArgs.name;
    const [table, tableArgs] = first("aws_dynamodb_table");
    await aws.dynamodb.send(
      new CreateTableCommand({
        TableName: tableArgs.name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "k", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "k", KeyType: "HASH" }],
      }),
    );
    made[table] = tableArgs.name;
    const [queue, queueArgs] = first("aws_sqs_queue");
    made[queue] = (await aws.sqs.send(new CreateQueueCommand({ QueueName: queueArgs.name }))).QueueUrl!;

    // Two copies of the key (two killed applies), and the alias of the first.
    const [key, keyArgs] = first("aws_kms_key");
    const olderKey = (await aws.kms.send(new CreateKeyCommand({ Description: keyArgs.description }))).KeyMetadata!.KeyId!;
    await new Promise((r) => setTimeout(r, 1100)); // a later creation date
    const newerKey = (await aws.kms.send(new CreateKeyCommand({ Description: keyArgs.description }))).KeyMetadata!.KeyId!;
    made[key] = olderKey;
    made.newerKey = newerKey;
    const [alias, aliasArgs] = first("aws_kms_alias");
    await aws.kms.send(new CreateAliasCommand({ AliasName: aliasArgs.name, TargetKeyId: olderKey }));
    made[alias] = aliasArgs.name;

    // Two VPCs named alike: the one with the network in it is imported, the other deleted.
    const [vpc, vpcArgs] = first("aws_vpc");
    const [association, associationArgs] = first("aws_route_table_association");
    const [subnet, routeTable] = [target(associationArgs.subnet_id), target(associationArgs.route_table_id)];
    const subnetArgs = declaredArgs.get(subnet)!;
    const routeTableArgs = declaredArgs.get(routeTable)!;
    const vpcId = (
      await aws.ec2.send(new CreateVpcCommand({ CidrBlock: vpcArgs.cidr_block, TagSpecifications: nameTags("vpc", vpcArgs.tags.Name) }))
    ).Vpc!.VpcId!;
    const subnetId = (
      await aws.ec2.send(
        new CreateSubnetCommand({
          VpcId: vpcId,
          CidrBlock: subnetArgs.cidr_block,
          TagSpecifications: nameTags("subnet", subnetArgs.tags.Name),
        }),
      )
    ).Subnet!.SubnetId!;
    const routeTableId = (
      await aws.ec2.send(
        new CreateRouteTableCommand({ VpcId: vpcId, TagSpecifications: nameTags("route-table", routeTableArgs.tags.Name) }),
      )
    ).RouteTable!.RouteTableId!;
    await aws.ec2.send(new AssociateRouteTableCommand({ SubnetId: subnetId, RouteTableId: routeTableId }));
    Object.assign(made, { [vpc]: vpcId, [subnet]: subnetId, [routeTable]: routeTableId, [association]: `${subnetId}/${routeTableId}` });
    const [rule, ruleArgs] = first("aws_vpc_security_group_ingress_rule");
    const groupIds: Record<string, string> = {};
    for (const group of [target(ruleArgs.security_group_id), target(ruleArgs.referenced_security_group_id)]) {
      const groupArgs = declaredArgs.get(group)!;
      groupIds[group] = (
        await aws.ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: groupArgs.name, Description: "orphan test" }))
      ).GroupId!;
      made[group] = groupIds[group];
    }
    const ruleId = (
      await aws.ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: groupIds[target(ruleArgs.security_group_id)],
          IpPermissions: [
            {
              IpProtocol: ruleArgs.ip_protocol,
              FromPort: ruleArgs.from_port,
              ToPort: ruleArgs.to_port,
              UserIdGroupPairs: [{ GroupId: groupIds[target(ruleArgs.referenced_security_group_id)] }],
            },
          ],
        }),
      )
    ).SecurityGroupRules![0]!.SecurityGroupRuleId!;
    made[rule] = ruleId;
    const otherVpc = (
      await aws.ec2.send(new CreateVpcCommand({ CidrBlock: vpcArgs.cidr_block, TagSpecifications: nameTags("vpc", vpcArgs.tags.Name) }))
    ).Vpc!.VpcId!;
    const otherSubnet = (
      await aws.ec2.send(
        new CreateSubnetCommand({
          VpcId: otherVpc,
          CidrBlock: subnetArgs.cidr_block,
          TagSpecifications: nameTags("subnet", subnetArgs.tags.Name),
        }),
      )
    ).Subnet!.SubnetId!;
    Object.assign(made, { otherVpc, otherSubnet });

    // A function with the permission an ALB target group gives it.
    const [permission, permissionArgs] = ofType("aws_lambda_permission").find(([, a]) => a.principal.startsWith("elasticloadbalancing"))!;
    const fn = target(permissionArgs.function_name);
    const functionName = declaredArgs.get(fn)!.function_name;
    await aws.lambda.send(
      new CreateFunctionCommand({
        FunctionName: functionName,
        Runtime: "nodejs22.x",
        Role: Role!.Arn,
        Handler: "index.handler",
        Code: { ZipFile: zipSync({ "index.js": new TextEncoder().encode("exports.handler = async () => ({});") }) },
      }),
    );
    await aws.lambda.send(
      new AddPermissionCommand({
        FunctionName: functionName,
        StatementId: permissionArgs.statement_id,
        Action: "lambda:InvokeFunction",
        Principal: "elasticloadbalancing.amazonaws.com",
      }),
    );
    Object.assign(made, { [fn]: functionName, [permission]: `${functionName}/${permissionArgs.statement_id}` });

    // The load balancer (in the imported VPC), a target group and the HTTP listener.
    const [lb, lbArgs] = first("aws_lb");
    const zones = ["a", "b"];
    const lbSubnets = [subnetId];
    for (const [i, zone] of zones.entries()) {
      if (i === 0) continue;
      lbSubnets.push(
        (await aws.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.0.200.0/24", AvailabilityZone: `${region}${zone}` })))
          .Subnet!.SubnetId!,
      );
    }
    const lbArn = (await aws.elbv2.send(new CreateLoadBalancerCommand({ Name: lbArgs.name, Subnets: lbSubnets, Type: "application" })))
      .LoadBalancers![0]!.LoadBalancerArn!;
    const [listener, listenerArgs] = first("aws_lb_listener");
    const listenerArn = (
      await aws.elbv2.send(
        new CreateListenerCommand({
          LoadBalancerArn: lbArn,
          Port: listenerArgs.port,
          Protocol: "HTTP",
          DefaultActions: [{ Type: "fixed-response", FixedResponseConfig: { StatusCode: "404" } }],
        }),
      )
    ).Listeners![0]!.ListenerArn!;
    const [targetGroup, targetGroupArgs] = first("aws_lb_target_group");
    const targetGroupArn = (await aws.elbv2.send(new CreateTargetGroupCommand({ Name: targetGroupArgs.name, TargetType: "lambda" })))
      .TargetGroups![0]!.TargetGroupArn!;
    Object.assign(made, { [lb]: lbArn, [listener]: listenerArn, [targetGroup]: targetGroupArn });

    // Held by the state: a bucket, a topic and the HTTP API; an API route the state lacks; a second API.
    const [bucket, bucketArgs] = first("aws_s3_bucket");
    await aws.s3.send(
      new CreateBucketCommand({ Bucket: bucketArgs.bucket, CreateBucketConfiguration: { LocationConstraint: region as never } }),
    );
    const [topic, topicArgs] = first("aws_sns_topic");
    const topicArn = (await aws.sns.send(new CreateTopicCommand({ Name: topicArgs.name }))).TopicArn!;
    const [api, apiArgs] = first("aws_apigatewayv2_api");
    const apiId = (await aws.apigatewayv2.send(new CreateApiCommand({ Name: apiArgs.name, ProtocolType: "HTTP" }))).ApiId!;
    const otherApi = (await aws.apigatewayv2.send(new CreateApiCommand({ Name: apiArgs.name, ProtocolType: "HTTP" }))).ApiId!;
    const [apiRoute, routeArgs] = first("aws_apigatewayv2_route");
    const routeId = (await aws.apigatewayv2.send(new CreateRouteCommand({ ApiId: apiId, RouteKey: routeArgs.route_key }))).RouteId!;
    Object.assign(made, { [bucket]: bucketArgs.bucket, [topic]: topicArn, [api]: apiId, [apiRoute]: `${apiId}/${routeId}`, otherApi });

    const state = (held: Record<string, Record<string, string>>) => ({
      version: 4,
      resources: Object.entries(held).map(([address, attributes]) => ({
        mode: "managed",
        type: address.split(".")[0],
        name: address.split(".")[1],
        instances: [{ attributes }],
      })),
    });
    writeFileSync(
      stateFile(),
      JSON.stringify(state({ [bucket]: { id: bucketArgs.bucket }, [topic]: { id: topicArn, arn: topicArn }, [api]: { id: apiId } })),
    );
    made.bucket = bucket;
    made.topic = topic;
    made.api = api;
  }, 60_000);

  test("lists each resource made outside the state with its import line, and nothing the state holds", async () => {
    const run = await orphans(["--stack", "primary", "--stack-dir", primaryDir, "--state", stateFile()]);
    expect(run.err).toEqual([]);
    expect(run.code).toBe(2);
    const text = run.out.join("\n");
    const imports = run.out.filter((l) => l.trim().startsWith("terraform ")).map((l) => l.trim().split("    # ")[0]);
    const expected = Object.entries(made)
      .filter(([address]) => address.includes(".") && ![made.bucket, made.topic, made.api].includes(address))
      .map(([address, id]) => line(address, id));
    expect(imports.sort()).toEqual(expected.sort());
    // Held by the state: not listed in any way.
    for (const held of [made.bucket, made.topic]) expect(text).not.toContain(held);
    expect(imports.join("\n")).not.toContain(`'${made.api}'`);
    expect(run.out.filter((l) => l.includes(`--api-id ${made[made.api!]}`))).toEqual([]);
  });

  test("second copies get the delete command, with the reason; parts of a deleted VPC too", async () => {
    const run = await orphans(["--stack", "primary", "--stack-dir", primaryDir, "--state", stateFile()]);
    const deletes = run.out.filter((l) => l.trim().startsWith("aws ")).map((l) => l.trim());
    const at = (command: string) => deletes.findIndex((l) => l.startsWith(command));
    expect(deletes).toHaveLength(4);
    expect(deletes[at(`aws ec2 delete-subnet --region ${region} --subnet-id ${made.otherSubnet}`)]).toContain(
      `in ${made.otherVpc}, which is deleted`,
    );
    expect(deletes[at(`aws ec2 delete-vpc --region ${region} --vpc-id ${made.otherVpc}`)]).toMatch(
      /another copy of aws_vpc\.\S+: vpc-\S+ is imported/,
    );
    // The part before what it lives in.
    expect(at("aws ec2 delete-subnet")).toBeLessThan(at("aws ec2 delete-vpc"));
    expect(deletes[at(`aws kms schedule-key-deletion --region ${region} --key-id ${made.newerKey} --pending-window-in-days 7`)]).toContain(
      `${made[first("aws_kms_key")[0]]} is imported`,
    );
    expect(deletes[at(`aws apigatewayv2 delete-api --region ${region} --api-id ${made.otherApi}`)]).toContain(
      `the state holds ${made.api} as ${made[made.api!]}`,
    );
  });

  test("once the imports are in the state and the copies deleted, nothing is listed (state read from S3)", async () => {
    const before = await orphans(["--stack", "primary", "--stack-dir", primaryDir, "--state", stateFile()]);
    const held = JSON.parse(readFileSync(stateFile(), "utf8"));
    for (const l of before.out.filter((x) => x.trim().startsWith("terraform "))) {
      const [, address, importId] = /import '([^']+)' '([^']+)'/.exec(l)!;
      // What Terraform records after the import: the id, and the ARN for ARN-named resources.
      const stateId =
        address!.startsWith("aws_apigatewayv2_route.") || address!.startsWith("aws_lambda_permission.")
          ? importId!.split("/").pop()!
          : address!.startsWith("aws_route_table_association.")
            ? /(rtbassoc-\S+) \(/.exec(l)![1]!
            : importId!;
      held.resources.push({
        mode: "managed",
        type: address!.split(".")[0],
        name: address!.split(".")[1],
        instances: [{ attributes: { id: stateId } }],
      });
    }
    await aws.ec2.send(new DeleteSubnetCommand({ SubnetId: made.otherSubnet }));
    await aws.ec2.send(new DeleteVpcCommand({ VpcId: made.otherVpc }));
    await aws.kms.send(new ScheduleKeyDeletionCommand({ KeyId: made.newerKey, PendingWindowInDays: 7 }));
    held.resources = held.resources.filter((r: { type: string }) => r.type !== "aws_apigatewayv2_api");
    held.resources.push({
      mode: "managed",
      type: "aws_apigatewayv2_api",
      name: made.api!.split(".")[1],
      instances: [{ attributes: { id: made.otherApi } }],
    });
    // The API the state held was the other one: the listed copy is deleted instead.
    const bucketName = made[made.bucket!]!;
    await aws.s3.send(
      new PutObjectCommand({ Bucket: bucketName, Key: "payment-processing/test/primary.tfstate", Body: JSON.stringify(held) }),
    );
    const after = await orphans([
      "--stack",
      "primary",
      "--stack-dir",
      primaryDir,
      "--state",
      `s3://${bucketName}/payment-processing/test/primary.tfstate`,
    ]);
    const listed = after.out.filter((l) => /^\s+(terraform|aws) /.test(l));
    // Only the first API (and its route) remain outside the state: the state now holds the other copy.
    expect(listed.map((l) => l.trim().split(" ").slice(0, 3).join(" "))).toEqual(["aws apigatewayv2 delete-api"]);
    expect(listed[0]).toContain(made[made.api!]);
    expect(after.out.join("\n")).toContain(
      `s3://${bucketName}/payment-processing/test/primary.tfstate: ${held.resources.length} resource(s) held`,
    );
    expect(after.code).toBe(2);
  });
});

test("a missing state is reported as no state, and every resource found is then to import", async () => {
  const run = await orphans(["--stack", "primary", "--stack-dir", primaryDir, "--state", path.join(outdir, "never-written.tfstate")]);
  expect(run.out[0]).toContain("NO STATE (nothing saved yet)");
  // The bucket the state file held before is now one to import.
  const [bucket, bucketArgs] = first("aws_s3_bucket");
  expect(run.out.map((l) => l.trim().split("    # ")[0])).toContain(line(bucket, bucketArgs.bucket));
  expect(run.code).toBe(2);
});

test("every resource type of both stacks is looked for or re-applied in place; only reads of another stack's state are not checked", () => {
  const kinds = new Set(KINDS.map((k) => k.type));
  expect(declared(loadSynthStack(primaryDir)).notChecked).toEqual([]);
  const dr = loadSynthStack(drDir);
  const notChecked = declared(dr).notChecked;
  for (const reason of notChecked) expect(reason).toContain("it reads another stack's state");
  // A type without a finder: every resource of it is one of those (the replicas of primary's tables).
  const unknown = dr.resources.filter((r) => !kinds.has(r.type) && !IN_PLACE_TYPES.has(r.type));
  expect(unknown.map((r) => r.type)).toContain("aws_dynamodb_table_replica");
  for (const r of unknown) expect(notChecked).toContainEqual(expect.stringContaining(r.address));
});

test("a stack directory without a synthesized stack is one error line, exit 1", async () => {
  const run = await orphans(["--stack", "dr", "--stack-dir", path.join(outdir, "nowhere")]);
  expect(run.code).toBe(1);
  expect(run.err).toEqual([expect.stringMatching(/^error: .*cdk\.tf\.json not found: run npm run synth/)]);
});

test("deploy orphans --help prints its usage and exits 0", async () => {
  const run = await orphans(["--stack", "primary", "--help"]);
  expect(run).toEqual({ code: 0, out: [commandUsage(DEPLOY_USAGE, "orphans")], err: [] });
  expect(run.out[0]).toContain("orphans --stack primary|dr");
});

/** The IAM action of a request, from its credential scope and X-Amz-Target, query Action or REST path. */
function iamAction(r: { method: string; path: string; headers: Record<string, unknown>; body: string }): string {
  const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(String(r.headers.authorization))![1]!;
  const target = r.headers["x-amz-target"];
  if (target) return `${service}:${String(target).split(".").pop()}`;
  const action = new URLSearchParams(r.body).get("Action");
  if (action) return `${service}:${action}`;
  if (service === "apigateway") return `apigateway:${r.method}`;
  const rest: [RegExp, string][] = [
    [/^\/2015-03-31\/functions\/?(\?.*)?$/, "lambda:ListFunctions"],
    [/^\/2015-03-31\/functions\/[^/]+\/policy/, "lambda:GetPolicy"],
    [/^\/2015-03-31\/event-source-mappings/, "lambda:ListEventSourceMappings"],
    [/^\/schedules/, "scheduler:ListSchedules"],
    [/^\/(\?.*)?$/, "s3:ListAllMyBuckets"],
    [/^\/[^/?]+\/[^?]+/, "s3:GetObject"],
  ];
  const hit = rest.find(([pattern]) => pattern.test(r.path));
  if (!hit) throw new Error(`unmapped request ${service} ${r.method} ${r.path}`);
  return hit[1];
}

test("src/ops/README.md lists exactly the rights deploy orphans uses on the wire", async () => {
  const proxy = await startRecordingProxy(moto.endpoint);
  try {
    const bucket = first("aws_s3_bucket")[1].bucket;
    const primary = await orphans(
      ["--stack", "primary", "--stack-dir", primaryDir, "--state", `s3://${bucket}/payment-processing/test/primary.tfstate`],
      proxy.endpoint,
    );
    expect(primary.err).toEqual([]);
    const dr = await orphans(["--stack", "dr", "--stack-dir", drDir, "--state", path.join(outdir, "no-dr.tfstate")], proxy.endpoint);
    expect(dr.err).toEqual([]);
  } finally {
    await proxy.stop();
  }
  const onWire = [...new Set(proxy.requests.map((r) => iamAction(r as never)))].sort();
  const readme = readFileSync(path.join(ROOT, "src/ops/README.md"), "utf8");
  const start = readme.indexOf("**IAM rights `deploy orphans` needs**");
  expect(start).toBeGreaterThan(-1);
  const section = readme.slice(start, readme.indexOf("Nothing else", start));
  const listed = [...new Set([...section.matchAll(/`([a-z0-9]+:[A-Za-z]+)`/g)].map((m) => m[1]!))].sort();
  expect(listed).toEqual(onWire);
});
