import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { type ListSessionsResponse, ListSessionsResponseSchema } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
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
  /** The other replicas now, for ListSessions (peer-calls.ts findPeers). */
  readonly findPeers: () => Promise<{ addresses: string[]; found: boolean }>;
  readonly logger: Logger;
}

/** How long ListSessions waits for each other replica. */
const listPeerTimeoutMs = 1000;

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
