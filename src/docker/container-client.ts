import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { EngineResources } from "./container-options.js";
import { callWithOptions, engineCall } from "./engine-call.js";
import { ContainerGoneError } from "./engine-errors.js";

/** What the engine says about a container that has stopped. */
export interface ContainerExit {
  readonly exitCode: number;
  readonly oomKilled: boolean;
  /** Engine clock, milliseconds since the epoch; undefined when the engine did not say. */
  readonly startedAtMs: number | undefined;
  readonly finishedAtMs: number | undefined;
}

/** Resource usage of a running container, read from its cgroup through the engine. */
export interface ContainerUsage {
  readonly peakMemoryBytes: number | undefined;
  readonly cpuTimeNs: number | undefined;
}

export interface ManagedContainer {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: string;
  /** Engine clock, milliseconds since the epoch. */
  readonly createdAtMs: number;
}

/** Containers on the engine: the calls a run's lifecycle needs, each bounded in time. */
export interface ContainerClient {
  create(options: Docker.ContainerCreateOptions): Promise<string>;
  /** Attaches stdin, stdout and stderr as one multiplexed duplex (no TTY). */
  attach(id: string): Promise<Duplex>;
  /**
   * Resolves with the exit code at the container's next exit; call before `start`. For a container
   * already running (warm), `running` waits for it to be not running instead, so an exit that comes
   * before the engine registered the wait (a kill right after the call) is not missed. An abort of
   * `signal` ends the wait (rejecting), for a container that outlives the run (recycled).
   */
  waitForExit(id: string, timeoutMs: number, signal?: AbortSignal, running?: boolean): Promise<number>;
  start(id: string): Promise<void>;
  /** Sends SIGKILL; a container that already stopped or is gone is not an error. */
  kill(id: string): Promise<void>;
  inspectExit(id: string): Promise<ContainerExit>;
  /** The host's process id of the container's main process (0 when it is not running). */
  mainPid(id: string): Promise<number>;
  /** Changes the limits the engine can change on a running container: CPU, memory, processes. */
  updateLimits(id: string, resources: EngineResources): Promise<void>;
  /** One stats sample of a running container (cgroup peak memory and CPU time). */
  readUsage(id: string, timeoutMs: number): Promise<ContainerUsage>;
  /** Force-removes the container and its anonymous volumes; one already gone is not an error. */
  remove(id: string): Promise<void>;
  /** Freezes (true) or thaws (false) every process of a running container (the cgroup freezer). */
  setPaused(id: string, paused: boolean): Promise<void>;
  /** Lists containers, running or not, that carry all the given labels. */
  listByLabels(labels: Readonly<Record<string, string>>): Promise<ManagedContainer[]>;
}

interface StatsBody {
  memory_stats?: { max_usage?: number };
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
}

function parseEngineTime(text: string | undefined): number | undefined {
  if (!text || text.startsWith("0001-")) return undefined;
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed;
}

export class DockerodeContainerClient implements ContainerClient {
  constructor(
    private readonly docker: Docker,
    private readonly logger: Logger,
  ) {}

  async create(options: Docker.ContainerCreateOptions): Promise<string> {
    const container = await engineCall(this.logger, "create container", { image: options.Image }, (abortSignal) =>
      this.docker.createContainer({ ...options, abortSignal }),
    );
    return container.id;
  }

  async attach(id: string): Promise<Duplex> {
    // dockerode's attach takes no AbortSignal: the deadline is engineCall's, and a stream that
    // arrives after it is closed.
    return engineCall(
      this.logger,
      "attach container",
      { container: id },
      async () => {
        const stream = await this.docker.getContainer(id).attach({
          stream: true,
          stdin: true,
          stdout: true,
          stderr: true,
          hijack: true,
        });
        return stream as unknown as Duplex;
      },
      { discardLate: (late) => late.destroy() },
    );
  }

