import type { ResourceLimits, RunRequest } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import type { AureaConfig } from "../config/config.js";
import type { SandboxLimits } from "../sandbox/limits.js";
import { type Runtime, runtimeTraits } from "../sandbox/runtimes.js";
import type { CompileStep, LanguageRegistry } from "../runner/languages.js";
import { type TestPolicyFields, validateTests } from "./test-cases-request.js";
import type { RunSpec } from "../runner/runner.js";
import type { WorkspaceFile } from "../runner/workspace-archive.js";
import { validateArgs, validateEnv } from "./args-and-env.js";
import { validateNetworkPolicy } from "../egress/network-request.js";
import type { FieldViolation } from "./rpc-errors.js";

/** The server's bounds on what a request may ask for: the part of the configuration that says so. */
export type RunPolicy = Pick<
  AureaConfig,
  | "defaultTimeoutSeconds"
  | "maxTimeoutSeconds"
  | TestPolicyFields
  | "maxCompileTimeoutSeconds"
  | "maxCompileMemoryBytes"
  | "cpuLimit"
  | "memoryLimitBytes"
  | "pidsLimit"
  | "workspaceSizeBytes"
  | "workspaceFiles"
  | "tmpSizeBytes"
  | "readonlyDefault"
  | "maxCodeBytes"
  | "artifactMaxFiles"
  | "artifactMaxFileBytes"
  | "artifactMaxTotalBytes"
  | "defaultRuntime"
  | "allowedRuntimes"
  | "egressAllowed"
> & {
  /** The languages this server runs (languages.ts), made once at start. */
  readonly languages: LanguageRegistry;
};

export type RunRequestResult =
  | { readonly ok: true; readonly spec: RunSpec }
  | { readonly ok: false; readonly violations: readonly FieldViolation[] };

const maxNameBytes = 1024;
const maxSegmentBytes = 255;

/**
 * Checks a RunRequest against the policy and resolves defaults. Pure: it reports every violation
 * at once rather than the first, and touches nothing.
 */
export function validateRunRequest(request: RunRequest, policy: RunPolicy, runId: string): RunRequestResult {
  const violations: FieldViolation[] = [];
  const violate = (field: string, description: string) => violations.push({ field, description });

  const language = policy.languages.find(request.language);
  if (request.language === "") {
    violate("language", `is required; one of ${policy.languages.names().join(", ")}`);
  } else if (!language) {
    violate("language", `unknown language ${JSON.stringify(request.language)}; one of ${policy.languages.names().join(", ")}`);
  }

  const codeBytes = Buffer.byteLength(request.code, "utf8");
  if (request.code.trim() === "") {
    violate("code", "is required and must not be blank");
  } else if (codeBytes > policy.maxCodeBytes) {
    violate("code", `is ${codeBytes} bytes; at most ${policy.maxCodeBytes} are allowed`);
  }

  const timeoutSeconds = resolveTimeout(request.timeout, "timeout", policy, violate);
  const { runtime, cpu, memoryBytes, pids } = resolveRuntimeAndLimits(request, policy, violate);

  const files = validateFiles(request.files, request.binaryFiles, language?.fileName, policy, violate);
  const args = validateArgs(request.args, violate);
  const env = validateEnv(request.env, violate);

  if (request.requestId !== "" && !/^[A-Za-z0-9._:-]{1,128}$/.test(request.requestId)) {
    violate("request_id", "must be 1 to 128 of A-Z a-z 0-9 . _ : -");
  }
  const compile = language?.compile ? resolveCompileLimits(request, language.compile, policy, violate) : undefined;
  const tests = validateTests(request, policy, memoryBytes, violate);
  const network = validateNetworkPolicy(request.network, policy.egressAllowed, violate);

  if (violations.length > 0 || !language) return { ok: false, violations };
  const runLimits = { ...maximumLimits(policy), cpu, memoryBytes, pids };
  return {
    ok: true,
    spec: {
      runId,
      ...(request.requestId ? { requestId: request.requestId } : {}),
      language,
      code: request.code,
      files,
      stdin: request.stdin,
      args,
      // The language's own settings first (GOCACHE, ...), so a request may override them.
      env: [...language.env, ...env],
      // With tests, the sandbox's own limit: every case's time, and a little for each case's setup.
      timeoutMs: tests ? tests.totalTimeoutMs : Math.round(timeoutSeconds * 1000),
      ...(tests ? { tests: tests.plan } : {}),
      readonlyRootfs: request.readonly ?? policy.readonlyDefault,
      runtime,
      ...(network ? { network } : {}),
      artifacts: request.captureArtifacts
        ? {
            maxFiles: policy.artifactMaxFiles,
            maxFileBytes: policy.artifactMaxFileBytes,
            maxTotalBytes: policy.artifactMaxTotalBytes,
          }
        : undefined,
      limits: runLimits,
      ...(compile
        ? {
            compile: {
              timeoutMs: compile.timeoutMs,
              limits: { ...runLimits, memoryBytes: compile.memoryBytes, pids: compile.pids },
            },
          }
        : {}),
    },
  };
}

