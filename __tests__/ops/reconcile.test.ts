/**
 * `npm run dr -- reconcile` and `redrive` against the DR region of a lost primary: dynalite and
 * fauxqs stand in for its table and queues, a MariaDB for the Aurora ledger (one of each for the
 * file), the transaction processor drains what the commands enqueue. The primary region's
 * clients point at a port nothing listens on.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type mysql from "mysql2/promise";
import { postBatch } from "../../lambdas/shared/ledger";
import { messageAttributesOf, messageOf, type TransactionItem } from "../../lambdas/shared/transactions";
import { type Emulators, startDynalite } from "../../src/local/emulators";
import { connectLocalLedger, type LocalLedger } from "../../src/local/ledger";
import { startRecordingProxy } from "../../src/local/recording-proxy";
import { getTransaction, makeTransaction } from "../../src/local/seed";
import { type CliIo, runDr } from "../../src/ops/dr/cli";
import { type LedgerRegion, startLedgerRegion } from "../helpers/ledger-region";
import { type Invoke, loadHandler } from "../helpers/load";
import { drainQueue } from "../helpers/observe";

const PROCESSOR = path.resolve(__dirname, "../../lambdas/transaction-processor/index.ts");
const PRIMARY = "ap-southeast-1";
const DR = "ap-southeast-2";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

let region: LedgerRegion;
let emu: Emulators;
let ledger: LocalLedger;
let root: mysql.Connection;
let processor: Invoke<SQSEvent, SQSBatchResponse>;
/** An endpoint nothing answers on: the lost primary region. */
let gone: string;

beforeAll(async () => {
  // The deployment's default suffix: the CLI derives `payment-transactions-dev` and the queue names.
  region = await startLedgerRegion({ region: DR, prefix: "dev" });
  ({ emu, ledger, root } = region);
  processor = loadHandler<SQSEvent, SQSBatchResponse>(PROCESSOR);
  const stopped = await startDynalite();
  await stopped.stop();
  gone = stopped.endpoint;
});

afterAll(() => region?.stop());

beforeEach(() => region.reset());

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `npm run dr -- <argv>` with the DR region on the emulators (or through proxies) and the primary gone. */
async function dr(argv: string[], endpoints: { dynamodb?: string; sqs?: string } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: {},
    context: () => ({}),
    clients: () => {
      throw new Error("reconcile and redrive need no RDS, CloudWatch or Route53 client");
    },
    regionClients: (_config, role) => {
      const region = role === "dr" ? DR : PRIMARY;
      const common = { region, credentials: CREDENTIALS, maxAttempts: 1 };
      return {
        dynamodb: new DynamoDBClient({ ...common, endpoint: role === "dr" ? (endpoints.dynamodb ?? emu.dynamo.endpoint) : gone }),
        sqs: new SQSClient({ ...common, endpoint: role === "dr" ? (endpoints.sqs ?? emu.fauxqs.endpoint) : gone }),
      };
    },
  };
  const code = await runDr(argv, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const doc = () => DynamoDBDocumentClient.from(emu.clients.dynamodb);

/** A payment as the gateway of `region` wrote it `ageSeconds` ago, still RECEIVED. */
async function accepted(ageSeconds: number, region = PRIMARY, extra: Partial<TransactionItem> = {}): Promise<TransactionItem> {
  const { item } = makeTransaction();
  const at = new Date(Date.now() - ageSeconds * 1000).toISOString();
  const stored = Object.fromEntries(
    Object.entries({ ...item, created_at: at, updated_at: at, pending_since: at, accepted_region: region, ...extra }).filter(
      ([, v]) => v !== undefined,
    ),
  ) as unknown as TransactionItem;
  await doc().send(new PutCommand({ TableName: emu.resources.transactionsTable, Item: stored }));
  return stored;
}

/** The event source mapping's work: every queued transaction message through the processor. */
async function drain(): Promise<number> {
  const { messages } = await drainQueue(emu.clients.sqs, emu.resources.transactionQueueUrl, processor, { max: 100, polls: 20 });
  return messages.length;
}

/** Processed in DR as it would be normally: queued by the gateway, drained. */
async function processedNow(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const item = await accepted(1, DR);
    await emu.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: emu.resources.transactionQueueUrl,
        MessageBody: JSON.stringify(messageOf(item)),
        MessageAttributes: messageAttributesOf(item),
      }),
    );
  }
  await drain();
}

