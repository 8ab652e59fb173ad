import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  DeleteSnapshotResponseSchema,
  ListSnapshotsResponseSchema,
  PauseSessionResponseSchema,
  ResumeSessionResponseSchema,
  type SandboxService,
  type SessionInfo,
  type SnapshotInfo,
  SnapshotInfoSchema,
  SnapshotSessionResponseSchema,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import type { Session } from "../session/session.js";
import type { SessionManager } from "../session/session-manager.js";
import type { SnapshotMeta, SnapshotStore } from "../session/snapshot-store.js";
import { invalidArgument } from "./rpc-errors.js";

type SnapshotRpcs = "pauseSession" | "resumeSession" | "snapshotSession" | "listSnapshots" | "deleteSnapshot";

export interface SnapshotHandlersOptions {
  readonly sessions: Pick<SessionManager, "snapshot">;
  readonly snapshots: SnapshotStore;
  /** The caller's key id ("" without keys). */
  readonly ownerOf: (context: HandlerContext) => string;
  /** The caller's session (INVALID_ARGUMENT, NOT_FOUND as for any session call). */
  readonly session: (id: string, context: HandlerContext) => Session;
  /** A session's description on the wire (session-handlers.ts). */
  readonly sessionInfo: (session: Session) => SessionInfo;
  /** Session errors as RPC status codes (session-handlers.ts). */
  readonly mapErrorsAsync: <T>(work: () => Promise<T>) => Promise<T>;
  readonly logger: Logger;
}

/** PauseSession, ResumeSession and the snapshot RPCs: a few lines each over the session and the store. */
export function createSnapshotHandlers(options: SnapshotHandlersOptions): Pick<ServiceImpl<typeof SandboxService>, SnapshotRpcs> {
  const { session, sessionInfo, mapErrorsAsync, ownerOf, snapshots, logger } = options;
  const snapshotId = (id: string) => {
    if (id === "") throw invalidArgument([{ field: "snapshot_id", description: "is required" }]);
    return id;
  };
  return {
    async pauseSession(request, context) {
      const target = session(request.sessionId, context);
      await mapErrorsAsync(() => target.pause());
      logger.info({ session_id: target.id }, "session paused");
      return create(PauseSessionResponseSchema, { session: sessionInfo(target) });
    },

    async resumeSession(request, context) {
      const target = session(request.sessionId, context);
      await mapErrorsAsync(() => target.resume());
      logger.info({ session_id: target.id }, "session resumed");
      return create(ResumeSessionResponseSchema, { session: sessionInfo(target) });
    },

    async snapshotSession(request, context) {
      if (request.name.length > 128) throw invalidArgument([{ field: "name", description: "is longer than 128 characters" }]);
      const meta = await mapErrorsAsync(() => options.sessions.snapshot(request.sessionId, ownerOf(context), request.name));
      return create(SnapshotSessionResponseSchema, { snapshotId: meta.id, snapshot: snapshotInfo(meta) });
    },

    async listSnapshots(_request, context) {
      const metas = await mapErrorsAsync(() => snapshots.list(ownerOf(context)));
      return create(ListSnapshotsResponseSchema, { snapshots: metas.map(snapshotInfo) });
    },

    async deleteSnapshot(request, context) {
      const meta = await mapErrorsAsync(() => snapshots.delete(snapshotId(request.snapshotId), ownerOf(context)));
      return create(DeleteSnapshotResponseSchema, { snapshot: snapshotInfo(meta) });
    },
  };
}

/** A snapshot on the wire. Pure. */
export function snapshotInfo(meta: SnapshotMeta): SnapshotInfo {
  return create(SnapshotInfoSchema, {
    snapshotId: meta.id,
    name: meta.name,
    sessionId: meta.sessionId,
    language: meta.language,
    runtime: meta.runtime,
    stateful: meta.stateful,
    memory: meta.memory,
    sizeBytes: BigInt(meta.sizeBytes),
    createdAt: timestampFromMs(meta.createdAtMs),
    expiresAt: timestampFromMs(meta.expiresAtMs),
  });
}
