import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import { type IGrantable, policyDocument } from "../core/iam";
import type { RegionKey } from "../security/region-key";

/** SNS topic `payment-notifications-{suffix}` that customers' notifications fan out from; KMS-encrypted, TLS-only. */
export class NotificationTopic extends Construct {
  readonly topic: SnsTopic;
  readonly arn: string;
  readonly name: string;
  private readonly key: RegionKey;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const { naming, key } = AwsStack.of(this);
    this.key = key;
    this.topic = new SnsTopic(this, "topic", { name: naming.notificationTopic(), kmsMasterKeyId: key.arn });
    new SnsTopicPolicy(this, "policy", {
      arn: this.topic.arn,
      policy: policyDocument([
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: ["sns:Publish", "sns:Subscribe"],
          Resource: this.topic.arn,
          Condition: { Bool: { "aws:SecureTransport": false } },
        },
      ]),
    });
    this.arn = this.topic.arn;
    this.name = this.topic.name;
  }

  grantPublish(grantee: IGrantable): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["sns:Publish"], Resource: this.arn });
    this.key.grantUse(grantee, "sns", ["kms:GenerateDataKey", "kms:Decrypt"]);
  }
}