/** A wall-clock limit in seconds: 0 for the default, at most the maximum. */
export function resolveTimeout(
  seconds: number,
  field: string,
  policy: Pick<RunPolicy, "defaultTimeoutSeconds" | "maxTimeoutSeconds">,
  violate: (field: string, description: string) => void,
): number {
  if (!Number.isFinite(seconds) || seconds < 0) {
    violate(field, `must be a positive number of seconds, got ${seconds}`);
  } else if (seconds > policy.maxTimeoutSeconds) {
    violate(field, `${seconds} s is above the maximum of ${policy.maxTimeoutSeconds} s`);
  } else if (seconds > 0) {
    return seconds;
  }
  return policy.defaultTimeoutSeconds;
}

/** The runtime a request names (or the default) and its CPU, memory and process limits under it. */
export function resolveRuntimeAndLimits(
  request: { readonly runtime: string; readonly limits?: ResourceLimits | undefined },
  policy: RunPolicy,
  violate: (field: string, description: string) => void,
): { runtime: Runtime; cpu: number; memoryBytes: number; pids: number } {
  let runtime = policy.defaultRuntime;
  if (request.runtime !== "") {
    const asked = policy.allowedRuntimes.find((allowed) => allowed === request.runtime);
    if (asked) runtime = asked;
    else
      violate("runtime", `${JSON.stringify(request.runtime)} is not allowed here; one of ${policy.allowedRuntimes.join(", ")}`);
  }
  const limits = request.limits;
  const cpu = resolveLimit(
    violate,
    "limits.cpu",
    limits?.cpu ?? 0,
    policy.cpuLimit,
    "cores",
    runtimeTraits[runtime].minimumCpu,
    `under ${runtime}`,
  );
  const memoryBytes = resolveLimit(
    violate,
    "limits.memory_bytes",
    Number(limits?.memoryBytes ?? 0n),
    policy.memoryLimitBytes,
    "bytes",
    // A runtime with a kernel of its own needs more; each says how much (runtimes.ts).
    runtimeTraits[runtime].minimumMemoryBytes,
    `under ${runtime}`,
  );
  const pids = resolveLimit(violate, "limits.pids", Number(limits?.pids ?? 0n), policy.pidsLimit, "processes", 8);
  return { runtime, cpu, memoryBytes, pids };
}

/**
 * A compile phase's wall time and memory: the language's defaults cut to the server's maxima,
 * which a request may only lower. Its processes are the language's (compiler drivers start
 * several), and it shares the run's CPU and workspace limits.
 */
export function resolveCompileLimits(
  request: Pick<RunRequest, "compileTimeout" | "compileMemoryBytes">,
  step: CompileStep,
  policy: Pick<RunPolicy, "maxCompileTimeoutSeconds" | "maxCompileMemoryBytes">,
  violate: (field: string, description: string) => void,
): { timeoutMs: number; memoryBytes: number; pids: number } {
  const maxSeconds = policy.maxCompileTimeoutSeconds;
  let seconds = defaultCompileSeconds(step, policy);
  if (!Number.isFinite(request.compileTimeout) || request.compileTimeout < 0) {
    violate("compile_timeout", `must be a positive number of seconds, got ${request.compileTimeout}`);
  } else if (request.compileTimeout > maxSeconds) {
    violate("compile_timeout", `${request.compileTimeout} s is above the maximum of ${maxSeconds} s`);
  } else if (request.compileTimeout > 0) {
    seconds = request.compileTimeout;
  }
  const maxMemory = policy.maxCompileMemoryBytes;
  let memoryBytes = Math.min(step.memoryBytes, maxMemory);
  const asked = Number(request.compileMemoryBytes);
  if (asked < 0) {
    violate("compile_memory_bytes", `must be positive, got ${asked}`);
  } else if (asked > maxMemory) {
    violate("compile_memory_bytes", `${asked} bytes is above the server maximum of ${maxMemory} bytes`);
  } else if (asked > 0 && asked < 32 * 2 ** 20) {
    violate("compile_memory_bytes", `${asked} bytes is below the minimum of ${32 * 2 ** 20} bytes`);
  } else if (asked > 0) {
    memoryBytes = asked;
  }
  return { timeoutMs: Math.round(seconds * 1000), memoryBytes, pids: step.processes };
}

/** A compile phase's limits when the request lowers none: the run's maxima, with the compile's memory and processes. */
export function defaultCompileLimits(step: CompileStep, policy: RunPolicy): SandboxLimits {
  return {
    ...maximumLimits(policy),
    memoryBytes: Math.min(step.memoryBytes, policy.maxCompileMemoryBytes),
    pids: step.processes,
  };
}

/** A compile phase's wall-clock seconds when the request names none: the language's, cut to the server's maximum. */
export function defaultCompileSeconds(step: CompileStep, policy: Pick<RunPolicy, "maxCompileTimeoutSeconds">): number {
  return Math.min(step.timeoutSeconds, policy.maxCompileTimeoutSeconds);
}

