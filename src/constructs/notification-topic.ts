import { Construct } from "constructs";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { IGrantable, keyUseStatement, policyDocument } from "../iam";
import { Naming } from "../naming";

export interface NotificationTopicProps {
  readonly naming: Naming;
  readonly region: string;
  readonly kmsKeyArn: string;
}

/** SNS topic `payment-notifications-{suffix}` that customers' notifications fan out from; KMS-encrypted, TLS-only. */
export class NotificationTopic extends Construct {
  readonly topic: SnsTopic;
  readonly arn: string;
  readonly name: string;
  private readonly kmsKeyArn: string;
  private readonly region: string;

  constructor(scope: Construct, id: string, props: NotificationTopicProps) {
    super(scope, id);
    this.kmsKeyArn = props.kmsKeyArn;
    this.region = props.region;
    this.topic = new SnsTopic(this, "topic", { name: props.naming.name("payment-notifications"), kmsMasterKeyId: props.kmsKeyArn });
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
    grantee.addToPolicy(keyUseStatement(this.kmsKeyArn, ["kms:GenerateDataKey", "kms:Decrypt"], `sns.${this.region}.amazonaws.com`));
  }
}
