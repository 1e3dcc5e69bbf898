/**
 * The Aurora ledger's infrastructure: the migrator (primary only, invoked at deploy, re-run when
 * the migrations change), who may read the master secret, who may connect as which database
 * user, and the processor's way to the writer.
 */
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaInvocation } from "@cdktf/provider-aws/lib/lambda-invocation";
import { MIGRATIONS, MIGRATIONS_HASH, migrationsHash } from "../../lambdas/shared/ledger/migrations";
import { policiesIn, resourcesOf, type Synth, synthAppToDisk, synthStacks } from "./support";

const { primary, dr } = synthStacks();
const fn = (stack: string | Synth, name: string): Synth =>
  resourcesOf(stack, LambdaFunction.tfResourceType).find((f) => f.function_name === name)!;
const statementsWith = (stack: string | Synth, action: string) =>
  policiesIn(stack)
    .flatMap((p) => p.Statement)
    .filter((s: any) => s.Effect === "Allow" && [].concat(s.Action).includes(action as never));

describe("ledger migrator", () => {
  test("primary invokes it at deploy, after the writer instances, with the migrations' fingerprint; dr has none", () => {
    const [invocation] = resourcesOf(primary, LambdaInvocation.tfResourceType);
    expect(resourcesOf(primary, LambdaInvocation.tfResourceType)).toHaveLength(1);
    expect(invocation).toMatchObject({
      function_name: expect.stringMatching(/^\$\{aws_lambda_function\.ledger-migrator_function_\w+\.function_name\}$/),
      input: JSON.stringify({ fingerprint: MIGRATIONS_HASH }),
      triggers: { migrations: MIGRATIONS_HASH },
    });
    expect(invocation.depends_on).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^aws_lambda_function\.ledger-migrator_function_/),
        expect.stringMatching(/^aws_rds_cluster_instance\.database_instance-1_/),
        expect.stringMatching(/^aws_rds_cluster_instance\.database_instance-2_/),
      ]),
    );
    expect(resourcesOf(dr, LambdaInvocation.tfResourceType)).toEqual([]);
    expect(fn(dr, "payment-ledger-migrator-dev")).toBeUndefined();
  });

  test("re-runs when a migration changes: the fingerprint covers every migration's SQL", () => {
    const edited = MIGRATIONS.map((m, i) => (i === MIGRATIONS.length - 1 ? { ...m, statements: [...m.statements, "SELECT 1"] } : m));
    expect(migrationsHash(MIGRATIONS)).toBe(MIGRATIONS_HASH);
    expect(migrationsHash(edited)).not.toBe(MIGRATIONS_HASH);
    expect(migrationsHash([...MIGRATIONS, { name: "9999-next", statements: ["SELECT 1"] }])).not.toBe(MIGRATIONS_HASH);
  });

  test("it reads the master secret by ARN at run time; its environment holds no password", () => {
    const migrator = fn(primary, "payment-ledger-migrator-dev");
    expect(migrator.environment.variables).toEqual({
      POWERTOOLS_SERVICE_NAME: "ledger-migrator",
      DB_WRITER_ENDPOINT: expect.stringMatching(/^\$\{aws_rds_global_cluster\.database_global_\w+\.endpoint\}$/),
      DB_PORT: "3306",
      DB_NAME: "payments",
      DB_MASTER_SECRET_ARN: expect.stringMatching(/^\$\{data\.aws_secretsmanager_secret\.ledger-migrator_master-secret_\w+\.arn\}$/),
      DB_MASTER_USERNAME: "payadmin",
      DB_AUTH_MODE: "iam",
    });
    expect(resourcesOf(primary, "aws_secretsmanager_secret")).toEqual([]);
    const data = Object.values(JSON.parse(primary).data.aws_secretsmanager_secret) as Synth[];
    expect(data).toEqual([expect.objectContaining({ name: "payment-processing/aurora-master-dev" })]);
  });

  test("only the migrator may read the master secret", () => {
    const readers = statementsWith(primary, "secretsmanager:GetSecretValue");
    expect(readers).toEqual([
      {
        Sid: "ReadMasterSecret",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: expect.stringMatching(/^\$\{data\.aws_secretsmanager_secret\.ledger-migrator_master-secret_\w+\.arn\}$/),
      },
    ]);
    const migratorPolicy = resourcesOf(primary, "aws_iam_role_policy").find((p) => p.role.includes("ledger-migrator_function_role"))!;
    expect(migratorPolicy.policy).toContain("ReadMasterSecret");
    expect(statementsWith(dr, "secretsmanager:GetSecretValue")).toEqual([]);
  });

  test("a secret given by ARN is looked up by ARN", () => {
    const arn = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:aurora-master-AbCdEf";
    const { primary: byArn } = synthStacks({ dbSecretId: arn });
    expect(Object.values(JSON.parse(byArn).data.aws_secretsmanager_secret)).toEqual([expect.objectContaining({ arn })]);
  });
});