/** The limits of a run that asks for no lower ones: the server's maxima. */
export function maximumLimits(policy: RunPolicy): SandboxLimits {
  return {
    cpu: policy.cpuLimit,
    memoryBytes: policy.memoryLimitBytes,
    pids: policy.pidsLimit,
    workspaceBytes: policy.workspaceSizeBytes,
    workspaceFiles: policy.workspaceFiles,
    tmpBytes: policy.tmpSizeBytes,
  };
}

/** 0 means "the maximum"; anything else must lie between `minimum` and the maximum. */
export function resolveLimit(
  violate: (field: string, description: string) => void,
  field: string,
  requested: number,
  maximum: number,
  unit: string,
  minimum: number,
  /** Why the minimum is what it is, when it depends on something else in the request. */
  minimumBecause?: string,
): number {
  if (requested === 0) return maximum;
  if (!Number.isFinite(requested) || requested < 0) {
    violate(field, `must be positive, got ${requested}`);
  } else if (requested > maximum) {
    violate(field, `${requested} ${unit} is above the server maximum of ${maximum} ${unit}`);
  } else if (requested < minimum) {
    violate(
      field,
      `${requested} ${unit} is below the minimum of ${minimum} ${unit}${minimumBecause ? ` ${minimumBecause}` : ""}`,
    );
  } else {
    return requested;
  }
  return maximum;
}

export function validateFiles(
  textFiles: Readonly<Record<string, string>>,
  binaryFiles: Readonly<Record<string, Uint8Array>>,
  codeFileName: string | undefined,
  policy: RunPolicy,
  violate: (field: string, description: string) => void,
): WorkspaceFile[] {
  const entries = [
    ...Object.entries(textFiles).map(([name, text]) => ({
      field: `files[${JSON.stringify(name)}]`,
      name,
      content: Buffer.from(text, "utf8"),
    })),
    ...Object.entries(binaryFiles).map(([name, bytes]) => ({
      field: `binary_files[${JSON.stringify(name)}]`,
      name,
      content: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    })),
  ];
  // Checked before looking at any name, so a million-entry request costs one comparison.
  if (entries.length >= policy.workspaceFiles) {
    violate("files", `has ${entries.length} entries; the workspace holds at most ${policy.workspaceFiles - 1} files`);
    return [];
  }
  const accepted: (WorkspaceFile & { field: string })[] = [];
  const byNormalName = new Map<string, string>();
  const directories = new Set<string>();
  let totalBytes = 0;
  for (const entry of entries) {
    const problem = fileNameProblem(entry.name);
    if (problem) {
      violate(entry.field, problem);
      continue;
    }
    // Two spellings of one name (NFC and NFD, say) would overwrite each other on extraction.
    const normal = entry.name.normalize("NFC");
    const clash = byNormalName.get(normal);
    if (clash !== undefined) {
      violate(entry.field, `names the same file as ${clash}`);
      continue;
    }
    byNormalName.set(normal, entry.field);
    if (normal === codeFileName) {
      violate(entry.field, `collides with the code file ${codeFileName}`);
      continue;
    }
    const segments = entry.name.split("/");
    for (let depth = 1; depth < segments.length; depth++) directories.add(segments.slice(0, depth).join("/"));
    totalBytes += entry.content.length;
    accepted.push(entry);
  }
  for (const file of accepted) {
    if (directories.has(file.name)) violate(file.field, "is both a file and the directory of another file");
  }
  if (accepted.length + directories.size + 1 > policy.workspaceFiles) {
    violate(
      "files",
      `need ${accepted.length + directories.size + 1} files and directories; the workspace holds ${policy.workspaceFiles}`,
    );
  }
  if (totalBytes > policy.workspaceSizeBytes) {
    violate("files", `hold ${totalBytes} bytes; the workspace holds ${policy.workspaceSizeBytes}`);
  }
  return accepted.map(({ name, content }) => ({ name, content }));
}

/** Why a workspace file name is unacceptable, or undefined when it is fine. */
export function fileNameProblem(name: string): string | undefined {
  if (name === "") return "name is empty";
  if (Buffer.byteLength(name, "utf8") > maxNameBytes) return `name is longer than ${maxNameBytes} bytes`;
  // C0 and C1 controls and DEL, NUL included: matching control characters is the point here.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the check is for control characters
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return "name contains a control character";
  if (name.includes("\\")) return "name contains a backslash; separate directories with /";
  if (name.startsWith("/")) return "name is an absolute path; give a path relative to the workspace";
  for (const segment of name.split("/")) {
    if (segment === "") return "name has an empty path segment";
    if (segment === "." || segment === "..") return `name has a "${segment}" segment`;
    if (Buffer.byteLength(segment, "utf8") > maxSegmentBytes) {
      return `name has a segment longer than ${maxSegmentBytes} bytes`;
    }
  }
  return undefined;
}
