import { randomUUID } from "node:crypto";
import type { ContainerExit } from "../docker/container-client.js";
import { CappedBuffer } from "../runner/output-capture.js";
import type { RunOutcome } from "../runner/run-spec.js";
import { kernelCommand } from "../sandbox/sandbox-scripts.js";
import type { WorkspaceFile } from "../runner/workspace-archive.js";
import { AgentLostError } from "./agent-connection.js";
import type { AgentExit, AgentRequest, SessionTimes } from "./agent-protocol.js";
import { compileThenRun } from "../runner/compile-phase.js";
import { execOutcome, killedForMemory, memoryKilled } from "./exec-outcome.js";
import type { ExecObserver, ExecPlan, SessionContext } from "./session-context.js";
import { type SessionSettings, withTimes } from "./session-container.js";
import { SessionBusyError, SessionFailedError, SessionLimitError } from "./session-errors.js";
import type { FileCall, FileRangeRequest } from "./session-files.js";
import * as workspace from "./session-files.js";

export type { ExecObserver, ExecPlan, SessionContext } from "./session-context.js";
export type { ListedFile } from "./session-files.js";

/**
 * The states of one session, in order; each method below acts only in the states it belongs to.
 *
 *   active   its container runs and its agent answers: execs and file calls go on
 *   paused   every process frozen (pause()): no CPU, memory and files kept, no idle clock; resume()
 *            (which any call that uses it does first) makes it active again
 *   failed   the container or agent died; the next call hears why (FAILED_PRECONDITION), then the
 *            session is forgotten; its container is already gone
 *   closing  close() began: running execs are being ended, the container removed
 *   closed   nothing of it is left
 */
export type SessionState = "active" | "paused" | "failed" | "closing" | "closed";

const nextStates: Readonly<Record<SessionState, readonly SessionState[]>> = {
  active: ["paused", "failed", "closing"],
  paused: ["active", "failed", "closing"],
  failed: ["closing"],
  closing: ["closed"],
  closed: [],
};

/** Longest an agent may take beyond an exec's own timeout to answer it before the session counts as broken. */
const agentAnswerAllowanceMs = 15_000;
/** Longest close() waits for running execs to be answered after the agent was told to close. */
const closeWaitMs = 3_000;

/** One session: its container's agent, its settings, and the execs running in it. */
export class Session {
  private current: SessionState = "active";
  private failure: string | undefined;
  private closeReason: string | undefined;
  private running = 0;
  private total = 0;
  private lastUsed: number;
  private interpreterUp = false;
  private lost = 0;
  /** Cells of a stateful session run one after another, in arrival order. */
  private cellQueue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** When it was paused, while it is. */
  pausedAt: number | undefined;
  /** Let go of (detach): whatever happens to the agent's stream now is not this server's to act on. */
  private detached = false;
  /** Once failed: how the container ended, as the engine said. */
  private ending: Promise<ContainerExit | undefined> | undefined;

  private currentSettings: SessionSettings;

  constructor(
    readonly id: string,
    readonly ownerId: string,
    readonly containerId: string,
    settings: SessionSettings,
    readonly adopted: boolean,
    private readonly context: SessionContext,
  ) {
    this.currentSettings = settings;
    this.lastUsed = Date.now();
    context.agent.lost.then((reason) => this.fail(reason));
  }

  /** Its settings; the expiry and idle timeout change with UpdateSession. */
  get settings(): SessionSettings {
    return this.currentSettings;
  }

  /**
   * New times (UpdateSession, already checked against the bounds): kept here and told to the
   * agent, which gives them back to a server that adopts the session after a restart.
   */
  updateTimes(times: SessionTimes): void {
    this.touch();
    this.currentSettings = withTimes(this.currentSettings, times);
    this.context.agent.rememberTimes(times);
  }

  get state(): SessionState {
    return this.current;
  }

