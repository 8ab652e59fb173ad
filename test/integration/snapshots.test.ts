import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningAurea, startAurea, useAurea } from "../support/aurea-server.js";
import { grpcErrorDetails } from "../support/error-details.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "../support/grpc-js-client.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Sessions that pause and resume, and snapshots of their workspace that outlive them: on a real
 * engine, under runc and runsc, with another key kept out and the per-key cap enforced.
 */

const alice = "alice-snapshot-key-0123456789";
const bob = "bob-snapshot-key-0123456789";
const docker = new Docker();
const store = mkdtempSync(join(tmpdir(), "aurea-snapshots-test-"));
afterAll(() => rmSync(store, { recursive: true, force: true }));

/**
 * CPU nanoseconds the session's container has used so far, read from its cgroup on this host (the
 * engine's stats are sampled once a second, too coarse for this).
 */
async function cpuNanos(sessionId: string): Promise<number> {
  const [found] = await docker.listContainers({ all: true, filters: { label: [`dev.aurea.session=${sessionId}`] } });
  return Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${found!.Id}/cpuacct.usage`, "utf8"));
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as grpc.ServiceError,
  );

describe("pausing a session", () => {
  const server = useAurea({ API_KEYS: `alice:${alice},bob:${bob}`, SNAPSHOT_DIR: store });
  const client = () => createGrpcSandboxClient(server.current.port, { authorization: `Bearer ${alice}` });

  describe.each(["runc", "runsc"])("under %s", (runtime) => {
    it("freezes every process (no CPU for 5 s), keeps variables and files, and any call resumes it", async () => {
      const aurea = client();
      try {
        const created = await aurea.call("CreateSession", { language: "python", stateful: true, runtime }, 120_000);
        const id = created.session_id as string;
        // A thread that burns CPU for as long as it may run.
        await aurea.call("Exec", {
          session_id: id,
          code: "import threading\nx = 42\nopen('kept.txt', 'w').write('kept')\nthreading.Thread(target=lambda: [0 for _ in iter(int, 1)], daemon=True).start()",
        });
        const busy = await aurea.call("Exec", { session_id: id, code: "1 + 1" });
        expect(busy.value).toBe("2");
        // It does burn CPU while it runs: a quarter of a second shows it.
        const running = await cpuNanos(id);
        await new Promise((resolve) => setTimeout(resolve, 250));
        expect((await cpuNanos(id)) - running).toBeGreaterThan(50_000_000);
        const paused = await aurea.call("PauseSession", { session_id: id });
        expect(paused.session).toMatchObject({ state: "SESSION_STATE_PAUSED" });
        expect((paused.session as GrpcResponse).paused_at).toBeTruthy();
        const before = await cpuNanos(id);
        await new Promise((resolve) => setTimeout(resolve, 5000));
        // runc freezes the cgroup: not a nanosecond. gVisor's pause stops the program's tasks; its
        // Sentry still wakes for timers, well under a millisecond a second (the thread would take 5 s).
        const used = (await cpuNanos(id)) - before;
        if (runtime === "runc") expect(used).toBe(0);
        else expect(used).toBeLessThan(10_000_000);
        expect((await aurea.call("GetSession", { session_id: id })).session).toMatchObject({ state: "SESSION_STATE_PAUSED" });
        // An exec on a paused session resumes it and answers.
        expect((await aurea.call("Exec", { session_id: id, code: "x" })).value).toBe("42");
        expect((await aurea.call("GetSession", { session_id: id })).session).toMatchObject({ state: "SESSION_STATE_ACTIVE" });
        await aurea.call("PauseSession", { session_id: id });
        await aurea.call("ResumeSession", { session_id: id });
        expect((await aurea.call("ReadFiles", { session_id: id, paths: ["kept.txt"] })).files).toEqual({ "kept.txt": "kept" });
        // Not while an exec runs.
        const sleeping = aurea.call("Exec", { session_id: id, code: "import time\ntime.sleep(2)" });
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect((await failure(aurea.call("PauseSession", { session_id: id })))?.code).toBe(9);
        await sleeping;
        await aurea.call("CloseSession", { session_id: id });
      } finally {
        aurea.close();
      }
    }, 180_000);
  });

  it("pauses at its idle timeout when it asked to (ON_IDLE_PAUSE), and its ttl still ends it", async () => {
    const aurea = client();
    try {
      const created = await aurea.call("CreateSession", { language: "bash", idle_timeout: 1, ttl: 60, on_idle: "ON_IDLE_PAUSE" });
      const id = created.session_id as string;
      expect(created.session).toMatchObject({ on_idle: "ON_IDLE_PAUSE" });
      await waitFor(
        async () =>
          ((await aurea.call("GetSession", { session_id: id })).session as GrpcResponse).state === "SESSION_STATE_PAUSED",
        10_000,
        "paused when idle",
      );
      expect((await aurea.call("Exec", { session_id: id, code: "echo awake" })).stdout).toBe("awake\n");
      await aurea.call("CloseSession", { session_id: id });
    } finally {
      aurea.close();
    }
  });
});

describe("snapshots", () => {
  let first: RunningAurea | undefined;
  let second: RunningAurea | undefined;
  const clients: GrpcSandboxClient[] = [];
  afterAll(async () => {
    for (const made of clients) made.close();
    await first?.stop();
    await second?.stop();
  });
  const as = (server: RunningAurea, key: string) => {
    const made = createGrpcSandboxClient(server.port, { authorization: `Bearer ${key}` });
    clients.push(made);
    return made;
  };
  const env = { API_KEYS: `alice:${alice},bob:${bob}`, SNAPSHOT_DIR: store, SNAPSHOT_MAX_BYTES_PER_KEY: "2m" };
  const hashes = "find . -type f | sort | xargs sha256sum";

  it("keep a workspace through close and a server restart, for its key only, and start new sessions from it", async () => {
    first = await startAurea(env);
    const aurea = as(first, alice);
    const created = await aurea.call("CreateSession", { language: "bash", files: { "src/a.txt": "alpha" } });
    const id = created.session_id as string;
    await aurea.call("WriteFiles", { session_id: id, binary_files: { "data/b.bin": Buffer.from([0, 1, 2, 255]) } });
    await aurea.call("Exec", {
      session_id: id,
      code: "mkdir -p deep/er && seq 1 1000 > deep/er/n.txt && chmod 640 deep/er/n.txt",
    });
    const original = (await aurea.call("Exec", { session_id: id, code: hashes })).stdout as string;
    // main.sh (the last exec's code), the two files written and the one the exec made.
    expect(original.split("\n").filter(Boolean)).toHaveLength(4);

    const snapped = await aurea.call("SnapshotSession", { session_id: id, name: "before close" });
    const snapshotId = snapped.snapshot_id as string;
    expect(snapped.snapshot).toMatchObject({ name: "before close", session_id: id, language: "bash", memory: false });
    await aurea.call("CloseSession", { session_id: id });

    // Another key sees nothing of it.
    const bobs = as(first, bob);
    expect((await bobs.call("ListSnapshots", {})).snapshots).toEqual([]);
    expect((await failure(bobs.call("CreateSession", { from_snapshot: snapshotId })))?.code).toBe(5);
    expect((await failure(bobs.call("DeleteSnapshot", { snapshot_id: snapshotId })))?.code).toBe(5);

    // A new server on the same store.
    await first.stop();
    first = undefined;
    second = await startAurea(env);
    const again = as(second, alice);
    expect(
      ((await again.call("ListSnapshots", {})).snapshots as GrpcResponse[]).map((snapshot) => snapshot.snapshot_id),
    ).toContain(snapshotId);
    const forks = await Promise.all([1, 2].map(() => again.call("CreateSession", { from_snapshot: snapshotId })));
    for (const fork of forks) {
      expect(fork.state_restored).toBe(false);
      expect(fork.session).toMatchObject({ language: "bash" });
      expect((await again.call("Exec", { session_id: fork.session_id, code: hashes })).stdout).toBe(original);
    }
    // Forks are apart: a change in one is not in the other.
    await again.call("Exec", { session_id: forks[0]!.session_id, code: "rm src/a.txt" });
    expect((await again.call("ReadFiles", { session_id: forks[1]!.session_id, paths: ["src/a.txt"] })).files).toEqual({
      "src/a.txt": "alpha",
    });
    for (const fork of forks) await again.call("CloseSession", { session_id: fork.session_id });
    const wrongLanguage = await failure(again.call("CreateSession", { from_snapshot: snapshotId, language: "python" }));
    expect(wrongLanguage?.code).toBe(3);
    expect(grpcErrorDetails(wrongLanguage!).violations.map((violation) => violation.field)).toEqual(["language"]);

    expect((await again.call("DeleteSnapshot", { snapshot_id: snapshotId })).snapshot).toMatchObject({ snapshot_id: snapshotId });
    expect((await failure(again.call("CreateSession", { from_snapshot: snapshotId })))?.code).toBe(5);
  }, 120_000);

  it("restore a stateful session's files but not its memory, and say so", async () => {
    second ??= await startAurea(env);
    const aurea = as(second, alice);
    const created = await aurea.call("CreateSession", { language: "python", stateful: true });
    await aurea.call("Exec", { session_id: created.session_id, code: "x = 7\nopen('state.txt', 'w').write(str(x))" });
    const snapshotId = (await aurea.call("SnapshotSession", { session_id: created.session_id })).snapshot_id as string;
    await aurea.call("CloseSession", { session_id: created.session_id });
    const restored = await aurea.call("CreateSession", { from_snapshot: snapshotId });
    expect(restored).toMatchObject({ state_restored: false, session: { stateful: true, language: "python" } });
    expect((await aurea.call("Exec", { session_id: restored.session_id, code: "open('state.txt').read()" })).value).toBe("'7'");
    expect((await aurea.call("Exec", { session_id: restored.session_id, code: "x" })).exception).toMatchObject({
      name: "NameError",
    });
    await aurea.call("CloseSession", { session_id: restored.session_id });
    await aurea.call("DeleteSnapshot", { snapshot_id: snapshotId });
  });

  it("refuse past the key's cap with RESOURCE_EXHAUSTED (SNAPSHOT_QUOTA), and snapshot an idle session that asked (ON_IDLE_SNAPSHOT)", async () => {
    second ??= await startAurea(env);
    const aurea = as(second, alice);
    const big = await aurea.call("CreateSession", { language: "bash" });
    await aurea.call("Exec", { session_id: big.session_id, code: "head -c 1500000 /dev/urandom > big.bin" });
    const kept = (await aurea.call("SnapshotSession", { session_id: big.session_id })).snapshot_id as string;
    const refused = await failure(aurea.call("SnapshotSession", { session_id: big.session_id }));
    expect(refused?.code).toBe(8);
    expect(grpcErrorDetails(refused!).info).toMatchObject({ reason: "SNAPSHOT_QUOTA", domain: "aurea.dev" });
    await aurea.call("DeleteSnapshot", { snapshot_id: kept });
    await aurea.call("CloseSession", { session_id: big.session_id });

    const idle = await aurea.call("CreateSession", { language: "bash", idle_timeout: 1, on_idle: "ON_IDLE_SNAPSHOT" });
    await aurea.call("WriteFiles", { session_id: idle.session_id, files: { "note.txt": "saved when idle" } });
    let snapshotId = "";
    await waitFor(
      async () => {
        const listed = (await aurea.call("ListSnapshots", {})).snapshots as GrpcResponse[];
        snapshotId = (listed.find((snapshot) => snapshot.session_id === idle.session_id)?.snapshot_id as string) ?? "";
        return snapshotId !== "";
      },
      10_000,
      "the idle session snapshotted",
    );
    await waitFor(
      async () => (await failure(aurea.call("GetSession", { session_id: idle.session_id })))?.code === 5,
      10_000,
      "the idle session closed after its snapshot",
    );
    const back = await aurea.call("CreateSession", { from_snapshot: snapshotId });
    expect((await aurea.call("ReadFiles", { session_id: back.session_id, paths: ["note.txt"] })).files).toEqual({
      "note.txt": "saved when idle",
    });
    await aurea.call("CloseSession", { session_id: back.session_id });
    await aurea.call("DeleteSnapshot", { snapshot_id: snapshotId });
  });
});
