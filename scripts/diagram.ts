/**
 * npm run diagram — writes docs/architecture.md: a Mermaid diagram of the synthesized app (both
 * regions, the main resources per tier, the cross-region links), built from the stacks' JSON.
 * When README.md has the markers <!-- architecture:start --> and <!-- architecture:end -->, the
 * diagram between them is refreshed too. `__tests__/diagram.test.ts` fails when either is stale.
 *
 * Nothing here names a resource: nodes come from resource types and their name attributes, and
 * edges from the `${type.name.attr}` references (cross-stack ones through terraform_remote_state).
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { App } from "cdktf";

type Json = Record<string, any>;
type StackName = "primary" | "dr";
type Tier = "edge" | "compute" | "messaging" | "data" | "security" | "network";
type Shape = "box" | "round" | "db" | "queue";

export interface SynthesizedStacks {
  readonly primary: object;
  readonly dr: object;
}

/**
 * Settings the diagram is rendered with: the defaults (suffix `dev`) plus an example domain, so
 * that the optional Route 53 failover records are drawn.
 */
export const DIAGRAM_CONTEXT: Readonly<Record<string, string>> = {
  domainName: "api.example.com",
  hostedZoneId: "Z0123456789ABCDEFGHIJ",
  primaryCertificateArn: "arn:aws:acm:ap-southeast-1:123456789012:certificate/00000000-0000-4000-8000-000000000001",
  drCertificateArn: "arn:aws:acm:ap-southeast-2:123456789012:certificate/00000000-0000-4000-8000-000000000002",
};

export const ARCHITECTURE_FILE = path.join(__dirname, "..", "docs", "architecture.md");
export const README_FILE = path.join(__dirname, "..", "README.md");
export const README_START = "<!-- architecture:start -->";
export const README_END = "<!-- architecture:end -->";

const TIERS: { tier: Tier; title: string }[] = [
  { tier: "edge", title: "edge" },
  { tier: "compute", title: "compute" },
  { tier: "messaging", title: "messaging" },
  { tier: "data", title: "data" },
  { tier: "security", title: "security and observability" },
  { tier: "network", title: "network" },
];

interface TypeSpec {
  readonly tier: Tier;
  readonly kind: string;
  readonly shape: Shape;
  /** Several resources of the type collapse into one counted node per region. */
  readonly aggregate?: boolean;
}

/** Resource types drawn; every other type is left out (so new types never break the renderer). */
const TYPES: Record<string, TypeSpec> = {
  aws_apigatewayv2_api: { tier: "edge", kind: "HTTP API", shape: "box" },
  aws_api_gateway_rest_api: { tier: "edge", kind: "REST API", shape: "box" },
  aws_lb: { tier: "edge", kind: "ALB", shape: "box" },
  aws_cloudfront_distribution: { tier: "edge", kind: "CloudFront", shape: "box" },
  aws_wafv2_web_acl: { tier: "edge", kind: "WAF web ACL", shape: "box" },
  aws_route53_record: { tier: "edge", kind: "Route 53 record", shape: "box" },
  aws_route53_health_check: { tier: "edge", kind: "Route 53 health check", shape: "box" },
  aws_lambda_function: { tier: "compute", kind: "Lambda", shape: "round" },
  aws_scheduler_schedule: { tier: "compute", kind: "EventBridge schedule", shape: "box" },
  aws_sqs_queue: { tier: "messaging", kind: "SQS", shape: "queue" },
  aws_sns_topic: { tier: "messaging", kind: "SNS", shape: "queue" },
  aws_rds_global_cluster: { tier: "data", kind: "Aurora global cluster", shape: "db" },
  aws_rds_cluster: { tier: "data", kind: "Aurora cluster", shape: "db" },
  aws_dynamodb_table: { tier: "data", kind: "DynamoDB", shape: "db" },
  aws_dynamodb_table_replica: { tier: "data", kind: "DynamoDB replica", shape: "db" },
  aws_s3_bucket: { tier: "data", kind: "S3", shape: "db" },
  aws_kms_key: { tier: "security", kind: "KMS key", shape: "box" },
  aws_cloudtrail: { tier: "security", kind: "CloudTrail", shape: "box" },
  aws_secretsmanager_secret: { tier: "security", kind: "Secret", shape: "box" },
  aws_cloudwatch_dashboard: { tier: "security", kind: "dashboard", shape: "box" },
  aws_cloudwatch_metric_alarm: { tier: "security", kind: "CloudWatch alarms", shape: "box", aggregate: true },
  aws_cloudwatch_log_group: { tier: "security", kind: "log groups (KMS)", shape: "box", aggregate: true },
  aws_vpc: { tier: "network", kind: "VPC", shape: "box" },
  aws_subnet: { tier: "network", kind: "subnets", shape: "box", aggregate: true },
  aws_vpc_endpoint: { tier: "network", kind: "VPC endpoints", shape: "box", aggregate: true },
  aws_nat_gateway: { tier: "network", kind: "NAT gateways", shape: "box", aggregate: true },
};

