import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { DynamodbTableReplicaA } from "@cdktf/provider-aws/lib/dynamodb-table-replica";
import { Construct } from "constructs";
import { attributeNames, projectionOf, TABLE_IDS, TABLES, type TableId } from "../../contracts/tables";
import { AwsStack } from "../core/aws-stack";
import type { IGrantable } from "../core/iam";
import type { RegionKey } from "../security/region-key";

export type ItemAction = "dynamodb:GetItem" | "dynamodb:PutItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem" | "dynamodb:Query";

/** What the rest of the stack needs of one table in this region. */
export interface TableRef {
  readonly name: string;
  readonly arn: string;
}

export type PaymentTablesProps =
  | { readonly role: "primary" }
  /** The primary stack's tables, which the replicas join. */
  | { readonly role: "dr"; readonly primary: PaymentTables };

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
  private readonly key: RegionKey;

  constructor(scope: Construct, id: string, props: PaymentTablesProps) {
    super(scope, id);
    const { naming, key } = AwsStack.of(this);
    this.key = key;
    const tables = {} as Record<TableId, TableRef>;
    for (const tableId of TABLE_IDS) {
      const def = TABLES[tableId];
      const name = naming.table(tableId);
      if (props.role === "primary") {
        const table = new DynamodbTable(this, tableId, {
          name,
          billingMode: "PAY_PER_REQUEST",
          hashKey: def.hashKey,
          attribute: attributeNames(def).map((a) => ({ name: a, type: "S" })),
          globalSecondaryIndex: def.indexes.map((i) => {
            const projection = projectionOf(i);
            return {
              name: i.name,
              hashKey: i.hashKey,
              rangeKey: i.rangeKey,
              projectionType: projection.type,
              nonKeyAttributes: projection.nonKeyAttributes,
            };
          }),
          ttl: def.ttlAttribute ? { attributeName: def.ttlAttribute, enabled: true } : undefined,
          // Global tables replicate from the stream.
          streamEnabled: true,
          streamViewType: "NEW_AND_OLD_IMAGES",
          serverSideEncryption: { enabled: true, kmsKeyArn: key.arn },
          pointInTimeRecovery: { enabled: true },
          deletionProtectionEnabled: false,
          lifecycle: { ignoreChanges: ["replica"] },
        });
        this.primaryTables[tableId] = table;
        tables[tableId] = { name: table.name, arn: table.arn };
        if (tableId === "transactions") this.transactionsStreamArn = table.streamArn;
      } else {
        const replica = new DynamodbTableReplicaA(this, `${tableId}-replica`, {
          globalTableArn: props.primary.tables[tableId].arn,
          kmsKeyArn: key.arn,
          pointInTimeRecovery: true,
          deletionProtectionEnabled: false,
        });
        this.replicas[tableId] = replica;
        // A replica keeps the table's name; its ARN is the same table in this region.
        tables[tableId] = { name, arn: replica.arn };
      }
    }
    this.tables = tables;
  }

  /** Item reads and writes (conditional ones included) on one table and its indexes. */
  grantReadWrite(grantee: IGrantable, id: TableId): void {
    this.grantItems(grantee, id, ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]);
  }

  /** Item reads only (GetItem, Query): what a function that checks but never changes a table needs. */
  grantRead(grantee: IGrantable, id: TableId): void {
    this.grantItems(grantee, id, ["dynamodb:GetItem", "dynamodb:Query"]);
  }

  /**
   * Exactly the item actions a function uses on one table (and its indexes when it queries), with
   * the key rights they need: Decrypt to read, Encrypt and GenerateDataKey as well to write.
   */
  grantItems(grantee: IGrantable, id: TableId, actions: readonly ItemAction[]): void {
    const { arn } = this.tables[id];
    grantee.addToPolicy({
      Effect: "Allow",
      Action: [...actions],
      Resource: actions.includes("dynamodb:Query") ? [arn, `${arn}/index/*`] : arn,
    });
    const writes = actions.some((a) => a !== "dynamodb:GetItem" && a !== "dynamodb:Query");
    // DynamoDB uses the caller's rights on the table's CMK.
    this.key.grantUse(grantee, "dynamodb", writes ? ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"]);
  }

  /**
   * Query one index of a table, not the table itself (a reader of a sparse index), with the key
   * right that reading needs.
   */
  grantIndexQuery(grantee: IGrantable, id: TableId, indexName: string): void {
    const { arn } = this.tables[id];
    grantee.addToPolicy({ Effect: "Allow", Action: ["dynamodb:Query"], Resource: `${arn}/index/${indexName}` });
    this.key.grantUse(grantee, "dynamodb", ["kms:Decrypt"]);
  }

  /** For health checks: DescribeTable only. */
  grantDescribe(grantee: IGrantable, id: TableId): void {
    grantee.addToPolicy({ Effect: "Allow", Action: ["dynamodb:DescribeTable"], Resource: this.tables[id].arn });
  }
}
