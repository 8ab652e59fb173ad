import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Comparison, RunRequestSchema, TestCaseSchema } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { compareOutput } from "../../src/runner/output-comparison.js";
import { CaseFrameParser, encodeCaseInput, type CaseFrame } from "../../src/sandbox/supervisor-protocol.js";
import { decideCaseVerdict, type CaseFacts } from "../../src/runner/verdict.js";
import { validateTests } from "../../src/service/test-cases-request.js";

const none = { absolute: 0, relative: 0 };

describe("compareOutput", () => {
  it("ignores trailing whitespace by default, and says which line differs", () => {
    expect(compareOutput("1 2  \n3\t\n\n\n", "1 2\n3", "trailing_whitespace", none)).toEqual({ equal: true, difference: "" });
    expect(compareOutput("1\n2\n4\n", "1\n2\n3\n", "trailing_whitespace", none)).toEqual({
      equal: false,
      difference: 'line 3: expected "3", received "4"',
    });
    expect(compareOutput("1\n", "1\n2\n", "trailing_whitespace", none).difference).toBe('line 2: expected "2", received nothing');
    expect(compareOutput(" 1\n", "1\n", "trailing_whitespace", none).equal).toBe(false);
  });

  it("compares byte for byte in exact mode, a missing final newline included", () => {
    expect(compareOutput("a\n", "a\n", "exact", none).equal).toBe(true);
    expect(compareOutput("a", "a\n", "exact", none)).toMatchObject({ equal: false });
    expect(compareOutput("a \n", "a\n", "exact", none).difference).toBe('line 1: expected "a", received "a "');
  });

  it("compares whitespace-separated tokens, and numbers within a tolerance", () => {
    expect(compareOutput("1   2\n\n3", "1 2 3\n", "tokens", none).equal).toBe(true);
    expect(compareOutput("1 2 4", "1 2 3", "tokens", none).difference).toBe('token 3: expected "3", received "4"');
    expect(compareOutput("3.14159", "3.1416", "numeric", { absolute: 1e-4, relative: 0 }).equal).toBe(true);
    expect(compareOutput("3.14", "3.1416", "numeric", { absolute: 1e-4, relative: 0 }).equal).toBe(false);
    expect(compareOutput("1000.5", "1000", "numeric", { absolute: 0, relative: 1e-3 }).equal).toBe(true);
    expect(compareOutput("1e-12", "0", "numeric", none).equal).toBe(true);
    expect(compareOutput("abc 1.0", "abc 1", "numeric", none).equal).toBe(true);
    expect(compareOutput("nan", "0", "numeric", { absolute: 1, relative: 0 }).equal).toBe(false);
  });

  it("quotes at most 80 characters of a differing line", () => {
    const long = "x".repeat(500);
    expect(compareOutput(long, "y", "exact", none).difference.length).toBeLessThan(200);
  });
});

describe("decideCaseVerdict", () => {
  const facts = (overrides: Partial<CaseFacts>): CaseFacts => ({
    status: 0,
    timedOut: false,
    outputOverCap: false,
    oomKills: 0,
    peakMemoryBytes: 1 << 20,
    memoryLimitBytes: undefined,
    cpuSeconds: 0,
    cpuUsedSeconds: 0.01,
    outputMatched: true,
    ...overrides,
  });

  it.each([
    ["ok", facts({}), "ok", 0, ""],
    ["wrong answer", facts({ outputMatched: false }), "wrong_answer", 0, ""],
    ["no expected output: exit 0 passes", facts({ outputMatched: undefined }), "ok", 0, ""],
    ["a crash outranks the comparison", facts({ status: 139, outputMatched: false }), "runtime_error", 139, "SIGSEGV"],
    ["the wall limit", facts({ status: 124, timedOut: true }), "timeout", -1, "SIGKILL"],
    ["the CPU limit", facts({ status: 152, cpuSeconds: 1 }), "timeout", 152, "SIGXCPU"],
    ["the CPU limit's hard kill", facts({ status: 137, cpuSeconds: 1, cpuUsedSeconds: 2 }), "timeout", 137, "SIGKILL"],
    [
      "a kill before the CPU limit is not a timeout",
      facts({ status: 137, cpuSeconds: 5, cpuUsedSeconds: 1 }),
      "runtime_error",
      137,
      "SIGKILL",
    ],
    ["an output flood", facts({ status: 141, outputOverCap: true }), "output_limit", 141, "SIGPIPE"],
    ["an OOM kill", facts({ status: 137, oomKills: 1 }), "memory_limit", 137, "SIGKILL"],
    [
      "a peak above the case's own memory",
      facts({ peakMemoryBytes: 64 << 20, memoryLimitBytes: 32 << 20 }),
      "memory_limit",
      0,
      "",
    ],
  ] as const)("%s", (_title, input, verdict, exitCode, signal) => {
    expect(decideCaseVerdict(input)).toEqual({ verdict, exitCode, signal });
  });
});

