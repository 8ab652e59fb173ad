import { createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ContainerClient } from "../docker/container-client.js";
import { toMarkerCreateOptions } from "../docker/container-options.js";
import { NameInUseError } from "../docker/engine-errors.js";
import { refusal } from "./rpc-errors.js";

/**
 * Safe retries (RunRequest.request_id): one run per caller and request id, however many times
 * and to however many servers sharing the engine it is sent.
 *
 * On this server a request id maps to its first attempt: a retry joins it while it runs and gets
 * its result for `windowMs` after it ended. Across servers the claim is a container name: every
 * attempt first creates (never starts) a container named after the caller and request id; the
 * engine keeps names unique, so exactly one server gets it, and the others answer ALREADY_EXISTS
 * until the claim is removed, `windowMs` after the first attempt ended. A claim whose server dies
 * is reaped with that server's other containers once its lease lapses (instance-lease.ts). A
 * replica with an address (ADVERTISE_ADDRESS) writes it on its claims, and a retry that reaches
 * another replica is sent to it (`elsewhere`), joining the first attempt there.
 */

/** Label of a claim container (besides managed, instance and run id). */
export const claimLabel = "dev.aurea.request-claim";
/** The claim's key (caller and request id, hashed), to find the claim by. */
export const claimKeyLabel = "dev.aurea.request-claim-key";
/** The address of the replica holding the claim, when it has one. */
export const claimHolderLabel = "dev.aurea.request-claim-holder";

export interface RequestClaimsOptions {
  readonly containers: ContainerClient;
  readonly instanceId: string;
  /** Any image on the engine: a claim is created, never started. */
  readonly image: () => string;
  /** How long a finished attempt's result is kept, and its claim held, in milliseconds. */
  readonly windowMs: number;
  /** This replica's address, written on its claims; "" for none. */
  readonly address?: string;
  readonly logger: Logger;
}

interface Attempt<T> {
  readonly result: Promise<T>;
  claim: string | undefined;
  timer?: NodeJS.Timeout;
}

export interface RequestClaims {
  /**
   * Runs `work` once for (caller, request id): a repeat joins or gets the first attempt's result;
   * ALREADY_EXISTS when another server holds the claim, unless `elsewhere` gets the answer from
   * the replica whose address the claim carries (undefined: that replica did not answer). An
   * attempt whose program never started (it threw) releases the claim at once, so a retry may run it.
   */
  once<T>(
    callerId: string,
    requestId: string,
    runId: string,
    work: () => Promise<T>,
    elsewhere?: (holder: string) => Promise<T | undefined>,
  ): Promise<T>;
  /** Claims held now (their containers), which the reaper must spare. */
  containerIds(): Set<string>;
  /** Releases every claim (shutdown). */
  releaseAll(): Promise<void>;
}

export function createRequestClaims(options: RequestClaimsOptions): RequestClaims {
  const attempts = new Map<string, Attempt<unknown>>();
  /** Removals under way, which shutdown waits for. */
  const removals = new Set<Promise<void>>();
  let closed = false;
  const { containers, logger } = options;

  const release = async (key: string, attempt: Attempt<unknown>) => {
    clearTimeout(attempt.timer);
    if (attempts.get(key) === attempt) attempts.delete(key);
    const claim = attempt.claim;
    attempt.claim = undefined;
    if (!claim) return;
    const removal = containers
      .remove(claim)
      .catch((error: Error) => logger.warn({ err: error.message }, "claim not removed"))
      .finally(() => removals.delete(removal));
    removals.add(removal);
    await removal;
  };

  /** The address of the replica holding the claim with this key, when it wrote one. */
  const holderOf = async (key: string): Promise<string | undefined> => {
    const [claim] = await containers.listByLabels({ [claimKeyLabel]: key }).catch(() => []);
    return claim?.labels[claimHolderLabel] || undefined;
  };

  return {
    once<R>(
      callerId: string,
      requestId: string,
      runId: string,
      work: () => Promise<R>,
      elsewhere?: (holder: string) => Promise<R | undefined>,
    ): Promise<R> {
      const key = createHash("sha256").update(`${callerId}\0${requestId}`).digest("hex").slice(0, 48);
      const earlier = attempts.get(key);
      if (closed && !earlier) {
        return Promise.reject(refusal(`run ${runId} not admitted: the server is shutting down`, Code.Unavailable, "DRAINING"));
      }
      if (earlier) {
        logger.info({ run_id: runId, request_id: requestId }, "retry joined the first attempt");
        return earlier.result as Promise<R>;
      }
      const attempt: Attempt<R> = { result: undefined as unknown as Promise<R>, claim: undefined };
      const result = (async () => {
        try {
          attempt.claim = await containers.create(
            toMarkerCreateOptions({
              name: `aurea-request-${key}`,
              image: options.image(),
              instanceId: options.instanceId,
              purpose: runId,
              labels: {
                [claimLabel]: "true",
                [claimKeyLabel]: key,
                ...(options.address ? { [claimHolderLabel]: options.address } : {}),
              },
            }),
          );
        } catch (error) {
          if (error instanceof NameInUseError) {
            const holder = elsewhere ? await holderOf(key) : undefined;
            if (elsewhere && holder !== undefined && holder !== options.address) {
              logger.info(
                { run_id: runId, request_id: requestId, holder },
                "retry sent to the replica holding the first attempt",
              );
              const answer = await elsewhere(holder);
              if (answer !== undefined) return answer;
            }
            throw refusal(
              `run ${runId}: request_id ${JSON.stringify(requestId)} is held by another server sharing this engine (its first attempt runs or ran there, or that server stopped before answering); it is not run twice: its result is the first attempt's, or after REQUEST_ID_WINDOW a new request`,
              Code.AlreadyExists,
              "REQUEST_ID_HELD",
            );
          }
          throw error;
        }
        return work();
      })();
      (attempt as { result: Promise<R> }).result = result;
      attempts.set(key, attempt as Attempt<unknown>);
      result.then(
        () => {
          attempt.timer = setTimeout(() => void release(key, attempt as Attempt<unknown>), options.windowMs);
          attempt.timer.unref();
        },
        () => void release(key, attempt as Attempt<unknown>),
      );
      return result;
    },
    containerIds: () => new Set([...attempts.values()].flatMap((attempt) => (attempt.claim ? [attempt.claim] : []))),
    async releaseAll() {
      closed = true;
      // Attempts still taking their claim or refused by a closed admission settle quickly; every
      // claim is then removed before the process may exit.
      await Promise.allSettled([...attempts.values()].map((attempt) => attempt.result));
      await Promise.all([...attempts.entries()].map(([key, attempt]) => release(key, attempt)));
      while (removals.size > 0) await Promise.all([...removals]);
    },
  };
}
