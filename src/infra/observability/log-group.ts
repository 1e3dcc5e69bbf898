import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { Construct } from "constructs";
import { AwsStack } from "../core/aws-stack";

export interface EncryptedLogGroupProps {
  readonly name: string;
}

/** A log group encrypted with the region's key, kept for the stack's retention, deleted with the stack. */
export class EncryptedLogGroup extends Construct {
  readonly logGroup: CloudwatchLogGroup;
  readonly name: string;
  readonly arn: string;

  constructor(scope: Construct, id: string, props: EncryptedLogGroupProps) {
    super(scope, id);
    const stack = AwsStack.of(this);
    this.logGroup = new CloudwatchLogGroup(this, "group", {
      name: props.name,
      kmsKeyId: stack.key.arn,
      retentionInDays: stack.logRetentionDays,
      skipDestroy: false,
    });
    this.name = this.logGroup.name;
    this.arn = this.logGroup.arn;
  }
}
