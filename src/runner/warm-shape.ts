import type { SandboxLimits, SandboxShape } from "../sandbox/limits.js";
import { runtimeTraits } from "../sandbox/runtimes.js";
import { recycledInputLimitBytes, warmRunMessage } from "../sandbox/supervisor-protocol.js";
import type { ColdReason, LeaseRequest, RunProgram } from "./container-source.js";
import type { Language } from "./languages.js";

/** What a warm container is for, and which runs it may serve (warm-pool.ts). Pure. */

/**
 * What a warm container is ready for: the language, the loader and the command it will run, a
 * compile or a program (a compiled language's compile phase and its program share a name, never
 * a container), and the container's shape.
 */
export const shapeKey = (language: Language, shape: SandboxShape, compiling: boolean): string =>
  JSON.stringify([
    language.name,
    compiling,
    language.warmLoader,
    language.command,
    shape.image,
    shape.runtime,
    shape.readonlyRootfs,
  ]);

/** Whether the language's warm loader is a compiler kept loaded (a compile phase's view of a `compile.warm`). */
export const keepsCompilerLoaded = (language: Language): boolean => typeof language.warmLoader === "object";

/**
 * The loader a run's warm container waits with: the language's own, or the exec loader (which
 * starts the language's command when the run arrives, as a cold run does) where a runtime started
 * ahead of the run could not honour it: the run sets environment variables of its own, which an
 * interpreter, a JVM or a compiler reads when it starts (`PYTHONPATH`, `PYTHONHASHSEED`,
 * `NODE_OPTIONS`, `RUBYOPT`, `JAVA_TOOL_OPTIONS`, the locale), long before the run; or the operator
 * turned loaded compilers off (`loadedCompilers` false). `programEnv` is the run's environment,
 * the language's own entries first.
 */
export function warmLoaderFor(language: Language, programEnv: readonly string[], loadedCompilers: boolean): Language {
  const ownEnvironment = programEnv.length > language.env.length;
  const startsAhead = language.warmLoader !== undefined && language.warmLoader !== "exec";
  if (!startsAhead) return language;
  if (ownEnvironment || (!loadedCompilers && keepsCompilerLoaded(language))) return { ...language, warmLoader: "exec" };
  return language;
}

/** What a warm container waits to run: the language's program, or NAME:compile for its compiler. */
export const warmForLabel = (language: Language, compiling: boolean): string =>
  compiling ? `${language.name}:compile` : language.name;

/**
 * How a run's limits can be had from a warm container made with `pool`'s: as they are, by a live
 * update (CPU, memory and processes, under runc), or not at all (mount sizes are fixed at
 * creation, and gVisor takes no live updates), in which case the run goes cold and the warm
 * container stays for a run it fits.
 */
export function limitsFit(shape: SandboxShape, limits: SandboxLimits, pool: SandboxLimits): "same" | "update" | "no" {
  if (
    limits.workspaceBytes !== pool.workspaceBytes ||
    limits.workspaceFiles !== pool.workspaceFiles ||
    limits.tmpBytes !== pool.tmpBytes
  ) {
    return "no";
  }
  if (limits.cpu === pool.cpu && limits.memoryBytes === pool.memoryBytes && limits.pids === pool.pids) return "same";
  return runtimeTraits[shape.runtime].liveLimitUpdates ? "update" : "no";
}

/**
 * Why a run cannot have a container started ahead at all, whatever the pool holds, or undefined
 * when it can: `language` as warmLoaderFor gave it, `poolSize` the pool's size per shape,
 * `recyclable` whether the shape's containers serve run after run.
 */
export function warmRefusal(
  request: LeaseRequest,
  language: Language,
  poolSize: number,
  recyclable: boolean,
): ColdReason | undefined {
  if (poolSize <= 0) return "pool_off";
  if (language.warmLoader === undefined) return "no_loader";
  if (request.program.judged) return "judged";
  if (request.network) return "network";
  if (recyclable && (request.streamsInput || !fitsRecycledContainer(request.program))) return "input";
  return undefined;
}

/**
 * Whether a run's input (the loader's message, with `code` when inline, and the program's stdin)
 * fits a recyclable container, whose supervisor hands it over through a pipe before the program
 * starts (supervisor-protocol.ts). A program that does not fit even without its code runs cold.
 */
export function fitsRecycledContainer(program: RunProgram, code?: string): boolean {
  return warmRunMessage(program.args, program.env, code).length + program.stdin.length <= recycledInputLimitBytes;
}
