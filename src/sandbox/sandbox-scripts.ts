import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sandboxUser } from "./limits.js";
import { runtimeTraits, type Runtime } from "./runtimes.js";
import {
  caseTag,
  casesDir,
  goFifo,
  manifestExtraEntries,
  caseRunnerHelper,
  noMessageQueuesHelper,
  nodeStartupSnapshot,
  readyTag,
  reportTag,
  stderrEndTag,
  supervisorDir,
  workspaceDir,
  type OutputPath,
  type SupervisorMode,
} from "./supervisor-protocol.js";

/**
 * The programs that run inside a sandbox, as argv. Their text lives in real files under
 * `sandbox/` (linted and syntax-checked in CI, run by unit tests outside any container), read
 * once; every value reaches them as an argument, never spliced into their text.
 */

/**
 * The warm loaders there are, by file under sandbox/loaders/: python, node and ruby run the
 * program inside the interpreter they started ahead of time; exec starts the language's own
 * command (for languages whose interpreter starts in a few milliseconds, or that compile).
 */
export type WarmLoader = "python" | "node" | "ruby" | "exec";

/**
 * A compiler kept loaded in a warm container (a language's `compile.warm`), by file under
 * sandbox/loaders/: jvm-compiler (CompilerLoader.java) drives javac, kotlinc or scalac inside the
 * JVM it started; tsc (tsc.cjs) drives TypeScript's compiler inside Node.js. Each compiles a small
 * program of its own before it says it is ready, and serves one compile.
 */
export interface CompilerLoader {
  readonly loader: "jvm-compiler" | "tsc";
  /** The runtime and its options, as the cold compile command starts them. */
  readonly launch: readonly string[];
  /** jvm-compiler: javac, kotlinc or scalac; tsc: the TypeScript package's folder. */
  readonly compiler: string;
  /** The compiler's own arguments, as the cold compile command passes them. */
  readonly arguments: readonly string[];
}

export const compilerLoaderKinds: readonly CompilerLoader["loader"][] = ["jvm-compiler", "tsc"];

const sandboxDir = new URL("./programs/", import.meta.url);
const texts = new Map<string, string>();

/** A script's text, read on first use and kept. */
function scriptText(relativePath: string): string {
  let text = texts.get(relativePath);
  if (text === undefined) {
    text = readFileSync(fileURLToPath(new URL(relativePath, sandboxDir)), "utf8");
    texts.set(relativePath, text);
  }
  return text;
}

/**
 * argv of a container under `runtime`: the supervisor in `mode`, then the program's (or the
 * loader's) argv, which it runs as the sandbox user, held to `pids` processes inside the sandbox
 * and its output relayed where the runtime needs either.
 */
export function supervisorCommand(
  mode: SupervisorMode,
  runtime: Runtime,
  pids: number,
  program: readonly string[],
  /** Start the program through aurea-no-mqueue (SandboxShape.denyMessageQueues says when). */
  options: { readonly denyMessageQueues?: boolean | undefined } = {},
): string[] {
  const traits = runtimeTraits[runtime];
  return supervisorArgv({
    mode,
    processes: traits.processLimitInside ? String(pids) : "-",
    output: traits.relaysOutput ? "relay" : "direct",
    program: options.denyMessageQueues ? [noMessageQueuesHelper, ...program] : program,
  });
}

/** What the supervisor is told besides its fixed paths and tags (supervisor.sh reads them in this order). */
export interface SupervisorArguments {
  readonly mode: SupervisorMode;
  /** RLIMIT_NPROC for the program, or "-" to leave it to the container's pids limit. */
  readonly processes: string;
  readonly output: OutputPath;
  readonly program: readonly string[];
  /** uid:gid the program runs as; the sandbox user but in the supervisor's own tests. */
  readonly user?: string;
  /** The workspace and the supervisor's FIFO and folder; the container's fixed paths but in tests. */
  readonly paths?: { readonly workspace: string; readonly goFifo: string; readonly supervisorDir: string };
}

/** The supervisor's argv, in the one order supervisor.sh reads it. */
export function supervisorArgv(args: SupervisorArguments): string[] {
  const paths = args.paths ?? { workspace: workspaceDir, goFifo, supervisorDir };
  return [
    "/bin/sh",
    "-c",
    scriptText("supervisor.sh"),
    "aurea-supervisor",
    args.mode,
    paths.workspace,
    paths.goFifo,
    paths.supervisorDir,
    reportTag,
    stderrEndTag,
    String(manifestExtraEntries),
    args.processes,
    args.user ?? sandboxUser,
    args.output,
    ...args.program,
  ];
}

/**
 * argv of the test-case runner (images/helper/aurea-cases.c), which runs `program` once per test
 * case as the sandbox user, held to `processes` processes where the runtime counts them inside the
 * sandbox.
 */
