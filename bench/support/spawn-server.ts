import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";

/** An Aurea server in its own process, so its memory can be measured apart from the client's. */
export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  /** Resident set size of the server process now, bytes (from /proc). */
  rssBytes(): number;
  stop(): Promise<void>;
}

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts dist/src/main.js (run `npm run build` first) on a free loopback port. */
export async function spawnServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freeLoopbackPort();
  const main = fileURLToPath(new URL("../../src/main.js", import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "warn", SANDBOX_BUILD_ON_START: "false", ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ready = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("the server did not start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid ?? 0;
  return {
    port,
    pid,
    rssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return Number(kib ?? 0) * 1024;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Samples `read` every `intervalMs` until `stop` is called; returns the peak. */
export function samplePeak(read: () => number, intervalMs = 20): { stop(): number } {
  let peak = read();
  const timer = setInterval(() => {
    peak = Math.max(peak, read());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, read());
    },
  };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}