  get lastUsedAtMs(): number {
    return this.lastUsed;
  }

  get execsRunning(): number {
    return this.running;
  }

  /** Why it failed or was closed. */
  get reason(): string {
    return this.failure ?? this.closeReason ?? "";
  }

  describe() {
    return {
      execsRunning: this.running,
      execsTotal: this.total,
      interpreterRunning: this.interpreterUp,
      statesLost: this.lost,
    };
  }

  /** Runs code or a command line in the session, answering as a run does. */
  async exec(plan: ExecPlan, observer: ExecObserver = {}, signal?: AbortSignal): Promise<RunOutcome> {
    this.touch();
    const { language } = this.context;
    if (plan.code !== undefined && this.settings.stateful && language.kernel) {
      const kernel = language.kernel;
      const cell = { code: plan.code, args: plan.args, env: plan.env, stdin: Buffer.from(plan.stdin).toString("base64") };
      const run = () =>
        this.runInAgent(
          {
            op: "cell",
            id: plan.execId,
            kernel: { name: kernel, argv: kernelCommand(kernel) },
            timeout: plan.timeoutMs / 1000,
            output_limit: this.context.outputLimitBytes,
          },
          Buffer.from(JSON.stringify(cell), "utf8"),
          plan.timeoutMs,
          observer,
          signal,
        );
      const queued = this.cellQueue.then(run, run);
      this.cellQueue = queued.catch(() => undefined);
      const outcome = await queued;
      this.interpreterUp = !outcome.stateLost;
      if (outcome.stateLost) this.lost += 1;
      return outcome;
    }
    if (plan.code === undefined) {
      return this.runInAgent(this.execRequest(plan, plan.command, plan.env), plan.stdin, plan.timeoutMs, observer, signal);
    }
    const code = Buffer.from(plan.code, "utf8");
    const env = [...language.env, ...plan.env];
    const program = [...language.command, ...plan.args];
    // The code travels ahead of the payload, and is written to the language's file first.
    const withCode = (timeoutMs: number, argv: readonly string[]) => ({
      ...this.execRequest({ ...plan, timeoutMs }, argv, env),
      code_file: language.fileName,
      code_size: code.length,
    });
    if (language.compile) {
      const { command } = language.compile;
      const compileMs = this.context.compileTimeoutMs;
      // The compiler and then the program, in the session's own container and workspace.
      return compileThenRun({
        runId: plan.execId,
        timeoutMs: compileMs,
        limits: this.settings.limits,
        compile: () => this.runInAgent(withCode(compileMs, command), code, compileMs, {}, signal),
        run: () => this.runInAgent(this.execRequest(plan, program, env), plan.stdin, plan.timeoutMs, observer, signal),
      });
    }
    return this.runInAgent(
      withCode(plan.timeoutMs, program),
      Buffer.concat([code, plan.stdin]),
      plan.timeoutMs,
      observer,
      signal,
    );
  }

  /** Places files in the workspace (replacing files of the same names); resolves with their names. */
  writeFiles = (files: readonly WorkspaceFile[]) => this.use(() => workspace.writeWorkspaceFiles(this.fileCalls, files));
  /** Reads files under the artifact rules: caps, no symbolic link followed. */
  readFiles = (paths: readonly string[]) =>
    this.use(() => workspace.readWorkspaceFiles(this.fileCalls, paths, this.context.artifactCaps));
  /** Reads parts of files (ReadFiles' ranges), at most the workspace's size in all. */
  readRanges = (ranges: readonly FileRangeRequest[]) =>
    this.use(() => workspace.readWorkspaceRanges(this.fileCalls, ranges, this.currentSettings.limits.workspaceBytes));
  /** Removes files and directories from the workspace, without following symbolic links. */
  deleteFiles = (paths: readonly string[]) => this.use(() => workspace.deleteWorkspaceFiles(this.fileCalls, paths));
  /** Lists a directory of the workspace, without following symbolic links. */
  listFiles = (path: string, recursive: boolean) =>
    this.use(() => workspace.listWorkspace(this.fileCalls, path, recursive, this.context.maxListed));
  /** The whole workspace as a tar (a snapshot), and a tar unpacked into it (a restore). */
  archiveWorkspace = () => this.use(() => workspace.archiveWorkspace(this.fileCalls, this.currentSettings.limits.workspaceBytes));
  restoreWorkspace = (archive: Uint8Array) => this.use(() => workspace.restoreWorkspace(this.fileCalls, archive));

