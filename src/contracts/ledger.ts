/**
 * The Aurora ledger as the stacks, the migrator, the processor and the local runtime see it:
 * the database, its users, and how many connections an instance class takes.
 */

export const LEDGER_DATABASE = "payments";

/** Database users the migrator creates; each function connects as one of them (IAM authentication). */
export const LEDGER_USERS = {
  /** The processor: SELECT and INSERT on the ledger tables, nothing else (an append-only ledger). */
  writer: "payments_app",
  /** Balance reads: SELECT only. */
  reader: "payments_reader",
} as const;

export const AURORA_PORT = 3306;

/**
 * Aurora MySQL 3's default `max_connections` per instance class (from its formula on the class's
 * memory, as AWS documents it). A class not listed here is refused by the connection budget
 * check rather than guessed.
 */
export const AURORA_MAX_CONNECTIONS: Readonly<Record<string, number>> = {
  "db.t3.medium": 90,
  "db.t4g.medium": 90,
  "db.t3.large": 135,
  "db.t4g.large": 135,
  "db.r5.large": 1000,
  "db.r6g.large": 1000,
  "db.r6i.large": 1000,
  "db.r7g.large": 1000,
  "db.r5.xlarge": 2000,
  "db.r6g.xlarge": 2000,
  "db.r6i.xlarge": 2000,
  "db.r7g.xlarge": 2000,
  "db.r5.2xlarge": 3000,
  "db.r6g.2xlarge": 3000,
  "db.r6i.2xlarge": 3000,
  "db.r7g.2xlarge": 3000,
  "db.r5.4xlarge": 4000,
  "db.r6g.4xlarge": 4000,
  "db.r6i.4xlarge": 4000,
  "db.r7g.4xlarge": 4000,
  "db.r5.8xlarge": 5000,
  "db.r6g.8xlarge": 5000,
  "db.r6i.8xlarge": 5000,
  "db.r7g.8xlarge": 5000,
};

/** Connections one function container holds: one, reused across invocations. */
export const CONNECTIONS_PER_CONTAINER = 1;

/** The migrator's one connection at deploy time. */
export const MIGRATOR_CONNECTIONS = 1;
