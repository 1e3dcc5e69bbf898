/**
 * Merchant API key operations over one region's keys table (a global table: a key issued or
 * revoked in either region reaches the other in about a second). Pure logic over an injected
 * DynamoDB client, so the tests run it against dynalite and the CLI (`cli.ts`) only parses,
 * builds the client and prints. The local runtime issues its demo key with `issueKey` too.
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import {
  KEY_PREFIX,
  keyPrefix,
  keyStatus,
  MAX_ACTIVE_KEYS,
  MERCHANT_ID_PATTERN,
  type MerchantKeyItem,
  newApiKey,
  parseApiKey,
} from "../../contracts/merchant-keys";
import { MERCHANT_KEYS_INDEX } from "../../contracts/tables";
import type { OperationResult } from "../command-line";

export interface KeysContext {
  readonly dynamodb: DynamoDBClient;
  /** The keys table, `payment-merchant-keys-{suffix}`, in the region the client talks to. */
  readonly table: string;
  /** Shown in the report: which region answered. */
  readonly region: string;
  /** The gateways' key cache (authCacheTtlSeconds): how soon a revocation takes effect. */
  readonly cacheTtlSeconds: number;
  readonly now?: () => Date;
}

/** What a keys command returns (never the usage: its errors are about keys, not the command line). */
export type KeysResult = Omit<OperationResult, "showUsage">;

/** A key as operators see it: never the secret, nor its hash. */
export interface KeyView {
  readonly prefix: string;
  readonly merchantId: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly revokedAt?: string;
  readonly status: ReturnType<typeof keyStatus>;
}

const doc = (ctx: KeysContext) => DynamoDBDocumentClient.from(ctx.dynamodb);
const nowOf = (ctx: KeysContext) => ctx.now?.() ?? new Date();
const refuse = (error: string, lines: string[] = []): KeysResult => ({ exitCode: 1, lines, error });

function checkMerchant(merchantId: string): string | undefined {
  return MERCHANT_ID_PATTERN.test(merchantId)
    ? undefined
    : `invalid merchant id "${merchantId}": expected 1-64 characters of letters, digits and _ . : -, starting with a letter or digit`;
}

/** The merchant's keys, oldest first (read from the merchant index: no secret hash in it). */
export async function merchantKeys(ctx: KeysContext, merchantId: string): Promise<KeyView[]> {
  const items: Array<Partial<MerchantKeyItem>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc(ctx).send(
      new QueryCommand({
        TableName: ctx.table,
        IndexName: MERCHANT_KEYS_INDEX.name,
        KeyConditionExpression: "merchant_id = :m",
        ExpressionAttributeValues: { ":m": merchantId },
        ExclusiveStartKey: start,
      }),
    );
    items.push(...((out.Items ?? []) as Array<Partial<MerchantKeyItem>>));
    start = out.LastEvaluatedKey;
  } while (start);
  const now = nowOf(ctx);
  return items
    .map((i) => ({
      prefix: keyPrefix(String(i.key_id)),
      merchantId,
      createdAt: String(i.created_at),
      expiresAt: i.expires_at,
      revokedAt: i.revoked_at,
      status: keyStatus(i, now),
    }))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export interface IssueOptions {
  readonly merchantId: string;
  readonly expiresAt?: Date;
  readonly yes: boolean;
}

/** A new key for a merchant, printed once; refused while the merchant has two active keys. */
export async function issueKey(ctx: KeysContext, options: IssueOptions): Promise<KeysResult & { key?: string; prefix?: string }> {
  const invalid = checkMerchant(options.merchantId);
  if (invalid) return refuse(invalid);
  const now = nowOf(ctx);
  if (options.expiresAt && options.expiresAt.getTime() <= now.getTime()) {
    return refuse(`--expires-at ${options.expiresAt.toISOString()} is not in the future`);
  }
  const active = (await merchantKeys(ctx, options.merchantId)).filter((k) => k.status === "active");
  if (active.length >= MAX_ACTIVE_KEYS) {
    return refuse(
      `merchant ${options.merchantId} already has ${active.length} active keys (${active.map((k) => k.prefix).join(", ")}); revoke one first`,
    );
  }
  const expiry = options.expiresAt ? `, expiring ${options.expiresAt.toISOString()}` : ", no expiry";
  if (!options.yes) {
    return {
      exitCode: 1,
      lines: [
        `Dry run: would issue a key for merchant ${options.merchantId}${expiry} in ${ctx.table} (${ctx.region}).`,
        `The merchant has ${active.length} active key(s). Run again with --yes to issue it; the key is printed once.`,
      ],
    };
  }
  const { key, item } = newApiKey(options.merchantId, now, options.expiresAt);
  await doc(ctx).send(new PutCommand({ TableName: ctx.table, Item: item, ConditionExpression: "attribute_not_exists(key_id)" }));
  const prefix = keyPrefix(item.key_id);
  return {
    exitCode: 0,
    key,
    prefix,
    lines: [
      `Issued key ${prefix} for merchant ${options.merchantId}${expiry} (${ctx.region}).`,
      `API key (shown once, only its hash is stored; give it to the merchant over a secure channel):`,
      key,
    ],
  };
}

