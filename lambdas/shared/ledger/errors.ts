/**
 * Ledger failures in two kinds, because the processor must treat them in opposite ways:
 *
 * - LedgerUnavailableError: the ledger could not take the write now (no connection, read-only
 *   server during a failover, lock conflict, a concurrent writer of the same entry, missing
 *   privileges while the writer moves). Nothing was committed; the same request is safe and
 *   expected to succeed later. The processor reports these as SQS batch item failures and never
 *   marks a payment FAILED because of one.
 * - LedgerError (and LedgerConstraintError): the request itself is wrong or the database
 *   refused the rows. Retrying the same request gives the same answer.
 *
 * Per-entry problems of a batch (a conflicting duplicate, a malformed entry) are not thrown:
 * postBatch reports them in its result next to the entries that were posted.
 */

export class LedgerError extends Error {
  readonly retryable: boolean = false;
  /** MySQL error number or Node/mysql2 error code of the cause, when there is one. */
  readonly code?: string;
  readonly errno?: number;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LedgerError";
    const cause = options.cause as { code?: unknown; errno?: unknown } | undefined;
    if (typeof cause?.code === "string") this.code = cause.code;
    if (typeof cause?.errno === "number") this.errno = cause.errno;
  }
}

/** Retry later: nothing was committed by the failed call. */
export class LedgerUnavailableError extends LedgerError {
  override readonly retryable: boolean = true;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "LedgerUnavailableError";
  }
}

/** The database refused rows as malformed (a CHECK, foreign key or type violation). */
export class LedgerConstraintError extends LedgerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "LedgerConstraintError";
  }
}

/** Socket and driver-level failures: the connection is gone or never came up. */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "PROTOCOL_PACKETS_OUT_OF_ORDER",
  "ERR_SOCKET_CLOSED",
]);

/** MySQL / MariaDB server errors after which the same request should succeed later. */
const UNAVAILABLE_ERRNOS = new Map<number, string>([
  [1290, "server is read-only (ER_OPTION_PREVENTS_STATEMENT: an Aurora reader or a demoted writer)"],
  [1836, "server is read-only (ER_READ_ONLY_MODE)"],
  [1792, "read-only transaction (ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION)"],
  [3032, "server is offline (ER_SERVER_OFFLINE_MODE, during a failover)"],
  [1213, "deadlock; the transaction was rolled back"],
  [1205, "lock wait timeout"],
  [1062, "another writer posted the same entry concurrently (duplicate key)"],
  [1040, "too many connections"],
  [1203, "user has too many connections"],
  [1053, "server shutdown in progress"],
  [1927, "connection was killed"],
  [1317, "query interrupted"],
  [3024, "statement timeout (max_execution_time)"],
  [1969, "statement timeout (max_statement_time)"],
  [1045, "access denied (credentials or IAM token not accepted yet)"],
  [1044, "access denied to the ledger database"],
  [1142, "missing table privilege"],
  [1143, "missing column privilege"],
  [1227, "missing privilege"],
  [1049, "ledger database does not exist yet (not migrated)"],
  [1146, "ledger table does not exist yet (not migrated)"],
  [2013, "lost connection during query"],
  [2006, "server has gone away"],
]);

/** Server errors meaning the rows themselves were refused. */
const CONSTRAINT_ERRNOS = new Set([
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB)
  1451, // ER_ROW_IS_REFERENCED_2
  1452, // ER_NO_REFERENCED_ROW_2
  1048, // ER_BAD_NULL_ERROR
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1265, // WARN_DATA_TRUNCATED
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
  1406, // ER_DATA_TOO_LONG
]);

/**
 * What a server answers when it is not (or no longer) the writer: an Aurora reader or a demoted
 * writer (read_only: 1290, 1836; a read-only transaction: 1792) or one taken offline during a
 * failover (offline_mode: 3032). The connection still works, but it leads to the wrong server.
 */
const NOT_THE_WRITER_ERRNOS = new Set([1290, 1836, 1792, 3032]);

/** True when the server answered as a reader or a demoted writer: reconnect through the writer endpoint. */
export function notTheWriter(err: unknown): boolean {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === "number" && NOT_THE_WRITER_ERRNOS.has(errno);
}

/**
 * True for errors after which the current connection must not be used again: a broken or
 * timed-out socket, or a server that is not the writer (after a failover the global writer
 * endpoint leads elsewhere, but an open connection stays with the old writer).
 */
export function breaksConnection(err: unknown): boolean {
  const e = err as { fatal?: unknown; code?: unknown } | null;
  return e?.fatal === true || e?.code === "PROTOCOL_SEQUENCE_TIMEOUT" || notTheWriter(err);
}

/** Maps a driver or server error to a ledger error; ledger errors pass through unchanged. */
export function classifyError(err: unknown, doing: string): LedgerError {
  if (err instanceof LedgerError) return err;
  const e = err as { code?: unknown; errno?: unknown; sqlMessage?: unknown; message?: unknown } | null;
  const errno = typeof e?.errno === "number" ? e.errno : undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const detail = typeof e?.sqlMessage === "string" ? e.sqlMessage : typeof e?.message === "string" ? e.message : String(err);
  if (errno !== undefined && UNAVAILABLE_ERRNOS.has(errno)) {
    return new LedgerUnavailableError(`${doing}: ${UNAVAILABLE_ERRNOS.get(errno)}: ${detail}`, { cause: err });
  }
  if ((code !== undefined && UNAVAILABLE_CODES.has(code)) || breaksConnection(err)) {
    return new LedgerUnavailableError(`${doing}: connection failed (${code ?? "fatal"}): ${detail}`, { cause: err });
  }
  if (errno !== undefined && CONSTRAINT_ERRNOS.has(errno)) {
    return new LedgerConstraintError(`${doing}: the database refused the rows: ${detail}`, { cause: err });
  }
  return new LedgerError(`${doing}: ${detail}`, { cause: err });
}