async function entries(id: string): Promise<Array<{ region: string }>> {
  const [rows] = await root.query("SELECT region FROM journal_entries WHERE transaction_id = ?", [id]);
  return rows as Array<{ region: string }>;
}

const dlqDepth = async (id: "transaction" | "notification") =>
  (await emu.fauxqs.inspectQueue(id === "transaction" ? emu.resources.names.transactionDlq : emu.resources.names.notificationDlq))!;

describe("reconcile", () => {
  test("reports accepted, posted and notified, and lists what is stranded (id, merchant, amount, currency, accepted region, age): exit 2", async () => {
    await processedNow(3);
    const old = await accepted(700);
    const recent = await accepted(200);
    await accepted(10); // fresh: the primary may still be working on it
    await accepted(3 * 86_400, PRIMARY, { status: "PROCESSED", pending_shard: undefined, pending_since: undefined }); // outside the window

    const run = await dr(["reconcile", "--region", "dr"]);
    expect(run.code).toBe(2);
    expect(run.out).toContain("Payments in payment-transactions-dev (dr region ap-southeast-2)");
    expect(run.out).toMatch(/accepted since \S+\s+6$/m);
    expect(run.out).toMatch(/posted in the ledger \(posted_at set\)\s+3$/m);
    expect(run.out).toMatch(/^\s+notified\s+3$/m);
    expect(run.out).toMatch(/stranded: RECEIVED for more than 120 s \(any age\)\s+2$/m);
    expect(run.out).toContain("2 accepted in ap-southeast-1");
    const rows = run.out.split("\n").filter((l) => /^\s+[0-9a-f]{8}-/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^\\s+${old.transaction_id}\\s+merchant-001\\s+2500\\s+SGD\\s+ap-southeast-1\\s+11 min\\s+-$`));
    expect(rows[1]).toMatch(new RegExp(`^\\s+${recent.transaction_id}\\s+merchant-001\\s+2500\\s+SGD\\s+ap-southeast-1\\s+3 min\\s+-$`));

    const narrower = await dr([
      "reconcile",
      "--region",
      "dr",
      "--older-than",
      "600",
      "--since",
      new Date(Date.now() - 300_000).toISOString(),
    ]);
    expect(narrower.out).toMatch(/accepted since \S+\s+5$/m);
    expect(narrower.out).toMatch(/more than 600 s \(any age\)\s+1$/m);
  });

  test("nothing stranded: exit 0", async () => {
    await processedNow(1);
    const run = await dr(["reconcile", "--region", "dr"]);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/stranded: .*\s+0$/m);
    expect(run.out).not.toContain("Missing-transaction report");
  });

  test("--adopt without --yes prints exactly what it would enqueue and changes nothing (exit 1)", async () => {
    const a = await accepted(700);
    const b = await accepted(300);
    const run = await dr(["reconcile", "--region", "dr", "--adopt"]);
    expect(run.code).toBe(1);
    expect(run.out).toContain("Dry run: would enqueue these 2 payment(s) into payment-transaction-queue-dev (dr region ap-southeast-2)");
    expect(run.out).toMatch(new RegExp(`^  ${a.transaction_id}$`, "m"));
    expect(run.out).toMatch(new RegExp(`^  ${b.transaction_id}$`, "m"));
    expect(await emu.fauxqs.inspectQueue(emu.resources.names.transactionQueue)).toEqual({ ready: 0, delayed: 0, inflight: 0 });
    for (const id of [a.transaction_id, b.transaction_id]) {
      expect(await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, id)).not.toHaveProperty("swept_at");
    }
  });

  test("--adopt --yes enqueues every stranded payment in this region, even one the lost region's sweeper had just sent itself; then stranded is 0 and posted rose", async () => {
    await processedNow(1);
    const a = await accepted(700);
    // Swept a minute ago by the primary into its own queue, which is gone with it.
    const b = await accepted(400, PRIMARY, { swept_at: new Date(Date.now() - 60_000).toISOString(), swept_region: PRIMARY });
    const fresh = await accepted(5);

    const run = await dr(["reconcile", "--region", "dr", "--adopt", "--yes"]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("Enqueued 2 payment(s) into payment-transaction-queue-dev (2 accepted in another region); skipped 0");
    expect(await drain()).toBe(2);
    for (const id of [a.transaction_id, b.transaction_id]) {
      expect(await entries(id)).toEqual([{ region: DR }]);
      expect(await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, id)).toMatchObject({
        status: "PROCESSED",
        swept_region: DR,
        notified: true,
      });
    }
    expect((await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, fresh.transaction_id))?.status).toBe("RECEIVED");

    const after = await dr(["reconcile", "--region", "dr"]);
    expect(after.code).toBe(0);
    expect(after.out).toMatch(/posted in the ledger \(posted_at set\)\s+3$/m);
    expect(after.out).toMatch(/stranded: .*\s+0$/m);
  });

  test("adopting a payment the ledger already holds posts nothing: only its projection is completed", async () => {
    // The primary posted it in Aurora, then died before its DynamoDB update replicated.
    const item = await accepted(900);
    const app = connectLocalLedger(ledger);
    try {
      const posted = await postBatch(
        app,
        [
          {
            transactionId: item.transaction_id,
            merchantId: item.merchant_id,
            amount: item.amount,
            currency: item.currency,
            outcome: "POSTED",
          },
        ],
        { region: PRIMARY },
      );
      expect(posted.get(item.transaction_id)).toMatchObject({ status: "recorded", posted: true });
    } finally {
      await app.close();
    }
    expect((await dr(["reconcile", "--region", "dr", "--adopt", "--yes"])).code).toBe(0);
    expect(await drain()).toBe(1);
    expect(await entries(item.transaction_id)).toEqual([{ region: PRIMARY }]);
    expect(await getTransaction(emu.clients.dynamodb, emu.resources.transactionsTable, item.transaction_id)).toMatchObject({
      status: "PROCESSED",
      posted_region: PRIMARY,
    });
  });

  test("the lost region is one error line, exit 1; a bad command line prints the usage", async () => {
    const lost = await dr(["reconcile", "--region", "primary"]);
    expect(lost.code).toBe(1);
    expect(lost.err.split("\n")).toHaveLength(1);
    expect(lost.err).toMatch(/^error: primary region ap-southeast-1: /);
    for (const argv of [
      ["reconcile", "--yes"],
      ["reconcile", "--region", "eu"],
      ["reconcile", "--older-than", "soon"],
      ["reconcile", "--since", "yesterday"],
      ["redrive", "--queue", "payments"],
      ["redrive", "--max", "0"],
    ]) {
      const run = await dr(argv);
      expect({ argv, code: run.code }).toEqual({ argv, code: 1 });
      expect(run.err).toMatch(/^error: /);
      expect(run.err).toContain("reconcile [--region primary|dr]");
    }
  });
});

describe("redrive", () => {
  /** Messages that exhausted their receives: what the DLQ holds after a long outage. */
  async function deadLetters(items: TransactionItem[]): Promise<void> {
    for (const item of items) {
      await emu.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: emu.resources.transactionDlqUrl,
          MessageBody: JSON.stringify(messageOf(item)),
          MessageAttributes: messageAttributesOf(item),
        }),
      );
    }
  }

  test("without --yes it counts and shows the first messages and moves nothing (exit 1)", async () => {
    const items = [await accepted(4000, DR), await accepted(4000, DR)];
    await deadLetters(items);
    const run = await dr(["redrive", "--region", "dr"]);
    expect(run.code).toBe(1);
    expect(run.out).toContain("payment-transaction-dlq-dev (dr region ap-southeast-2): about 2 message(s) waiting");
    for (const item of items) expect(run.out).toContain(item.transaction_id);
    expect(run.out).toContain(
      "Dry run: would move up to 1000 message(s) from payment-transaction-dlq-dev back to payment-transaction-queue-dev",
    );
    // Still in the DLQ (the look used visibility 0), none in the queue.
    const left = await dlqDepth("transaction");
    expect(left.ready + left.inflight).toBe(2);
    expect(await emu.fauxqs.inspectQueue(emu.resources.names.transactionQueue)).toEqual({ ready: 0, delayed: 0, inflight: 0 });
    expect((await dr(["redrive", "--region", "dr", "--yes"])).out).toContain("Moved 2 message(s)");
  });

  test("with --yes it moves up to --max back to the queue, attributes kept, deleting only what was sent; the payments are then posted", async () => {
    const items = [await accepted(4000, DR), await accepted(4000, DR), await accepted(4000, DR)];
    await deadLetters(items);
    const first = await dr(["redrive", "--region", "dr", "--max", "2", "--yes"]);
    expect(first.code).toBe(0);
    expect(first.out).toContain("Moved 2 message(s) from payment-transaction-dlq-dev to payment-transaction-queue-dev; 0 failed.");
    expect(await dlqDepth("transaction")).toEqual({ ready: 1, delayed: 0, inflight: 0 });
    // A look without taking them (visibility 0): the attributes came along.
    const moved = await emu.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emu.resources.transactionQueueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageAttributeNames: ["All"],
      }),
    );
    expect(moved.Messages).toHaveLength(2);
    for (const m of moved.Messages!) {
      expect(m.MessageAttributes?.transaction_id?.StringValue).toBe(JSON.parse(m.Body!).transaction_id);
      expect(m.MessageAttributes?.merchant_id?.StringValue).toBe("merchant-001");
    }
    expect((await dr(["redrive", "--region", "dr", "--yes"])).out).toContain("Moved 1 message(s)");
    expect(await dlqDepth("transaction")).toEqual({ ready: 0, delayed: 0, inflight: 0 });
    // The cause is fixed: the processor posts all three, once each.
    expect(await drain()).toBe(3);
    for (const item of items) expect(await entries(item.transaction_id)).toEqual([{ region: DR }]);
    const again = await dr(["redrive", "--region", "dr", "--yes"]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.out).toContain("Nothing to redrive.");
  });

  test("--queue notification redrives the notification DLQ into the notification queue", async () => {
    await emu.clients.sqs.send(new SendMessageCommand({ QueueUrl: emu.resources.notificationDlqUrl, MessageBody: '{"type":"x"}' }));
    const run = await dr(["redrive", "--region", "dr", "--queue", "notification", "--yes"]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("Moved 1 message(s) from payment-notification-dlq-dev to payment-notification-queue-dev");
    expect((await emu.fauxqs.inspectQueue(emu.resources.names.notificationQueue))!.ready).toBe(1);
    expect(await dlqDepth("notification")).toEqual({ ready: 0, delayed: 0, inflight: 0 });
  });
});

test("src/ops/README.md lists exactly the DynamoDB and SQS rights reconcile and redrive use on the wire", async () => {
  const dynamo = await startRecordingProxy(emu.dynamo.endpoint);
  const sqs = await startRecordingProxy(emu.fauxqs.endpoint);
  try {
    await accepted(700);
    await emu.clients.sqs.send(new SendMessageCommand({ QueueUrl: emu.resources.transactionDlqUrl, MessageBody: "{}" }));
    const endpoints = { dynamodb: dynamo.endpoint, sqs: sqs.endpoint };
    expect((await dr(["reconcile", "--region", "dr"], endpoints)).code).toBe(2);
    expect((await dr(["reconcile", "--region", "dr", "--adopt", "--yes"], endpoints)).code).toBe(0);
    expect((await dr(["redrive", "--region", "dr"], endpoints)).code).toBe(1);
    expect((await dr(["redrive", "--region", "dr", "--yes"], endpoints)).code).toBe(0);
  } finally {
    await Promise.all([dynamo.stop(), sqs.stop()]);
  }
  // IAM authorizes the batch forms of SQS calls with the single-message action.
  const iam: Record<string, string> = { SendMessageBatch: "SendMessage", DeleteMessageBatch: "DeleteMessage" };
  const used = (requests: typeof dynamo.requests, prefix: string, service: string) =>
    requests.map((r) => {
      const op = String(r.headers["x-amz-target"]).replace(prefix, "");
      return `${service}:${iam[op] ?? op}`;
    });
  const onWire = [
    ...new Set([...used(dynamo.requests, "DynamoDB_20120810.", "dynamodb"), ...used(sqs.requests, "AmazonSQS.", "sqs")]),
  ].sort();
  const readme = readFileSync(path.resolve(__dirname, "../../src/ops/README.md"), "utf8");
  const start = readme.indexOf("**IAM rights the `reconcile` and `redrive` commands need**");
  expect(start).toBeGreaterThan(-1);
  const section = readme.slice(start, readme.indexOf("Nothing else", start));
  const listed = [...new Set([...section.matchAll(/`((?:dynamodb|sqs):[A-Za-z]+)`/g)].map((m) => m[1]!))].sort();
  expect(listed).toEqual(onWire);
});
