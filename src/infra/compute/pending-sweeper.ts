import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { SchedulerSchedule } from "@cdktf/provider-aws/lib/scheduler-schedule";
import { Construct } from "constructs";
import { environmentOf, FUNCTIONS, resweepSeconds, SWEEPER } from "../../contracts/functions";
import { PENDING_INDEX } from "../../contracts/tables";
import { AwsStack } from "../core/aws-stack";
import { assumeRolePolicy, PolicyStatements } from "../core/iam";
import type { PaymentTables } from "../data/tables";
import type { QueueWithDlq } from "../messaging/queue";
import { type FunctionVpcPlacement, NodejsFunction } from "./nodejs-function";

export interface PendingSweeperProps {
  readonly tables: PaymentTables;
  /** This region's transaction queue: the only place the sweeper sends to. */
  readonly transactionQueue: QueueWithDlq;
  /** Private subnets with the endpoints-only security group: the sweeper never talks to Aurora. */
  readonly vpc: FunctionVpcPlacement;
  readonly memoryMb: number;
  /** Own payments RECEIVED this long are re-enqueued (sweeperAgeSeconds). */
  readonly ageSeconds: number;
  /** The other region's payments RECEIVED this long are adopted (sweeperAdoptAgeSeconds). */
  readonly adoptAgeSeconds: number;
  readonly maxPerRun: number;
}

/**
 * The region's pending-payment sweeper: the function (lambdas/pending-sweeper) and the
 * EventBridge Scheduler schedule that invokes it once a minute. The function may query the
 * pending index, mark a transaction as swept (UpdateItem) and send to this region's transaction
 * queue, nothing else; the schedule's role may only invoke it (and read its own encrypted
 * definition).
 */
export class PendingSweeper extends Construct {
  readonly function: NodejsFunction;
  readonly schedule: SchedulerSchedule;
  readonly scheduleName: string;
  readonly scheduleRole: IamRole;

  constructor(scope: Construct, id: string, props: PendingSweeperProps) {
    super(scope, id);
    const stack = AwsStack.of(this);
    const { naming, region, key } = stack;
    const { tables, transactionQueue } = props;

    this.function = new NodejsFunction(this, FUNCTIONS.sweeper.handler, {
      contract: FUNCTIONS.sweeper,
      environment: environmentOf(FUNCTIONS.sweeper, {
        transactionsTable: tables.tables.transactions.name,
        transactionQueueUrl: transactionQueue.url,
        sweeperAgeSeconds: String(props.ageSeconds),
        sweeperAdoptAgeSeconds: String(props.adoptAgeSeconds),
        sweeperMaxPerRun: String(props.maxPerRun),
        sweeperResweepSeconds: String(resweepSeconds(transactionQueue.contract)),
      }),
      memoryMb: props.memoryMb,
      reservedConcurrency: SWEEPER.reservedConcurrency,
      vpc: props.vpc,
    });
    // Finds pending payments in the sparse index only (never the table), marks each one it sends.
    tables.grantIndexQuery(this.function, "transactions", PENDING_INDEX.name);
    tables.grantItems(this.function, "transactions", ["dynamodb:UpdateItem"]);
    transactionQueue.grantSend(this.function);

    // Scheduler invokes asynchronously: a run that cannot start within the minute (one at a
    // time) is dropped, not queued for hours behind the next ones.
    new LambdaFunctionEventInvokeConfig(this, "async", {
      functionName: this.function.functionName,
      maximumEventAgeInSeconds: SWEEPER.intervalSeconds,
      maximumRetryAttempts: 0,
    });

    this.scheduleName = naming.name("payment-sweeper");
    // Built, not read from the schedule: the role's policy must exist before the schedule.
    const scheduleArn = `arn:${stack.partition}:scheduler:${region}:${stack.accountId}:schedule/default/${this.scheduleName}`;
    this.scheduleRole = new IamRole(this, "schedule-role", {
      name: naming.regional("payment-sweeper-schedule", region, "iamRole"),
      assumeRolePolicy: assumeRolePolicy("scheduler.amazonaws.com", { StringEquals: { "aws:SourceAccount": stack.accountId } }),
    });
    const rights = new PolicyStatements();
    rights.addToPolicy({ Sid: "InvokeSweeper", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: this.function.arn });
    // The schedule is encrypted with the region's key; Scheduler decrypts it with this role.
    rights.addToPolicy({
      Sid: "DecryptOwnSchedule",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: key.arn,
      Condition: { ArnEquals: { "kms:EncryptionContext:aws:scheduler:schedule:arn": scheduleArn } },
    });
    const policy = new IamRolePolicy(this, "schedule-policy", {
      role: this.scheduleRole.id,
      name: "invoke-sweeper",
      policy: rights.toJson(),
    });

    this.schedule = new SchedulerSchedule(this, "schedule", {
      name: this.scheduleName,
      description: "Runs the pending-payment sweeper once a minute",
      scheduleExpression: SWEEPER.scheduleExpression,
      // Exactly on the minute: a flexible window would only delay stranded payments.
      flexibleTimeWindow: { mode: "OFF" },
      state: "ENABLED",
      kmsKeyArn: key.arn,
      target: {
        arn: this.function.arn,
        roleArn: this.scheduleRole.arn,
        // An invocation not delivered within the minute is superseded by the next run.
        retryPolicy: { maximumEventAgeInSeconds: SWEEPER.intervalSeconds, maximumRetryAttempts: 2 },
      },
      dependsOn: [policy],
    });
  }
}
