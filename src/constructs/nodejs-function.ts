import { Construct } from "constructs";
import { AssetType, Lazy, TerraformAsset } from "cdktf";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { bundleHandler } from "../bundling";
import { IGrantable, PolicyStatement, assumeRolePolicy, policyDocument } from "../iam";
import { Naming } from "../naming";
import { EncryptedLogGroup } from "./log-group";

export interface FunctionVpcPlacement {
  readonly subnetIds: string[];
  readonly securityGroupIds: string[];
}

export interface NodejsFunctionProps {
  readonly naming: Naming;
  /** Folder under lambdas/ holding index.ts; also the function's base name. */
  readonly handler: string;
  readonly description: string;
  readonly region: string;
  readonly environment: Record<string, string>;
  readonly kmsKeyArn: string;
  readonly logRetentionDays: number;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly reservedConcurrency: number;
  readonly vpc: FunctionVpcPlacement;
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
  private readonly statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: NodejsFunctionProps) {
    super(scope, id);
    const { naming, region } = props;
    // Every name starts with "payment-"; "payment-gateway" already does.
    const baseName = props.handler.startsWith("payment-") ? props.handler : `payment-${props.handler}`;
    this.functionName = naming.name(baseName, "lambda");

    const bundle = bundleHandler(props.handler);
    this.asset = new TerraformAsset(this, "code", { path: bundle.zipFile, type: AssetType.FILE, assetHash: bundle.zipSha256.replace(/[^A-Za-z0-9]/g, "").slice(0, 32) });

    this.logGroup = new EncryptedLogGroup(this, "logs", {
      name: `/aws/lambda/${this.functionName}`,
      kmsKeyArn: props.kmsKeyArn,
      retentionDays: props.logRetentionDays,
    });

    this.role = new IamRole(this, "role", {
      // IAM is global: the region keeps primary's and dr's roles apart.
      name: naming.regional(baseName, region, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("lambda.amazonaws.com"),
    });
    this.addToPolicy({ Sid: "WriteOwnLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${this.logGroup.arn}:*` });
    // X-Ray and VPC network interfaces have no resource-level permissions: AWS requires "*" here.
    this.addToPolicy({ Sid: "WriteTraces", Effect: "Allow", Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], Resource: "*" });
    this.addToPolicy({
      Sid: "ManageVpcNetworkInterfaces",
      Effect: "Allow",
      Action: ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
      Resource: "*",
    });
    this.addToPolicy({ Sid: "DecryptEnvironment", Effect: "Allow", Action: ["kms:Decrypt"], Resource: props.kmsKeyArn });
    const policy = new IamRolePolicy(this, "policy", {
      role: this.role.id,
      name: "least-privilege",
      // Rendered at synth, after every grant has been added.
      policy: Lazy.stringValue({ produce: () => policyDocument(this.statements) }),
    });

    this.function = new LambdaFunction(this, "function", {
      functionName: this.functionName,
      description: props.description,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      filename: this.asset.path,
      sourceCodeHash: bundle.zipSha256,
      role: this.role.arn,
      memorySize: props.memoryMb,
      timeout: props.timeoutSeconds,
      reservedConcurrentExecutions: props.reservedConcurrency,
      kmsKeyArn: props.kmsKeyArn,
      environment: {
        variables: { POWERTOOLS_SERVICE_NAME: props.handler, ...props.environment },
      },
      tracingConfig: { mode: "Active" },
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      vpcConfig: props.vpc,
      dependsOn: [this.logGroup.logGroup, policy],
    });
    this.arn = this.function.arn;
    this.invokeArn = this.function.invokeArn;
  }

  addToPolicy(statement: PolicyStatement): void {
    this.statements.push(statement);
  }
}
