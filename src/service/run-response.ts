import { create } from "@bufbuild/protobuf";
import {
  ArtifactSkipReason,
  CellResultSchema,
  CompileResultSchema,
  ExceptionInfoSchema,
  TestResultSchema,
  type TestResult,
  Limit,
  ResourceLimitsSchema,
  ResourceUsageSchema,
  RunResponseSchema,
  RunStatus,
  SkippedArtifactSchema,
  type RunResponse,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import type { ArtifactCollection, ArtifactSkipReason as SkipReason } from "../runner/artifact-collection.js";
import type { RunOutcome, RunSpec } from "../runner/runner.js";
import type { SandboxLimits } from "../sandbox/limits.js";
import type { CompileOutcome, TestOutcome } from "../runner/run-spec.js";
import type { LimitHit, RunUsage, RunVerdict } from "../runner/verdict.js";

const limitValues: Record<LimitHit, Limit> = {
  pids: Limit.PIDS,
  memory: Limit.MEMORY,
  file_size: Limit.FILE_SIZE,
  workspace_bytes: Limit.WORKSPACE_BYTES,
  workspace_files: Limit.WORKSPACE_FILES,
  output: Limit.OUTPUT,
  time: Limit.TIME,
  network: Limit.NETWORK,
};

const statusByVerdict: Record<RunVerdict, RunStatus> = {
  ok: RunStatus.OK,
  runtime_error: RunStatus.RUNTIME_ERROR,
  timeout: RunStatus.TIMEOUT,
  memory_limit: RunStatus.MEMORY_LIMIT,
  output_limit: RunStatus.OUTPUT_LIMIT,
  cancelled: RunStatus.CANCELLED,
  internal: RunStatus.INTERNAL,
  compile_error: RunStatus.COMPILE_ERROR,
  wrong_answer: RunStatus.WRONG_ANSWER,
  skipped: RunStatus.SKIPPED,
  network_limit: RunStatus.NETWORK_LIMIT,
};

const skipReasons: Record<SkipReason, ArtifactSkipReason> = {
  symlink: ArtifactSkipReason.SYMLINK,
  special_file: ArtifactSkipReason.SPECIAL_FILE,
  hard_link: ArtifactSkipReason.HARD_LINK,
  too_large: ArtifactSkipReason.TOO_LARGE,
  too_many: ArtifactSkipReason.TOO_MANY,
  total_size: ArtifactSkipReason.TOTAL_SIZE,
  bad_name: ArtifactSkipReason.BAD_NAME,
  not_collected: ArtifactSkipReason.NOT_COLLECTED,
  not_found: ArtifactSkipReason.NOT_FOUND,
};

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Splits artifacts into valid UTF-8 text and everything else. */
export function artifactFields(collection: ArtifactCollection | undefined) {
  const artifacts: Record<string, string> = {};
  const binaryArtifacts: Record<string, Uint8Array> = {};
  for (const [name, content] of collection?.files ?? []) {
    try {
      artifacts[name] = strictUtf8.decode(content);
    } catch {
      binaryArtifacts[name] = content;
    }
  }
  return {
    artifacts,
    binaryArtifacts,
    skippedArtifacts: (collection?.skipped ?? []).map((skipped) =>
      create(SkippedArtifactSchema, { name: skipped.name, reason: skipReasons[skipped.reason] }),
    ),
    artifactsTruncated: collection?.truncated ?? false,
  };
}

/** Decodes program output for a proto `string`: invalid UTF-8 becomes U+FFFD, never an error. */
export function decodeOutput(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}

/** Maps a run's outcome onto the wire response. Pure. */
export function toRunResponse(spec: Pick<RunSpec, "timeoutMs" | "limits">, outcome: RunOutcome, queuedMs = 0): RunResponse {
  const status = statusByVerdict[outcome.verdict];
  return create(RunResponseSchema, {
    runId: outcome.runId,
    success: status === RunStatus.OK,
    exitCode: outcome.exitCode,
    stdout: decodeOutput(outcome.stdout),
    stderr: decodeOutput(outcome.stderr),
    executionTime: outcome.executionTimeMs / 1000,
    queueTime: queuedMs / 1000,
    timedOut: outcome.timedOut,
    timeout: spec.timeoutMs / 1000,
    ...artifactFields(outcome.artifacts),
    status,
    limitsHit: outcome.limitsHit.map((limit) => limitValues[limit]),
    signal: outcome.signal,
    stdoutTruncated: outcome.stdoutTruncated,
    stderrTruncated: outcome.stderrTruncated,
    limits: limitsMessage(spec.limits),
    error: outcome.error ?? "",
    usage: usageMessage(outcome.usage),
    compile: outcome.compile ? compileResult(outcome.compile) : undefined,
    ...testFields(outcome.tests),
    value: outcome.value ?? "",
    stateLost: outcome.stateLost ?? false,
    ...(outcome.exception ? { exception: create(ExceptionInfoSchema, outcome.exception) } : {}),
    results: (outcome.results ?? []).map((result) => create(CellResultSchema, result)),
  });
}

function testFields(tests: readonly TestOutcome[] | undefined) {
  if (!tests) return {};
  return {
    testResults: tests.map(toTestResult),
    testsPassed: tests.filter((test) => test.verdict === "ok").length,
    testsTotal: tests.length,
    firstFailedTest: tests.find((test) => test.verdict !== "ok")?.name ?? "",
  };
}

/** One test case's outcome on the wire (also RunStream's `test_result` event). */
export function toTestResult(test: TestOutcome): TestResult {
  return create(TestResultSchema, {
    name: test.name,
    status: statusByVerdict[test.verdict],
    exitCode: test.exitCode,
    signal: test.signal,
    stdout: decodeOutput(test.stdout),
    stderr: decodeOutput(test.stderr),
    stdoutTruncated: test.stdoutTruncated,
    stderrTruncated: test.stderrTruncated,
    executionTime: test.executionTimeMs / 1000,
    usage: usageMessage(test.usage),
    difference: test.difference,
    timeout: test.timeoutMs / 1000,
  });
}

function usageMessage(usage: RunUsage | undefined) {
  if (!usage) return undefined;
  return create(ResourceUsageSchema, {
    cpuTime: (usage.cpuTimeNs ?? 0) / 1e9,
    peakMemoryBytes: BigInt(usage.peakMemoryBytes ?? 0),
    networkBytesSent: BigInt(usage.networkBytesSent ?? 0),
    networkBytesReceived: BigInt(usage.networkBytesReceived ?? 0),
  });
}

export function limitsMessage(limits: SandboxLimits) {
  return create(ResourceLimitsSchema, { cpu: limits.cpu, memoryBytes: BigInt(limits.memoryBytes), pids: BigInt(limits.pids) });
}

function compileResult(compile: CompileOutcome) {
  return create(CompileResultSchema, {
    stdout: decodeOutput(compile.stdout),
    stderr: decodeOutput(compile.stderr),
    exitCode: compile.exitCode,
    executionTime: compile.executionTimeMs / 1000,
    status: statusByVerdict[compile.verdict],
    timeout: compile.timeoutMs / 1000,
    limits: limitsMessage(compile.limits),
    usage: usageMessage(compile.usage),
    signal: compile.signal,
  });
}