describe("processor and the writer", () => {
  test("rds-db:connect for the processor as the application user in both regions' clusters, for balances as the reader in its own", () => {
    for (const [stack, region] of [
      [primary, "ap-southeast-1"],
      [dr, "ap-southeast-2"],
    ] as const) {
      expect(statementsWith(stack, "rds-db:connect")).toEqual([
        {
          Sid: "ConnectAsLedgerUser",
          Effect: "Allow",
          Action: ["rds-db:connect"],
          Resource: [expect.stringMatching(new RegExp(`:rds-db:${region}:.*:dbuser:\\*/payments_reader$`))],
        },
        {
          Sid: "ConnectAsLedgerUser",
          Effect: "Allow",
          Action: ["rds-db:connect"],
          Resource: [
            expect.stringMatching(
              /^arn:\$\{data\.aws_partition\.partition\.partition\}:rds-db:ap-southeast-1:\$\{data\.aws_caller_identity\.account\.account_id\}:dbuser:\*\/payments_app$/,
            ),
            expect.stringMatching(/:rds-db:ap-southeast-2:.*:dbuser:\*\/payments_app$/),
          ],
        },
      ]);
      const policyOf = (fn: string) => resourcesOf(stack, "aws_iam_role_policy").find((p) => p.role.includes(`${fn}_role`))!.policy;
      expect(policyOf("transaction-processor")).toContain("payments_app");
      expect(policyOf("payment-balances")).toContain("payments_reader");
      expect(policyOf("payment-balances")).not.toContain("payments_app");
    }
  });

  test("both regions' processors write through the global writer endpoint with IAM tokens for either region; no password", () => {
    const app = synthAppToDisk();
    for (const stack of [app.primary, app.dr]) {
      const vars = fn(stack, "payment-transaction-processor-dev").environment.variables;
      expect(vars).toMatchObject({
        DB_NAME: "payments",
        DB_USER: "payments_app",
        DB_AUTH_MODE: "iam",
        DB_IAM_REGIONS: "ap-southeast-1,ap-southeast-2",
      });
      expect(vars).not.toHaveProperty("DB_PASSWORD");
    }
    expect(fn(app.primary, "payment-transaction-processor-dev").environment.variables.DB_WRITER_ENDPOINT).toMatch(
      /^\$\{aws_rds_global_cluster\.database_global_\w+\.endpoint\}$/,
    );
    // dr reads primary's global cluster endpoint through remote state.
    expect(fn(app.dr, "payment-transaction-processor-dev").environment.variables.DB_WRITER_ENDPOINT).toMatch(
      /^\$\{data\.terraform_remote_state\.cross-stack-reference-input-primary\.outputs\.cross-stack-output-aws_rds_global_clusterdatabase_global_\w+endpoint\}$/,
    );
  });

  test("processorMaxConcurrency bounds the processor's reserved and event-source concurrency", () => {
    const { primary: custom } = synthStacks({ processorMaxConcurrency: 30 });
    expect(fn(custom, "payment-transaction-processor-dev").reserved_concurrent_executions).toBe(30);
    const source = resourcesOf(custom, LambdaEventSourceMapping.tfResourceType).find((m) =>
      m.event_source_arn.includes("transaction-queue"),
    )!;
    expect(source.scaling_config).toEqual({ maximum_concurrency: 30 });
  });
});

