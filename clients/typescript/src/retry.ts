import { Code, ConnectError } from "@connectrpc/connect";

/** The README's retry policy: UNAVAILABLE only, 5 attempts, backoff from 0.1 s doubling to 2 s. */
export interface RetryPolicy {
  /** Attempts in all, the first included (default 5; 1 for none). */
  readonly maxAttempts?: number;
  /** Wait before the first retry, ms (default 100); each next one doubles, up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  /** Longest wait between attempts, ms (default 2000). */
  readonly maxBackoffMs?: number;
}

/**
 * Which failures a call may be retried after.
 * - `always`: the call is safe to repeat (reads, writes of the same content, a Run with a
 *   request_id the server deduplicates).
 * - `refused`: only when the server itself answered UNAVAILABLE, which Aurea does only when the
 *   program never started, or no connection was made at all; a connection that broke may have cut
 *   a running exec, so it is not retried.
 */
export type RetrySafety = "always" | "refused";

/** Whether the failure is an answer from a server (it has the response's headers) rather than no answer at all. */
export function serverAnswered(error: ConnectError): boolean {
  return error.metadata.has("content-type") || error.metadata.has("grpc-status");
}

/** The causes of an error, outermost first (fetch wraps the socket's error in its own). */
function causes(error: unknown): unknown[] {
  const found: unknown[] = [];
  for (let cause = error; cause !== undefined && found.length < 8; cause = (cause as { cause?: unknown }).cause)
    found.push(cause);
  return found;
}

/** No connection was made at all: nothing reached the server, so any call may be sent again. */
function connectionRefused(error: ConnectError): boolean {
  return causes(error).some((cause) => (cause as { code?: unknown }).code === "ECONNREFUSED");
}

/**
 * A failure as the caller should see it: fetch's "fetch failed" (a refused or broken connection,
 * which connect-web reports as UNKNOWN) is UNAVAILABLE, as gRPC clients say it.
 */
export function normalizeError(error: unknown): ConnectError {
  const failure = ConnectError.from(error);
  if (failure.code === Code.Unknown && !serverAnswered(failure) && causes(failure).some((cause) => cause instanceof TypeError)) {
    const reason = causes(failure).at(-1);
    const detail = reason instanceof Error && reason !== failure ? `: ${reason.message}` : "";
    return new ConnectError(`${failure.rawMessage}${detail}`, Code.Unavailable, failure.metadata, undefined, failure);
  }
  return failure;
}

function retryable(failure: ConnectError, safety: RetrySafety): boolean {
  if (failure.code !== Code.Unavailable) return false;
  return safety === "always" || serverAnswered(failure) || connectionRefused(failure);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(ConnectError.from(signal.reason ?? new Error("aborted"), Code.Canceled));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ConnectError("the call was cancelled while waiting to retry", Code.Canceled));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Calls `attempt` until it succeeds, fails for good, or the policy's attempts are spent. */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: { policy: RetryPolicy; safety: RetrySafety; signal?: AbortSignal },
): Promise<T> {
  const maxAttempts = Math.max(1, options.policy.maxAttempts ?? 5);
  let backoff = options.policy.initialBackoffMs ?? 100;
  const maxBackoff = options.policy.maxBackoffMs ?? 2000;
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt();
    } catch (error) {
      const failure = normalizeError(error);
      if (attemptNumber >= maxAttempts || !retryable(failure, options.safety)) throw failure;
      // Full jitter, as gRPC's own retries: replicas that all refused do not all come back at once.
      await sleep(Math.random() * backoff, options.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  }
}
