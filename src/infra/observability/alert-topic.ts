import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";
import { policyDocument } from "../core/iam";

export interface AlertTopicProps {
  /**
   * Key encrypting the topic; its policy must let cloudwatch.amazonaws.com GenerateDataKey/Decrypt.
   * @default the stack's region key
   */
  readonly kmsKeyArn?: string;
  /**
   * Region the topic lives in and whose alarms may publish to it. Outside the stack's region (the
   * us-east-1 Route53 alerts) the topic, its policy and subscription use the stack's aliased
   * provider for that region, so they can never disagree about where the alarms are.
   * @default the stack's region
   */
  readonly region?: string;
  /** Subscribed by e-mail when set (the recipient must confirm). */
  readonly email?: string;
  /** Name base, `payment-alerts` by default; the suffix is always appended. */
  readonly baseName?: string;
}

/**
 * A KMS-encrypted SNS topic that only this account's CloudWatch alarms in `region` may publish
 * to, over TLS only.
 */
export class AlertTopic extends Construct {
  readonly topic: SnsTopic;
  readonly topicArn: string;
  readonly topicName: string;

  constructor(scope: Construct, id: string, props: AlertTopicProps = {}) {
    super(scope, id);
    const stack = AwsStack.of(this);
    const { accountId, partition } = stack;
    const region = props.region ?? stack.region;
    const provider = stack.providerFor(region);
    this.topicName = stack.naming.name(props.baseName ?? "payment-alerts");

    this.topic = new SnsTopic(this, "topic", {
      name: this.topicName,
      kmsMasterKeyId: props.kmsKeyArn ?? stack.key.arn,
      provider,
    });
    this.topicArn = this.topic.arn;

    new SnsTopicPolicy(this, "policy", {
      arn: this.topic.arn,
      provider,
      // Replaces the default policy (which lets every principal of the account publish).
      policy: policyDocument([
        {
          Sid: "CloudWatchAlarmsOfThisAccountPublish",
          Effect: "Allow",
          Principal: { Service: "cloudwatch.amazonaws.com" },
          Action: "sns:Publish",
          Resource: this.topic.arn,
          Condition: {
            StringEquals: { "aws:SourceAccount": accountId },
            ArnLike: { "aws:SourceArn": `arn:${partition}:cloudwatch:${region}:${accountId}:alarm:*` },
          },
        },
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "sns:Publish",
          Resource: this.topic.arn,
          Condition: { Bool: { "aws:SecureTransport": false } },
        },
      ]),
    });

    if (props.email) {
      new SnsTopicSubscription(this, "email", {
        topicArn: this.topic.arn,
        protocol: "email",
        endpoint: props.email,
        provider,
      });
    }
  }
}