  async waitForExit(id: string, timeoutMs: number, signal?: AbortSignal, running = false): Promise<number> {
    // An abandoned wait is the caller's choice, not an engine failure: it resolves inside the
    // engine call (so no error is counted) and is rejected here.
    const abandoned = { StatusCode: Number.NaN };
    const result = (await engineCall(
      this.logger,
      "wait for container",
      { container: id },
      (abortSignal) => {
        const both = signal ? AbortSignal.any([abortSignal, signal]) : abortSignal;
        const condition = running ? "not-running" : "next-exit";
        const wait = this.docker.getContainer(id).wait({ condition, abortSignal: both }) as Promise<{
          StatusCode: number;
        }>;
        if (!signal) return wait;
        return new Promise<{ StatusCode: number }>((resolve, reject) => {
          if (signal.aborted) resolve(abandoned);
          signal.addEventListener("abort", () => resolve(abandoned), { once: true });
          wait.then(resolve, (error: unknown) => (signal.aborted ? resolve(abandoned) : reject(error)));
        });
      },
      { timeoutMs },
    )) as { StatusCode: number };
    if (result === abandoned) throw new Error(`wait for container ${id}: abandoned`);
    return result.StatusCode;
  }

  async start(id: string): Promise<void> {
    await engineCall(this.logger, "start container", { container: id }, (abortSignal) =>
      this.docker.getContainer(id).start({ abortSignal }),
    );
  }

  async kill(id: string): Promise<void> {
    await engineCall(this.logger, "kill container", { container: id }, async (abortSignal) => {
      try {
        await this.docker.getContainer(id).kill({ signal: "SIGKILL", abortSignal });
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        // 409: not running any more; 404: gone. Either way it is not running, which was the point.
        if (status !== 409 && status !== 404) throw error;
      }
    });
  }

  async inspectExit(id: string): Promise<ContainerExit> {
    const info = await engineCall(this.logger, "inspect container", { container: id }, (abortSignal) =>
      this.docker.getContainer(id).inspect({ abortSignal }),
    );
    return {
      exitCode: info.State.ExitCode,
      oomKilled: info.State.OOMKilled,
      startedAtMs: parseEngineTime(info.State.StartedAt),
      finishedAtMs: parseEngineTime(info.State.FinishedAt),
    };
  }

  async updateLimits(id: string, resources: EngineResources): Promise<void> {
    await engineCall(this.logger, "update container limits", { container: id, ...resources }, (abortSignal) =>
      callWithOptions(this.docker.getContainer(id), "update", { ...resources, abortSignal }),
    );
  }

  async mainPid(id: string): Promise<number> {
    const info = await engineCall(this.logger, "inspect container", { container: id }, (abortSignal) =>
      this.docker.getContainer(id).inspect({ abortSignal }),
    );
    return info.State?.Pid ?? 0;
  }

  async readUsage(id: string, timeoutMs: number): Promise<ContainerUsage> {
    const stats = await engineCall(
      this.logger,
      "read container stats",
      { container: id },
      // one-shot: a single sample now, instead of waiting a second for a second sample.
      (abortSignal) =>
        callWithOptions<StatsBody>(this.docker.getContainer(id), "stats", { stream: false, "one-shot": true, abortSignal }),
      { timeoutMs },
    );
    const peak = stats.memory_stats?.max_usage;
    const cpu = stats.cpu_stats?.cpu_usage?.total_usage;
    return {
      peakMemoryBytes: typeof peak === "number" && peak > 0 ? peak : undefined,
      cpuTimeNs: typeof cpu === "number" && cpu > 0 ? cpu : undefined,
    };
  }

  async remove(id: string): Promise<void> {
    try {
      await engineCall(this.logger, "remove container", { container: id }, (abortSignal) =>
        this.docker.getContainer(id).remove({ force: true, v: true, abortSignal }),
      );
    } catch (error) {
      if (!(error instanceof ContainerGoneError)) throw error;
    }
  }

  async setPaused(id: string, paused: boolean): Promise<void> {
    await engineCall(this.logger, paused ? "pause container" : "unpause container", { container: id }, (abortSignal) =>
      paused ? this.docker.getContainer(id).pause({ abortSignal }) : this.docker.getContainer(id).unpause({ abortSignal }),
    );
  }

  async listByLabels(labels: Readonly<Record<string, string>>): Promise<ManagedContainer[]> {
    const filters = { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) };
    const summaries = await engineCall(this.logger, "list containers", { labels }, (abortSignal) =>
      this.docker.listContainers({ all: true, filters, abortSignal }),
    );
    return summaries.map((summary) => ({
      id: summary.Id,
      labels: summary.Labels,
      state: summary.State,
      createdAtMs: summary.Created * 1000,
    }));
  }
}
