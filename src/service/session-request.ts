import {
  type CreateSessionRequest,
  OnIdle,
  type ExecRequest,
  type ListFilesRequest,
  type ReadFilesRequest,
  type UpdateSessionRequest,
  type DeleteFilesRequest,
  type WriteFilesRequest,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import type { AureaConfig } from "../config/config.js";
import type { WorkspaceFile } from "../runner/workspace-archive.js";
import type { ExecPlan } from "../session/session.js";
import type { SessionPlan } from "../session/session-manager.js";
import { validateArgs, validateEnv } from "./args-and-env.js";
import { validateNetworkPolicy } from "../egress/network-request.js";
import type { FieldViolation } from "./rpc-errors.js";
import {
  fileNameProblem,
  maximumLimits,
  resolveLimit,
  resolveRuntimeAndLimits,
  resolveTimeout,
  type RunPolicy,
  validateFiles,
} from "./run-request.js";
import type { SessionTimes } from "../session/agent-protocol.js";
import type { FileRangeRequest } from "../session/session-files.js";
import type { IdleAction, SessionSettings } from "../session/session-container.js";

/** The bounds a session request is checked against: a run's, and the session settings. */
export type SessionPolicy = RunPolicy &
  Pick<AureaConfig, "sessionMaxTtlSeconds" | "sessionDefaultTtlSeconds" | "sessionDefaultIdleTimeoutSeconds">;

export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly violations: readonly FieldViolation[] };

/** Collects violations and answers with all of them, or with the value when there are none. */
function checking<T>(check: (violate: (field: string, description: string) => void) => T | undefined): Checked<T> {
  const violations: FieldViolation[] = [];
  const value = check((field, description) => violations.push({ field, description }));
  return violations.length > 0 || value === undefined ? { ok: false, violations } : { ok: true, value };
}

function seconds(
  value: number,
  field: string,
  fallback: number,
  most: number,
  violate: (field: string, description: string) => void,
): number {
  if (!Number.isFinite(value) || value < 0) violate(field, `must be a positive number of seconds, got ${value}`);
  else if (value > most) violate(field, `${value} s is above the maximum of ${most} s`);
  else if (value > 0) return value;
  return fallback;
}

/** Checks a CreateSessionRequest and resolves its defaults. Pure. */
export function validateCreateSession(
  request: CreateSessionRequest,
  policy: SessionPolicy,
  ownerId: string,
): Checked<SessionPlan> {
  return checking((violate) => {
    const language = policy.languages.find(request.language);
    if (request.language === "") violate("language", `is required; one of ${policy.languages.names().join(", ")}`);
    else if (!language)
      violate("language", `unknown language ${JSON.stringify(request.language)}; one of ${policy.languages.names().join(", ")}`);
    if (request.stateful && language && !language.kernel) {
      violate(
        "stateful",
        `${language.name} has no stateful interpreter; stateful sessions are for python, python-data and javascript`,
      );
    }
    const { runtime, cpu, memoryBytes, pids } = resolveRuntimeAndLimits(request, policy, violate);
    const workspaceBytes = resolveLimit(
      violate,
      "workspace_bytes",
      Number(request.workspaceBytes),
      policy.workspaceSizeBytes,
      "bytes",
      1024 * 1024,
    );
    const ttl = seconds(request.ttl, "ttl", policy.sessionDefaultTtlSeconds, policy.sessionMaxTtlSeconds, violate);
    const idleTimeout = seconds(
      request.idleTimeout,
      "idle_timeout",
      Math.min(policy.sessionDefaultIdleTimeoutSeconds, ttl),
      ttl,
      violate,
    );
    const files = validateFiles(
      request.files,
      request.binaryFiles,
      undefined,
      { ...policy, workspaceSizeBytes: workspaceBytes },
      violate,
    );
    const env = validateEnv(request.env, violate);
    const network = validateNetworkPolicy(request.network, policy.egressAllowed, violate);
    if (!language) return undefined;
    return {
      ownerId,
      language,
      files,
      env: [...language.env, ...env],
      ...(network ? { network } : {}),
      settings: {
        language: language.name,
        runtime,
        stateful: request.stateful,
        limits: { ...maximumLimits(policy), cpu, memoryBytes, pids, workspaceBytes },
        ttlMs: Math.round(ttl * 1000),
        idleTimeoutMs: Math.round(idleTimeout * 1000),
        onIdle: idleActionOf(request.onIdle),
      },
    };
  });
}

function idleActionOf(onIdle: OnIdle): IdleAction {
  if (onIdle === OnIdle.PAUSE) return "pause";
  if (onIdle === OnIdle.SNAPSHOT) return "snapshot";
  return "close";
}

/**
 * A CreateSessionRequest made from a snapshot: the snapshot's language (checked against the one
 * named, if any), statefulness and (unless named) runtime. Pure.
 */
export function fromSnapshot(
  request: CreateSessionRequest,
  snapshot: { language: string; stateful: boolean; runtime: string },
  policy: Pick<SessionPolicy, "languages">,
): Checked<CreateSessionRequest> {
  return checking((violate) => {
    const named = request.language === "" ? undefined : policy.languages.find(request.language);
    if (named && named.name !== snapshot.language) {
      violate(
        "language",
        `the snapshot is of ${snapshot.language}, not ${named.name}; leave language empty or name ${snapshot.language}`,
      );
    }
    return {
      ...request,
      language: snapshot.language,
      stateful: snapshot.stateful,
      runtime: request.runtime || snapshot.runtime,
    };
  });
}