describe("the way to a writer in the other region", () => {
  const app = synthAppToDisk();
  const values = (stack: Synth, type: string): Synth[] => Object.values(stack.resource[type] ?? {});

  test("dr peers its VPC with primary's; primary accepts through dr's aliased provider; primary declares no peering", () => {
    const [connection] = values(app.dr, "aws_vpc_peering_connection");
    expect(values(app.dr, "aws_vpc_peering_connection")).toHaveLength(1);
    expect(connection).toMatchObject({
      vpc_id: expect.stringMatching(/^\$\{aws_vpc\.network_vpc_\w+\.id\}$/),
      peer_vpc_id: expect.stringMatching(/cross-stack-output-aws_vpcnetwork_vpc_\w+id\}$/),
      peer_region: "ap-southeast-1",
      auto_accept: false,
    });
    expect(values(app.dr, "aws_vpc_peering_connection_accepter")).toEqual([
      expect.objectContaining({
        provider: "aws.ap-southeast-1",
        auto_accept: true,
        vpc_peering_connection_id: expect.stringMatching(/aws_vpc_peering_connection\.region-peering_connection_/),
      }),
    ]);
    expect(app.primary.resource.aws_vpc_peering_connection).toBeUndefined();
  });

  test("only the private route tables learn the other VPC, both ways, once the peering is accepted", () => {
    const peeringRoutes = values(app.dr, "aws_route").filter((r) => r.vpc_peering_connection_id);
    expect(peeringRoutes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          route_table_id: expect.stringMatching(/^\$\{aws_route_table\.network_private-rt_\w+\.id\}$/),
          destination_cidr_block: "10.0.0.0/16",
          vpc_peering_connection_id: expect.stringMatching(/aws_vpc_peering_connection_accepter\./),
        }),
        expect.objectContaining({
          provider: "aws.ap-southeast-1",
          route_table_id: expect.stringMatching(/cross-stack-output-aws_route_tablenetwork_private-rt_\w+id\}$/),
          destination_cidr_block: "10.1.0.0/16",
          vpc_peering_connection_id: expect.stringMatching(/aws_vpc_peering_connection_accepter\./),
        }),
      ]),
    );
    expect(peeringRoutes).toHaveLength(2);
  });

  test("each Aurora accepts MySQL from the other region's private subnets only; the ledger clients may reach them", () => {
    const cidrRules = (stack: Synth) =>
      values(stack, "aws_vpc_security_group_ingress_rule")
        .filter((r) => r.cidr_ipv4)
        .map((r) => [r.cidr_ipv4, r.from_port, r.to_port]);
    expect(cidrRules(app.primary)).toEqual([
      ["10.1.48.0/20", 3306, 3306],
      ["10.1.64.0/20", 3306, 3306],
      ["10.1.80.0/20", 3306, 3306],
    ]);
    expect(cidrRules(app.dr)).toEqual([
      ["10.0.48.0/20", 3306, 3306],
      ["10.0.64.0/20", 3306, 3306],
      ["10.0.80.0/20", 3306, 3306],
    ]);
    const ledgerSg = values(app.primary, "aws_security_group").find((g) => g.name === "payment-ledger-clients-sg-dev")!;
    expect(ledgerSg.egress).toEqual(
      expect.arrayContaining([expect.objectContaining({ from_port: 3306, cidr_blocks: ["10.1.48.0/20", "10.1.64.0/20", "10.1.80.0/20"] })]),
    );
  });
});
