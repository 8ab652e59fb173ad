import { Comparison as WireComparison, type RunRequest } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import type { AureaConfig } from "../config/config.js";
import type { Comparison, JudgeCase, JudgePlan } from "../runner/run-spec.js";
import { validateArgs } from "./args-and-env.js";

/** The server's bounds on test cases: the part of the configuration that says so. */
export type TestPolicyFields =
  | "maxTests"
  | "maxTestInputBytes"
  | "maxTestTimeSeconds"
  | "testDefaultTimeoutSeconds"
  | "testOutputLimitBytes"
  | "defaultTimeoutSeconds"
  | "maxTimeoutSeconds";

/** Bytes of each case's stdout and stderr a result shows (the comparison sees up to the output limit). */
const shownBytes = 64 * 1024;
/** Setup of one case in the sandbox (fresh workspace, processes), on top of its own time. */
const perCaseAllowanceMs = 500;
const comparisons: Record<WireComparison, Comparison> = {
  [WireComparison.UNSPECIFIED]: "trailing_whitespace",
  [WireComparison.TRAILING_WHITESPACE]: "trailing_whitespace",
  [WireComparison.EXACT]: "exact",
  [WireComparison.TOKENS]: "tokens",
  [WireComparison.NUMERIC]: "numeric",
};

/**
 * Checks RunRequest.tests and the fields that go with them against the policy. Undefined when
 * the request has no tests; every violation is reported through `violate`, naming its field.
 */
export function validateTests(
  request: RunRequest,
  policy: Pick<AureaConfig, TestPolicyFields>,
  runMemoryBytes: number,
  violate: (field: string, description: string) => void,
): { plan: JudgePlan; totalTimeoutMs: number } | undefined {
  if (request.tests.length === 0) {
    if (request.stopOnFirstFailure) violate("stop_on_first_failure", "needs tests");
    return undefined;
  }
  if (request.tests.length > policy.maxTests) {
    violate("tests", `has ${request.tests.length} cases; at most ${policy.maxTests} are allowed (SANDBOX_MAX_TESTS)`);
    return undefined;
  }
  if (request.stdin.length > 0) violate("stdin", "must be empty with tests: each case has its own");
  if (request.args.length > 0) violate("args", "must be empty with tests: each case has its own");
  const comparison = comparisons[request.comparison];
  if (comparison === undefined) violate("comparison", `unknown comparison ${request.comparison}`);
  for (const field of ["absoluteTolerance", "relativeTolerance"] as const) {
    const value = request[field];
    if (!Number.isFinite(value) || value < 0) {
      violate(field === "absoluteTolerance" ? "absolute_tolerance" : "relative_tolerance", `must be 0 or more, got ${value}`);
    }
  }

  const defaultSeconds = request.timeout > 0 ? request.timeout : policy.testDefaultTimeoutSeconds;
  let inputBytes = 0;
  let totalMs = 0;
  const cases: JudgeCase[] = request.tests.map((test, index) => {
    const field = `tests[${index}]`;
    inputBytes += test.stdin.length + Buffer.byteLength(test.expectedStdout ?? "", "utf8");
    let seconds = defaultSeconds;
    if (!Number.isFinite(test.timeout) || test.timeout < 0)
      violate(`${field}.timeout`, `must be a positive number of seconds, got ${test.timeout}`);
    else if (test.timeout > policy.maxTimeoutSeconds) {
      violate(`${field}.timeout`, `${test.timeout} s is above the maximum of ${policy.maxTimeoutSeconds} s`);
    } else if (test.timeout > 0) seconds = test.timeout;
    totalMs += seconds * 1000;
    if (!Number.isFinite(test.cpuTimeLimit) || test.cpuTimeLimit < 0) {
      violate(`${field}.cpu_time_limit`, `must be 0 or more seconds, got ${test.cpuTimeLimit}`);
    }
    const memory = Number(test.memoryBytes);
    if (memory < 0 || memory > runMemoryBytes) {
      violate(`${field}.memory_bytes`, `${memory} bytes is outside 0 to the run's memory limit of ${runMemoryBytes} bytes`);
    }
    if (Buffer.byteLength(test.name, "utf8") > 256) violate(`${field}.name`, "is longer than 256 bytes");
    return {
      name: test.name === "" ? String(index + 1) : test.name,
      stdin: test.stdin,
      args: validateArgs(test.args, violate, `${field}.args`),
      expectedStdout: test.expectedStdout,
      timeoutMs: Math.round(seconds * 1000),
      cpuSeconds: Math.ceil(Math.max(0, test.cpuTimeLimit || 0)),
      memoryBytes: memory > 0 ? memory : undefined,
      comparison: test.comparison === WireComparison.UNSPECIFIED ? undefined : comparisons[test.comparison],
    };
  });
  if (inputBytes > policy.maxTestInputBytes) {
    violate(
      "tests",
      `carry ${inputBytes} bytes of stdin and expected output; at most ${policy.maxTestInputBytes} are allowed (SANDBOX_MAX_TEST_INPUT_BYTES)`,
    );
  }
  if (totalMs > policy.maxTestTimeSeconds * 1000) {
    violate(
      "tests",
      `have ${totalMs / 1000} s of timeouts in all; at most ${policy.maxTestTimeSeconds} s are allowed (SANDBOX_MAX_TEST_TIME)`,
    );
  }
  return {
    plan: {
      cases,
      comparison: comparison ?? "trailing_whitespace",
      absoluteTolerance: request.absoluteTolerance,
      relativeTolerance: request.relativeTolerance,
      stopOnFirstFailure: request.stopOnFirstFailure,
      caseOutputLimitBytes: policy.testOutputLimitBytes,
      caseOutputShownBytes: Math.min(shownBytes, policy.testOutputLimitBytes),
    },
    totalTimeoutMs: Math.round(totalMs + perCaseAllowanceMs * cases.length + 5000),
  };
}
