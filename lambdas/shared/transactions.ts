/** The transactions-table item as the gateway writes it, the processor updates it and the sweeper re-enqueues it. */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { MessageAttributeValue } from "@aws-sdk/client-sqs";
import { marshall } from "@aws-sdk/util-dynamodb";
import { PENDING_INDEX } from "../../src/contracts/tables";
import type { TransactionMessage, TransactionStatus } from "./schemas";

export interface TransactionItem {
  transaction_id: string;
  idempotency_key: string;
  merchant_id: string;
  customer_id: string;
  session_id: string;
  amount: number;
  currency: string;
  metadata?: Record<string, string>;
  status: TransactionStatus;
  request_hash?: string;
  /** Random per gateway request: a retried PutItem that meets this token met its own write. */
  accept_token?: string;
  /** Public id of the API key that submitted it. */
  api_key_id?: string;
  /** Region whose gateway accepted it. */
  accepted_region?: string;
  /** Sparse pending index (src/contracts/tables.ts): present only while RECEIVED. */
  pending_shard?: string;
  pending_since?: string;
  failure_reason?: string;
  created_at: string;
  updated_at: string;
  processed_at?: string;
  /** When the ledger recorded the entry, and in which region's processor (the projection of the ledger). */
  posted_at?: string;
  posted_region?: string;
  /** Set by a sweeper run (or the operator's reconcile --adopt) that re-enqueued it, and its region. */
  swept_at?: string;
  swept_region?: string;
  /** Random per sweep: a retried mark that meets this token met its own write. */
  sweep_token?: string;
  /** Set when a request with this key asked for other values than the ledger holds (see KeyConflict). */
  key_conflict?: KeyConflict;
  /** Set once the status notification was sent to the notification queue. */
  notified?: boolean;
  /** Set once the transition was written to the S3 transaction log. */
  logged?: boolean;
  log_object?: string;
  /** Epoch ms until which one processor invocation owns the pending side effects. */
  lease_until?: number;
  lease_owner?: string;
}

/**
 * One Idempotency-Key accepted with two bodies (two regions within the replication delay, or a
 * message that no longer matches its item): the ledger holds one of them, the item follows the
 * ledger, and this records what the other asked for.
 */
export interface KeyConflict {
  /** What the other request asked for, and the ledger does not hold. */
  requested: { merchant_id: string; amount: number; currency: string };
  /** What the ledger holds (and the item shows). */
  recorded: { merchant_id: string; amount: number; currency: string };
  /** Where it was found: the ledger refused the item's values, or a message differed from its item. */
  found_by: "ledger" | "message";
  detected_at: string;
  detected_region: string;
}

/**
 * The request_hash of an item whose key was accepted with two bodies (no body hashes to it: a
 * request hash is hex): every later request with that key, either body, answers 422, since the
 * key no longer names one request. GET tells which body the ledger holds.
 */
export const CONFLICTED_REQUEST_HASH = "key-conflict";

/** The pending-index shard of a transaction id: "0".."7", spread by the id's first byte. */
export function pendingShard(transactionId: string): string {
  return String(Number.parseInt(transactionId.slice(0, 2), 16) % PENDING_INDEX.shards);
}

/** The public/logged view of a transaction (no internal bookkeeping attributes). */
export function publicView(item: TransactionItem): Record<string, unknown> {
  const view: Record<string, unknown> = {
    transaction_id: item.transaction_id,
    merchant_id: item.merchant_id,
    customer_id: item.customer_id,
    session_id: item.session_id,
    amount: item.amount,
    currency: item.currency,
    status: item.status,
    created_at: item.created_at,
    updated_at: item.updated_at,
  };
  if (item.processed_at !== undefined) view.processed_at = item.processed_at;
  if (item.failure_reason !== undefined) view.failure_reason = item.failure_reason;
  if (item.metadata !== undefined && Object.keys(item.metadata).length > 0) view.metadata = item.metadata;
  return view;
}

/**
 * The queue message of a stored transaction: what the gateway sends after its write, and what the
 * sweeper sends again for an item left RECEIVED. Built from the item alone, so both send the same.
 */
export function messageOf(
  item: Pick<
    TransactionItem,
    "transaction_id" | "idempotency_key" | "merchant_id" | "customer_id" | "session_id" | "amount" | "currency" | "metadata" | "created_at"
  >,
): TransactionMessage {
  return {
    transaction_id: item.transaction_id,
    idempotency_key: item.idempotency_key,
    merchant_id: item.merchant_id,
    customer_id: item.customer_id,
    session_id: item.session_id,
    amount: item.amount,
    currency: item.currency,
    ...(item.metadata !== undefined ? { metadata: item.metadata } : {}),
    status: "RECEIVED",
    created_at: item.created_at,
  };
}

/** The message attributes that go with it (for filtering and for operators reading a DLQ). */
export function messageAttributesOf(item: Pick<TransactionItem, "transaction_id" | "merchant_id">): Record<string, MessageAttributeValue> {
  return {
    transaction_id: { DataType: "String", StringValue: item.transaction_id },
    merchant_id: { DataType: "String", StringValue: item.merchant_id },
  };
}

/**
 * The item as DynamoDB attribute values (undefined attributes left out), for the low-level
 * client: what the document client would send, without its second command per write.
 */
export function itemAttributes(item: TransactionItem): Record<string, AttributeValue> {
  return marshall(item, { removeUndefinedValues: true });
}
