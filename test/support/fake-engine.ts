import { Duplex } from "node:stream";
import type Docker from "dockerode";
import type { ContainerClient, ContainerExit, ContainerUsage, ManagedContainer } from "../../src/docker/container-client.js";
import type { EngineResources } from "../../src/docker/container-options.js";
import type { EngineClient, EngineVersion } from "../../src/docker/engine-client.js";
import {
  ContainerGoneError,
  EngineTimeoutError,
  EngineUnavailableError,
  NameInUseError,
} from "../../src/docker/engine-errors.js";
import type { ImageBuildRequest, ImageClient } from "../../src/docker/image-client.js";
import { readyMarker, reportTag, stderrEndTag } from "../../src/sandbox/supervisor-protocol.js";

/**
 * An in-memory container engine for unit tests of the stateful core (runner, warm pool, reaper,
 * health). It implements the same client interfaces as the dockerode classes, and its containers
 * behave as Aurea's supervisor does on the wire: a warm one writes its loader's ready marker at
 * start; given its input, a container reads the header's nonce, "runs" the program (`program`
 * decides what it prints and how it ends), ends stderr with the end marker and stdout with the
 * report, and exits. A kill ends it at once, without a report, as the engine's SIGKILL does.
 */

/** What a fake program does once its input has arrived. */
export interface FakeProgram {
  readonly stdout?: string;
  readonly stderr?: string;
  readonly status?: number;
  /** Never ends on its own: only a kill (or removal) ends it. */
  readonly hang?: boolean;
  /** Ends without the supervisor's report, as when the output stream is lost. */
  readonly noReport?: boolean;
  /** The engine flags the container OOM-killed when it exits. */
  readonly oomKilled?: boolean;
  /** The container exits this long after the report (the supervisor's teardown). */
  readonly exitAfterMs?: number;
}

export type FakeAction =
  | "create"
  | "attach"
  | "start"
  | "wait"
  | "kill"
  | "inspect"
  | "remove"
  | "update"
  | "list"
  | "pause"
  | "unpause";

interface FakeContainer {
  readonly id: string;
  readonly options: Docker.ContainerCreateOptions;
  readonly createdAtMs: number;
  state: "created" | "running" | "paused" | "exited";
  exitCode: number | undefined;
  oomKilled: boolean;
  startedAtMs: number | undefined;
  finishedAtMs: number | undefined;
  stream: Duplex | undefined;
  input: Buffer[];
  inputEnded: boolean;
  resources: EngineResources | undefined;
  waiters: { resolve: (code: number) => void; reject: (error: Error) => void }[];
  /** An interactive program's input handler, once started (FakeEngine.interactive). */
  onInput: ((chunk: Buffer) => void) | undefined;
}

/**
 * A program that talks while it runs (a session's agent): it gets each chunk of the container's
 * stdin as it is written, and answers through `io`.
 */
export interface FakeInteractiveIo {
  /** Writes to the container's stdout, framed as the engine's attach stream frames it. */
  stdout(data: Buffer | string): void;
  /** The program exits with `code`: the container stops and its attach stream ends. */
  exit(code: number): void;
}
export type FakeInteractive = (io: FakeInteractiveIo) => (chunk: Buffer) => void;

export interface Gate {
  /** Resolves when the first held call arrives. */
  readonly reached: Promise<void>;
  /** Lets every held call, and every later one, go on. */
  readonly release: () => void;
}

/** A container just created: not started, nothing attached, no input yet. */
function newContainer(id: string, options: Docker.ContainerCreateOptions, createdAtMs: number): FakeContainer {
  return {
    id,
    options,
    createdAtMs,
    state: "created",
    exitCode: undefined,
    oomKilled: false,
    startedAtMs: undefined,
    finishedAtMs: undefined,
    stream: undefined,
    input: [],
    inputEnded: false,
    resources: undefined,
    waiters: [],
    onInput: undefined,
  };
}

