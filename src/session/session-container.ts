import type { ContainerClient, ContainerExit } from "../docker/container-client.js";
import type { SessionTimes } from "./agent-protocol.js";
import type Docker from "dockerode";
import { containerLabels, type SandboxNetwork, toContainerCreateOptions } from "../docker/container-options.js";
import type { SandboxLimits, SandboxShape } from "../sandbox/limits.js";
import { isRuntime, type Runtime } from "../sandbox/runtimes.js";
import { sessionAgentCommand } from "../sandbox/sandbox-scripts.js";

/**
 * A session's container: a run's sandbox (container-options.ts decides everything that makes it
 * one) whose PID 1 is the session agent, whose stdin stays open across attaches, and whose labels
 * carry what a restarted server needs to take it over. Pure.
 */

/** Labels of session containers, besides every sandbox's (containerLabels). */
export const sessionLabels = {
  /** The session id. */
  session: "dev.aurea.session",
  /** The API key id that owns it ("" for anonymous callers). */
  owner: "dev.aurea.session-owner",
  /** INSTANCE_NAME of the server that runs it: the one that adopts it after a restart. */
  instanceName: "dev.aurea.session-instance",
  /** Milliseconds since the epoch after which it is over, whoever finds it. */
  expiresAt: "dev.aurea.session-expires",
  /** The session's settings as JSON (SessionSettings). */
  settings: "dev.aurea.session-settings",
} as const;

/** What a session's idle timeout does: close it, pause it, or snapshot its workspace and close it. */
export type IdleAction = "close" | "pause" | "snapshot";

/** What a session is, fixed at creation. */
export interface SessionSettings {
  readonly language: string;
  readonly runtime: Runtime;
  readonly stateful: boolean;
  readonly limits: SandboxLimits;
  readonly ttlMs: number;
  readonly idleTimeoutMs: number;
  /** What its idle timeout does (CreateSessionRequest.on_idle); absent in sessions made before it existed: close. */
  readonly onIdle?: IdleAction;
  /** Its network policy and the gateway address its sandbox was given, so an adopter can restore it. */
  readonly network?: { readonly allow: readonly string[]; readonly gatewayAddress: string };
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
}

export interface SessionContainerRequest {
  readonly sessionId: string;
  readonly ownerId: string;
  readonly instanceId: string;
  readonly instanceName: string;
  readonly shape: SandboxShape;
  readonly settings: SessionSettings;
  /** `NAME=value` entries every exec gets. */
  readonly env: readonly string[];
  /** The session's egress network, when it has a policy. */
  readonly network?: SandboxNetwork | undefined;
}

export function toSessionCreateOptions(request: SessionContainerRequest): Docker.ContainerCreateOptions {
  const { settings } = request;
  // Under runc the container's pids limit is the only count, and it is the session's: the agent
  // and its wrappers share it, as a run's supervisor does. Under gVisor the programs' own count is
  // held inside (RLIMIT_NPROC) and the container's is higher (runtimes.ts).
  const options = toContainerCreateOptions({
    runId: request.sessionId,
    instanceId: request.instanceId,
    shape: request.shape,
    limits: settings.limits,
    command: sessionAgentCommand(settings.runtime, settings.limits.pids),
    env: request.env,
    network: request.network,
  });
  return {
    ...options,
    // The agent reads requests for as long as the session lives, from one attach after another.
    StdinOnce: false,
    Labels: {
      ...options.Labels,
      [sessionLabels.session]: request.sessionId,
      [sessionLabels.owner]: request.ownerId,
      [sessionLabels.instanceName]: request.instanceName,
      [sessionLabels.expiresAt]: String(settings.expiresAtMs),
      [sessionLabels.settings]: JSON.stringify(settings),
    },
  };
}

/** The settings with new times (UpdateSession): the expiry, the idle timeout, and the ttl they make. */
export function withTimes(settings: SessionSettings, times: SessionTimes): SessionSettings {
  return {
    ...settings,
    expiresAtMs: times.expiresAtMs,
    idleTimeoutMs: times.idleTimeoutMs,
    ttlMs: times.expiresAtMs - settings.createdAtMs,
  };
}

/** A session container as found on the engine: what its labels say, or undefined when they do not add up. */
export interface FoundSession {
  readonly sessionId: string;
  readonly ownerId: string;
  readonly instanceName: string;
  readonly settings: SessionSettings;
}

export function readSessionLabels(labels: Readonly<Record<string, string>>): FoundSession | undefined {
  const sessionId = labels[sessionLabels.session];
  const ownerId = labels[sessionLabels.owner];
  const instanceName = labels[sessionLabels.instanceName];
  if (labels[containerLabels.managed] !== "true" || !sessionId || ownerId === undefined || !instanceName) return undefined;
  try {
    const settings = JSON.parse(labels[sessionLabels.settings] ?? "") as SessionSettings;
    if (
      typeof settings.language !== "string" ||
      !isRuntime(settings.runtime) ||
      typeof settings.expiresAtMs !== "number" ||
      typeof settings.limits?.memoryBytes !== "number"
    ) {
      return undefined;
    }
    return { sessionId, ownerId, instanceName, settings };
  } catch {
    return undefined;
  }
}

/**
 * How a container ended: the engine records the exit a moment after the container's output ends,
 * so it is asked a few times; undefined when the container is still running after that.
 */
export async function containerEnd(containers: ContainerClient, id: string): Promise<ContainerExit | undefined> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const end = await containers.inspectExit(id);
    if (end.finishedAtMs !== undefined) return end;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}