/** Attributes that carry a resource's name, most telling first. */
const NAME_ATTRIBUTES = [
  "function_name",
  "bucket",
  "cluster_identifier",
  "global_cluster_identifier",
  "dashboard_name",
  "alarm_name",
  "name",
];

/** Types whose resources live outside any region. */
const GLOBAL_TYPES = new Set(["aws_route53_record", "aws_route53_health_check", "aws_cloudfront_distribution"]);
const GLOBAL_GROUP = "global";

interface Resource {
  readonly stack: StackName;
  readonly type: string;
  readonly name: string;
  readonly body: Json;
}

interface DiagramNode {
  readonly id: string;
  readonly group: string;
  readonly tier: Tier;
  readonly shape: Shape;
  /** The resource's name as its environment variables would spell it (empty for counted nodes). */
  readonly name: string;
  label: string;
  count: number;
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
  readonly crossRegion?: boolean;
}

const REF = /\$\{((?:aws|data)[a-z0-9_]*)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_.-]+))?/g;
const REMOTE_OUTPUT = /\$\{data\.terraform_remote_state\.[A-Za-z0-9_-]+\.outputs\.cross-stack-output-([A-Za-z0-9_.-]+)\}/g;

function strings(value: unknown, into: string[] = []): string[] {
  if (typeof value === "string") into.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, into);
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) if (k !== "//") strings(v, into);
  return into;
}

function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9]+/g, "_");
}

