/**
 * The drill's randomness, all from one seed: when each payment starts, what it pays, which
 * resolver its client uses, and the resolvers' refresh phases. The same seed gives the same
 * schedule (what the system then does with it depends on timing, as in a real drill).
 */

/** mulberry32: a small, fast 32-bit PRNG; plenty for a load schedule. Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PaymentBody {
  readonly amount: number;
  readonly currency: string;
  readonly customer_id: string;
  readonly session_id: string;
}

export interface ScheduledPayment {
  readonly index: number;
  /** Start time, ms after the start of the load. */
  readonly atMs: number;
  readonly idempotencyKey: string;
  readonly body: PaymentBody;
  /** The resolver this payment's client asks (src/local/drill/dns.ts). */
  readonly resolver: number;
}

const CURRENCIES = ["SGD", "AUD", "USD"] as const;

/**
 * Poisson arrivals at `rate` per second for `durationSeconds`. Amounts stay under the default
 * risk limit, so every payment is meant to be POSTED.
 */
export function paymentSchedule(seed: number, rate: number, durationSeconds: number, resolvers: number): ScheduledPayment[] {
  const random = prng(seed);
  const payments: ScheduledPayment[] = [];
  let at = 0;
  for (let index = 0; ; index++) {
    // Exponential inter-arrival time; 1 - random() is in (0, 1], so the log is finite.
    at += (-Math.log(1 - random()) / rate) * 1000;
    if (at >= durationSeconds * 1000) break;
    const customer = Math.floor(random() * 500);
    payments.push({
      index,
      atMs: Math.round(at),
      idempotencyKey: `drill-${seed}-${String(index).padStart(6, "0")}`,
      body: {
        amount: 100 + Math.floor(random() * 250_000),
        currency: CURRENCIES[Math.floor(random() * CURRENCIES.length)]!,
        customer_id: `customer-${customer}`,
        session_id: `session-${customer}-${index}`,
      },
      resolver: Math.floor(random() * resolvers),
    });
  }
  return payments;
}

/** Each resolver's first refresh after the start, ms in [0, ttl): spread, and fixed by the seed. */
export function resolverPhases(seed: number, resolvers: number, ttlMs: number): number[] {
  // Another stream than the schedule's, so that changing the rate does not move the phases.
  const random = prng(seed ^ 0x5bd1e995);
  return Array.from({ length: resolvers }, () => Math.floor(random() * ttlMs));
}
