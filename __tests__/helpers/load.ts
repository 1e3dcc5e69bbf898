/**
 * Loads a handler module in an isolated jest module registry, so that its once-per-container
 * config and SDK clients are created from the env given here (like a fresh Lambda container).
 * The env overrides are applied around every invocation, because config and clients are read
 * lazily on first use.
 */
import type { Context } from "aws-lambda";
import { applyEnv } from "../../src/local/emulators";
import { fakeContext } from "../../src/local/lambda-events";

export type Invoke<E, R> = (event: E, context?: Context) => Promise<R>;

export function loadHandler<E, R>(modulePath: string, env: Record<string, string | undefined> = {}): Invoke<E, R> {
  return loadHandlerModule<E, R>(modulePath, env).invoke;
}

/** Like loadHandler, with the module itself too (for what else it exports, e.g. the processor's ledgerStats). */
export function loadHandlerModule<E, R, M extends object = Record<string, unknown>>(
  modulePath: string,
  env: Record<string, string | undefined> = {},
): { invoke: Invoke<E, R>; module: M } {
  let mod: ({ handler: (event: E, context: Context) => Promise<R> } & M) | undefined;
  const restore = applyEnv(env);
  try {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(modulePath);
    });
  } finally {
    restore();
  }
  const loaded = mod!;
  // Reference-counted so that concurrent invocations of one handler restore the env once.
  let active = 0;
  let undo: (() => void) | undefined;
  const invoke = async (event: E, context?: Context) => {
    if (active++ === 0) undo = applyEnv(env);
    try {
      return await loaded.handler(event, context ?? fakeContext());
    } finally {
      if (--active === 0) undo?.();
    }
  };
  return { invoke, module: loaded };
}

export function parseBody(result: unknown): Record<string, unknown> {
  const body = (result as { body?: string }).body;
  return body ? (JSON.parse(body) as Record<string, unknown>) : {};
}
