import type { Duplex } from "node:stream";
import type { ContainerClient } from "../docker/container-client.js";
import { type SandboxNetwork, toContainerCreateOptions } from "../docker/container-options.js";
import type { SandboxLimits, SandboxShape } from "../sandbox/limits.js";
import type { Language } from "./languages.js";
import { casesCommand, supervisorCommand } from "../sandbox/sandbox-scripts.js";
import { supervisorHeader, type ArtifactCaps } from "../sandbox/supervisor-protocol.js";
import { buildWorkspaceArchive, type WorkspaceFile } from "./workspace-archive.js";

/** The program a run executes, as the container source needs it to prepare a container. */
export interface RunProgram {
  readonly language: Language;
  readonly code: string;
  /** Files besides the code file, names validated and normalised. */
  readonly files: readonly WorkspaceFile[];
  readonly args: readonly string[];
  /** `NAME=value` entries on top of the fixed minimal environment. */
  readonly env: readonly string[];
  readonly stdin: Uint8Array;
  /** Run through the test-case runner, once per case, instead of once (judge.ts); never warm. */
  readonly judged?: boolean;
  /**
   * A compile phase's container (compile-phase.ts) compiles once and is never recycled; warm, it
   * comes from the compiler's own pool, made with the compile's limits (warm-pool.ts).
   */
  readonly phase?: "compile" | "run" | undefined;
}

/** What a run asks a container source for. */
export interface LeaseRequest {
  readonly runId: string;
  readonly instanceId: string;
  readonly shape: SandboxShape;
  readonly limits: SandboxLimits;
  readonly program: RunProgram;
  /** The run's egress network and the proxy settings for it; a run with one is always cold. */
  readonly network?: (SandboxNetwork & { readonly env: readonly string[] }) | undefined;
  /** Whose run it is (an API key's id, "" on an open server): a recycled container serves only its caller. */
  readonly caller: string;
  /** The run's stdin is not all known before it starts (a streamed input). */
  readonly streamsInput: boolean;
}

/**
 * Where a run's container came from: made for it, warm from the pool and untouched, or recycled
 * (it served an earlier run of the same caller, and was scrubbed since).
 */
export type ContainerOrigin = "cold" | "warm" | "recycled";

/**
 * Why a run got a container made for it rather than one started ahead (warm-pool.ts): the pool is
 * off (`pool_off`); the language has no warm loader (`no_loader`); test cases (`judged`) or a
 * network (`network`) always start their own; its input is streamed or more than a recycled
 * container takes (`input`); the pool holds as many shapes as it may (`shape_cap`); its limits
 * cannot be put on a waiting container (`limits`); or none was waiting (`none_waiting`).
 */
export type ColdReason = "pool_off" | "no_loader" | "judged" | "network" | "input" | "shape_cap" | "limits" | "none_waiting";

/** A container handed to one run, and only to that run. */
export interface ContainerLease {
  readonly id: string;
  /** Where it came from, for logs and metrics: the lifecycle is the same whatever the answer. */
  readonly origin: ContainerOrigin;
  /** Why it is cold, when a warm pool was asked and had none to give (metrics and the run's log). */
  readonly coldBecause?: ColdReason | undefined;
  /**
   * The container's stdio, already attached (a warm container's, attached while it warmed up,
   * positioned after its loader's ready marker); undefined for the runner to attach itself.
   */
  readonly attachment?: Duplex;
  /**
   * True when the container was started for this run, so the engine's start and finish times
   * time the program; a warm container started long before its run is timed by the server.
   */
  readonly engineTimesRun: boolean;
  /**
   * Its stdin stays open after the run's input (a recyclable container's supervisor counts its
   * input and then waits for the server's next command); the run writes its input without ending it.
   */
  readonly keepsStdinOpen?: boolean;
  /**
   * Hands the container back, instead of removing it, for the next run of the same caller: the
   * pool scrubs it (and removes it if the scrub fails), over `attachment` when the run kept its
   * attach stream. Present only on recyclable containers; called only after a run
   * recycle-rules.ts allows.
   */
  readonly reuse?: (attachment: Duplex | undefined) => void;
  /** Starts the container; one started earlier is already running and this does nothing. */
  start(): Promise<void>;
  /**
   * Everything the container reads on stdin, in order: the supervisor's header (with `nonce` and
   * what to collect), the workspace, whatever else this kind of container needs, and the
   * program's own stdin.
   */
  input(nonce: string, artifacts: ArtifactCaps | undefined): Promise<Buffer>;
}

/**
 * Where a run's container comes from. The run's lifecycle (run-lifecycle.ts) is the same whatever
 * the source: each source decides how its containers are made and how their input is encoded, and
 * removal is always the lifecycle's job.
 */
export interface ContainerSource {
  acquire(request: LeaseRequest): Promise<ContainerLease>;
}

/** The files a run starts with: the code file first, then the request's files. */
export function workspaceFiles(program: RunProgram): WorkspaceFile[] {
  return [{ name: program.language.fileName, content: Buffer.from(program.code, "utf8") }, ...program.files];
}

/** Creates a brand-new container for every run, whose supervisor starts the program itself. */
export function createColdContainerSource(containers: ContainerClient): ContainerSource {
  return {
    async acquire({ runId, instanceId, shape, limits, program, network }) {
      const id = await containers.create(
        toContainerCreateOptions({
          runId,
          instanceId,
          shape,
          limits,
          command: program.judged
            ? supervisorCommand(
                "cases",
                shape.runtime,
                limits.pids,
                casesCommand(shape.runtime, limits.pids, program.language.command),
                shape,
              )
            : supervisorCommand("cold", shape.runtime, limits.pids, [...program.language.command, ...program.args], shape),
          // The gateway's proxy settings last: they win over a request's own.
          env: network ? [...program.env, ...network.env] : program.env,
          network,
        }),
      );
      return {
        id,
        origin: "cold",
        engineTimesRun: true,
        start: () => containers.start(id),
        async input(nonce, artifacts) {
          const archive = await buildWorkspaceArchive(workspaceFiles(program));
          return Buffer.concat([supervisorHeader(archive.length, nonce, artifacts), archive, program.stdin]);
        },
      };
    },
  };
}
