/**
 * What every command group of the operator CLI shares: strict flag parsing (a typo never turns
 * into a different operation), the configuration read as synth reads it, short SDK timeouts and
 * one way to print a result. The groups (`dr/`, `keys/`) keep only their commands.
 */
import { ConfigError, type DeploymentConfig, loadConfig, type RegionRole } from "../contracts/config";
import { cdktfContext } from "../contracts/context";

/** 0: done / healthy; 1: refused, bad input or error; 2: degraded (status), stranded payments (reconcile) or timed out (wait). */
export type ExitCode = 0 | 1 | 2;

/** What an operation returns; the CLI prints it. */
export interface OperationResult {
  readonly exitCode: ExitCode;
  /** Report lines, for stdout. */
  readonly lines: readonly string[];
  /** One-line error, for stderr. */
  readonly error?: string;
  /** The error is about the command line: print the usage after it. */
  readonly showUsage?: boolean;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Short timeouts and few retries: a lost region must fail fast, not hang the operator. */
export const CLIENT_OPTIONS = { maxAttempts: 3, requestHandler: { connectionTimeout: 5_000, requestTimeout: 20_000 } } as const;

/** Where a command group prints and reads its configuration; the tests pass their own. */
export interface CommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly context: () => Record<string, unknown>;
}

/** The process's own: stdout, stderr, its environment and cdktf.json's context. */
export const processIo: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  context: cdktfContext,
};

export const isHelp = (arg: string | undefined): boolean => arg === "help" || arg === "--help" || arg === "-h";

/** `<command> --help` (or `-h`) anywhere after the command: its usage, not an unknown flag. */
export class HelpRequested extends Error {
  constructor(readonly command: string) {
    super(`help for ${command}`);
    this.name = "HelpRequested";
  }
}

/**
 * One command's part of a group's usage: the `Usage:` line with the command in it, the command's
 * own entry under `Commands:`, and the notes after the list (regions, configuration, credentials).
 */
export function commandUsage(usage: string, command: string): string {
  const lines = usage.split("\n");
  const list = lines.findIndex((l) => l.trim() === "Commands:");
  const end = lines.findIndex((l, i) => i > list && l.trim() === "");
  const entries = lines.slice(list + 1, end === -1 ? lines.length : end);
  const start = entries.findIndex((l) => new RegExp(`^  ${command}(\\s|$)`).test(l));
  if (list === -1 || start === -1) return usage;
  const next = entries.findIndex((l, i) => i > start && /^ {2}\S/.test(l));
  const entry = entries.slice(start, next === -1 ? entries.length : next);
  const usageLine = lines[0]!.replaceAll("<command>", command);
  const notes = end === -1 ? [] : lines.slice(end);
  return [usageLine, "", ...entry, ...notes].join("\n");
}

/** The commands a group's usage lists under `Commands:` (help left out). */
export function usageCommands(usage: string): string[] {
  const lines = usage.split("\n");
  const list = lines.findIndex((l) => l.trim() === "Commands:");
  const end = lines.findIndex((l, i) => i > list && l.trim() === "");
  return lines
    .slice(list + 1, end === -1 ? lines.length : end)
    .map((l) => /^ {2}([a-z][a-z-]*)(\s|$)/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && c !== "help");
}

/**
 * The flags after a command, checked against what that command takes (flag -> takes a value):
 * `--flag value` or `--flag=value`, each at most once, nothing positional.
 */
export function readFlags(
  command: string,
  args: readonly string[],
  flags: Readonly<Record<string, boolean>>,
): Map<string, string | undefined> {
  if (args.some((arg) => arg === "--help" || arg === "-h")) throw new HelpRequested(command);
  const values = new Map<string, string | undefined>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}" for ${command}`);
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const takesValue = Object.hasOwn(flags, flag) ? flags[flag] : undefined;
    if (takesValue === undefined) throw new UsageError(`unknown flag "${flag}" for ${command}`);
    if (values.has(flag)) throw new UsageError(`flag ${flag} given twice`);
    if (takesValue) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined || value === "" || (eq === -1 && value.startsWith("--"))) throw new UsageError(`flag ${flag} needs a value`);
      values.set(flag, value);
    } else {
      if (eq !== -1) throw new UsageError(`flag ${flag} takes no value`);
      values.set(flag, undefined);
    }
  }
  return values;
}

/** `--region primary|dr` (or another flag naming a region role), with its default (named first when refused). */
export function parseRole(flag: string, value: string | undefined, fallback: RegionRole): RegionRole {
  if (value === undefined) return fallback;
  if (value === "dr" || value === "primary") return value;
  throw new UsageError(`invalid ${flag} "${value}": expected ${fallback} or ${fallback === "dr" ? "primary" : "dr"}`);
}

/** An ISO 8601 time (date first, so that "1" or "tomorrow" is refused rather than guessed). */
export function parseIsoTime(flag: string, value: string, example: string): Date {
  const at = new Date(value);
  if (!/^\d{4}-\d\d-\d\d/.test(value) || Number.isNaN(at.getTime())) {
    throw new UsageError(`invalid ${flag} "${value}": expected an ISO 8601 time such as ${example}`);
  }
  return at;
}

/**
 * Parses the command line and reads the configuration; prints what is wrong with either (and the
 * usage for the command line, the usage alone for `help`, or one command's usage for `<command> --help`). Returns the command and the
 * configuration, or the exit code when there is nothing to run.
 */
export function prepareCommand<C extends { readonly command: string }>(
  parse: () => C,
  usage: string,
  io: CommandIo,
): { readonly command: Exclude<C, { readonly command: "help" }>; readonly config: DeploymentConfig } | ExitCode {
  let command: C;
  try {
    command = parse();
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.out(commandUsage(usage, err.command));
      return 0;
    }
    if (!(err instanceof UsageError)) throw err;
    io.err(`error: ${err.message}`);
    io.err(usage);
    return 1;
  }
  if (command.command === "help") {
    io.out(usage);
    return 0;
  }
  try {
    return { command: command as Exclude<C, { readonly command: "help" }>, config: loadConfig(io.context(), io.env) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`error: configuration: ${err.message}`);
    return 1;
  }
}

/**
 * Runs an operation against AWS and prints its result. An SDK error (a region that does not
 * answer, missing rights, no such table or queue) becomes one line naming where, no stack trace.
 */
export async function runOperation(
  where: string,
  operation: () => Promise<OperationResult>,
  io: Pick<CommandIo, "out" | "err">,
  cleanup: () => void = () => undefined,
  usage?: string,
): Promise<ExitCode> {
  let result: OperationResult;
  try {
    result = await operation();
  } catch (err) {
    result = { exitCode: 1, lines: [], error: `${where}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` };
  } finally {
    cleanup();
  }
  for (const line of result.lines) io.out(line);
  if (result.error) io.err(`error: ${result.error}`);
  if (result.showUsage && usage) io.err(usage);
  return result.exitCode;
}
