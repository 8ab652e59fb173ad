import type { Logger } from "pino";
import { classifyEngineError, EngineTimeoutError } from "./engine-errors.js";

/**
 * Engine calls that failed in this process, by the kind of failure (the typed error's name), for
 * the metrics (`aurea_engine_call_errors_total`).
 */
export const engineCallErrors = new Map<string, number>();

/** Longest any single engine call may take unless the caller says otherwise. */
export const defaultEngineCallTimeoutMs = 20_000;

export interface EngineCallOptions<T> {
  /** Deadline of the call (default `defaultEngineCallTimeoutMs`). */
  readonly timeoutMs?: number;
  /**
   * Releases a result that arrives after the deadline (a hijacked stream, say), which nobody
   * will use; without it a late result is dropped.
   */
  readonly discardLate?: (late: T) => void;
}

/**
 * Runs one engine call with a deadline, a debug line before and after, and errors rethrown as the
 * typed errors of engine-errors.ts with the action as context. Every dockerode call goes through
 * here. The deadline is enforced here, not left to the call: the call's AbortSignal fires at the
 * deadline, and the caller is answered then whether or not the call heeds it (some dockerode
 * calls, attach among them, do not), so a hung engine can never hang a caller.
 */
export async function engineCall<T>(
  logger: Logger,
  action: string,
  context: Record<string, unknown>,
  call: (signal: AbortSignal) => Promise<T>,
  options: EngineCallOptions<T> = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? defaultEngineCallTimeoutMs;
  const started = performance.now();
  logger.debug({ ...context, action }, "engine call");
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new EngineTimeoutError(`${action}: container engine did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const pending = call(controller.signal);
  try {
    const result = await Promise.race([pending, deadline]);
    logger.debug({ ...context, action, ms: Math.round(performance.now() - started) }, "engine call done");
    return result;
  } catch (error) {
    if (controller.signal.aborted)
      pending.then(
        (late) => options.discardLate?.(late),
        () => undefined,
      );
    const classified = classifyEngineError(error, action);
    engineCallErrors.set(classified.name, (engineCallErrors.get(classified.name) ?? 0) + 1);
    logger.debug(
      { ...context, action, ms: Math.round(performance.now() - started), err: classified.message },
      "engine call failed",
    );
    throw classified;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls a dockerode method with options its type definitions lack (`abortSignal` on some calls),
 * all of which dockerode passes on to the engine request.
 */
export function callWithOptions<T>(target: object, method: string, ...args: unknown[]): Promise<T> {
  const fn = (target as Record<string, (...args: unknown[]) => Promise<T>>)[method];
  if (typeof fn !== "function") throw new TypeError(`dockerode has no method ${method}`);
  return fn.apply(target, args);
}