export function casesCommand(runtime: Runtime, processes: number, program: readonly string[]): string[] {
  const inside = runtimeTraits[runtime].processLimitInside;
  return [caseRunnerHelper, workspaceDir, casesDir, sandboxUser, inside ? String(processes) : "-", caseTag, ...program];
}

/**
 * argv of a language's warm loader, which writes `codeFile` in the workspace and runs it (the
 * exec loader with `command`, the language's own command line), or of a compiler loader, which
 * compiles `warmUpCode` before it is ready and then compiles `codeFile`.
 */
export function loaderCommand(
  loader: WarmLoader | CompilerLoader,
  codeFile: string,
  command: readonly string[],
  warmUpCode = "",
): string[] {
  if (typeof loader === "object") {
    const { launch, compiler } = loader;
    const loaderArgs = [goFifo, codeFile, readyTag, compiler, warmUpCode, ...loader.arguments];
    if (loader.loader === "tsc") return [...launch, "-e", nodeLoaderText("loaders/tsc.cjs"), ...loaderArgs];
    // The JVM runs a source file only from a file it can seek in: jvm-compiler.sh writes one.
    return [
      "bash",
      "-c",
      scriptText("loaders/jvm-compiler.sh"),
      "aurea-compiler-loader",
      scriptText("loaders/CompilerLoader.java"),
      String(launch.length),
      ...launch,
      ...loaderArgs,
    ];
  }
  switch (loader) {
    case "python":
      return ["python3", "-u", "-c", scriptText("loaders/python.py"), goFifo, workspaceDir, codeFile, readyTag];
    case "node":
      return [
        "node",
        "--snapshot-blob",
        nodeStartupSnapshot,
        "-e",
        nodeLoaderText("loaders/node.cjs"),
        goFifo,
        workspaceDir,
        codeFile,
        readyTag,
      ];
    case "ruby":
      return ["ruby", "-e", scriptText("loaders/ruby.rb"), goFifo, workspaceDir, codeFile, readyTag];
    case "exec":
      return ["bash", "-c", scriptText("loaders/exec.sh"), "aurea-loader", goFifo, codeFile, readyTag, ...command];
  }
}

/** A Node.js loader's text after the run-message reader they share (loaders/run-message.cjs). */
const nodeLoaderText = (loader: string) => `${scriptText("loaders/run-message.cjs")}\n${scriptText(loader)}`;

/** The session agent's modules (programs/session-agent/), in the order they import each other. */
export const sessionAgentModules = [
  "agent_wire",
  "agent_counters",
  "agent_processes",
  "agent_execs",
  "agent_cells",
  "agent_loop",
];

/**
 * argv of a session's container: its agent (programs/session-agent/) as PID 1, which runs every
 * exec as the sandbox user, held to `pids` processes inside the sandbox where the runtime counts
 * them there. The bootstrap gets each module's text as an argument and runs them; the image
 * holds none of it.
 */
export function sessionAgentCommand(runtime: Runtime, pids: number): string[] {
  const inside = runtimeTraits[runtime].processLimitInside;
  const modules = sessionAgentModules.flatMap((name) => [name, scriptText(`session-agent/${name}.py`)]);
  return [
    "python3",
    "-I",
    "-S",
    "-c",
    scriptText("session-agent/bootstrap.py"),
    workspaceDir,
    sandboxUser,
    inside ? String(pids) : "-",
    ...modules,
  ];
}

/** The stateful interpreters there are (sandbox/kernels/), by the name a session's language maps to. */
export type KernelName = "python" | "javascript";

/** argv of a stateful session's interpreter, started by the agent on its first cell. */
export function kernelCommand(kernel: KernelName): string[] {
  switch (kernel) {
    case "python":
      return ["python3", "-u", "-c", scriptText("kernels/python-kernel.py"), workspaceDir];
    case "javascript":
      return ["node", "-e", scriptText("kernels/javascript-kernel.cjs"), workspaceDir];
  }
}

/** argv of the workspace file helper (sandbox/workspace-files.py), run by the agent as the sandbox user. */
export function workspaceFilesCommand(args: readonly string[]): string[] {
  return ["python3", "-I", "-S", "-c", scriptText("workspace-files.py"), workspaceDir, ...args];
}

/** The egress gateway's modules (programs/egress-gateway/), in the order they import each other. */
const egressGatewayModules = ["gateway_policy", "gateway_wire", "gateway_proxy", "gateway_main"];

/**
 * argv of the egress gateway (programs/egress-gateway/), the one container egress/egress-gateway.ts
 * runs per server: its loader, then each module's name and text.
 */
export function egressGatewayCommand(): string[] {
  const modules = egressGatewayModules.flatMap((name) => [name, scriptText(`egress-gateway/${name}.py`)]);
  return ["python3", "-I", "-S", "-u", "-c", scriptText("egress-gateway/load.py"), ...modules];
}
