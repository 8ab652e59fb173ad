/**
 * Pause, resume and snapshots: PauseSession and ResumeSession times (against `docker pause` and
 * `docker unpause` of a plain container through the Engine API, in this same run); SnapshotSession
 * time and size, and the time of a new session from it (against CreateSession without one), for an
 * idle Python session and for one holding 200 MiB of data (in its interpreter's memory, and 40 MiB
 * in its workspace); and the host memory a paused session keeps (its cgroup's usage).
 *
 *   npm run bench:snapshots   (BENCH_ROUNDS: samples per row, default 10)
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Docker from "dockerode";
import { SandboxService } from "../gen/aurea/sandbox/v1/sandbox_pb.js";
import { measure, summarize } from "./support/latency.js";
import { spawnServer } from "./support/spawn-server.js";

const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const docker = new Docker();

/** Memory the session's container holds now, bytes (its cgroup, v1). */
async function memoryBytes(sessionId: string): Promise<number> {
  const [found] = await docker.listContainers({ all: true, filters: { label: [`dev.aurea.session=${sessionId}`] } });
  return Number(readFileSync(`/sys/fs/cgroup/memory/docker/${found!.Id}/memory.usage_in_bytes`, "utf8"));
}

const server = await spawnServer({
  SNAPSHOT_DIR: join(tmpdir(), `aurea-bench-snapshots-${process.pid}`),
  SNAPSHOT_MAX_BYTES_PER_KEY: "8g",
  SANDBOX_MEMORY_LIMIT: "1g",
  MAX_SESSIONS: "64",
  MAX_SESSIONS_PER_KEY: "64",
});
const client = createClient(SandboxService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
const rows: string[] = [];
const row = (name: string, samples: number[], baseline?: number, extra = "") => {
  const summary = summarize(samples);
  rows.push(
    `| ${name} | ${summary.p50.toFixed(1)} | ${summary.p95.toFixed(1)} | ${baseline ? (summary.p50 / baseline).toFixed(2) : "1.00"} | ${extra} |`,
  );
  return summary.p50;
};
try {
  // Baselines: the engine's own pause and unpause of a running container.
  const container = await docker.createContainer({ Image: image, Cmd: ["sleep", "3600"], HostConfig: { NetworkMode: "none" } });
  await container.start();
  const pauseBase = row(
    "docker pause (Engine API)",
    (await measure(rounds, 1, () => container.pause().then(() => container.unpause()))).samples,
  );
  await container.remove({ force: true });

  for (const load of ["idle", "200 MiB"] as const) {
    const { sessionId } = await client.createSession({
      language: "python",
      stateful: true,
      workspaceBytes: BigInt(64 * 2 ** 20),
    });
    const setup =
      load === "idle"
        ? "x = 1"
        : "import os\ndata = bytearray(os.urandom(200 * 2**20))\nopen('blob.bin', 'wb').write(os.urandom(40 * 2**20))";
    await client.exec({ sessionId, code: setup, timeout: 60 });
    const pauseResume = await measure(rounds, 1, async () => {
      await client.pauseSession({ sessionId });
      await client.resumeSession({ sessionId });
    });
    row(`PauseSession + ResumeSession, ${load} session`, pauseResume.samples, pauseBase);
    await client.pauseSession({ sessionId });
    const pausedMemory = await memoryBytes(sessionId);
    await client.resumeSession({ sessionId });
    const sizes: number[] = [];
    const snapshotIds: string[] = [];
    const snapshots = await measure(Math.min(rounds, 5), 1, async () => {
      const { snapshot } = await client.snapshotSession({ sessionId });
      sizes.push(Number(snapshot?.sizeBytes ?? 0));
      snapshotIds.push(snapshot?.snapshotId ?? "");
    });
    const snapshotMs = row(
      `SnapshotSession, ${load} session`,
      snapshots.samples,
      undefined,
      `${(sizes[0]! / 2 ** 20).toFixed(2)} MiB stored; paused, its container holds ${(pausedMemory / 2 ** 20).toFixed(0)} MiB`,
    );
    void snapshotMs;
    const plain = await measure(Math.min(rounds, 5), 1, async () => {
      const created = await client.createSession({ language: "python", stateful: true, workspaceBytes: BigInt(64 * 2 ** 20) });
      await client.closeSession({ sessionId: created.sessionId });
    });
    const createBase = row("CreateSession (+ CloseSession), no snapshot", plain.samples);
    const restores = await measure(Math.min(rounds, 5), 1, async () => {
      const created = await client.createSession({ fromSnapshot: snapshotIds[0]!, workspaceBytes: BigInt(64 * 2 ** 20) });
      await client.closeSession({ sessionId: created.sessionId });
    });
    row(`CreateSession from the ${load} session's snapshot (+ CloseSession)`, restores.samples, createBase);
    for (const id of snapshotIds) await client.deleteSnapshot({ snapshotId: id });
    await client.closeSession({ sessionId });
  }
  console.log(`\nPause, resume and snapshots over loopback gRPC, ${rounds} samples a row, milliseconds\n`);
  console.log("| operation | p50 | p95 | p50 / baseline above it | notes |");
  console.log("| --- | ---: | ---: | ---: | --- |");
  for (const line of rows) console.log(line);
  console.log(
    "\nSnapshots hold the workspace's files only: the interpreter's 200 MiB are not saved (SnapshotInfo.memory is false).",
  );
} finally {
  await server.stop();
}
