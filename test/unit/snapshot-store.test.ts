import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { SessionLimitError, SessionNotFoundError } from "../../src/session/session-errors.js";
import { createSnapshotStore } from "../../src/session/snapshot-store.js";

/** The snapshot store on a real directory: ownership, the per-key cap, retention, whole writes. */

const logger = pino({ level: "silent" });
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function store(options: { maxBytesPerKey?: number; ttlMs?: number } = {}) {
  const directory = mkdtempSync(join(tmpdir(), "aurea-store-"));
  folders.push(directory);
  return {
    directory,
    snapshots: createSnapshotStore({
      directory,
      maxBytesPerKey: options.maxBytesPerKey ?? 1 << 20,
      ttlMs: options.ttlMs ?? 60_000,
      logger,
    }),
  };
}

const of = (ownerId: string) => ({
  name: "n",
  ownerId,
  sessionId: "ses_1",
  language: "bash",
  runtime: "runc",
  stateful: false,
  memory: false,
});

describe("the snapshot store", () => {
  it("keeps an archive whole for its key, and for no other", async () => {
    const { snapshots, directory } = store();
    const meta = await snapshots.save(of("alice"), Buffer.from("tar bytes"));
    expect(meta).toMatchObject({ ownerId: "alice", sizeBytes: 9 });
    expect(meta.id).toMatch(/^snap_[A-Za-z0-9_-]{24}$/);
    expect(readdirSync(directory)).toEqual([meta.id]);
    const loaded = await snapshots.load(meta.id, "alice");
    expect(loaded.archive.toString()).toBe("tar bytes");
    await expect(snapshots.load(meta.id, "bob")).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(snapshots.delete(meta.id, "bob")).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(await snapshots.list("bob")).toEqual([]);
    expect((await snapshots.list("alice")).map((listed) => listed.id)).toEqual([meta.id]);
    await snapshots.delete(meta.id, "alice");
    await expect(snapshots.load(meta.id, "alice")).rejects.toBeInstanceOf(SessionNotFoundError);
  });

  it("refuses ids that are no snapshot's, so no path can be named", async () => {
    const { snapshots } = store();
    await expect(snapshots.load("../../etc", "alice")).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(snapshots.load("snap_/../../x", "alice")).rejects.toBeInstanceOf(SessionNotFoundError);
  });

  it("holds each key to its cap, counting only its own snapshots", async () => {
    const { snapshots } = store({ maxBytesPerKey: 100 });
    await snapshots.save(of("alice"), Buffer.alloc(60));
    await snapshots.save(of("bob"), Buffer.alloc(60));
    const refused = await snapshots.save(of("alice"), Buffer.alloc(41)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SessionLimitError);
    expect((refused as SessionLimitError).reason).toBe("SNAPSHOT_QUOTA");
    await snapshots.save(of("alice"), Buffer.alloc(40));
  });

  it("forgets snapshots past their ttl, and the sweep removes them", async () => {
    const { snapshots, directory } = store({ ttlMs: 50 });
    const meta = await snapshots.save(of("alice"), Buffer.from("x"));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await snapshots.list("alice")).toEqual([]);
    await expect(snapshots.load(meta.id, "alice")).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(await snapshots.sweep()).toBe(1);
    expect(readdirSync(directory)).toEqual([]);
  });
});
