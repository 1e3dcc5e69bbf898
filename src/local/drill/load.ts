/**
 * The payment load: one client task per scheduled payment, as merchants' checkouts arrive
 * whatever state the system is in. Each follows the documented client protocol (README,
 * "Failover"): it authenticates with the merchant's API key, posts with its Idempotency-Key, and
 * on an error or a timeout retries with the same key and body (backing off), wherever its
 * resolver points by then; after the 202 it keeps the key and polls GET until the payment has a
 * final status, and on a 404 (the region that accepted it was lost before its item replicated)
 * POSTs again with the same key and body, which yields the same transaction id. And when a client
 * sees the service fail over (requests failing, then answered by the other region), it checks
 * again every payment that reached its final status in the minute before the failures began: a
 * status reported within the replication lag of a region's loss may be gone with it. The load's own
 * bookkeeping is what it was told: the report takes only the acknowledged ids (and when a client
 * had to POST again) from it and counts everything else in the ledger and the tables.
 */
import { Agent, request } from "node:http";
import type { Role } from "./dns";
import { prng, type ScheduledPayment } from "./schedule";

/** A 202 the client received. */
export interface Ack {
  readonly transactionId: string;
  readonly idempotencyKey: string;
  readonly at: number;
  readonly role: Role;
}

export type Outcome = number | "refused" | "reset" | "timeout";

/** One request a client made, for the picture's client-errors line. */
export interface Attempt {
  readonly at: number;
  readonly role: Role;
  readonly outcome: Outcome;
}

/** A client's POST again after its payment's GET answered 404. */
export interface Repost {
  readonly transactionId: string;
  readonly at: number;
  readonly role: Role;
}

export interface LoadOptions {
  readonly schedule: readonly ScheduledPayment[];
  readonly apiKey: string;
  /** Where a payment's client is sent now (the failover record through its resolver). */
  readonly route: (payment: ScheduledPayment) => { role: Role; url: string };
  readonly timeoutMs: number;
  /** After the 202: how often the client polls GET until a final status. */
  readonly pollMs: number;
  /** After a failover, payments that reached a final status this long before the first failure are checked again. */
  readonly recheckWindowMs: number;
  /** Wall-clock ms of the schedule's zero. */
  readonly startedAt: number;
  /** No attempt starts after this (wall-clock ms); what is not acknowledged by then gave up. */
  readonly stopAt: number;
  readonly seed: number;
}

export interface LoadResult {
  readonly acks: Ack[];
  readonly attempts: Attempt[];
  /** Refused for good (4xx other than 429): a bug in the drill or the system, never expected. */
  readonly refused: Array<{ idempotencyKey: string; status: number; body: string }>;
  readonly gaveUp: string[];
  readonly reposts: Repost[];
  /** Acknowledged, but no final status seen before the load stopped. */
  readonly unresolved: string[];
  /** Payments checked again after the failover because their final status came shortly before it. */
  readonly rechecked: number;
}

const MAX_BACKOFF_MS = 8000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  body: string;
}