function escapeLabel(text: string): string {
  return text.replace(/"/g, "#quot;");
}

class Model {
  readonly resources = new Map<string, Resource>();
  readonly nodes = new Map<string, DiagramNode>();
  /** resource key (stack/type.name) -> node id */
  readonly nodeOf = new Map<string, string>();
  readonly edges = new Map<string, Edge>();
  readonly regions: Record<StackName, string>;

  constructor(readonly stacks: Record<StackName, Json>) {
    this.regions = { primary: providerRegion(stacks.primary), dr: providerRegion(stacks.dr) };
    for (const stack of ["primary", "dr"] as const) {
      for (const [type, byName] of Object.entries<Json>(stacks[stack].resource ?? {})) {
        for (const [name, body] of Object.entries<Json>(byName))
          this.resources.set(`${stack}/${type}.${name}`, { stack, type, name, body });
      }
    }
  }

  groupOf(r: Resource): string {
    if (GLOBAL_TYPES.has(r.type)) return GLOBAL_GROUP;
    if (typeof r.body.region === "string" && !r.body.region.includes("${")) return r.body.region;
    // A resource in another region names that region's aliased provider (`aws.<alias>`).
    if (typeof r.body.provider === "string") return providerRegion(this.stacks[r.stack], r.body.provider.replace(/^aws\./, ""));
    return this.regions[r.stack];
  }

  /** The resources a resource refers to: same-stack references and primary outputs read by dr. */
  refsOf(r: Resource, value: unknown = r.body): Resource[] {
    const found = new Map<string, Resource>();
    for (const text of strings(value)) {
      for (const m of text.matchAll(REF)) {
        const target = this.resources.get(`${r.stack}/${m[1]}.${m[2]}`);
        if (target) found.set(`${target.stack}/${target.type}.${target.name}`, target);
      }
      for (const m of text.matchAll(REMOTE_OUTPUT)) {
        const target = this.remoteOutputTarget(r.stack, m[1]);
        if (target) found.set(`${target.stack}/${target.type}.${target.name}`, target);
      }
    }
    return [...found.values()];
  }

  /** cdktf names a cross-stack output `cross-stack-output-<type><name><attribute>`. */
  private remoteOutputTarget(fromStack: StackName, output: string): Resource | undefined {
    let best: Resource | undefined;
    for (const r of this.resources.values()) {
      if (r.stack === fromStack) continue;
      const prefix = `${r.type}${r.name}`;
      if (output.startsWith(prefix) && (!best || prefix.length > `${best.type}${best.name}`.length)) best = r;
    }
    return best;
  }

  /** A drawn node for the resource, or for the one drawn resource it stands for (versioning -> bucket). */
  nodeFor(r: Resource): string | undefined {
    const direct = this.nodeOf.get(`${r.stack}/${r.type}.${r.name}`);
    if (direct) return direct;
    const owners = this.refsOf(r)
      .map((t) => this.nodeOf.get(`${t.stack}/${t.type}.${t.name}`))
      .filter((id): id is string => id !== undefined && !this.nodes.get(id)!.count);
    const unique = [...new Set(owners)];
    return unique.length === 1 ? unique[0] : undefined;
  }

  addEdge(from: string | undefined, to: string | undefined, label?: string, crossRegion = false): void {
    if (!from || !to || from === to) return;
    const key = `${from}->${to}`;
    const existing = this.edges.get(key);
    if (existing && (existing.label || !label)) return;
    this.edges.set(key, { from, to, ...(label ? { label } : {}), ...(crossRegion ? { crossRegion } : {}) });
  }

  ofType(type: string): Resource[] {
    return [...this.resources.values()].filter((r) => r.type === type);
  }
}

/** Region of a stack's default AWS provider, or of the one with `alias`. */
function providerRegion(stack: Json, alias?: string): string {
  const providers = stack.provider?.aws;
  const list: Json[] = Array.isArray(providers) ? providers : providers ? [providers] : [];
  const provider = alias ? list.find((p) => p.alias === alias) : (list.find((p) => !p.alias) ?? list[0]);
  return provider?.region ?? "unknown-region";
}

function nameOf(r: Resource): string {
  for (const attribute of NAME_ATTRIBUTES) {
    const value = r.body[attribute];
    if (typeof value === "string" && value && !value.includes("${")) return value;
  }
  const tagName = r.body.tags?.Name;
  return typeof tagName === "string" ? tagName : r.name.replace(/_[0-9A-F]{8}$/, "");
}

function buildNodes(model: Model): void {
  const deadLetterQueues = new Set<string>();
  for (const queue of model.ofType("aws_sqs_queue")) {
    for (const target of model.refsOf(queue, queue.body.redrive_policy ?? ""))
      deadLetterQueues.add(`${target.stack}/${target.type}.${target.name}`);
  }
  const aliasOf = new Map<string, string>();
  for (const alias of model.ofType("aws_kms_alias")) {
    for (const key of model.refsOf(alias))
      if (key.type === "aws_kms_key") aliasOf.set(`${key.stack}/${key.type}.${key.name}`, String(alias.body.name));
  }
  const instances = new Map<string, number>();
  for (const instance of model.ofType("aws_rds_cluster_instance")) {
    for (const cluster of model.refsOf(instance)) {
      const key = `${cluster.stack}/${cluster.type}.${cluster.name}`;
      if (cluster.type === "aws_rds_cluster") instances.set(key, (instances.get(key) ?? 0) + 1);
    }
  }

  for (const [key, r] of model.resources) {
    const spec = TYPES[r.type];
    if (!spec) continue;
    const group = model.groupOf(r);
    if (spec.aggregate) {
      const id = `${sanitize(group)}_${sanitize(spec.kind)}`;
      const node = model.nodes.get(id) ?? { id, group, tier: spec.tier, shape: spec.shape, name: "", label: spec.kind, count: 0 };
      node.count++;
      model.nodes.set(id, node);
      model.nodeOf.set(key, id);
      continue;
    }
    let kind = spec.kind;
    let name = nameOf(r);
    let plainName = name;
    const b = r.body;
    switch (r.type) {
      case "aws_sqs_queue":
        if (deadLetterQueues.has(key)) kind = "SQS DLQ";
        break;
      case "aws_kms_key":
        name = aliasOf.get(key) ?? (typeof b.description === "string" ? b.description : name);
        break;
      case "aws_rds_cluster": {
        const n = instances.get(key) ?? 0;
        kind = b.global_cluster_identifier ? "Aurora cluster (global member)" : kind;
        if (n) name = `${name}<br/>${n} instance${n === 1 ? "" : "s"}`;
        break;
      }
      case "aws_dynamodb_table_replica": {
        const table = model.refsOf(r, b.global_table_arn ?? "").find((t) => t.type === "aws_dynamodb_table");
        if (table) name = plainName = nameOf(table);
        break;
      }
      case "aws_vpc":
        if (typeof b.cidr_block === "string") name = b.cidr_block;
        break;
      case "aws_cloudtrail":
        if (b.is_multi_region_trail) name = `${name}<br/>multi-region`;
        break;
      case "aws_route53_record": {
        const policy = Array.isArray(b.failover_routing_policy) ? b.failover_routing_policy[0] : b.failover_routing_policy;
        kind = policy?.type ? `Route 53 ${policy.type} record` : kind;
        name = `${b.name} ${b.type ?? ""}`.trim();
        break;
      }
      case "aws_route53_health_check":
        name = `${nameOf(r)}<br/>${b.type ?? ""} ${b.resource_path ?? ""}`.trim();
        break;
    }
    const id = `${r.stack}_${sanitize(r.name)}`;
    model.nodes.set(id, { id, group, tier: spec.tier, shape: spec.shape, name: plainName, label: `${kind}<br/>${name}`, count: 0 });
    model.nodeOf.set(key, id);
  }
  for (const node of model.nodes.values()) if (node.count) node.label = `${node.label} (${node.count})`;
}

function buildEdges(model: Model): void {
  const node = (r: Resource | undefined) => (r ? model.nodeFor(r) : undefined);
  const first = (r: Resource, value: unknown, type: string) => model.refsOf(r, value).find((t) => t.type === type);

  // HTTP API -> function, per integration.
  for (const integration of model.ofType("aws_apigatewayv2_integration")) {
    const api = first(integration, integration.body.api_id, "aws_apigatewayv2_api");
    const fn = first(integration, integration.body.integration_uri, "aws_lambda_function");
    model.addEdge(node(api), node(fn));
  }
  // ALB -> function, through listener (rule) -> target group -> attachment.
  const lbOfTargetGroup = new Map<string, Resource>();
  const listeners = model.ofType("aws_lb_listener");
  for (const listener of listeners) {
    const lb = first(listener, listener.body.load_balancer_arn, "aws_lb");
    if (!lb) continue;
    const groups = [
      listener,
      ...model.ofType("aws_lb_listener_rule").filter((rule) => first(rule, rule.body.listener_arn, "aws_lb_listener") === listener),
    ].flatMap((r) => model.refsOf(r).filter((t) => t.type === "aws_lb_target_group"));
    for (const group of groups) lbOfTargetGroup.set(`${group.stack}/${group.name}`, lb);
  }
  for (const attachment of model.ofType("aws_lb_target_group_attachment")) {
    const group = first(attachment, attachment.body.target_group_arn, "aws_lb_target_group");
    const fn = first(attachment, attachment.body.target_id, "aws_lambda_function");
    if (group) model.addEdge(node(lbOfTargetGroup.get(`${group.stack}/${group.name}`)), node(fn));
  }
  // Queue -> function (event source mapping), queue -> DLQ (redrive).
  for (const mapping of model.ofType("aws_lambda_event_source_mapping")) {
    const source = model.refsOf(mapping, mapping.body.event_source_arn)[0];
    model.addEdge(node(source), node(first(mapping, mapping.body.function_name, "aws_lambda_function")), "triggers");
  }
  for (const queue of model.ofType("aws_sqs_queue")) {
    for (const dlq of model.refsOf(queue, queue.body.redrive_policy ?? "")) model.addEdge(node(queue), node(dlq), "redrive");
  }
  // Schedule -> the function it invokes.
  for (const schedule of model.ofType("aws_scheduler_schedule")) {
    const target = Array.isArray(schedule.body.target) ? schedule.body.target[0] : schedule.body.target;
    model.addEdge(node(schedule), node(first(schedule, target?.arn ?? "", "aws_lambda_function")), schedule.body.schedule_expression);
  }
  // Function -> what its environment names (by reference, or by the literal name of a drawn node).
  const byLabelName = new Map<string, string>();
  for (const n of model.nodes.values()) if (n.name) byLabelName.set(`${n.group}|${n.name}`, n.id);
  for (const fn of model.ofType("aws_lambda_function")) {
    const env =
      fn.body.environment?.variables ?? (Array.isArray(fn.body.environment) ? fn.body.environment[0]?.variables : undefined) ?? {};
    const targets = new Set<string | undefined>(model.refsOf(fn, env).map((t) => node(t)));
    for (const value of strings(env)) targets.add(byLabelName.get(`${model.groupOf(fn)}|${value}`));
    for (const target of targets) {
      if (target && !model.nodes.get(target)!.count && model.nodes.get(target)!.tier !== "security") model.addEdge(node(fn), target);
    }
  }
  // Alarms -> the topics they notify; CloudTrail -> its bucket.
  for (const alarm of model.ofType("aws_cloudwatch_metric_alarm")) {
    for (const topic of model.refsOf(alarm, [alarm.body.alarm_actions, alarm.body.ok_actions])) {
      if (topic.type === "aws_sns_topic") model.addEdge(node(alarm), node(topic), "notify");
    }
  }
  for (const trail of model.ofType("aws_cloudtrail")) {
    const bucket =
      first(trail, trail.body.s3_bucket_name, "aws_s3_bucket") ??
      model.ofType("aws_s3_bucket").find((b) => b.stack === trail.stack && nameOf(b) === trail.body.s3_bucket_name);
    model.addEdge(node(trail), node(bucket), "logs");
  }
  // Aurora: cluster membership in the global cluster (cross-region for the secondary).
  for (const cluster of model.ofType("aws_rds_cluster")) {
    const global = first(cluster, cluster.body.global_cluster_identifier ?? "", "aws_rds_global_cluster");
    if (global) {
      const cross = global.stack !== cluster.stack;
      model.addEdge(node(global), node(cluster), cross ? "Aurora global database: secondary" : "writer", cross);
    }
  }
  // DynamoDB global table replicas.
  for (const replica of model.ofType("aws_dynamodb_table_replica")) {
    const table = first(replica, replica.body.global_table_arn ?? "", "aws_dynamodb_table");
    model.addEdge(node(table), node(replica), "global table replica", table?.stack !== replica.stack);
  }
  // S3 replication: source bucket -> destination bucket(s).
  for (const config of model.ofType("aws_s3_bucket_replication_configuration")) {
    const source = model.refsOf(config, config.body.bucket)[0];
    const rules: Json[] = Array.isArray(config.body.rule) ? config.body.rule : [config.body.rule];
    for (const rule of rules) {
      const destination = rule?.destination;
      const target = model.refsOf(config, destination?.bucket ?? "").find((t) => t.type === "aws_s3_bucket");
      const rtc = destination?.replication_time;
      const minutes = (Array.isArray(rtc) ? rtc[0] : rtc)?.time?.minutes ?? (Array.isArray(rtc?.time) ? rtc.time[0]?.minutes : undefined);
      const label = minutes ? `S3 replication, RTC ${minutes} min` : "S3 replication";
      const from = source ? node(source) : undefined;
      model.addEdge(from, node(target), label, !!source && !!target && model.groupOf(source) !== model.groupOf(target));
    }
  }
  // Route 53: failover records -> load balancers, health checks -> what they probe.
  for (const record of model.ofType("aws_route53_record")) {
    const policy = Array.isArray(record.body.failover_routing_policy)
      ? record.body.failover_routing_policy[0]
      : record.body.failover_routing_policy;
    const alias = Array.isArray(record.body.alias) ? record.body.alias[0] : record.body.alias;
    for (const target of model.refsOf(record, alias?.name ?? ""))
      model.addEdge(node(record), node(target), policy?.type ? `failover ${policy.type}` : "alias", !!policy);
    for (const check of model.refsOf(record, record.body.health_check_id ?? "")) model.addEdge(node(record), node(check), "health-checked");
  }
  for (const check of model.ofType("aws_route53_health_check")) {
    for (const target of model.refsOf(check, check.body.fqdn ?? ""))
      model.addEdge(node(check), node(target), `probes ${check.body.resource_path ?? ""}`.trim());
  }
}

function renderNode(node: DiagramNode, indent: string): string {
  const label = `"${escapeLabel(node.label)}"`;
  switch (node.shape) {
    case "round":
      return `${indent}${node.id}(${label})`;
    case "db":
      return `${indent}${node.id}[(${label})]`;
    case "queue":
      return `${indent}${node.id}[[${label}]]`;
    default:
      return `${indent}${node.id}[${label}]`;
  }
}

function groupTitle(model: Model, group: string): string {
  if (group === GLOBAL_GROUP) return "global: Route 53";
  if (group === model.regions.primary) return `primary region: ${group}`;
  if (group === model.regions.dr) return `DR region: ${group}`;
  return `region: ${group}`;
}

/** The Mermaid source (without fences). */
export function renderMermaid(stacks: SynthesizedStacks): string {
  const model = new Model({ primary: stacks.primary as Json, dr: stacks.dr as Json });
  buildNodes(model);
  buildEdges(model);

  const groups = [...new Set([...model.nodes.values()].map((n) => n.group))].sort((a, b) => {
    const rank = (g: string) => (g === model.regions.primary ? 0 : g === model.regions.dr ? 1 : g === GLOBAL_GROUP ? 3 : 2);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  const lines = ["flowchart LR"];
  for (const group of groups) {
    const gid = `g_${sanitize(group)}`;
    lines.push(`  subgraph ${gid}["${escapeLabel(groupTitle(model, group))}"]`);
    lines.push("    direction TB");
    for (const { tier, title } of TIERS) {
      const members = [...model.nodes.values()]
        .filter((n) => n.group === group && n.tier === tier)
        .sort((a, b) => a.label.localeCompare(b.label) || a.id.localeCompare(b.id));
      if (!members.length) continue;
      if (group === GLOBAL_GROUP) {
        for (const n of members) lines.push(renderNode(n, "    "));
        continue;
      }
      lines.push(`    subgraph ${gid}_${tier}["${escapeLabel(title)}"]`);
      for (const n of members) lines.push(renderNode(n, "      "));
      lines.push("    end");
    }
    lines.push("  end");
  }
  const edges = [...model.edges.values()].sort(
    (a, b) => Number(!!a.crossRegion) - Number(!!b.crossRegion) || a.from.localeCompare(b.from) || a.to.localeCompare(b.to),
  );
  for (const e of edges) {
    const arrow = e.crossRegion ? "==>" : "-->";
    lines.push(`  ${e.from} ${arrow}${e.label ? `|"${escapeLabel(e.label)}"|` : ""} ${e.to}`);
  }
  return lines.join("\n");
}

/** Cross-region links as table rows: [link, from, to]. */
function crossRegionLinks(stacks: SynthesizedStacks): string[][] {
  const model = new Model({ primary: stacks.primary as Json, dr: stacks.dr as Json });
  buildNodes(model);
  buildEdges(model);
  const plain = (id: string) => {
    const n = model.nodes.get(id)!;
    return `${n.label.replace(/<br\/>/g, " ")} (${n.group === GLOBAL_GROUP ? "global" : n.group})`;
  };
  return [...model.edges.values()]
    .filter((e) => e.crossRegion)
    .map((e) => [e.label ?? "", plain(e.from), plain(e.to)])
    .sort((a, b) => a.join("|").localeCompare(b.join("|")));
}

/** docs/architecture.md for the synthesized primary and dr stacks. */
export function renderArchitecture(stacks: SynthesizedStacks): string {
  const links = crossRegionLinks(stacks);
  return [
    "# Architecture",
    "",
    "<!-- Generated by `npm run diagram` (scripts/diagram.ts) from the synthesized app. Do not edit by hand. -->",
    "",
    "Generated from the synthesized `primary` and `dr` stacks with the default configuration (suffix `dev`)",
    `plus an example domain (\`${DIAGRAM_CONTEXT.domainName}\`) and certificates, so that the optional Route 53 failover records appear.`,
    "Thick arrows are cross-region links; counted boxes stand for several resources of one kind.",
    "`npm run diagram` regenerates this file; a test fails when it no longer matches the synth.",
    "",
    "```mermaid",
    renderMermaid(stacks),
    "```",
    "",
    "## Cross-region links",
    "",
    "| link | from | to |",
    "|---|---|---|",
    ...links.map((row) => `| ${row.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`),
    "",
  ].join("\n");
}

/** README.md with the Mermaid block between the architecture markers replaced; unchanged without markers. */
export function withReadmeDiagram(readme: string, stacks: SynthesizedStacks): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) return readme;
  return `${readme.slice(0, start + README_START.length)}\n\`\`\`mermaid\n${renderMermaid(stacks)}\n\`\`\`\n${readme.slice(end)}`;
}

/** Synthesizes the app in-process, into a temporary outdir, with DIAGRAM_CONTEXT. */
export function synthForDiagram(): SynthesizedStacks {
  // Required lazily: rendering needs no cdktf, and tests may bring their own synth.
  const { loadConfig } = require("../src/contracts/config") as typeof import("../src/contracts/config");
  const { buildApp } = require("../src/infra/app") as typeof import("../src/infra/app");
  const outdir = mkdtempSync(path.join(tmpdir(), "payment-diagram-"));
  try {
    const app = new App({ outdir });
    buildApp(app, loadConfig({ ...DIAGRAM_CONTEXT }, {}));
    app.synth();
    const read = (stack: StackName) => JSON.parse(readFileSync(path.join(outdir, "stacks", stack, "cdk.tf.json"), "utf8")) as Json;
    return { primary: read("primary"), dr: read("dr") };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const stacks = synthForDiagram();
  writeFileSync(ARCHITECTURE_FILE, renderArchitecture(stacks));
  process.stdout.write(`wrote ${path.relative(process.cwd(), ARCHITECTURE_FILE)}\n`);
  const readme = readFileSync(README_FILE, "utf8");
  const updated = withReadmeDiagram(readme, stacks);
  if (updated !== readme) {
    writeFileSync(README_FILE, updated);
    process.stdout.write(`updated the diagram between the architecture markers in ${path.relative(process.cwd(), README_FILE)}\n`);
  }
}