/** Checks an ExecRequest; the timeout is cut to what is left of the session's life. Pure. */
export function validateExec(request: ExecRequest, policy: RunPolicy, execId: string, remainingMs: number): Checked<ExecPlan> {
  return checking((violate) => {
    const hasCode = request.code.trim() !== "";
    if (hasCode === request.command.length > 0) {
      violate(hasCode ? "command" : "code", "exactly one of code and command is required");
    }
    const codeBytes = Buffer.byteLength(request.code, "utf8");
    if (codeBytes > policy.maxCodeBytes) violate("code", `is ${codeBytes} bytes; at most ${policy.maxCodeBytes} are allowed`);
    const command = validateArgs(request.command, violate, "command");
    if (command.length > 0 && command[0] === "") violate("command[0]", "the program to run is empty");
    const args = validateArgs(request.args, violate);
    const env = validateEnv(request.env, violate);
    const timeout = resolveTimeout(request.timeout, "timeout", policy, violate);
    return {
      execId,
      code: hasCode ? request.code : undefined,
      command,
      args,
      env,
      stdin: request.stdin,
      timeoutMs: Math.max(1, Math.min(Math.round(timeout * 1000), remainingMs)),
    };
  });
}

/** Checks the files of a WriteFilesRequest against the session's workspace. Pure. */
export function validateWriteFiles(
  request: WriteFilesRequest,
  policy: RunPolicy,
  workspaceBytes: number,
): Checked<WorkspaceFile[]> {
  return checking((violate) => {
    if (Object.keys(request.files).length + Object.keys(request.binaryFiles).length === 0) {
      violate("files", "name at least one file in files or binary_files");
    }
    return validateFiles(
      request.files,
      request.binaryFiles,
      undefined,
      { ...policy, workspaceSizeBytes: workspaceBytes },
      violate,
    );
  });
}

const maxReadPaths = 1000;

/** Workspace paths of a file call: at most maxReadPaths, each a valid name. */
function checkPaths(paths: readonly string[], violate: (field: string, description: string) => void): string[] {
  if (paths.length > maxReadPaths) violate("paths", `has ${paths.length} entries; at most ${maxReadPaths}`);
  paths.forEach((path, index) => {
    const problem = fileNameProblem(path);
    if (problem) violate(`paths[${index}]`, problem);
  });
  return [...paths];
}

/** Checks the paths and ranges of a ReadFilesRequest. Pure. */
export function validateReadFiles(request: ReadFilesRequest): Checked<{ paths: string[]; ranges: FileRangeRequest[] }> {
  return checking((violate) => {
    const paths = checkPaths(request.paths, violate);
    if (request.ranges.length > maxReadPaths) violate("ranges", `has ${request.ranges.length} entries; at most ${maxReadPaths}`);
    const ranges = request.ranges.map((range, index) => {
      const problem = fileNameProblem(range.path);
      if (problem) violate(`ranges[${index}].path`, problem);
      if (range.offset < 0n) violate(`ranges[${index}].offset`, `must be 0 or more, got ${range.offset}`);
      if (range.length < 0n) violate(`ranges[${index}].length`, `must be 0 or more, got ${range.length}`);
      return { path: range.path, offset: Number(range.offset), length: Number(range.length) };
    });
    return { paths, ranges };
  });
}

/** Checks the paths of a DeleteFilesRequest: at least one, each a workspace name. Pure. */
export function validateDeleteFiles(request: DeleteFilesRequest): Checked<string[]> {
  return checking((violate) => {
    if (request.paths.length === 0) violate("paths", "name at least one file or directory to delete");
    return checkPaths(request.paths, violate);
  });
}

/**
 * Checks an UpdateSessionRequest against the session's creation and SESSION_MAX_TTL, and resolves
 * the new times (a field left 0 keeps its value). Pure.
 */
export function validateUpdateSession(
  request: UpdateSessionRequest,
  policy: Pick<SessionPolicy, "sessionMaxTtlSeconds">,
  settings: Pick<SessionSettings, "createdAtMs" | "expiresAtMs" | "idleTimeoutMs">,
  nowMs: number,
): Checked<SessionTimes> {
  return checking((violate) => {
    const latestMs = settings.createdAtMs + policy.sessionMaxTtlSeconds * 1000;
    const leftSeconds = Math.max(0, Math.floor((latestMs - nowMs) / 1000));
    let expiresAtMs = settings.expiresAtMs;
    if (!Number.isFinite(request.ttl) || request.ttl < 0)
      violate("ttl", `must be a positive number of seconds, got ${request.ttl}`);
    else if (nowMs + request.ttl * 1000 > latestMs) {
      violate(
        "ttl",
        `${request.ttl} s from now is past the session's longest life (SESSION_MAX_TTL, ${policy.sessionMaxTtlSeconds} s from its creation): at most ${leftSeconds} s are left`,
      );
    } else if (request.ttl > 0) expiresAtMs = nowMs + Math.round(request.ttl * 1000);
    let idleTimeoutMs = settings.idleTimeoutMs;
    const remainingSeconds = Math.max(0, (expiresAtMs - nowMs) / 1000);
    if (!Number.isFinite(request.idleTimeout) || request.idleTimeout < 0) {
      violate("idle_timeout", `must be a positive number of seconds, got ${request.idleTimeout}`);
    } else if (request.idleTimeout > remainingSeconds) {
      violate(
        "idle_timeout",
        `${request.idleTimeout} s is above the session's remaining life of ${Math.floor(remainingSeconds)} s`,
      );
    } else if (request.idleTimeout > 0) idleTimeoutMs = Math.round(request.idleTimeout * 1000);
    return { expiresAtMs, idleTimeoutMs };
  });
}

/** Checks the directory of a ListFilesRequest. Pure. */
export function validateListFiles(request: ListFilesRequest): Checked<string> {
  return checking((violate) => {
    const problem = request.path === "" ? undefined : fileNameProblem(request.path);
    if (problem) violate("path", problem);
    return request.path;
  });
}
