import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { type ListSessionsResponse, ListSessionsResponseSchema } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { SessionNotFoundError } from "../session/session-errors.js";
import type { PeerCalls } from "./peer-calls.js";
import type { createSessionHandlers } from "./session-handlers.js";
import type { SessionIds } from "./session-ids.js";
import type { SessionTakeover } from "./session-takeover.js";

/**
 * Any replica answers any session call: a call for a session another replica holds goes to that
 * replica (its address is in the signed id, session-ids.ts) through peer-calls.ts, with the
 * caller's key, deadline and cancellation; a streamed exec streams through. A forwarded call is
 * never forwarded again. When the holder does not answer, the session is taken over from the
 * engine they share (session-takeover.ts): adopted here, or sent to the replica that adopted it;
 * on another engine it is NOT_FOUND naming the gone owner.
 */

type SessionHandlers = ReturnType<typeof createSessionHandlers>;

export interface SessionForwardingOptions {
  readonly ids: SessionIds;
  readonly peers: PeerCalls;
  /** The other replicas now, for ListSessions (peer-calls.ts findPeers). */
  readonly findPeers: () => Promise<{ addresses: string[]; found: boolean }>;
  /** Whether this replica holds the session now (it may have adopted one another replica created). */
  readonly holds: (sessionId: string) => boolean;
  /** Takes over sessions whose holder is gone, on a shared engine. */
  readonly takeover?: SessionTakeover;
  readonly logger: Logger;
}

const movedTooOften = (sessionId: string) =>
  new ConnectError(`session ${JSON.stringify(sessionId)}: its holders keep going away; retry`, Code.Unavailable);

/** Sessions known to have moved (adopted by another replica), remembered at most this many. */
const movedRemembered = 10_000;

/** How long ListSessions waits for each other replica. */
const listPeerTimeoutMs = 1000;

export function withSessionForwarding(handlers: SessionHandlers, options: SessionForwardingOptions): SessionHandlers {
  const { ids, peers, logger } = options;

  /** Where sessions adopted by another replica than their creator live now. */
  const movedTo = new Map<string, string>();

  /** The peer holding the session, or undefined when it is (or would be) here. */
  function peerFor(sessionId: string, context: HandlerContext): string | undefined {
    if (sessionId === "" || options.holds(sessionId)) return undefined;
    const owner = ids.ownerOf(sessionId);
    if (owner.kind === "here") return undefined;
    if (owner.kind === "forged" || peers.forwarded(context)) {
      throw new ConnectError(new SessionNotFoundError(sessionId).message, Code.NotFound);
    }
    return movedTo.get(sessionId) ?? owner.address;
  }

  /**
   * The holder at `address` did not answer: where the call goes now (undefined: here, adopted),
   * or the error that says why it cannot go anywhere.
   */
  async function afterNoAnswer(sessionId: string, address: string, failure: ConnectError): Promise<string | undefined> {
    movedTo.delete(sessionId);
    logger.warn({ session_id: sessionId, holder: address, err: failure.rawMessage }, "session's holder does not answer");
    const outcome = options.takeover ? await options.takeover.takeOver(sessionId) : { kind: "gone" as const };
    switch (outcome.kind) {
      case "adopted":
        return undefined;
      case "held":
        if (outcome.address !== address) {
          if (movedTo.size >= movedRemembered) movedTo.delete(movedTo.keys().next().value as string);
          movedTo.set(sessionId, outcome.address);
          return outcome.address;
        }
        break;
      case "gone":
        return Promise.reject(
          new ConnectError(
            `session ${JSON.stringify(sessionId)} not found: the replica that held it (${address}) is gone${options.takeover ? ", and its sandbox is not on this replica's engine" : ", or unreachable from here"}`,
            Code.NotFound,
          ),
        );
    }
    return Promise.reject(
      new ConnectError(
        `session ${JSON.stringify(sessionId)}: the replica that holds it (${address}) does not answer, and its lease on the engine is still fresh (it may be restarting); retry`,
        Code.Unavailable,
      ),
    );
  }

  function unary<
    K extends Exclude<
      keyof SessionHandlers,
      "createSession" | "listSessions" | "execStream" | "listSnapshots" | "deleteSnapshot"
    >,
  >(method: K): SessionHandlers[K] {
    const local = handlers[method] as (request: { sessionId: string }, context: HandlerContext) => Promise<unknown>;
    const forwarded = async (request: { sessionId: string }, context: HandlerContext) => {
      let address = peerFor(request.sessionId, context);
      // Creator gone, then the adopter gone: a session moves at most a few times within one call.
      for (let hop = 0; hop < 3 && address !== undefined; hop++) {
        logger.debug({ session_id: request.sessionId, holder: address, method }, "session call forwarded");
        const remote = peers.client(address)[method] as (request: unknown, options: unknown) => Promise<unknown>;
        try {
          return await remote(request, peers.options(context));
        } catch (error) {
          const failure = ConnectError.from(error);
          if (!peers.noAnswer(failure)) throw failure;
          address = await afterNoAnswer(request.sessionId, address, failure);
        }
      }
      if (address !== undefined) throw movedTooOften(request.sessionId);
      return local(request, context);
    };
    return forwarded as unknown as SessionHandlers[K];
  }

  return {
    ...handlers,
    async listSessions(request, context) {
      // The local handler answers a whole message (session-handlers.ts creates it).
      const here = (await handlers.listSessions(request, context)) as ListSessionsResponse;
      // A peer's own list only: the replica that was asked gathers them.
      if (peers.forwarded(context)) return here;
      const { addresses, found } = await options.findPeers();
      const remaining = context.timeoutMs();
      const timeoutMs = remaining === undefined ? listPeerTimeoutMs : Math.min(listPeerTimeoutMs, remaining);
      const answers = await Promise.allSettled(
        addresses.map((address) => peers.client(address).listSessions(request, { ...peers.options(context), timeoutMs })),
      );
      const missing = addresses.filter((_, index) => answers[index]?.status === "rejected");
      if (missing.length > 0) logger.warn({ peers: missing }, "ListSessions: replicas that did not answer in time");
      return create(ListSessionsResponseSchema, {
        sessions: [
          ...here.sessions,
          ...answers.flatMap((answer) => (answer.status === "fulfilled" ? answer.value.sessions : [])),
        ],
        complete: found && missing.length === 0,
      });
    },
    exec: unary("exec"),
    writeFiles: unary("writeFiles"),
    readFiles: unary("readFiles"),
    deleteFiles: unary("deleteFiles"),
    listFiles: unary("listFiles"),
    getSession: unary("getSession"),
    updateSession: unary("updateSession"),
    closeSession: unary("closeSession"),
    pauseSession: unary("pauseSession"),
    resumeSession: unary("resumeSession"),
    snapshotSession: unary("snapshotSession"),
    async *execStream(request, context) {
      let address = peerFor(request.sessionId, context);
      for (let hop = 0; hop < 3 && address !== undefined; hop++) {
        logger.debug({ session_id: request.sessionId, holder: address, method: "execStream" }, "session call forwarded");
        let streamed = false;
        try {
          for await (const message of peers.client(address).execStream(request, peers.options(context))) {
            streamed = true;
            yield message;
          }
          return;
        } catch (error) {
          const failure = ConnectError.from(error);
          // Output already passed on cannot be taken back: only a stream that never began moves.
          if (streamed || !peers.noAnswer(failure)) throw failure;
          address = await afterNoAnswer(request.sessionId, address, failure);
        }
      }
      if (address !== undefined) throw movedTooOften(request.sessionId);
      yield* handlers.execStream(request, context);
    },
  };
}
