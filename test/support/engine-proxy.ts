import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A unix-socket relay to the real engine socket that a test can cut and restore: an engine
 * outage as a client sees it (connections refused, open ones dropped), without stopping the
 * engine every other test depends on.
 */
export interface EngineProxy {
  readonly socketPath: string;
  /** Refuses new connections and drops open ones. */
  cut(): Promise<void>;
  /** Accepts connections again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export interface EngineProxyOptions {
  /** The engine's socket (default /var/run/docker.sock). */
  readonly target?: string;
  /**
   * When false, the relay closes a connection as soon as the client half-closes it, losing
   * whatever the engine still had to send: a broken middlebox, for testing that lost output is
   * never reported as a clean result. Default true.
   */
  readonly halfOpen?: boolean;
}

export async function startEngineProxy(options: EngineProxyOptions = {}): Promise<EngineProxy> {
  const target = options.target ?? "/var/run/docker.sock";
  const allowHalfOpen = options.halfOpen ?? true;
  const directory = mkdtempSync(join(tmpdir(), "aurea-engine-proxy-"));
  const socketPath = join(directory, "docker.sock");
  const open = new Set<net.Socket>();
  let server: net.Server | undefined;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      // Half-open both ways: a client that ends its request (an attach closing stdin) still
      // reads the engine's answer, as on the real socket.
      const current = net.createServer({ allowHalfOpen }, (client) => {
        const upstream = net.connect({ path: target, allowHalfOpen });
        open.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          open.delete(client);
          open.delete(upstream);
        };
        client.on("error", drop).on("close", drop);
        upstream.on("error", drop).on("close", drop);
        client.pipe(upstream).pipe(client);
      });
      current.once("error", reject);
      current.listen(socketPath, () => {
        server = current;
        resolve();
      });
    });

  const cut = async () => {
    const current = server;
    server = undefined;
    const closed = current ? new Promise((resolve) => current.close(resolve)) : Promise.resolve();
    for (const socket of open) socket.destroy();
    open.clear();
    await closed;
  };

  await listen();
  return {
    socketPath,
    cut,
    restore: listen,
    async close() {
      await cut();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