  /** Freezes every process (the engine's pause): no CPU, memory kept, the idle clock stopped. */
  async pause(): Promise<void> {
    if (this.current === "paused") return;
    this.checkUsable();
    if (this.running > 0) throw new SessionBusyError(`session ${this.id} runs ${this.running} exec(s): pause it once they end`);
    await this.context.freeze(true);
    this.enter("paused");
    this.pausedAt = Date.now();
  }

  /** Thaws a paused session, whose idle clock starts again; nothing for one that is not paused. */
  async resume(): Promise<void> {
    if (this.current !== "paused") return;
    await this.context.freeze(false);
    this.enter("active");
    this.pausedAt = undefined;
    this.lastUsed = Date.now();
  }

  /**
   * Ends the session: its agent kills every exec (they answer CANCELLED), its container is removed.
   * Safe to call more than once and from any state; resolves when the container is gone.
   */
  close(reason: string): Promise<void> {
    this.closing ??= (async () => {
      this.closeReason = reason;
      // A frozen agent hears nothing: thaw it so that it ends its execs.
      if (this.current === "paused") await this.context.freeze(false).catch(() => undefined);
      this.enter("closing");
      this.context.agent.close();
      const deadline = Date.now() + closeWaitMs;
      while (this.running > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      this.context.agent.detach();
      await this.context.removeContainer();
      this.enter("closed");
      this.context.log.info({ reason }, "session closed");
    })();
    return this.closing;
  }

  /**
   * Leaves the container running without this server, for a restart or a peer to adopt: the
   * agent's stream is let go, and losing it is no failure (the container is not removed).
   */
  detach(reason: string): void {
    this.detached = true;
    this.context.agent.detach();
    this.context.log.info({ container: this.containerId }, `session left running: ${reason}`);
  }

  /**
   * The agent or container is gone: the session fails, the engine is asked how the container
   * ended (before it is removed), and the next call hears why.
   */
  fail(cause: string): void {
    if (this.current !== "active" || this.detached) return;
    this.failure = cause;
    this.enter("failed");
    this.ending = (async () => {
      const end = await this.context.inspectEnd().catch(() => undefined);
      if (end && killedForMemory(end, this.settings.runtime)) {
        this.failure = `its memory limit (limits.memory_bytes, ${this.settings.limits.memoryBytes} bytes) was exceeded and the container was killed`;
      } else if (end) {
        this.failure = `${cause}: the container ended with exit code ${end.exitCode}`;
      }
      this.context.log.warn({ cause: this.failure }, "session failed");
      await this.context.removeContainer();
      return end;
    })();
  }

  /** Throws when the session cannot take a call now. */
  private use<T>(work: () => T): T {
    this.touch();
    return work();
  }

  private checkUsable(): void {
    if (this.current === "failed") throw new SessionFailedError(this.id, this.failure ?? "its container ended");
    if (this.current === "paused") throw new SessionBusyError(`session ${this.id} is paused: resume it first`);
    if (this.current !== "active") throw new SessionFailedError(this.id, `it was closed (${this.closeReason ?? "closed"})`);
  }

  private touch(): void {
    this.checkUsable();
    this.lastUsed = Date.now();
  }

  private execRequest(plan: Pick<ExecPlan, "execId" | "timeoutMs">, argv: readonly string[], env: readonly string[]) {
    return {
      op: "exec" as const,
      id: plan.execId,
      argv,
      env,
      timeout: plan.timeoutMs / 1000,
      output_limit: this.context.outputLimitBytes,
    };
  }

  /** One of the session's own helpers (file calls), as an exec of its own. */
  private readonly fileCalls: FileCall = (argv, stdin, outputLimit) => {
    const request = {
      ...this.execRequest({ execId: randomUUID(), timeoutMs: workspace.fileCallTimeoutMs }, argv, []),
      output_limit: outputLimit,
    };
    return this.runInAgent(request, stdin, workspace.fileCallTimeoutMs, {}, undefined, outputLimit);
  };

  /**
   * Sends one exec or cell to the agent and gathers its output: the exec is killed when `signal`
   * aborts (CANCELLED), and the session fails when the agent does not answer in time.
   */
  private async runInAgent(
    request: Extract<AgentRequest, { op: "exec" | "cell" }>,
    payload: Uint8Array,
    timeoutMs: number,
    observer: ExecObserver,
    signal: AbortSignal | undefined,
    outputLimit = this.context.outputLimitBytes,
  ): Promise<RunOutcome> {
    this.checkUsable();
    if (this.running >= this.context.maxExecs) {
      throw new SessionLimitError(
        `session ${this.id} already runs ${this.context.maxExecs} execs, its maximum (SESSION_MAX_EXECS)`,
      );
    }
    const { agent, log } = this.context;
    const stdout = new CappedBuffer(outputLimit);
    const stderr = new CappedBuffer(outputLimit);
    const files = new Map<string, Buffer>();
    const onAbort = () => agent.kill(request.id, "cancelled");
    let timer: NodeJS.Timeout | undefined;
    this.running += 1;
    this.total += 1;
    try {
      const answered = agent.run(request, payload, {
        onOutput: (stream, chunk) => {
          const kept = (stream === "stdout" ? stdout : stderr).append(chunk);
          if (kept.length > 0) observer.onOutput?.(stream, kept);
        },
        onFile: (name, data) => files.set(name, data),
      });
      observer.onStarted?.();
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new AgentLostError(`the agent did not answer exec ${request.id} within ${timeoutMs + agentAnswerAllowanceMs} ms`),
            ),
          timeoutMs + agentAnswerAllowanceMs,
        );
      });
      let exit: AgentExit;
      try {
        exit = await Promise.race([answered, late]);
      } catch (error) {
        if (error instanceof AgentLostError) {
          this.fail(error.message);
          const end = await this.ending;
          // Under gVisor a memory kill takes the whole sandbox: that was this exec's doing, and
          // its truthful verdict; the session is gone with it, as its next call hears.
          if (end && killedForMemory(end, this.settings.runtime)) {
            return { ...memoryKilled(request.id, stdout, stderr), ...(request.op === "cell" ? { stateLost: true } : {}) };
          }
          throw new SessionFailedError(this.id, this.failure ?? error.message);
        }
        throw error;
      }
      log.debug({ run_id: request.id, status: exit.status, stopped_by: exit.stopped_by }, "exec answered");
      if (exit.refused === "processes") {
        throw new SessionLimitError(
          `the session's process limit (limits.pids, ${this.settings.limits.pids}) is full: the exec could not start (${exit.error ?? "EAGAIN"})`,
        );
      }
      return execOutcome(request.id, exit, {
        stdout: stdout.toBuffer(),
        stderr: stderr.toBuffer(),
        stdoutTruncated: stdout.overflowed,
        stderrTruncated: stderr.overflowed,
        files,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      this.running -= 1;
    }
  }

  private enter(next: SessionState): void {
    if (!nextStates[this.current].includes(next))
      throw new Error(`session ${this.id}: no transition from ${this.current} to ${next}`);
    this.current = next;
    this.context.log.debug({ state: next }, "session state");
  }
}
