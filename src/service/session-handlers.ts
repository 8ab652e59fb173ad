import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  CloseSessionResponseSchema,
  CreateSessionResponseSchema,
  FileEntrySchema,
  FileType,
  GetSessionResponseSchema,
  ListFilesResponseSchema,
  ListSessionsResponseSchema,
  ReadFilesResponseSchema,
  DeleteFilesResponseSchema,
  UpdateSessionResponseSchema,
  SkippedArtifactSchema,
  ArtifactSkipReason,
  RunStartedSchema,
  RunStreamResponseSchema,
  type RunStreamResponse,
  type SandboxService,
  SessionInfoSchema,
  SessionState,
  WriteFilesResponseSchema,
  OnIdle,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { EngineUnavailableError, ImageMissingError, RuntimeMissingError } from "../docker/engine-errors.js";
import type { RunOutcome } from "../runner/run-spec.js";
import type { ExecObserver, ListedFile, Session } from "../session/session.js";
import {
  SessionBusyError,
  SessionFailedError,
  SessionFileError,
  SessionLimitError,
  SessionNotFoundError,
  SnapshotStoreError,
} from "../session/session-errors.js";
import type { SessionManager } from "../session/session-manager.js";
import type { SnapshotStore } from "../session/snapshot-store.js";
import { createSnapshotHandlers } from "./snapshot-handlers.js";
import type { Admission } from "./admission.js";
import { callerKey } from "./api-keys.js";
import { AsyncQueue } from "./async-queue.js";
import type { HealthMonitor } from "./health-monitor.js";
import type { AureaMetrics } from "./metrics.js";
import { artifactFields, limitsMessage, toRunResponse } from "./run-response.js";
import { egressRefusal, invalidArgument, refusal } from "./rpc-errors.js";
import { admitCaller, checkReady } from "./sandbox-service.js";
import type { SandboxImageBuilder } from "./sandbox-image-builder.js";
import {
  type Checked,
  type SessionPolicy,
  fromSnapshot,
  validateCreateSession,
  validateExec,
  validateListFiles,
  validateReadFiles,
  validateDeleteFiles,
  validateUpdateSession,
  validateWriteFiles,
} from "./session-request.js";

export interface SessionHandlersOptions {
  readonly sessions: SessionManager;
  readonly monitor: HealthMonitor;
  readonly admission: Admission;
  readonly imageBuilder: SandboxImageBuilder;
  readonly policy: SessionPolicy;
  /** Aborted when shutdown's grace period is over: execs still going are killed. */
  readonly shutdownSignal: AbortSignal;
  /** This replica's address (ADVERTISE_ADDRESS), told to clients that can call the owner directly; "" for none. */
  readonly ownerAddress: string;
  readonly metrics: Pick<AureaMetrics, "recordExec">;
  /** Where snapshots are kept (SNAPSHOT_DIR). */
  readonly snapshots: SnapshotStore;
  readonly logger: Logger;
}

type SessionRpcs =
  | "createSession"
  | "exec"
  | "execStream"
  | "writeFiles"
  | "readFiles"
  | "deleteFiles"
  | "updateSession"
  | "listFiles"
  | "getSession"
  | "listSessions"
  | "closeSession"
  | "pauseSession"
  | "resumeSession"
  | "snapshotSession"
  | "listSnapshots"
  | "deleteSnapshot";

