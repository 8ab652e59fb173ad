import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { Logger } from "pino";

export type RequestHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface SinglePortServerOptions {
  /** Serves every request, whatever the HTTP version. */
  readonly handler: RequestHandler;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly logger: Logger;
  /** How long a new connection may stay silent before its first bytes (default 10 s). */
  readonly firstBytesTimeoutMs?: number;
  /**
   * HTTP/2 keepalive: a PING this often on every connection (0 for none); a connection that does
   * not answer within `keepaliveTimeoutMs` is closed, so a peer that vanished frees its streams.
   */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /**
   * An HTTP/2 connection older than this is sent GOAWAY (0 for never): clients reconnect, resolve
   * the service's addresses again and spread over replicas that came since. Calls on it go on for
   * up to `maxConnectionAgeGraceMs`, then it is closed.
   */
  readonly maxConnectionAgeMs?: number;
  readonly maxConnectionAgeGraceMs?: number;
}

export interface SinglePortServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<net.AddressInfo>;
  /** The bound address once listening, else undefined. */
  address(): net.AddressInfo | undefined;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then closes
   * whatever is left.
   */
  close(graceMs: number): Promise<void>;
}

/** Every HTTP/2 connection starts with this preface; HTTP/1.x never starts with "PRI". */
const http2PrefaceStart = Buffer.from("PRI");

/**
 * One cleartext port for HTTP/1.1 and HTTP/2 with prior knowledge (h2c). Node's cleartext http2
 * server cannot speak HTTP/1.1, so each connection is routed by its first bytes to one of two
 * servers sharing the same handler: gRPC (which needs HTTP/2) and Connect or gRPC-Web over either.
 */
export function createSinglePortServer(options: SinglePortServerOptions): SinglePortServer {
  const { handler, logger } = options;
  const firstBytesTimeoutMs = options.firstBytesTimeoutMs ?? 10_000;
  const http1 = http.createServer(handler);
  const h2c = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2c.on("session", (session) => {
    sessions.add(session);
    const timers = connectionTimers(session, options, logger);
    session.once("close", () => {
      sessions.delete(session);
      for (const timer of timers) clearTimeout(timer);
    });
  });

  // No Nagle: a unary answer is a few small HTTP/2 frames, which must not wait for an ACK.
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (error) => logger.debug({ err: error.message }, "connection error"));
    routeByFirstBytes(socket);
  });

  function routeByFirstBytes(socket: net.Socket): void {
    let received = Buffer.alloc(0);
    socket.setTimeout(firstBytesTimeoutMs, () => socket.destroy());
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < http2PrefaceStart.length && http2PrefaceStart.subarray(0, received.length).equals(received)) {
        return; // could still become "PRI"
      }
      socket.off("data", onData);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(received);
      if (received.subarray(0, http2PrefaceStart.length).equals(http2PrefaceStart)) {
        h2c.emit("connection", socket);
      } else {
        http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(options.port, options.host, () => {
          listener.off("error", reject);
          resolve(listener.address() as net.AddressInfo);
        });
      });
    },

    address: () => (listener.listening ? (listener.address() as net.AddressInfo) : undefined),

    async close(graceMs) {
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      http1.closeIdleConnections();
      for (const session of sessions) session.close();
      const deadline = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      // Idle HTTP/1.1 keep-alive connections would otherwise hold the listener open.
      const idleSweep = setInterval(() => http1.closeIdleConnections(), 100);
      await closed;
      clearTimeout(deadline);
      clearInterval(idleSweep);
    },
  };
}

/** Keepalive PINGs and the maximum age of one HTTP/2 connection; returns its timers. */
function connectionTimers(session: http2.Http2Session, options: SinglePortServerOptions, logger: Logger): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  const { keepaliveIntervalMs = 0, keepaliveTimeoutMs = 10_000, maxConnectionAgeMs = 0, maxConnectionAgeGraceMs = 0 } = options;
  if (keepaliveIntervalMs > 0) {
    const keepalive = setInterval(() => {
      if (session.closed || session.destroyed) return;
      const unanswered = setTimeout(() => {
        logger.debug("connection closed: no answer to a keepalive ping");
        session.destroy();
      }, keepaliveTimeoutMs);
      unanswered.unref();
      session.ping(() => clearTimeout(unanswered));
    }, keepaliveIntervalMs);
    keepalive.unref();
    timers.push(keepalive);
  }
  if (maxConnectionAgeMs > 0) {
    // Spread by up to a tenth, so connections made together do not all go at once.
    const age = setTimeout(
      () => {
        if (session.closed || session.destroyed) return;
        session.goaway(http2.constants.NGHTTP2_NO_ERROR);
        session.close();
        const grace = setTimeout(() => session.destroy(), maxConnectionAgeGraceMs);
        grace.unref();
        timers.push(grace);
      },
      maxConnectionAgeMs * (1 + Math.random() / 10),
    );
    age.unref();
    timers.push(age);
  }
  return timers;
}
