import type Docker from "dockerode";
import type { Logger } from "pino";
import { callWithOptions, engineCall } from "./engine-call.js";

export interface EngineVersion {
  readonly version: string;
  readonly apiVersion: string;
  /** Versions of the engine's components (runc, containerd, ...), by name. */
  readonly components: Readonly<Record<string, string>>;
  /** The commit (or distribution package revision) each component reports, by name. */
  readonly componentCommits: Readonly<Record<string, string>>;
}

/** The engine as a whole: is it there, and what is it. */
export interface EngineClient {
  /** Resolves when the engine answers a ping within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void>;
  version(timeoutMs: number): Promise<EngineVersion>;
  /** Names of the OCI runtimes registered with the engine (its info's `Runtimes`). */
  runtimes(timeoutMs: number): Promise<string[]>;
}

interface VersionBody {
  Version?: string;
  ApiVersion?: string;
  Components?: { Name?: string; Version?: string; Details?: { GitCommit?: string } }[];
}

export class DockerodeEngineClient implements EngineClient {
  constructor(
    private readonly docker: Docker,
    private readonly logger: Logger,
  ) {}

  async ping(timeoutMs: number): Promise<void> {
    await engineCall(this.logger, "ping engine", {}, (abortSignal) => callWithOptions(this.docker, "ping", { abortSignal }), {
      timeoutMs,
    });
  }

  async version(timeoutMs: number): Promise<EngineVersion> {
    const body = await engineCall(
      this.logger,
      "read engine version",
      {},
      (abortSignal) => callWithOptions<VersionBody>(this.docker, "version", { abortSignal }),
      { timeoutMs },
    );
    const components: Record<string, string> = {};
    const componentCommits: Record<string, string> = {};
    for (const component of body.Components ?? []) {
      if (!component.Name) continue;
      const name = component.Name.toLowerCase();
      components[name] = component.Version ?? "";
      componentCommits[name] = component.Details?.GitCommit ?? "";
    }
    return { version: body.Version ?? "", apiVersion: body.ApiVersion ?? "", components, componentCommits };
  }

  async runtimes(timeoutMs: number): Promise<string[]> {
    const body = await engineCall(
      this.logger,
      "read engine runtimes",
      {},
      (abortSignal) => callWithOptions<{ Runtimes?: Record<string, unknown> }>(this.docker, "info", { abortSignal }),
      { timeoutMs },
    );
    return Object.keys(body.Runtimes ?? {});
  }
}
