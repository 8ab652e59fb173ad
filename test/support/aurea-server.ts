import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll } from "vitest";
import type Docker from "dockerode";
import { pino } from "pino";
import { createAureaApp } from "../../src/app.js";
import { parseConfig, type AureaConfig } from "../../src/config/config.js";
import { noContainersWithin, removalBoundMs } from "./containers.js";
import { createGrpcSandboxClient, type GrpcSandboxClient } from "./grpc-js-client.js";

export interface RunningAurea {
  readonly config: AureaConfig;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** Every log line the server wrote so far, parsed. */
  logs(): Record<string, unknown>[];
  /** Runs admitted, queued and with their program started, warm and recycled containers ready, right now. */
  load(): { running: number; queued: number; started: number; warm: number; recycled: number; scrubbing: number };
  stop(): Promise<void>;
}

/**
 * Starts a real Aurea server on a free loopback port, configured as from the environment with
 * `env` on top. Every integration test gets its server through here.
 */
export async function startAurea(
  env: Record<string, string> = {},
  options: { docker?: Docker; dockerfilePath?: string } = {},
): Promise<RunningAurea> {
  // Several test servers share one engine: none may take another's containers for orphans.
  const parsed = parseConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    SANDBOX_BUILD_ON_START: "false",
    // Snapshots in a folder of the machine's temporary space, not the system's /var/lib.
    SNAPSHOT_DIR: join(tmpdir(), "aurea-test-snapshots"),
    REAPER_FOREIGN_AFTER: "3600",
    SHUTDOWN_GRACE: "2",
    // The cold path unless a test asks for warm containers: container counts stay exact.
    WARM_POOL_SIZE: "0",
    // Each test server its own name, so none adopts or reaps another's sessions.
    INSTANCE_NAME: `test-${randomUUID()}`,
    ...env,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      if (process.env.TEST_LOG === "1") process.stderr.write(chunk);
      done();
    },
  });
  // TEST_LOG_LEVEL=debug shows (with TEST_LOG=1) and keeps every engine call and state change.
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "info" }, sink);
  const app = createAureaApp({ config: parsed.config, logger, ...options });
  const address = await app.start();
  return {
    config: parsed.config,
    port: address.port,
    baseUrl: `http://127.0.0.1:${address.port}`,
    logs: () => [...lines],
    load: () => app.load(),
    stop: () => app.stop(),
  };
}

/**
 * Starts one server for the enclosing test file (or describe block) and stops it afterwards,
 * checking that no Aurea container outlived it. `server.current` is the running server and
 * `server.client` an independent grpc-js client of it.
 */
export function useAurea(
  env: Record<string, string> = {},
  options: { docker?: Docker; dockerfilePath?: string } = {},
): { readonly current: RunningAurea; readonly client: GrpcSandboxClient } {
  let running: RunningAurea | undefined;
  let client: GrpcSandboxClient | undefined;
  beforeAll(async () => {
    running = await startAurea(env, options);
  });
  afterAll(async () => {
    client?.close();
    await running?.stop();
    // Every container goes; under gVisor a removal may take up to removalBoundMs.runsc.
    await noContainersWithin(removalBoundMs.runsc);
  });
  const current = () => {
    if (!running) throw new Error("the server is not running (used outside a test?)");
    return running;
  };
  return {
    get current() {
      return current();
    },
    get client() {
      client ??= createGrpcSandboxClient(current().port);
      return client;
    },
  };
}
