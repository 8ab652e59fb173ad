import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Session } from "./session.js";
import { SessionLimitError, SessionNotFoundError, SnapshotStoreError } from "./session-errors.js";

/**
 * Snapshots of sessions' workspaces, kept in a directory (SNAPSHOT_DIR) so they outlive the
 * session, its container and the server, and any replica that mounts the same directory can use
 * them. One folder a snapshot: `meta.json` and `workspace.tar`, written under a temporary name and
 * renamed into place, so a reader never sees half of one.
 */

/** What a snapshot is, as `meta.json` holds it. */
export interface SnapshotMeta {
  readonly id: string;
  readonly name: string;
  /** The API key id it belongs to ("" for anonymous callers). */
  readonly ownerId: string;
  readonly sessionId: string;
  readonly language: string;
  readonly runtime: string;
  readonly stateful: boolean;
  /** Whether the interpreter's memory is in it (false: the workspace's files only). */
  readonly memory: boolean;
  readonly sizeBytes: number;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
}

export interface SnapshotStoreOptions {
  readonly directory: string;
  /** Most bytes one key's snapshots may take in all (SNAPSHOT_MAX_BYTES_PER_KEY). */
  readonly maxBytesPerKey: number;
  /** How long a snapshot is kept, milliseconds (SNAPSHOT_TTL). */
  readonly ttlMs: number;
  readonly logger: Logger;
}

export interface SnapshotStore {
  /** Saves a workspace archive; SessionLimitError when the key's snapshots would pass its cap. */
  save(
    snapshot: Omit<SnapshotMeta, "id" | "sizeBytes" | "createdAtMs" | "expiresAtMs">,
    archive: Uint8Array,
  ): Promise<SnapshotMeta>;
  /** The snapshot and its archive; SessionNotFoundError when it is another key's, expired or gone. */
  load(id: string, ownerId: string): Promise<{ meta: SnapshotMeta; archive: Buffer }>;
  list(ownerId: string): Promise<SnapshotMeta[]>;
  delete(id: string, ownerId: string): Promise<SnapshotMeta>;
  /** Removes expired snapshots; answers how many. */
  sweep(): Promise<number>;
}

const idPattern = /^snap_[A-Za-z0-9_-]{24}$/;

export function createSnapshotStore(options: SnapshotStoreOptions): SnapshotStore {
  const { directory, logger } = options;
  const folder = (id: string) => join(directory, id);

  async function readMeta(id: string): Promise<SnapshotMeta | undefined> {
    if (!idPattern.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(join(folder(id), "meta.json"), "utf8")) as SnapshotMeta;
    } catch {
      return undefined;
    }
  }

  async function all(): Promise<SnapshotMeta[]> {
    const names = await readdir(directory).catch(() => [] as string[]);
    const metas = await Promise.all(names.filter((name) => idPattern.test(name)).map(readMeta));
    return metas.filter((meta): meta is SnapshotMeta => meta !== undefined);
  }

  async function owned(id: string, ownerId: string): Promise<SnapshotMeta> {
    const meta = await readMeta(id);
    // Another key's snapshot is as unknown as one that never was.
    if (!meta || meta.ownerId !== ownerId || Date.now() >= meta.expiresAtMs) throw new SessionNotFoundError(id, "snapshot");
    return meta;
  }

  return {
    async save(snapshot, archive) {
      const used = (await all())
        .filter((meta) => meta.ownerId === snapshot.ownerId)
        .reduce((sum, meta) => sum + meta.sizeBytes, 0);
      if (used + archive.length > options.maxBytesPerKey) {
        throw new SessionLimitError(
          `this key's snapshots take ${used} bytes; ${archive.length} more would pass its ${options.maxBytesPerKey} (SNAPSHOT_MAX_BYTES_PER_KEY): delete some`,
          "SNAPSHOT_QUOTA",
        );
      }
      const id = `snap_${randomBytes(18).toString("base64url")}`;
      const createdAtMs = Date.now();
      const meta: SnapshotMeta = {
        ...snapshot,
        id,
        sizeBytes: archive.length,
        createdAtMs,
        expiresAtMs: createdAtMs + options.ttlMs,
      };
      const partial = join(directory, `.partial-${id}`);
      try {
        await mkdir(partial, { recursive: true });
        await writeFile(join(partial, "workspace.tar"), archive);
        await writeFile(join(partial, "meta.json"), JSON.stringify(meta));
        await rename(partial, folder(id));
      } catch (error) {
        await rm(partial, { recursive: true, force: true }).catch(() => undefined);
        throw new SnapshotStoreError(
          `the snapshot could not be saved in SNAPSHOT_DIR (${directory}): ${(error as Error).message}`,
        );
      }
      logger.info({ snapshot_id: id, session_id: meta.sessionId, bytes: meta.sizeBytes }, "snapshot saved");
      return meta;
    },
    async load(id, ownerId) {
      const meta = await owned(id, ownerId);
      return { meta, archive: await readFile(join(folder(id), "workspace.tar")) };
    },
    async list(ownerId) {
      const now = Date.now();
      return (await all())
        .filter((meta) => meta.ownerId === ownerId && now < meta.expiresAtMs)
        .sort((a, b) => a.createdAtMs - b.createdAtMs);
    },
    async delete(id, ownerId) {
      const meta = await owned(id, ownerId);
      await rm(folder(id), { recursive: true, force: true });
      logger.info({ snapshot_id: id }, "snapshot deleted");
      return meta;
    },
    async sweep() {
      const now = Date.now();
      let removed = 0;
      for (const meta of await all()) {
        if (now < meta.expiresAtMs) continue;
        await rm(folder(meta.id), { recursive: true, force: true });
        removed += 1;
      }
      // Halves of snapshots a crash left behind, once they are old enough not to be in progress.
      for (const name of await readdir(directory).catch(() => [] as string[])) {
        if (!name.startsWith(".partial-")) continue;
        const info = await stat(join(directory, name)).catch(() => undefined);
        if (info && now - info.mtimeMs > 3_600_000) await rm(join(directory, name), { recursive: true, force: true });
      }
      return removed;
    },
  };
}

/** Saves a session's workspace (every file, as a tar) in the store, as its owner's. */
export async function saveSnapshot(store: SnapshotStore, session: Session, name: string): Promise<SnapshotMeta> {
  const archive = await session.archiveWorkspace();
  const { settings } = session;
  return store.save(
    {
      name,
      ownerId: session.ownerId,
      sessionId: session.id,
      language: settings.language,
      runtime: settings.runtime,
      stateful: settings.stateful,
      memory: false,
    },
    archive,
  );
}

/** The idle timeout passed: close the session, pause it, or snapshot and close it, as it asked (on_idle). */
export async function whenIdle(
  session: Session,
  how: { snapshots: SnapshotStore | undefined; close: (reason: string) => Promise<void>; log: Logger },
): Promise<void> {
  const idle = `idle for ${session.settings.idleTimeoutMs / 1000} s`;
  try {
    if (session.settings.onIdle === "pause") {
      await session.pause();
      how.log.info({ reason: idle }, "session paused");
      return;
    }
    if (session.settings.onIdle === "snapshot" && how.snapshots) {
      const meta = await saveSnapshot(how.snapshots, session, "idle");
      await how.close(`${idle}; its workspace is snapshot ${meta.id}`);
      return;
    }
  } catch (error) {
    how.log.warn({ err: (error as Error).message }, "session's idle action failed: closed instead");
  }
  await how.close(idle);
}
