import type { Logger } from "pino";
import { classifyEngineError } from "./engine-errors.js";

/** Longest any single engine call may take unless the caller says otherwise. */
export const defaultEngineCallTimeoutMs = 20_000;

/**
 * Runs one engine call with a deadline, a debug line before and after, and errors rethrown as the
 * typed errors of engine-errors.ts with the action as context. Every dockerode call goes through
 * here, so a hung engine can never hang a caller.
 */
export async function engineCall<T>(
  logger: Logger,
  action: string,
  context: Record<string, unknown>,
  call: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number = defaultEngineCallTimeoutMs,
): Promise<T> {
  const started = performance.now();
  logger.debug({ ...context, action }, "engine call");
  try {
    const result = await call(AbortSignal.timeout(timeoutMs));
    logger.debug({ ...context, action, ms: Math.round(performance.now() - started) }, "engine call done");
    return result;
  } catch (error) {
    const classified = classifyEngineError(error, action);
    logger.debug(
      { ...context, action, ms: Math.round(performance.now() - started), err: classified.message },
      "engine call failed",
    );
    throw classified;
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
