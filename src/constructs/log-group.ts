import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";

export interface EncryptedLogGroupProps {
  readonly name: string;
  readonly kmsKeyArn: string;
  readonly retentionDays: number;
}

/** A log group encrypted with the region's CMK, with a retention, deleted with the stack. */
export class EncryptedLogGroup extends Construct {
  readonly logGroup: CloudwatchLogGroup;
  readonly name: string;
  readonly arn: string;

  constructor(scope: Construct, id: string, props: EncryptedLogGroupProps) {
    super(scope, id);
    this.logGroup = new CloudwatchLogGroup(this, "group", {
      name: props.name,
      kmsKeyId: props.kmsKeyArn,
      retentionInDays: props.retentionDays,
      skipDestroy: false,
    });
    this.name = this.logGroup.name;
    this.arn = this.logGroup.arn;
  }
}
