import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { AssetType, Lazy, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { ENV, type FunctionContract } from "../../contracts/functions";
import { AwsStack } from "../core/aws-stack";
import { assumeRolePolicy, type IGrantable, type PolicyStatement, policyDocument } from "../core/iam";
import { EncryptedLogGroup } from "../observability/log-group";
import { bundleHandler } from "./bundling";

export interface FunctionVpcPlacement {
  readonly subnetIds: string[];
  readonly securityGroupIds: string[];
}

export interface NodejsFunctionProps {
  /** What the function is: its handler folder (also its base name), description and timeout. */
  readonly contract: FunctionContract;
  /** Built with `environmentOf(contract, ...)`, so that every name comes from the contract. */
  readonly environment: Readonly<Record<string, string>>;
  readonly memoryMb: number;
  readonly reservedConcurrency: number;
  readonly vpc: FunctionVpcPlacement;
  /**
   * Regions whose Aurora clusters the function connects to: their RDS root CAs are bundled as the
   * only certificates its ledger connections trust. Required for a function that uses the ledger.
   */
  readonly databaseRegions?: readonly string[];
}

/**
 * A TypeScript handler bundled by esbuild at synth, shipped as a zip asset, with its own role,
 * KMS-encrypted log group and environment, X-Ray tracing, and a place in the private subnets.
 * Rights are added by the resources it uses (`queue.grantSend(fn)`), never written by hand here.
 */
export class NodejsFunction extends Construct implements IGrantable {
  readonly function: LambdaFunction;
  readonly role: IamRole;
  readonly logGroup: EncryptedLogGroup;
  readonly asset: TerraformAsset;
  readonly functionName: string;
  readonly arn: string;
  readonly invokeArn: string;
  readonly contract: FunctionContract;
  private readonly statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: NodejsFunctionProps) {
    super(scope, id);
    const { naming, region, key } = AwsStack.of(this);
    const { contract } = props;
    this.contract = contract;
    const functionName = naming.function(contract.handler);

    const bundle = bundleHandler(contract.handler, { databaseRegions: props.databaseRegions });
    this.asset = new TerraformAsset(this, "code", {
      path: bundle.zipFile,
      type: AssetType.FILE,
      assetHash: bundle.zipSha256.replace(/[^A-Za-z0-9]/g, "").slice(0, 32),
    });

    this.logGroup = new EncryptedLogGroup(this, "logs", {
      // The plain name: the log group must exist before the function.
      name: `/aws/lambda/${functionName}`,
    });

    this.role = new IamRole(this, "role", {
      name: naming.functionRole(contract.handler, region),
      assumeRolePolicy: assumeRolePolicy("lambda.amazonaws.com"),
    });
    this.addToPolicy({
      Sid: "WriteOwnLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${this.logGroup.arn}:*`,
    });
    // X-Ray and VPC network interfaces have no resource-level permissions: AWS requires "*" here.
    this.addToPolicy({ Sid: "WriteTraces", Effect: "Allow", Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], Resource: "*" });
    this.addToPolicy({
      Sid: "ManageVpcNetworkInterfaces",
      Effect: "Allow",
      Action: [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ],
      Resource: "*",
    });
    key.grantDecrypt(this, "DecryptEnvironment");
    const policy = new IamRolePolicy(this, "policy", {
      role: this.role.id,
      name: "least-privilege",
      // Rendered at synth, after every grant has been added.
      policy: Lazy.stringValue({ produce: () => policyDocument(this.statements) }),
    });

    this.function = new LambdaFunction(this, "function", {
      functionName,
      description: contract.description,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      filename: this.asset.path,
      sourceCodeHash: bundle.zipSha256,
      role: this.role.arn,
      memorySize: props.memoryMb,
      timeout: contract.timeoutSeconds,
      reservedConcurrentExecutions: props.reservedConcurrency,
      kmsKeyArn: key.arn,
      environment: {
        variables: { [ENV.serviceName]: contract.handler, ...props.environment },
      },
      tracingConfig: { mode: "Active" },
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      vpcConfig: props.vpc,
      dependsOn: [this.logGroup.logGroup, policy],
    });
    // The resource's attribute: whatever refers to it (invoke permissions) is created after the function.
    this.functionName = this.function.functionName;
    this.arn = this.function.arn;
    this.invokeArn = this.function.invokeArn;
  }

  addToPolicy(statement: PolicyStatement): void {
    this.statements.push(statement);
  }
}
