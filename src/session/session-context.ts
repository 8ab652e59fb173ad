/**
 * What a session is given: the plan of one exec (validated by service/session-request.ts), who
 * watches it, and what a session needs besides its own settings (session.ts).
 */
import type { Logger } from "pino";
import type { ContainerExit } from "../docker/container-client.js";
import type { Language } from "../runner/languages.js";
import type { ArtifactCaps } from "../sandbox/supervisor-protocol.js";
import type { WorkspaceFile } from "../runner/workspace-archive.js";
import type { AllowRule } from "../sandbox/allow-list.js";
import type { AgentConnection } from "./agent-connection.js";
import type { SessionSettings } from "./session-container.js";

/** One exec as the caller asked for it, validated (service/session-request.ts). */
export interface ExecPlan {
  readonly execId: string;
  /** Code in the session's language, or undefined for a command line. */
  readonly code: string | undefined;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly stdin: Uint8Array;
  readonly timeoutMs: number;
}

export interface ExecObserver {
  onStarted?(): void;
  onOutput?(stream: "stdout" | "stderr", chunk: Buffer): void;
}

/** What a session needs besides its own settings. */
export interface SessionContext {
  readonly agent: AgentConnection;
  readonly language: Language;
  readonly outputLimitBytes: number;
  readonly maxExecs: number;
  readonly maxListed: number;
  readonly artifactCaps: ArtifactCaps;
  /** Compile phases in a session get this long at most (the language's default, cut to the server's maximum). */
  readonly compileTimeoutMs: number;
  /** Freezes (true) or thaws (false) every process of the container (PauseSession). */
  readonly freeze: (paused: boolean) => Promise<void>;
  /** Removes the container; called once, when the session fails or closes. */
  readonly removeContainer: () => Promise<void>;
  /** How the container ended, from the engine, once it has (undefined when it cannot say). */
  readonly inspectEnd: () => Promise<ContainerExit | undefined>;
  readonly log: Logger;
}

/** A session to create, validated (service/session-request.ts). */
export interface SessionPlan {
  readonly ownerId: string;
  readonly language: Language;
  readonly settings: Omit<SessionSettings, "createdAtMs" | "expiresAtMs">;
  readonly files: readonly WorkspaceFile[];
  /** `NAME=value` entries of every exec. */
  readonly env: readonly string[];
  /** The session's network policy for its lifetime (CreateSessionRequest.network); undefined: none. */
  readonly network?: readonly AllowRule[] | undefined;
}
