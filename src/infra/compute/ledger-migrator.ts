import { DataAwsSecretsmanagerSecret } from "@cdktf/provider-aws/lib/data-aws-secretsmanager-secret";
import { LambdaInvocation } from "@cdktf/provider-aws/lib/lambda-invocation";
import { Construct } from "constructs";
// Pure data (names and SQL), no driver: the fingerprint the migrator itself checks.
import { MIGRATIONS_HASH } from "../../../lambdas/shared/ledger/migrations";
import { environmentOf, FUNCTIONS } from "../../contracts/functions";
import { LEDGER_DATABASE } from "../../contracts/ledger";
import type { AuroraGlobalDatabase, MasterCredentials } from "../data/database";
import { type FunctionVpcPlacement, NodejsFunction } from "./nodejs-function";

export interface LedgerMigratorProps {
  readonly database: AuroraGlobalDatabase;
  /** The master user's secret: the migrator alone may read it. */
  readonly credentials: MasterCredentials;
  /** Private subnets and the security group Aurora accepts connections from. */
  readonly vpc: FunctionVpcPlacement;
  readonly memoryMb: number;
}

/**
 * The ledger migrator: a function that applies the schema migrations and (re)creates the
 * application's database users, invoked by Terraform at deploy (primary stack only: the DR
 * cluster gets the schema by replication). Idempotent, so a re-run changes nothing.
 */
export class LedgerMigrator extends Construct {
  readonly function: NodejsFunction;
  readonly invocation: LambdaInvocation;
  readonly fingerprint: string;

  constructor(scope: Construct, id: string, props: LedgerMigratorProps) {
    super(scope, id);
    const { database, credentials } = props;
    const secretId = credentials.secretId;
    const secret = new DataAwsSecretsmanagerSecret(
      this,
      "master-secret",
      secretId.startsWith("arn:") ? { arn: secretId } : { name: secretId },
    );

    this.function = new NodejsFunction(this, "function", {
      contract: FUNCTIONS.migrator,
      environment: environmentOf(FUNCTIONS.migrator, {
        dbWriterEndpoint: database.globalWriterEndpoint,
        dbPort: String(database.port),
        dbName: LEDGER_DATABASE,
        // The secret's ARN names it; the password is read at run time, never stored here.
        dbMasterSecretArn: secret.arn,
        dbMasterUsername: credentials.username,
        dbAuthMode: "iam",
      }),
      memoryMb: props.memoryMb,
      // One migration at a time: the deploy invokes it once.
      reservedConcurrency: 1,
      vpc: props.vpc,
      databaseRegions: database.regions,
    });
    this.function.addToPolicy({
      Sid: "ReadMasterSecret",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: secret.arn,
    });

    this.fingerprint = MIGRATIONS_HASH;
    this.invocation = new LambdaInvocation(this, "run", {
      functionName: this.function.function.functionName,
      input: JSON.stringify({ fingerprint: this.fingerprint }),
      triggers: { migrations: this.fingerprint },
      // The writer must be up, and the function able to reach and authenticate to it.
      dependsOn: [this.function.function, ...database.instances],
    });
  }
}