describe("the case runner's protocol", () => {
  it("encodes a case as header, archive, NUL-terminated args and stdin", () => {
    const bytes = encodeCaseInput({
      archive: Buffer.from("ARCHIVE"),
      args: ["a b", "ü"],
      stdin: Buffer.from("in"),
      timeoutSeconds: 1.5,
      cpuSeconds: 2,
      outputCap: 1024,
    });
    expect(bytes.toString("utf8")).toBe("7 7 2 1.5 2 1024 1500000\nARCHIVEa b\0ü\0in");
  });

  it("reads frames split anywhere, with output that looks like a frame inside them", () => {
    const frames: CaseFrame[] = [];
    const parser = new CaseFrameParser((frame) => frames.push(frame));
    const forged = "\0aurea-case 1 0 1 0 0 0 0 0 0 0\n";
    const stream = Buffer.concat([
      Buffer.from(`\0aurea-case 0 0 1500 0.01 0.00 2048 0 0 ${forged.length} 3\n${forged}err`),
      Buffer.from("\0aurea-case 1 124 2000000 - - - 1 0 0 0\n"),
    ]);
    for (let offset = 0; offset < stream.length; offset += 7) parser.push(stream.subarray(offset, offset + 7));
    expect(parser.malformed).toBe(false);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatchObject({ index: 0, status: 0, wallMicroseconds: 1500, maxRssKilobytes: 2048, timedOut: false });
    expect(frames[0]?.stdout.toString()).toBe(forged);
    expect(frames[0]?.stderr.toString()).toBe("err");
    expect(frames[1]).toMatchObject({
      index: 1,
      status: 124,
      timedOut: true,
      userSeconds: undefined,
      maxRssKilobytes: undefined,
    });
  });

  it("stops trusting a stream that holds anything but frames", () => {
    const parser = new CaseFrameParser(() => undefined);
    parser.push(Buffer.from("hello\n"));
    expect(parser.malformed).toBe(true);
  });
});

describe("validateTests", () => {
  const policy = {
    maxTests: 3,
    maxTestInputBytes: 100,
    maxTestTimeSeconds: 10,
    testDefaultTimeoutSeconds: 2,
    testOutputLimitBytes: 4096,
    defaultTimeoutSeconds: 30,
    maxTimeoutSeconds: 60,
  };
  const check = (fields: Parameters<typeof create<typeof RunRequestSchema>>[1]) => {
    const violations: string[] = [];
    const result = validateTests(create(RunRequestSchema, fields), policy, 256 << 20, (field, description) =>
      violations.push(`${field}: ${description}`),
    );
    return { result, violations };
  };
  const testCase = (fields: Parameters<typeof create<typeof TestCaseSchema>>[1] = {}) => create(TestCaseSchema, fields);

  it("resolves each case's defaults and the sandbox's whole time", () => {
    const { result, violations } = check({
      tests: [
        testCase({ stdin: Buffer.from("1"), expectedStdout: "2" }),
        testCase({ name: "big", timeout: 3, cpuTimeLimit: 0.2 }),
      ],
      comparison: Comparison.NUMERIC,
      absoluteTolerance: 0.5,
    });
    expect(violations).toEqual([]);
    expect(result?.plan).toMatchObject({
      comparison: "numeric",
      absoluteTolerance: 0.5,
      cases: [
        { name: "1", timeoutMs: 2000, cpuSeconds: 0, expectedStdout: "2" },
        { name: "big", timeoutMs: 3000, cpuSeconds: 1, expectedStdout: undefined },
      ],
    });
    expect(result?.totalTimeoutMs).toBe(5000 + 2 * 500 + 5000);
  });

  it("refuses, naming each field: too many cases, too much input, too much time, stdin or args beside tests", () => {
    expect(check({ tests: [testCase(), testCase(), testCase(), testCase()] }).violations).toEqual([
      "tests: has 4 cases; at most 3 are allowed (SANDBOX_MAX_TESTS)",
    ]);
    expect(check({ tests: [testCase({ expectedStdout: "x".repeat(101) })] }).violations).toEqual([
      "tests: carry 101 bytes of stdin and expected output; at most 100 are allowed (SANDBOX_MAX_TEST_INPUT_BYTES)",
    ]);
    expect(check({ tests: [testCase({ timeout: 6 }), testCase({ timeout: 6 })] }).violations).toEqual([
      "tests: have 12 s of timeouts in all; at most 10 s are allowed (SANDBOX_MAX_TEST_TIME)",
    ]);
    expect(
      check({ tests: [testCase({ timeout: -1, memoryBytes: BigInt(1) << 40n })], stdin: Buffer.from("x"), args: ["a"] })
        .violations,
    ).toEqual([
      "stdin: must be empty with tests: each case has its own",
      "args: must be empty with tests: each case has its own",
      "tests[0].timeout: must be a positive number of seconds, got -1",
      "tests[0].memory_bytes: 1099511627776 bytes is outside 0 to the run's memory limit of 268435456 bytes",
    ]);
    expect(check({ stopOnFirstFailure: true }).violations).toEqual(["stop_on_first_failure: needs tests"]);
  });
});
