import { Code, ConnectError, type Client, createClient, type HandlerContext } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { SandboxService } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { SessionNotFoundError } from "../session/session-errors.js";
import type { createSessionHandlers } from "./session-handlers.js";
import type { SessionIds } from "./session-ids.js";

/**
 * Any replica answers any session call: a call for a session another replica holds goes to that
 * replica (its address is in the signed id, session-ids.ts) over gRPC, on one pooled HTTP/2
 * connection per peer, with the caller's Authorization header (the owner checks it exactly as for
 * a call made to it), the caller's remaining deadline and its cancellation; a streamed exec
 * streams through. A forwarded call is marked, and never forwarded again.
 */

type SessionHandlers = ReturnType<typeof createSessionHandlers>;

/** Marks a call one replica forwarded to another; its value is the forwarding replica's address. */
export const forwardedByHeader = "aurea-forwarded-by";

export interface SessionForwardingOptions {
  readonly ids: SessionIds;
  readonly logger: Logger;
}

export function withSessionForwarding(handlers: SessionHandlers, options: SessionForwardingOptions): SessionHandlers {
  const { ids, logger } = options;
  const clients = new Map<string, Client<typeof SandboxService>>();
  const clientFor = (address: string) => {
    let client = clients.get(address);
    if (!client) {
      client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://${address}` }));
      clients.set(address, client);
    }
    return client;
  };

  /** The peer holding the session, or undefined when it is (or would be) here. */
  function peerFor(sessionId: string, context: HandlerContext): string | undefined {
    if (sessionId === "") return undefined;
    const owner = ids.ownerOf(sessionId);
    if (owner.kind === "here") return undefined;
    if (owner.kind === "forged" || context.requestHeader.has(forwardedByHeader)) {
      throw new ConnectError(new SessionNotFoundError(sessionId).message, Code.NotFound);
    }
    return owner.address;
  }

  function callOptions(context: HandlerContext) {
    const headers: Record<string, string> = { [forwardedByHeader]: ids.address };
    const authorization = context.requestHeader.get("authorization");
    if (authorization !== null) headers.authorization = authorization;
    return { headers, signal: context.signal, timeoutMs: context.timeoutMs() };
  }

  /** A failure of the peer itself (no answer) reads as the session being gone with its owner. */
  function fromPeer(error: unknown, sessionId: string, address: string): ConnectError {
    const failure = ConnectError.from(error);
    const answered = failure.metadata.has("grpc-status") || failure.metadata.has("content-type");
    if (failure.code === Code.Unavailable && !answered) {
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
      const remote = clientFor(address)[method] as (request: unknown, options: unknown) => Promise<unknown>;
      try {
        return await remote(request, callOptions(context));
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
        yield* clientFor(address).execStream(request, callOptions(context));
      } catch (error) {
        throw fromPeer(error, request.sessionId, address);
      }
    },
  };
}
