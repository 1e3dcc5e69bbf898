/**
 * What the drill keeps in its own process, because a regional outage does not take it away (see
 * src/local/README.md, "The two-region drill"): the ledger's global database (a MariaDB writer in
 * the primary region and a replicating secondary in DR, behind a global writer endpoint that both
 * regions' processors use), each region's DynamoDB (dynalite) and SQS/SNS/S3 (fauxqs), and the
 * replicator between the two dynalites. The regions' compute runs elsewhere
 * (region-process.ts) and reaches DynamoDB only through the replicator's proxies.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { DeploymentConfig } from "../../contracts/config";
import { issueKey } from "../../ops/keys/operations";
import { type Emulators, startDynalite, startEmulators, startFauxqs } from "../emulators";
import { type GlobalLedger, startGlobalLedger } from "../global-ledger";
import { DEMO_MERCHANT_ID } from "../region";
import { type Replicator, startReplicator } from "../replicator";
import type { Role } from "./dns";
import { ReplicationWatch } from "./replication-watch";

export const ROLES: readonly Role[] = ["primary", "dr"];
/** Resource-name suffix of the drill's tables and queues (the same names in both regions, as deployed). */
export const DRILL_PREFIX = "drill";

export interface WorldRegion {
  readonly name: string;
  /** Straight to the region's emulators: for provisioning and for reading evidence. */
  readonly emulators: Emulators;
  /** The replicator's proxy: what the region's handlers use as their DynamoDB endpoint. */
  readonly proxy: string;
  /** DynamoDB through the proxy, for an operator's writes and reads in that region. */
  readonly operatorDynamo: DynamoDBClient;
}

export interface DrillWorld {
  readonly ledger: GlobalLedger;
  readonly replicator: Replicator;
  readonly replication: ReplicationWatch;
  readonly regions: Readonly<Record<Role, WorldRegion>>;
  /** The demo merchant's API key, issued in the primary and replicated to the DR region. */
  readonly demoKey: string;
  stop(): Promise<void>;
}

export interface WorldOptions {
  readonly config: DeploymentConfig;
  readonly replicationDelayMs: number;
  readonly ledgerLagSeconds: number;
  readonly visibilityTimeoutSeconds: number;
}

export async function startWorld(options: WorldOptions): Promise<DrillWorld> {
  const { config } = options;
  const names: Record<Role, string> = { primary: config.primaryRegion, dr: config.drRegion };
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const ledger = await startGlobalLedger({ regions: [names.primary, names.dr], lagSeconds: options.ledgerLagSeconds });
    stops.push(() => ledger.stop());
    const emulators = {} as Record<Role, Emulators>;
    await Promise.all(
      ROLES.map(async (role) => {
        const [dynamo, fauxqs] = await Promise.all([startDynalite(), startFauxqs(names[role])]);
        stops.push(() => Promise.all([dynamo.stop(), fauxqs.stop()]));
        emulators[role] = await startEmulators({
          region: names[role],
          prefix: DRILL_PREFIX,
          running: { dynamo, fauxqs },
          visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
          config,
          ledger: ledger.writer,
        });
        stops.push(() => emulators[role].stop());
      }),
    );
    const { transactionsTable, merchantKeysTable } = emulators.primary.resources;
    const replication = new ReplicationWatch();
    const replicator = await startReplicator({
      regions: [
        { name: names.primary, dynamoEndpoint: emulators.primary.dynamo.endpoint },
        { name: names.dr, dynamoEndpoint: emulators.dr.dynamo.endpoint },
      ],
      tables: [transactionsTable, merchantKeysTable],
      delayMs: options.replicationDelayMs,
      onSettled: replication.onSettled,
    });
    stops.push(() => replicator.stop());
    const regions = {} as Record<Role, WorldRegion>;
    for (const role of ROLES) {
      const operatorDynamo = new DynamoDBClient({
        region: names[role],
        endpoint: replicator.endpoints[names[role]],
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
      });
      stops.push(async () => operatorDynamo.destroy());
      regions[role] = { name: names[role], emulators: emulators[role], proxy: replicator.endpoints[names[role]]!, operatorDynamo };
    }
    // One key for both regions, as an operator issues it: in the primary, then replicated.
    const issued = await issueKey(
      {
        dynamodb: regions.primary.operatorDynamo,
        table: merchantKeysTable,
        region: names.primary,
        cacheTtlSeconds: config.authCacheTtlSeconds,
      },
      { merchantId: DEMO_MERCHANT_ID, yes: true },
    );
    if (!issued.key) throw new Error(`could not issue the demo key: ${issued.error ?? "no key"}`);
    await replicator.flush();
    return { ledger, replicator, replication, regions, demoKey: issued.key, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
