import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Testing } from "cdktf";
import { AlertTopic, type AlertTopicProps } from "../../src/infra/observability/alert-topic";
import { aliasFor, bareStack, onlyResource, resourcesOf, wildcardAllows } from "./support";

const base = {
  kmsKeyArn: "arn:aws:kms:ap-southeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  region: "ap-southeast-1",
};

function synth(props: Partial<AlertTopicProps> = {}): string {
  const stack = bareStack();
  new AlertTopic(stack, "alerts", { ...base, ...props });
  return Testing.synth(stack);
}

function topicPolicy(stack: string): any {
  return JSON.parse(onlyResource(stack, SnsTopicPolicy.tfResourceType).policy);
}

describe("AlertTopic", () => {
  const stack = synth();

  test("topic carries the suffix and is encrypted with the given CMK", () => {
    expect(stack).toHaveResourceWithProperties(SnsTopic, { name: "payment-alerts-test", kms_master_key_id: base.kmsKeyArn });
    // In the stack's own region: the default provider.
    expect(onlyResource(stack, SnsTopic.tfResourceType)).not.toHaveProperty("provider");
  });

  test("only this account's CloudWatch alarms in the topic's region may publish", () => {
    const policy = topicPolicy(stack);
    const allows = policy.Statement.filter((s: any) => s.Effect === "Allow");
    expect(allows).toHaveLength(1);
    expect(allows[0]).toMatchObject({
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Action: "sns:Publish",
      Resource: expect.stringMatching(/^\$\{aws_sns_topic\.alerts_topic_[0-9A-F]+\.arn\}$/),
      Condition: {
        StringEquals: { "aws:SourceAccount": "111122223333" },
        ArnLike: { "aws:SourceArn": "arn:aws:cloudwatch:ap-southeast-1:111122223333:alarm:*" },
      },
    });
  });

  test("publishing without TLS is denied to every principal", () => {
    const deny = topicPolicy(stack).Statement.find((s: any) => s.Effect === "Deny");
    expect(deny).toMatchObject({
      Principal: "*",
      Action: "sns:Publish",
      Condition: { Bool: { "aws:SecureTransport": false } },
    });
  });

  test("no e-mail subscription unless an address is given", () => {
    expect(resourcesOf(stack, SnsTopicSubscription.tfResourceType)).toHaveLength(0);
    expect(synth({ email: "oncall@example.com" })).toHaveResourceWithProperties(SnsTopicSubscription, {
      protocol: "email",
      endpoint: "oncall@example.com",
      topic_arn: expect.stringMatching(/aws_sns_topic\.alerts_topic/),
    });
  });

  test("a us-east-1 topic is placed there and admits only us-east-1 alarms", () => {
    const east = synth({ region: "us-east-1", baseName: "payment-dns-alerts", email: "oncall@example.com" });
    const provider = aliasFor(east, "us-east-1");
    expect(east).toHaveResourceWithProperties(SnsTopic, { name: "payment-dns-alerts-test", provider });
    expect(east).toHaveResourceWithProperties(SnsTopicPolicy, { provider });
    expect(east).toHaveResourceWithProperties(SnsTopicSubscription, { provider });
    const allow = topicPolicy(east).Statement.find((s: any) => s.Effect === "Allow");
    expect(allow.Condition.ArnLike["aws:SourceArn"]).toBe("arn:aws:cloudwatch:us-east-1:111122223333:alarm:*");
  });

  test("no policy allows a wildcard action", () => {
    const { statements, wildcards } = wildcardAllows(synth({ email: "oncall@example.com" }));
    expect(statements).toBeGreaterThan(0);
    expect(wildcards).toEqual([]);
  });
});
