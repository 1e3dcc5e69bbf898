import { Construct } from "constructs";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { DynamodbTableReplicaA } from "@cdktf/provider-aws/lib/dynamodb-table-replica";
import { IGrantable, keyUseStatement } from "../iam";
import { TABLES, TABLE_IDS, TableId, attributeNames } from "../table-definitions";
import { Naming } from "../naming";

export { TABLES, TABLE_IDS, attributeNames } from "../table-definitions";
export type { TableDefinition, TableId } from "../table-definitions";

/** What the rest of the stack needs of one table in this region. */
export interface TableRef {
  readonly name: string;
  readonly arn: string;
}

export interface GlobalTablesProps {
  readonly naming: Naming;
  readonly region: string;
  readonly kmsKeyArn: string;
}

export type PaymentTablesProps = GlobalTablesProps &
  (
    | { readonly role: "primary" }
    /** ARNs of the primary tables, which the replicas join. */
    | { readonly role: "dr"; readonly primaryTableArns: Readonly<Record<TableId, string>> }
  );

/**
 * DynamoDB global tables. Primary owns each table (streams, CMK, PITR); dr owns one
 * `aws_dynamodb_table_replica` per table with its own region's CMK and PITR. The two styles are
 * never mixed: the primary tables ignore changes to `replica`.
 */
export class PaymentTables extends Construct {
  readonly tables: Readonly<Record<TableId, TableRef>>;
  /** Stream ARN of the primary transactions table (primary only). */
  readonly transactionsStreamArn?: string;
  readonly primaryTables: Partial<Record<TableId, DynamodbTable>> = {};
  readonly replicas: Partial<Record<TableId, DynamodbTableReplicaA>> = {};
  private readonly kmsKeyArn: string;
  private readonly dynamodbService: string;

  constructor(scope: Construct, id: string, props: PaymentTablesProps) {
    super(scope, id);
    const tables = {} as Record<TableId, TableRef>;
    for (const tableId of TABLE_IDS) {
      const def = TABLES[tableId];
      const name = props.naming.name(def.baseName, "dynamodbTable");
      if (props.role === "primary") {
        const table = new DynamodbTable(this, tableId, {
          name,
          billingMode: "PAY_PER_REQUEST",
          hashKey: def.hashKey,
          attribute: attributeNames(def).map((a) => ({ name: a, type: "S" })),
          globalSecondaryIndex: def.indexes.map((i) => ({ name: i.name, hashKey: i.hashKey, projectionType: "ALL" })),
          ttl: def.ttlAttribute ? { attributeName: def.ttlAttribute, enabled: true } : undefined,
          // Global tables replicate from the stream.
          streamEnabled: true,
          streamViewType: "NEW_AND_OLD_IMAGES",
          serverSideEncryption: { enabled: true, kmsKeyArn: props.kmsKeyArn },
          pointInTimeRecovery: { enabled: true },
          deletionProtectionEnabled: false,
          lifecycle: { ignoreChanges: ["replica"] },
        });
        this.primaryTables[tableId] = table;
        tables[tableId] = { name: table.name, arn: table.arn };
        if (tableId === "transactions") this.transactionsStreamArn = table.streamArn;
      } else {
        const replica = new DynamodbTableReplicaA(this, `${tableId}-replica`, {
          globalTableArn: props.primaryTableArns[tableId],
          kmsKeyArn: props.kmsKeyArn,
          pointInTimeRecovery: true,
          deletionProtectionEnabled: false,
        });
        this.replicas[tableId] = replica;
        // A replica keeps the table's name; its ARN is the same table in this region.
        tables[tableId] = { name, arn: replica.arn };
      }
    }
    this.tables = tables;
    this.kmsKeyArn = props.kmsKeyArn;
    this.dynamodbService = `dynamodb.${props.region}.amazonaws.com`;
  }

  /** Item reads and writes (conditional ones included) on one table and its indexes. */
  grantReadWrite(grantee: IGrantable, id: TableId): void {
    const { arn } = this.tables[id];
    grantee.addToPolicy({
      Effect: "Allow",
      Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"],
      Resource: [arn, `${arn}/index/*`],
    });
    // DynamoDB uses the caller's rights on the table's CMK.
    grantee.addToPolicy(keyUseStatement(this.kmsKeyArn, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], this.dynamodbService));
  }

  /** For health checks: DescribeTable only. */
  grantDescribe(grantee: IGrantable, id: TableId): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["dynamodb:DescribeTable"], Resource: this.tables[id].arn });
  }
}
