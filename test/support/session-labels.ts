import { containerLabels } from "../../src/docker/container-options.js";
import { sessionLabels } from "../../src/session/session-container.js";

/**
 * The labels of a session container as a server leaves them on the engine (session-container.ts),
 * for tests that put one there on the in-memory engine: which session, which process made it
 * (`instance`), under which INSTANCE_NAME, expiring `expiresInMs` from now.
 */
export function sessionContainerLabels(options: {
  sessionId?: string;
  instance?: string;
  instanceName: string;
  expiresInMs: number;
  stateful?: boolean;
}): Record<string, string> {
  const expiresAtMs = Date.now() + options.expiresInMs;
  return {
    [containerLabels.managed]: "true",
    [containerLabels.instance]: options.instance ?? "an-earlier-process",
    [containerLabels.runId]: "r",
    [sessionLabels.session]: options.sessionId ?? "ses_x",
    [sessionLabels.owner]: "key-1",
    [sessionLabels.instanceName]: options.instanceName,
    [sessionLabels.expiresAt]: String(expiresAtMs),
    [sessionLabels.settings]: JSON.stringify({
      language: "python",
      runtime: "runc",
      stateful: options.stateful ?? false,
      limits: { cpu: 1, memoryBytes: 1 << 28, pids: 64, workspaceBytes: 1 << 20, workspaceFiles: 64, tmpBytes: 1 << 20 },
      ttlMs: 3_600_000,
      idleTimeoutMs: 600_000,
      createdAtMs: Date.now() - 600_000,
      expiresAtMs,
    }),
  };
}
