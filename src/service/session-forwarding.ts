import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { SessionNotFoundError } from "../session/session-errors.js";
import type { PeerCalls } from "./peer-calls.js";
import type { createSessionHandlers } from "./session-handlers.js";
import type { SessionIds } from "./session-ids.js";

/**
 * Any replica answers any session call: a call for a session another replica holds goes to that
 * replica (its address is in the signed id, session-ids.ts) through peer-calls.ts, with the
 * caller's key, deadline and cancellation; a streamed exec streams through. A forwarded call is
 * never forwarded again.
 */

type SessionHandlers = ReturnType<typeof createSessionHandlers>;

export interface SessionForwardingOptions {
  readonly ids: SessionIds;
  readonly peers: PeerCalls;
  readonly logger: Logger;
}

export function withSessionForwarding(handlers: SessionHandlers, options: SessionForwardingOptions): SessionHandlers {
  const { ids, peers, logger } = options;

  /** The peer holding the session, or undefined when it is (or would be) here. */
  function peerFor(sessionId: string, context: HandlerContext): string | undefined {
    if (sessionId === "") return undefined;
    const owner = ids.ownerOf(sessionId);
    if (owner.kind === "here") return undefined;
    if (owner.kind === "forged" || peers.forwarded(context)) {
      throw new ConnectError(new SessionNotFoundError(sessionId).message, Code.NotFound);
    }
    return owner.address;
  }

  /** A failure of the peer itself (no answer) reads as the session being gone with its owner. */
  function fromPeer(error: unknown, sessionId: string, address: string): ConnectError {
    const failure = ConnectError.from(error);
    if (peers.noAnswer(failure)) {
      logger.warn({ session_id: sessionId, owner: address, err: failure.rawMessage }, "session's owner does not answer");
      return new ConnectError(
        `session ${JSON.stringify(sessionId)} not found: the replica that holds it (${address}) does not answer; it is gone, or unreachable from here`,
        Code.NotFound,
      );
    }
    return failure;
  }

  function unary<K extends Exclude<keyof SessionHandlers, "createSession" | "listSessions" | "execStream">>(
    method: K,
  ): SessionHandlers[K] {
    const local = handlers[method] as (request: { sessionId: string }, context: HandlerContext) => Promise<unknown>;
    const forwarded = async (request: { sessionId: string }, context: HandlerContext) => {
      const address = peerFor(request.sessionId, context);
      if (address === undefined) return local(request, context);
      logger.debug({ session_id: request.sessionId, owner: address, method }, "session call forwarded");
      const remote = peers.client(address)[method] as (request: unknown, options: unknown) => Promise<unknown>;
      try {
        return await remote(request, peers.options(context));
      } catch (error) {
        throw fromPeer(error, request.sessionId, address);
      }
    };
    return forwarded as unknown as SessionHandlers[K];
  }

  return {
    ...handlers,
    exec: unary("exec"),
    writeFiles: unary("writeFiles"),
    readFiles: unary("readFiles"),
    deleteFiles: unary("deleteFiles"),
    listFiles: unary("listFiles"),
    getSession: unary("getSession"),
    updateSession: unary("updateSession"),
    closeSession: unary("closeSession"),
    async *execStream(request, context) {
      const address = peerFor(request.sessionId, context);
      if (address === undefined) {
        yield* handlers.execStream(request, context);
        return;
      }
      logger.debug({ session_id: request.sessionId, owner: address, method: "execStream" }, "session call forwarded");
      try {
        yield* peers.client(address).execStream(request, peers.options(context));
      } catch (error) {
        throw fromPeer(error, request.sessionId, address);
      }
    },
  };
}