/** One engine frame of the non-TTY attach stream: type, three zero bytes, length, payload. */
function frame(stream: 1 | 2, payload: Buffer | string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export class FakeEngine implements ContainerClient, ImageClient, EngineClient {
  readonly images = new Set<string>(["aurea-sandbox:latest"]);
  /** Every call, in order, by action. */
  readonly calls: FakeAction[] = [];
  /** While false, every call fails as an unreachable engine's do. */
  reachable = true;
  /** While true, the engine answers version and ping only after their deadline: slow, not gone. */
  slow = false;
  /** What each started container's program does; the same for all unless replaced. */
  program: (input: Buffer) => FakeProgram = () => ({ stdout: "ok\n", status: 0 });
  /** When set, started containers run this interactive program instead of `program`. */
  interactive: FakeInteractive | undefined;
  /**
   * What a recyclable container's scrub says when told "next NONCE" (its stdin stays open):
   * "clean" writes the verdict and the next loader's ready marker; anything else ("dirty files")
   * writes that verdict and exits, as the supervisor does; "silent" writes nothing.
   */
  scrubVerdict: (id: string) => string = () => "clean";
  /** How long a recyclable container's scrub takes before it answers (0: at once). */
  scrubDelayMs = 0;
  /** How long a warm container's loader takes to say it is ready, by its create options (0: at once). */
  warmUpMs: (options: Docker.ContainerCreateOptions) => number = () => 0;
  private readonly containers = new Map<string, FakeContainer>();
  private readonly gates = new Map<FakeAction, () => Promise<void>>();
  private readonly failures = new Map<FakeAction, Error>();
  private nextId = 1;

  /** Ids of the containers that exist now, running or not. */
  containerIds(): string[] {
    return [...this.containers.keys()];
  }

  /** Ids of the running containers. */
  running(): string[] {
    return [...this.containers.values()].filter((container) => container.state === "running").map((c) => c.id);
  }

  /** The create body and the live-updated resources of a container. */
  inspect(id: string): { options: Docker.ContainerCreateOptions; resources: EngineResources | undefined } {
    const container = this.get(id);
    return { options: container.options, resources: container.resources };
  }

  /**
   * Holds every call of `action` from now until `release()`; `reached` resolves when the first
   * such call arrives, so a test can act while a run is in that step.
   */
  hold(action: FakeAction): Gate {
    let reach: () => void = () => undefined;
    let open: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gates.set(action, async () => {
      reach();
      await opened;
    });
    return {
      reached,
      release: () => {
        this.gates.delete(action);
        open();
      },
    };
  }

  /** Makes the next call of `action` fail with `error`. */
  failNext(action: FakeAction, error: Error): void {
    this.failures.set(action, error);
  }

  /** The container dies on its own (killed from outside, say): no report, exit 137, its attach socket closed. */
  crash(id: string): void {
    const container = this.get(id);
    this.exit(container, 137);
    container.stream?.destroy();
  }

  /** The engine goes away: every call fails, every wait and every attach stream ends. */
  goAway(): void {
    this.reachable = false;
    for (const container of this.containers.values()) {
      container.stream?.destroy();
      for (const waiter of container.waiters.splice(0))
        waiter.reject(new EngineUnavailableError("wait for container: connection reset (fake)"));
    }
  }

  async create(options: Docker.ContainerCreateOptions): Promise<string> {
    await this.enter("create");
    if (!this.images.has(options.Image ?? "")) throw new Error(`no such image: ${options.Image}`);
    // Names are unique per engine, as the real one keeps them (409 Conflict).
    const name = (options as { name?: string }).name;
    if (name && [...this.containers.values()].some((container) => (container.options as { name?: string }).name === name)) {
      throw new NameInUseError(`create container: Conflict. The container name "/${name}" is already in use (fake)`);
    }
    const id = `fake${String(this.nextId++).padStart(4, "0")}`;
    this.containers.set(id, newContainer(id, options, Date.now()));
    return id;
  }

  async attach(id: string): Promise<Duplex> {
    await this.enter("attach");
    const container = this.get(id);
    const stream = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _encoding, done) => {
        const text = Buffer.from(chunk).toString("latin1");
        if (container.options.StdinOnce === false && text.startsWith("next ")) this.scrub(container, text.slice(5).trim());
        else if (container.onInput) container.onInput(Buffer.from(chunk));
        else container.input.push(Buffer.from(chunk));
        done();
      },
      final: (done) => {
        container.inputEnded = true;
        this.runIfReady(container);
        done();
      },
    });
    container.stream = stream;
    return stream;
  }

  waitForExit(id: string, _timeoutMs?: number, signal?: AbortSignal): Promise<number> {
    return this.enter("wait").then(
      () =>
        new Promise<number>((resolve, reject) => {
          const container = this.containers.get(id);
          if (!container) return reject(new ContainerGoneError(`wait for container: no such container ${id}`));
          const waiter = { resolve, reject };
          container.waiters.push(waiter);
          signal?.addEventListener(
            "abort",
            () => {
              container.waiters.splice(container.waiters.indexOf(waiter), 1);
              reject(new Error(`wait for container ${id}: abandoned`));
            },
            { once: true },
          );
        }),
    );
  }

  async start(id: string): Promise<void> {
    await this.enter("start");
    const container = this.get(id);
    container.state = "running";
    container.startedAtMs = Date.now();
    if (this.interactive) {
      const onInput = this.interactive({
        stdout: (data) => {
          if (container.state === "running") container.stream?.push(frame(1, data));
        },
        exit: (code) => this.exit(container, code),
      });
      container.onInput = onInput;
      for (const chunk of container.input.splice(0)) onInput(chunk);
      return;
    }
    if (container.options.Cmd?.[4] === "warm") {
      const ready = () => {
        if (container.state === "running") container.stream?.push(frame(1, readyMarker));
      };
      const delay = this.warmUpMs(container.options);
      if (delay > 0) setTimeout(ready, delay).unref();
      else ready();
    }
    this.runIfReady(container);
  }

  async kill(id: string): Promise<void> {
    await this.enter("kill");
    const container = this.containers.get(id);
    if (container?.state === "running") this.exit(container, 137);
  }

  async setPaused(id: string, paused: boolean): Promise<void> {
    await this.enter(paused ? "pause" : "unpause");
    const container = this.get(id);
    if (container.state !== (paused ? "running" : "paused")) {
      throw new Error(`${paused ? "pause" : "unpause"} container: it is ${container.state} (fake)`);
    }
    container.state = paused ? "paused" : "running";
  }

  async inspectExit(id: string): Promise<ContainerExit> {
    await this.enter("inspect");
    const container = this.get(id);
    return {
      exitCode: container.exitCode ?? 0,
      oomKilled: container.oomKilled,
      startedAtMs: container.startedAtMs,
      finishedAtMs: container.finishedAtMs,
    };
  }

  async mainPid(id: string): Promise<number> {
    await this.enter("inspect");
    return this.get(id).state === "running" ? 4242 : 0;
  }

  async updateLimits(id: string, resources: EngineResources): Promise<void> {
    await this.enter("update");
    this.get(id).resources = resources;
  }

  async readUsage(): Promise<ContainerUsage> {
    return { peakMemoryBytes: 1 << 20, cpuTimeNs: 1_000_000 };
  }

  async remove(id: string): Promise<void> {
    await this.enter("remove");
    const container = this.containers.get(id);
    if (!container) return;
    if (container.state === "running") this.exit(container, 137);
    container.stream?.destroy();
    this.containers.delete(id);
  }

  async listByLabels(labels: Readonly<Record<string, string>>): Promise<ManagedContainer[]> {
    await this.enter("list");
    return [...this.containers.values()]
      .filter((container) => Object.entries(labels).every(([key, value]) => container.options.Labels?.[key] === value))
      .map((container) => ({
        id: container.id,
        labels: container.options.Labels ?? {},
        state: container.state,
        createdAtMs: container.createdAtMs,
      }));
  }

  /** Makes a container that looks as if another process had left it, `ageMs` old. */
  addLeftover(labels: Record<string, string>, ageMs: number): string {
    const id = `left${String(this.nextId++).padStart(4, "0")}`;
    const container = newContainer(id, { Image: "aurea-sandbox:latest", Labels: labels }, Date.now() - ageMs);
    container.state = "exited";
    container.exitCode = 0;
    this.containers.set(id, container);
    return id;
  }

  async exists(name: string): Promise<boolean> {
    await this.enter("inspect");
    return this.images.has(name);
  }

  async build(request: ImageBuildRequest): Promise<string> {
    await this.enter("create");
    request.onLog?.("Step 1/1 : FROM fake");
    this.images.add(request.tag);
    return `sha256:${"f".repeat(64)}`;
  }

  async ping(): Promise<void> {
    await this.enter("list");
  }

  async version(timeoutMs?: number): Promise<EngineVersion> {
    await this.enter("list");
    if (this.slow) {
      await new Promise((resolve) => setTimeout(resolve, timeoutMs ?? 0));
      throw new EngineTimeoutError(`read engine version: container engine did not answer within ${timeoutMs} ms`);
    }
    return { version: "fake", apiVersion: "1.41", components: { runc: "1.1.12" }, componentCommits: {} };
  }

  /** Runtimes the fake engine has registered; tests change it to see a missing one reported. */
  registeredRuntimes = ["runc", "runsc", "runsc-network", "runsc-systrap", "runsc-systrap-network"];

  async runtimes(): Promise<string[]> {
    await this.enter("list");
    return [...this.registeredRuntimes];
  }

  private async enter(action: FakeAction): Promise<void> {
    this.calls.push(action);
    await this.gates.get(action)?.();
    if (!this.reachable) throw new EngineUnavailableError(`${action}: container engine unreachable (fake)`);
    const failure = this.failures.get(action);
    if (failure) {
      this.failures.delete(action);
      throw failure;
    }
  }

  private get(id: string): FakeContainer {
    const container = this.containers.get(id);
    if (!container) throw new ContainerGoneError(`no such container: ${id}`);
    return container;
  }

  /** Runs the program once the container is running and all its input has arrived. */
  private runIfReady(container: FakeContainer): void {
    if (container.state !== "running" || !container.inputEnded) return;
    const input = Buffer.concat(container.input);
    const nonce = input.subarray(0, input.indexOf(0x0a)).toString("latin1").split(" ")[1] ?? "";
    const program = this.program(input);
    setImmediate(() => {
      if (container.state !== "running") return;
      const stream = container.stream;
      const status = program.status ?? 0;
      if (program.stdout) stream?.push(frame(1, program.stdout));
      if (program.stderr) stream?.push(frame(2, program.stderr));
      if (program.hang) return;
      if (!program.noReport) {
        stream?.push(frame(2, `\0${stderrEndTag}:${nonce}\n`));
        stream?.push(frame(1, `\0${reportTag}:${nonce} ok ${status} 1048576 2000000 0\n`));
      }
      container.oomKilled = program.oomKilled ?? false;
      if (program.exitAfterMs) setTimeout(() => this.exit(container, status), program.exitAfterMs);
      else this.exit(container, status);
    });
  }

  /** A recyclable container's answer to "next NONCE" (scrubVerdict). */
  private scrub(container: FakeContainer, nonce: string): void {
    const verdict = this.scrubVerdict(container.id);
    if (verdict === "silent") return;
    const answer = () => {
      container.stream?.push(frame(1, `\0${reportTag}:${nonce} scrub ${verdict}\n`));
      if (verdict === "clean") container.stream?.push(frame(1, readyMarker));
      else this.exit(container, 0);
    };
    if (this.scrubDelayMs > 0) setTimeout(answer, this.scrubDelayMs);
    else setImmediate(answer);
  }

  private exit(container: FakeContainer, code: number): void {
    if (container.state === "exited") return;
    container.state = "exited";
    container.exitCode = code;
    container.finishedAtMs = Date.now();
    container.stream?.push(null);
    for (const waiter of container.waiters.splice(0)) waiter.resolve(code);
  }
}
