/** The transactions-table item as the gateway writes it and the processor updates it. */
import { PENDING_INDEX } from "../../src/contracts/tables";
import type { TransactionStatus } from "./schemas";

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
  /** Set once the status notification was sent to the notification queue. */
  notified?: boolean;
  /** Set once the transition was written to the S3 transaction log. */
  logged?: boolean;
  log_object?: string;
  /** Epoch ms until which one processor invocation owns the pending side effects. */
  lease_until?: number;
  lease_owner?: string;
}

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
