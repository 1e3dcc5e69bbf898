import { Construct } from "constructs";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { SqsQueueRedriveAllowPolicy } from "@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy";
import { IGrantable, keyUseStatement, policyDocument } from "../iam";
import { Naming } from "../naming";

export interface QueueWithDlqProps {
  readonly naming: Naming;
  readonly region: string;
  /** e.g. "payment-transaction" gives payment-transaction-queue-{suffix} and payment-transaction-dlq-{suffix}. */
  readonly baseName: string;
  readonly kmsKeyArn: string;
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  readonly maxReceiveCount: number;
  readonly dlqRetentionSeconds?: number;
}

const DAY = 86_400;

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
  readonly maxReceiveCount: number;
  private readonly kmsKeyArn: string;
  private readonly sqsService: string;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    this.kmsKeyArn = props.kmsKeyArn;
    this.sqsService = `sqs.${props.region}.amazonaws.com`;
    this.maxReceiveCount = props.maxReceiveCount;
    const encryption = { kmsMasterKeyId: props.kmsKeyArn, kmsDataKeyReusePeriodSeconds: 300 };

    this.dlq = new SqsQueue(this, "dlq", {
      name: props.naming.name(`${props.baseName}-dlq`, "sqsQueue"),
      messageRetentionSeconds: props.dlqRetentionSeconds ?? 14 * DAY,
      ...encryption,
    });
    this.queue = new SqsQueue(this, "queue", {
      name: props.naming.name(`${props.baseName}-queue`, "sqsQueue"),
      visibilityTimeoutSeconds: props.visibilityTimeoutSeconds,
      messageRetentionSeconds: props.retentionSeconds,
      receiveWaitTimeSeconds: 20,
      redrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlq.arn, maxReceiveCount: props.maxReceiveCount }),
      ...encryption,
    });
    // Only this queue may redrive into the DLQ (a separate resource: inline it would be a cycle).
    new SqsQueueRedriveAllowPolicy(this, "dlq-redrive-allow", {
      queueUrl: this.dlq.url,
      redriveAllowPolicy: JSON.stringify({ redrivePermission: "byQueue", sourceQueueArns: [this.queue.arn] }),
    });

    for (const [name, q] of [["queue", this.queue], ["dlq", this.dlq]] as const) {
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
    grantee.addToPolicy(keyUseStatement(this.kmsKeyArn, ["kms:GenerateDataKey", "kms:Decrypt"], this.sqsService));
  }

  grantConsume(grantee: IGrantable): void {
    grantee.addToPolicy({
      Effect: "Allow",
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
      Resource: this.arn,
    });
    grantee.addToPolicy(keyUseStatement(this.kmsKeyArn, ["kms:Decrypt"], this.sqsService));
  }

  /** For health checks: read the queue's attributes, nothing else. */
  grantDescribe(grantee: IGrantable): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["sqs:GetQueueAttributes"], Resource: this.arn });
  }
}
