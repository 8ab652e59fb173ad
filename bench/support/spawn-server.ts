import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * An Aurea server in its own process (the built dist/src/main.js), so that its memory can be
 * measured apart from its clients' and it can be sent signals. Used by benchmarks and fault tests.
 */
export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  /** Parsed JSON log lines written so far. */
  logs(): Record<string, unknown>[];
  /** Resident set size of the server process now, bytes (from /proc). */
  rssBytes(): number;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  signal(name: NodeJS.Signals): void;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | string>;
}

function repoRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, "package.json"))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error("package.json not found above this module");
    directory = parent;
  }
  return directory;
}

export async function freeLoopbackPort(): Promise<number> {
  const [port] = await freeLoopbackPorts(1);
  return port!;
}

/**
 * `count` different free loopback ports: each listener stays open until all are had, so two
 * calls in a row cannot be given the same port (a port closed a moment ago may be handed out again).
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  for (const server of servers) await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Starts the built server (`npm run build` first) on a free loopback port, or on `port`. */
export async function spawnServer(env: Record<string, string> = {}, port?: number): Promise<ServerProcess> {
  const root = repoRoot();
  const main = join(root, "dist", "src", "main.js");
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build`);
  const listenPort = port ?? (await freeLoopbackPort());
  const lines: Record<string, unknown>[] = [];
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd: root,
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(listenPort),
      LOG_LEVEL: "info",
      SANDBOX_BUILD_ON_START: "false",
      SNAPSHOT_DIR: join(tmpdir(), "aurea-test-snapshots"),
      WARM_POOL_SIZE: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let pending = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const complete = pending.split("\n");
    pending = complete.pop() ?? "";
    for (const line of complete) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  // "exit" can come before the last of stdout is read, and callers read the logs once the process
  // has exited: wait for "close" (stdout drained), but not for ever, in case a process the server
  // started still holds the pipe.
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      const status = code ?? signal ?? "unknown";
      const drained = setTimeout(() => resolve(status), 2000);
      child.once("close", () => {
        clearTimeout(drained);
        resolve(status);
      });
    });
  });
  const deadline = Date.now() + 20_000;
  while (!lines.some((line) => line.msg === "aurea ready")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`the server did not start: ${JSON.stringify(lines.slice(-3))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid ?? 0;
  return {
    port: listenPort,
    pid,
    logs: () => [...lines],
    rssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    exited,
    signal: (name) => child.kill(name),
    stop() {
      child.kill("SIGTERM");
      return exited;
    },
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