export async function listKeys(ctx: KeysContext, merchantId: string): Promise<KeysResult> {
  const invalid = checkMerchant(merchantId);
  if (invalid) return refuse(invalid);
  const keys = await merchantKeys(ctx, merchantId);
  if (keys.length === 0) return { exitCode: 0, lines: [`Merchant ${merchantId} has no keys (${ctx.region}).`] };
  const rows = [
    ["prefix", "created", "expires", "status"],
    ...keys.map((k) => [k.prefix, k.createdAt, k.expiresAt ?? "-", k.status === "revoked" ? `revoked ${k.revokedAt}` : k.status]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return {
    exitCode: 0,
    lines: [
      `Keys of merchant ${merchantId} (${ctx.region}):`,
      ...rows.map((r) =>
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join("  ")
          .trimEnd(),
      ),
    ],
  };
}

/** A key id from `pk_<id>`, `<id>` or a whole key (its secret is ignored). */
export function keyIdOf(value: string): string | undefined {
  const whole = parseApiKey(value);
  if (whole) return whole.keyId;
  const id = value.startsWith(KEY_PREFIX) ? value.slice(KEY_PREFIX.length) : value;
  return /^[a-z2-7]{12}$/.test(id) ? id : undefined;
}

export async function revokeKey(ctx: KeysContext, options: { readonly key: string; readonly yes: boolean }): Promise<KeysResult> {
  const keyId = keyIdOf(options.key);
  if (!keyId) return refuse(`invalid key "${options.key}": expected its prefix, such as pk_abcdefgh2345`);
  const prefix = keyPrefix(keyId);
  const got = await doc(ctx).send(new GetCommand({ TableName: ctx.table, Key: { key_id: keyId }, ConsistentRead: true }));
  const item = got.Item as MerchantKeyItem | undefined;
  if (!item) return refuse(`no key ${prefix} in ${ctx.table} (${ctx.region})`);
  if (item.revoked_at !== undefined) {
    return { exitCode: 0, lines: [`Key ${prefix} of merchant ${item.merchant_id} was already revoked at ${item.revoked_at}.`] };
  }
  if (!options.yes) {
    return {
      exitCode: 1,
      lines: [
        `Dry run: would revoke key ${prefix} of merchant ${item.merchant_id} (${keyStatus(item, nowOf(ctx))}, created ${item.created_at}) in ${ctx.region}.`,
        "Run again with --yes to revoke it.",
      ],
    };
  }
  const at = nowOf(ctx).toISOString();
  try {
    await doc(ctx).send(
      new UpdateCommand({
        TableName: ctx.table,
        Key: { key_id: keyId },
        UpdateExpression: "SET revoked_at = :at",
        ConditionExpression: "attribute_exists(key_id) AND attribute_not_exists(revoked_at)",
        ExpressionAttributeValues: { ":at": at },
      }),
    );
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return { exitCode: 0, lines: [`Key ${prefix} was revoked meanwhile.`] };
    throw err;
  }
  return {
    exitCode: 0,
    lines: [
      `Revoked key ${prefix} of merchant ${item.merchant_id} at ${at} (${ctx.region}).`,
      `Gateways stop accepting it within ${ctx.cacheTtlSeconds} s (their key cache, authCacheTtlSeconds), plus about 1 s of replication in the other region.`,
    ],
  };
}