/** The session RPCs of SandboxService: validation and error mapping around the session manager. */
export function createSessionHandlers(options: SessionHandlersOptions): Pick<ServiceImpl<typeof SandboxService>, SessionRpcs> {
  const { sessions, policy, logger } = options;
  const ownerOf = (context: HandlerContext) => context.values.get(callerKey)?.id ?? "";
  const session = (id: string, context: HandlerContext) => {
    if (id === "") throw invalidArgument([{ field: "session_id", description: "is required" }]);
    return mapErrors(() => sessions.get(id, ownerOf(context)));
  };
  /** The session, for a call that uses it: a paused one is resumed first. */
  const using = async (id: string, context: HandlerContext) => {
    const target = session(id, context);
    await mapErrorsAsync(() => target.resume());
    return target;
  };

  /** Runs `work` holding an admission slot, as a run would. */
  async function admitted<T>(id: string, context: HandlerContext, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ticket = await admitCaller(options.admission, context, id, logger);
    try {
      return await mapErrorsAsync(() => work(AbortSignal.any([context.signal, options.shutdownSignal])));
    } finally {
      ticket.release();
    }
  }

  async function execute(
    request: Parameters<ServiceImpl<typeof SandboxService>["exec"]>[0],
    context: HandlerContext,
    execId: string,
    observer: ExecObserver,
  ) {
    const target = await using(request.sessionId, context);
    const plan = valid(validateExec(request, policy, execId, target.settings.expiresAtMs - Date.now()), logger, execId);
    return admitted(execId, context, async (signal) => {
      const started = performance.now();
      const outcome = await sessions.countingNetwork(target.id, () => target.exec(plan, observer, signal));
      logExec(logger, target, plan.code !== undefined, outcome, context, performance.now() - started);
      options.metrics.recordExec(target.settings.language, target.settings.runtime, outcome);
      return toRunResponse({ timeoutMs: plan.timeoutMs, limits: target.settings.limits }, outcome);
    });
  }

  return {
    ...createSnapshotHandlers({
      sessions,
      snapshots: options.snapshots,
      ownerOf,
      session,
      sessionInfo,
      mapErrorsAsync,
      logger,
    }),
    async createSession(request, context) {
      const id = `session for ${request.language || "?"}`;
      const snapshot =
        request.fromSnapshot === ""
          ? undefined
          : await mapErrorsAsync(() => options.snapshots.load(request.fromSnapshot, ownerOf(context)));
      const asked = snapshot ? valid(fromSnapshot(request, snapshot.meta, policy), logger, id) : request;
      const plan = valid(validateCreateSession(asked, policy, ownerOf(context)), logger, id);
      checkReady(options, "session", plan.language);
      const created = await admitted("session", context, (signal) => sessions.create(plan, signal));
      if (snapshot) {
        await mapErrorsAsync(() => created.restoreWorkspace(snapshot.archive)).catch(async (error: unknown) => {
          await sessions.close(created.id, plan.ownerId, "its snapshot could not be restored").catch(() => undefined);
          throw error;
        });
        logger.info({ session_id: created.id, snapshot_id: snapshot.meta.id }, "session restored from a snapshot");
      }
      const info = sessionInfo(created);
      return create(CreateSessionResponseSchema, {
        sessionId: created.id,
        expiresAt: info.expiresAt,
        session: info,
        ownerAddress: options.ownerAddress,
        // Only files are snapshotted here: no interpreter memory is restored.
        stateRestored: false,
      });
    },

    async exec(request, context) {
      return execute(request, context, randomUUID(), {});
    },

    async *execStream(request, context) {
      const events = new AsyncQueue<RunStreamResponse>();
      const send = (event: RunStreamResponse["event"]) => events.push(create(RunStreamResponseSchema, { event }));
      const execId = randomUUID();
      execute(request, context, execId, {
        onStarted: () => send({ case: "started", value: create(RunStartedSchema, { runId: execId }) }),
        onOutput: (stream, chunk) => send({ case: stream, value: chunk }),
      }).then(
        (response) => {
          send({ case: "result", value: response });
          events.close();
        },
        (error: unknown) => events.fail(error),
      );
      yield* events;
    },

    async writeFiles(request, context) {
      const target = await using(request.sessionId, context);
      const files = valid(validateWriteFiles(request, policy, target.settings.limits.workspaceBytes), logger, target.id);
      const names = await mapErrorsAsync(() => target.writeFiles(files));
      return create(WriteFilesResponseSchema, { names });
    },

    async readFiles(request, context) {
      const target = await using(request.sessionId, context);
      const { paths, ranges } = valid(validateReadFiles(request), logger, target.id);
      // Ranges alone read no whole file; paths alone (or neither: the whole workspace) read no range.
      const collection =
        ranges.length === 0 || paths.length > 0 ? await mapErrorsAsync(() => target.readFiles(paths)) : undefined;
      const parts = ranges.length > 0 ? await mapErrorsAsync(() => target.readRanges(ranges)) : undefined;
      const fields = collection ? artifactFields(collection) : undefined;
      return create(ReadFilesResponseSchema, {
        files: fields?.artifacts ?? {},
        binaryFiles: fields?.binaryArtifacts ?? {},
        skipped: [
          ...(fields?.skippedArtifacts ?? []),
          ...(parts?.skipped ?? []).map(({ path, why }) =>
            create(SkippedArtifactSchema, { name: path, reason: rangeSkips[why] }),
          ),
        ],
        truncated: fields?.artifactsTruncated ?? false,
        ranges: (parts?.chunks ?? []).map((chunk) => ({ ...chunk, offset: BigInt(chunk.offset) })),
      });
    },

    async deleteFiles(request, context) {
      const target = await using(request.sessionId, context);
      const paths = valid(validateDeleteFiles(request), logger, target.id);
      const done = await mapErrorsAsync(() => target.deleteFiles(paths));
      const skipped = [
        ...done.missing.map((name) => create(SkippedArtifactSchema, { name, reason: ArtifactSkipReason.NOT_FOUND })),
        ...done.throughLink.map((name) => create(SkippedArtifactSchema, { name, reason: ArtifactSkipReason.SYMLINK })),
      ];
      return create(DeleteFilesResponseSchema, { deleted: done.deleted, skipped });
    },

    async listFiles(request, context) {
      const target = await using(request.sessionId, context);
      const path = valid(validateListFiles(request), logger, target.id);
      const listing = await mapErrorsAsync(() => target.listFiles(path, request.recursive));
      return create(ListFilesResponseSchema, { entries: listing.entries.map(fileEntry), truncated: listing.truncated });
    },

    async updateSession(request, context) {
      const target = session(request.sessionId, context);
      const times = valid(validateUpdateSession(request, policy, target.settings, Date.now()), logger, target.id);
      mapErrors(() => target.updateTimes(times));
      logger.info(
        { session_id: target.id, ttl_s: target.settings.ttlMs / 1000, idle_timeout_s: times.idleTimeoutMs / 1000 },
        "session updated",
      );
      return create(UpdateSessionResponseSchema, {
        session: sessionInfo(target),
        expiresAt: timestampFromMs(times.expiresAtMs),
      });
    },

    async getSession(request, context) {
      return create(GetSessionResponseSchema, { session: sessionInfo(session(request.sessionId, context)) });
    },

    async listSessions(_request, context) {
      return create(ListSessionsResponseSchema, { sessions: sessions.list(ownerOf(context)).map(sessionInfo), complete: true });
    },

    async closeSession(request, context) {
      if (request.sessionId === "") throw invalidArgument([{ field: "session_id", description: "is required" }]);
      const closed = await mapErrorsAsync(() => sessions.close(request.sessionId, ownerOf(context), "closed by its owner"));
      return create(CloseSessionResponseSchema, { session: sessionInfo(closed) });
    },
  };
}

