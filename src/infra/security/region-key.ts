import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import { type IGrantable, type PolicyStatement, policyDocument } from "../core/iam";

export interface RegionKeyProps {
  /** Name of the CloudTrail trail that encrypts with this key (only the stack that owns the trail). */
  readonly cloudTrailName?: string;
}

/** Key administration and use by the account root; IAM policies then delegate to roles. */
export const ROOT_KEY_ACTIONS = [
  "kms:CancelKeyDeletion",
  "kms:CreateAlias",
  "kms:CreateGrant",
  "kms:Decrypt",
  "kms:DeleteAlias",
  "kms:DescribeKey",
  "kms:DisableKey",
  "kms:DisableKeyRotation",
  "kms:EnableKey",
  "kms:EnableKeyRotation",
  "kms:Encrypt",
  "kms:GenerateDataKey",
  "kms:GenerateDataKeyWithoutPlaintext",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListAliases",
  "kms:ListGrants",
  "kms:ListKeyPolicies",
  "kms:ListKeyRotations",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:ReEncryptFrom",
  "kms:ReEncryptTo",
  "kms:RetireGrant",
  "kms:RevokeGrant",
  "kms:RotateKeyOnDemand",
  "kms:ScheduleKeyDeletion",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateAlias",
  "kms:UpdateKeyDescription",
];

const SERVICE_KEY_ACTIONS = [
  "kms:Decrypt",
  "kms:DescribeKey",
  "kms:Encrypt",
  "kms:GenerateDataKey",
  "kms:ReEncryptFrom",
  "kms:ReEncryptTo",
];

/** Services that encrypt this deployment's data with the regional key. */
export const KEY_USER_SERVICES = ["sns", "sqs", "s3", "dynamodb", "rds", "cloudwatch"] as const;

/** Services through which a principal may use the key (`kms:ViaService`). */
export type KeyService = "sns" | "sqs" | "s3" | "dynamodb";

export type KeyAction = "kms:Decrypt" | "kms:Encrypt" | "kms:GenerateDataKey";

/**
 * The region's customer-managed key: rotation on, short deletion window (environments are
 * destroyable), a policy naming the account root and only the services that use the key.
 * Principals get rights on it through `grant*`, each limited to the service they use it through.
 */
export class RegionKey extends Construct {
  readonly key: KmsKey;
  readonly arn: string;
  readonly keyId: string;
  readonly aliasName: string;
  readonly region: string;

  constructor(scope: Construct, id: string, props: RegionKeyProps = {}) {
    super(scope, id);
    const stack = AwsStack.of(this);
    const { accountId, partition, region, naming } = stack;
    this.region = region;
    const root = `arn:${partition}:iam::${accountId}:root`;
    const sameAccount = { StringEquals: { "aws:SourceAccount": accountId } };

    const statements: PolicyStatement[] = [
      { Sid: "AccountRootAdministersAndDelegates", Effect: "Allow", Principal: { AWS: root }, Action: ROOT_KEY_ACTIONS, Resource: "*" },
      {
        Sid: "CloudWatchLogsEncryptsThisAccountsLogGroups",
        Effect: "Allow",
        Principal: { Service: `logs.${region}.amazonaws.com` },
        Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
        Resource: "*",
        Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": `arn:${partition}:logs:${region}:${accountId}:log-group:*` } },
      },
      ...KEY_USER_SERVICES.map(
        (service): PolicyStatement => ({
          Sid: `${service.toUpperCase()}UsesKeyForThisAccount`,
          Effect: "Allow",
          Principal: { Service: `${service}.amazonaws.com` },
          Action: SERVICE_KEY_ACTIONS,
          Resource: "*",
          Condition: sameAccount,
        }),
      ),
    ];
    if (props.cloudTrailName) {
      const trailArn = `arn:${partition}:cloudtrail:${region}:${accountId}:trail/${props.cloudTrailName}`;
      statements.push({
        Sid: "CloudTrailEncryptsTrailLogs",
        Effect: "Allow",
        Principal: { Service: "cloudtrail.amazonaws.com" },
        // Decrypt: required when the destination bucket uses an S3 Bucket Key.
        Action: ["kms:GenerateDataKey", "kms:DescribeKey", "kms:Decrypt"],
        Resource: "*",
        Condition: {
          StringEquals: { "aws:SourceArn": trailArn },
          StringLike: { "kms:EncryptionContext:aws:cloudtrail:arn": `arn:${partition}:cloudtrail:*:${accountId}:trail/*` },
        },
      });
    }

    this.key = new KmsKey(this, "key", {
      description: `Payment processing data key (${naming.suffix}, ${region})`,
      enableKeyRotation: true,
      deletionWindowInDays: 7,
      policy: policyDocument(statements),
    });
    this.aliasName = naming.keyAlias();
    new KmsAlias(this, "alias", { name: this.aliasName, targetKeyId: this.key.keyId });
    this.arn = this.key.arn;
    this.keyId = this.key.keyId;
  }

  /** Use of the key through one service in its region (what SQS, SNS, S3 and DynamoDB need of a caller). */
  grantUse(grantee: IGrantable, service: KeyService, actions: readonly KeyAction[], sid?: string): PolicyStatement {
    const statement: PolicyStatement = {
      ...(sid ? { Sid: sid } : {}),
      Effect: "Allow",
      Action: [...actions],
      Resource: this.arn,
      Condition: { StringEquals: { "kms:ViaService": `${service}.${this.region}.amazonaws.com` } },
    };
    grantee.addToPolicy(statement);
    return statement;
  }

  /** Decrypt directly, not through a service: a Lambda function reading its encrypted environment. */
  grantDecrypt(grantee: IGrantable, sid?: string): PolicyStatement {
    const statement: PolicyStatement = { ...(sid ? { Sid: sid } : {}), Effect: "Allow", Action: ["kms:Decrypt"], Resource: this.arn };
    grantee.addToPolicy(statement);
    return statement;
  }
}