export class PaymentLoad {
  readonly acks: Ack[] = [];
  readonly attempts: Attempt[] = [];
  readonly refused: LoadResult["refused"] = [];
  readonly gaveUp: string[] = [];
  readonly reposts: Repost[] = [];
  readonly unresolved: string[] = [];
  rechecked = 0;
  /** Final statuses seen, for the check after a failover. */
  private readonly finals: Array<{ payment: ScheduledPayment; transactionId: string; body: string; at: number }> = [];
  private readonly followUps: Promise<void>[] = [];
  private firstFailureAt: number | undefined;
  private failoverSeen = false;
  /** Keep-alive connections per region, as a merchant's HTTP client pool. */
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly options: LoadOptions) {}

  /** Runs the whole schedule; resolves when every payment was acknowledged, refused or gave up. */
  async run(): Promise<LoadResult> {
    const { schedule, startedAt } = this.options;
    const tasks: Promise<void>[] = [];
    for (const payment of schedule) {
      const wait = startedAt + payment.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      tasks.push(this.pay(payment));
    }
    await Promise.all(tasks);
    // Checks started by a failover may still run (and start no more once every task is done).
    while (this.followUps.length > 0) await Promise.all(this.followUps.splice(0));
    for (const agent of this.agents.values()) agent.destroy();
    return {
      acks: this.acks,
      attempts: this.attempts,
      refused: this.refused,
      gaveUp: this.gaveUp,
      reposts: this.reposts,
      unresolved: this.unresolved,
      rechecked: this.rechecked,
    };
  }

  private async pay(payment: ScheduledPayment): Promise<void> {
    const jitter = prng((this.options.seed * 1_000_003 + payment.index) >>> 0);
    const body = JSON.stringify(payment.body);
    const transactionId = await this.submit(payment, body, jitter, (id, at, role) =>
      this.acks.push({ transactionId: id, idempotencyKey: payment.idempotencyKey, at, role }),
    );
    if (transactionId !== undefined) await this.follow(payment, transactionId, body, jitter);
  }

  /** POSTs until a 202 (returns its id), a refusal or the stop time. */
  private async submit(
    payment: ScheduledPayment,
    body: string,
    jitter: () => number,
    accepted: (transactionId: string, at: number, role: Role) => void,
  ): Promise<string | undefined> {
    for (let failures = 0; Date.now() < this.options.stopAt; ) {
      const { role, url } = this.options.route(payment);
      const answer = await this.send("POST", `${url}/transactions`, payment.idempotencyKey, body);
      const at = Date.now();
      this.observe(role, answer, at);
      this.attempts.push({ at, role, outcome: typeof answer === "string" ? answer : answer.status });
      if (typeof answer !== "string") {
        if (answer.status === 202) {
          const transactionId = (JSON.parse(answer.body) as { transaction_id: string }).transaction_id;
          accepted(transactionId, at, role);
          return transactionId;
        }
        if (answer.status < 500 && answer.status !== 429) {
          this.refused.push({ idempotencyKey: payment.idempotencyKey, status: answer.status, body: answer.body });
          return undefined;
        }
      }
      // 5xx, 429, refused, reset or timed out: back off, then the same key and body again.
      const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** failures++);
      await sleep(backoff * (0.5 + jitter()));
    }
    this.gaveUp.push(payment.idempotencyKey);
    return undefined;
  }

  /** Polls GET until a final status; a 404 means the accepting region was lost first: POST again. */
  private async follow(payment: ScheduledPayment, transactionId: string, body: string, jitter: () => number): Promise<void> {
    while (Date.now() < this.options.stopAt) {
      await sleep(this.options.pollMs * (0.5 + jitter()));
      const { role, url } = this.options.route(payment);
      const answer = await this.send("GET", `${url}/transactions/${transactionId}`);
      this.observe(role, answer, Date.now());
      if (typeof answer === "string") continue;
      if (answer.status === 200) {
        const status = (JSON.parse(answer.body) as { status?: string }).status;
        if (status === "PROCESSED" || status === "FAILED") {
          this.finals.push({ payment, transactionId, body, at: Date.now() });
          return;
        }
      } else if (answer.status === 404) {
        this.reposts.push({ transactionId, at: Date.now(), role });
        const again = await this.submit(payment, body, jitter, () => undefined);
        if (again !== undefined && again !== transactionId) {
          this.refused.push({ idempotencyKey: payment.idempotencyKey, status: 202, body: `a POST again gave another id: ${again}` });
          return;
        }
      }
    }
    this.unresolved.push(transactionId);
  }

  /**
   * What a client notices of a failover: requests failing, then answered by the DR region. Then
   * the payments that reached a final status in the window before the first failure are checked
   * again (GET; on 404, POST again).
   */
  private observe(role: Role, answer: Answer | Exclude<Outcome, number>, at: number): void {
    const failed = typeof answer === "string" || answer.status >= 500;
    if (failed) {
      this.firstFailureAt ??= at;
      return;
    }
    if (role !== "dr" || this.firstFailureAt === undefined || this.failoverSeen) return;
    this.failoverSeen = true;
    const from = this.firstFailureAt - this.options.recheckWindowMs;
    for (const final of this.finals.filter((f) => f.at >= from)) {
      this.rechecked++;
      const jitter = prng((this.options.seed * 7_919 + final.payment.index) >>> 0);
      this.followUps.push(this.follow(final.payment, final.transactionId, final.body, jitter));
    }
  }

  private agent(url: string): Agent {
    let agent = this.agents.get(url);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 64 });
      this.agents.set(url, agent);
    }
    return agent;
  }

  private send(method: "POST" | "GET", target: string, idempotencyKey?: string, body?: string): Promise<Answer | Exclude<Outcome, number>> {
    const url = new URL(target).origin;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (value: Answer | Exclude<Outcome, number>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const req = request(
        target,
        {
          method,
          agent: this.agent(url),
          headers: {
            authorization: `Bearer ${this.options.apiKey}`,
            ...(body !== undefined
              ? { "content-type": "application/json", "idempotency-key": idempotencyKey, "content-length": Buffer.byteLength(body) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            settle({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString("utf8"),
            }),
          );
          res.on("error", () => settle("reset"));
        },
      );
      // The whole call, queueing for a socket included: what the merchant's client waits.
      const timer = setTimeout(() => {
        settle("timeout");
        req.destroy();
      }, this.options.timeoutMs);
      req.on("error", (err: NodeJS.ErrnoException) => settle(err.code === "ECONNREFUSED" ? "refused" : "reset"));
      req.end(body);
    });
  }
}