function valid<T>(checked: Checked<T>, logger: Logger, id: string): T {
  if (checked.ok) return checked.value;
  logger.info({ run_id: id, violations: checked.violations }, "session request rejected");
  throw invalidArgument(checked.violations);
}

/** Session errors as RPC status codes. */
function toSessionConnectError(error: unknown): unknown {
  if (error instanceof SessionNotFoundError) return new ConnectError(error.message, Code.NotFound);
  if (error instanceof SessionFailedError) return new ConnectError(error.message, Code.FailedPrecondition);
  if (error instanceof SessionFileError) return new ConnectError(error.message, Code.FailedPrecondition);
  if (error instanceof SessionLimitError) return refusal(error.message, Code.ResourceExhausted, error.reason);
  if (error instanceof SessionBusyError) return new ConnectError(error.message, Code.FailedPrecondition);
  if (error instanceof SnapshotStoreError) return new ConnectError(error.message, Code.Unavailable);
  const egress = egressRefusal(error, (error as Error).message);
  if (egress) return egress;
  if (error instanceof EngineUnavailableError) return refusal(error.message, Code.Unavailable, "ENGINE_UNAVAILABLE");
  if (error instanceof ImageMissingError || error instanceof RuntimeMissingError)
    return new ConnectError(error.message, Code.Unavailable);
  return error;
}

function mapErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw toSessionConnectError(error);
  }
}

async function mapErrorsAsync<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toSessionConnectError(error);
  }
}

/** Why the workspace helper left a range unread, as the skip reasons ReadFiles answers with. */
const rangeSkips = {
  not_found: ArtifactSkipReason.NOT_FOUND,
  symlink: ArtifactSkipReason.SYMLINK,
  special: ArtifactSkipReason.SPECIAL_FILE,
} as const;

const fileTypes: Record<ListedFile["type"], FileType> = {
  f: FileType.FILE,
  d: FileType.DIRECTORY,
  l: FileType.SYMLINK,
  p: FileType.OTHER,
};

function fileEntry(entry: ListedFile) {
  return create(FileEntrySchema, {
    name: entry.name,
    type: fileTypes[entry.type],
    size: BigInt(entry.size),
    modifiedAt: timestampFromMs(Math.floor(entry.mtimeNs / 1e6)),
    mode: entry.mode,
  });
}

const sessionStates = {
  active: SessionState.ACTIVE,
  paused: SessionState.PAUSED,
  failed: SessionState.FAILED,
  closing: SessionState.CLOSED,
  closed: SessionState.CLOSED,
};

const idleActions = { close: OnIdle.CLOSE, pause: OnIdle.PAUSE, snapshot: OnIdle.SNAPSHOT } as const;

/** A session on the wire. Pure. */
export function sessionInfo(session: Session) {
  const { settings } = session;
  const live = session.describe();
  return create(SessionInfoSchema, {
    sessionId: session.id,
    language: settings.language,
    runtime: settings.runtime,
    stateful: settings.stateful,
    limits: limitsMessage(settings.limits),
    workspaceBytes: BigInt(settings.limits.workspaceBytes),
    createdAt: timestampFromMs(settings.createdAtMs),
    expiresAt: timestampFromMs(settings.expiresAtMs),
    lastUsedAt: timestampFromMs(session.lastUsedAtMs),
    idleTimeout: settings.idleTimeoutMs / 1000,
    ttl: settings.ttlMs / 1000,
    state: sessionStates[session.state],
    reason: session.reason,
    execsRunning: live.execsRunning,
    execsTotal: BigInt(live.execsTotal),
    interpreterRunning: live.interpreterRunning,
    statesLost: live.statesLost,
    adopted: session.adopted,
    onIdle: idleActions[settings.onIdle ?? "close"],
    pausedAt: session.pausedAt === undefined ? undefined : timestampFromMs(session.pausedAt),
  });
}

/** The audit line of an exec: who, where, how it ended and what it used; never the code or output. */
function logExec(logger: Logger, session: Session, isCode: boolean, outcome: RunOutcome, context: HandlerContext, ms: number) {
  logger.info(
    {
      run_id: outcome.runId,
      session_id: session.id,
      key_id: context.values.get(callerKey)?.id,
      kind: isCode ? (session.settings.stateful ? "cell" : "code") : "command",
      language: session.settings.language,
      runtime: session.settings.runtime,
      status: outcome.verdict,
      exit_code: outcome.exitCode,
      signal: outcome.signal || undefined,
      duration_ms: Math.round(outcome.executionTimeMs),
      total_ms: Math.round(ms),
      stdout_bytes: outcome.stdout.length,
      stderr_bytes: outcome.stderr.length,
      cpu_ms: outcome.usage?.cpuTimeNs !== undefined ? Math.round(outcome.usage.cpuTimeNs / 1e6) : undefined,
      peak_memory_bytes: outcome.usage?.peakMemoryBytes,
      state_lost: outcome.stateLost || undefined,
      exception: outcome.exception?.name,
    },
    "exec finished",
  );
}
