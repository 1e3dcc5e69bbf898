import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { SqsQueueRedriveAllowPolicy } from "@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy";
import { Construct } from "constructs";
import { DLQ_RETENTION_SECONDS, QUEUES, type QueueContract, type QueueId } from "../../contracts/functions";
import { AwsStack } from "../core/aws-stack";
import { type IGrantable, policyDocument } from "../core/iam";
import type { RegionKey } from "../security/region-key";

export interface QueueWithDlqProps {
  /** Which of the contract's queues (src/contracts/functions.ts): names, timeouts, receive count. */
  readonly queueId: QueueId;
}

/**
 * An SQS queue and its dead-letter queue: SSE with the region's CMK, long polling, TLS-only
 * policies, and grant methods so producers and consumers get exactly the rights they use.
 */
export class QueueWithDlq extends Construct {
  readonly queue: SqsQueue;
  readonly dlq: SqsQueue;
  readonly url: string;
  readonly arn: string;
  readonly name: string;
  readonly dlqArn: string;
  readonly dlqName: string;
  readonly queueId: QueueId;
  readonly contract: QueueContract;
  private readonly key: RegionKey;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    const { naming, key } = AwsStack.of(this);
    this.queueId = props.queueId;
    const contract = QUEUES[props.queueId];
    this.contract = contract;
    this.key = key;
    const encryption = { kmsMasterKeyId: key.arn, kmsDataKeyReusePeriodSeconds: 300 };

    this.dlq = new SqsQueue(this, "dlq", {
      name: naming.deadLetterQueue(props.queueId),
      messageRetentionSeconds: DLQ_RETENTION_SECONDS,
      ...encryption,
    });
    this.queue = new SqsQueue(this, "queue", {
      name: naming.queue(props.queueId),
      visibilityTimeoutSeconds: contract.visibilityTimeoutSeconds,
      messageRetentionSeconds: contract.retentionSeconds,
      receiveWaitTimeSeconds: 20,
      redrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlq.arn, maxReceiveCount: contract.maxReceiveCount }),
      ...encryption,
    });
    // Only this queue may redrive into the DLQ (a separate resource: inline it would be a cycle).
    new SqsQueueRedriveAllowPolicy(this, "dlq-redrive-allow", {
      queueUrl: this.dlq.url,
      redriveAllowPolicy: JSON.stringify({ redrivePermission: "byQueue", sourceQueueArns: [this.queue.arn] }),
    });

    for (const [name, q] of [
      ["queue", this.queue],
      ["dlq", this.dlq],
    ] as const) {
      new SqsQueuePolicy(this, `${name}-policy`, {
        queueUrl: q.url,
        policy: policyDocument([
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "sqs:*",
            Resource: q.arn,
            Condition: { Bool: { "aws:SecureTransport": false } },
          },
        ]),
      });
    }
    this.url = this.queue.url;
    this.arn = this.queue.arn;
    this.name = this.queue.name;
    this.dlqArn = this.dlq.arn;
    this.dlqName = this.dlq.name;
  }

  grantSend(grantee: IGrantable): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["sqs:SendMessage"], Resource: this.arn });
    this.key.grantUse(grantee, "sqs", ["kms:GenerateDataKey", "kms:Decrypt"]);
  }

  grantConsume(grantee: IGrantable): void {
    grantee.addToPolicy({
      Effect: "Allow",
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
      Resource: this.arn,
    });
    this.key.grantUse(grantee, "sqs", ["kms:Decrypt"]);
  }

  /** For health checks: read the queue's attributes, nothing else. */
  grantDescribe(grantee: IGrantable): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["sqs:GetQueueAttributes"], Resource: this.arn });
  }
}
