import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  CellResultSchema,
  CompileResultSchema,
  ExceptionInfoSchema,
  LanguageInfoSchema,
  ListLanguagesResponseSchema,
  RunResponseSchema,
  RunStatus,
  TestResultSchema,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorToolResult, imageType, runToolResult, statusName } from "../../src/mcp/tool-results.js";
import { toolBoundsFrom, toolInputSchemas } from "../../src/mcp/tool-schemas.js";

const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const textOf = (result: ReturnType<typeof runToolResult>) => (result.content[0] as { text: string }).text;

describe("an answer to a model", () => {
  it("names every verdict without its prefix", () => {
    expect(statusName(RunStatus.OK)).toBe("OK");
    expect(statusName(RunStatus.COMPILE_ERROR)).toBe("COMPILE_ERROR");
    expect(statusName(RunStatus.UNSPECIFIED)).toBe("INTERNAL");
  });

  it("tells images by their bytes, not their names", () => {
    expect(imageType(png)).toBe("image/png");
    expect(imageType(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]))).toBe("image/jpeg");
    expect(imageType(new TextEncoder().encode("<svg/>"))).toBeUndefined();
  });

  it("puts the status line first, then each part that has something, and the same facts as structure", () => {
    const result = runToolResult(
      create(RunResponseSchema, {
        status: RunStatus.RUNTIME_ERROR,
        exitCode: 139,
        signal: "SIGSEGV",
        executionTime: 0.25,
        stdout: "partial\n",
        stderr: "",
        stdoutTruncated: true,
      }),
    );
    expect(textOf(result)).toBe(
      "status: RUNTIME_ERROR, exit code 139 (SIGSEGV), 0.250 s, output truncated at the cap\n--- stdout ---\npartial\n",
    );
    expect(result.structuredContent).toEqual({
      status: "RUNTIME_ERROR",
      exit_code: 139,
      stdout: "partial\n",
      stderr: "",
      execution_time: 0.25,
    });
    expect(result.isError).toBeUndefined();
  });

  it("shows a cell's traceback and value, and its figures as images rather than the same figure twice", () => {
    const result = runToolResult(
      create(RunResponseSchema, {
        status: RunStatus.RUNTIME_ERROR,
        exitCode: 1,
        exception: create(ExceptionInfoSchema, {
          name: "KeyError",
          value: "'x'",
          traceback: "File \"<cell 2>\", line 1\nKeyError: 'x'",
        }),
        results: [create(CellResultSchema, { data: { "text/plain": "<Figure>", "image/png": "iVBORw0KGgo=" } })],
        binaryArtifacts: { "figure-1.png": png },
      }),
    );
    expect(textOf(result)).toContain("--- exception ---\nFile \"<cell 2>\", line 1\nKeyError: 'x'");
    expect(result.content.filter((item) => item.type === "image")).toEqual([
      { type: "image", data: "iVBORw0KGgo=", mimeType: "image/png" },
    ]);
    expect(result.structuredContent).toMatchObject({
      exception: { name: "KeyError", value: "'x'" },
      artifacts: ["figure-1.png"],
    });
  });

  it("shows the compiler's output only when the program did not compile, and each judged case", () => {
    const compiled = create(CompileResultSchema, { stderr: "main.c:1: error: nope", status: RunStatus.RUNTIME_ERROR });
    const failed = runToolResult(create(RunResponseSchema, { status: RunStatus.COMPILE_ERROR, exitCode: -1, compile: compiled }));
    expect(textOf(failed)).toBe("status: COMPILE_ERROR, 0.000 s\n--- compiler output ---\nmain.c:1: error: nope");
    expect(failed.structuredContent).toMatchObject({ compile_output: "main.c:1: error: nope" });
    const judged = runToolResult(
      create(RunResponseSchema, {
        status: RunStatus.WRONG_ANSWER,
        compile: create(CompileResultSchema, { stderr: "a warning", status: RunStatus.OK }),
        testsPassed: 1,
        testsTotal: 2,
        testResults: [
          create(TestResultSchema, { name: "1", status: RunStatus.OK, executionTime: 0.01 }),
          create(TestResultSchema, { name: "2", status: RunStatus.WRONG_ANSWER, difference: "line 1: expected 5, got 4" }),
        ],
      }),
    );
    expect(textOf(judged)).not.toContain("compiler output");
    expect(textOf(judged)).toContain("1/2 tests passed");
    expect(textOf(judged)).toContain("--- tests ---\n1: OK (0.010 s)\n2: WRONG_ANSWER (0.000 s): line 1: expected 5, got 4");
  });

  it("answers a refusal as isError with the code, each field and the reason", () => {
    const refusal = new ConnectError("timeout: above the maximum", Code.InvalidArgument, undefined, [
      {
        desc: BadRequestSchema,
        value: { fieldViolations: [{ field: "timeout", description: "at most 300 seconds" }] },
      },
      { desc: ErrorInfoSchema, value: { reason: "QUEUE_FULL", domain: "aurea.dev" } },
    ]);
    const result = errorToolResult(refusal);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(
      "INVALID_ARGUMENT: timeout: above the maximum\nfield timeout: at most 300 seconds\nreason: QUEUE_FULL",
    );
    expect(textOf(errorToolResult(new ConnectError("no", Code.ResourceExhausted)))).toMatch(/^RESOURCE_EXHAUSTED: no/);
  });
});

describe("the tools' input schemas", () => {
  const bounds = toolBoundsFrom(
    create(ListLanguagesResponseSchema, {
      languages: [
        create(LanguageInfoSchema, { name: "python", maxTimeout: 300, defaultTimeout: 30, statefulSessions: true }),
        create(LanguageInfoSchema, { name: "c", maxTimeout: 300, defaultTimeout: 30 }),
      ],
      sessionMaxTtl: 86_400,
      sessionDefaultTtl: 3600,
    }),
  );

  it("take the server's languages and maxima", () => {
    expect(bounds).toEqual({
      languages: ["python", "c"],
      statefulLanguages: ["python"],
      maxTimeout: 300,
      defaultTimeout: 30,
      maxTtl: 86_400,
      defaultTtl: 3600,
    });
    const schemas = toolInputSchemas(bounds);
    expect(schemas.run_code.language.safeParse("python").success).toBe(true);
    expect(schemas.run_code.language.safeParse("Python").success).toBe(false);
    expect(schemas.run_code.timeout.safeParse(300).success).toBe(true);
    expect(schemas.run_code.timeout.safeParse(301).success).toBe(false);
    expect(schemas.run_code.timeout.safeParse(-1).success).toBe(false);
    expect(schemas.create_session.ttl.safeParse(86_401).success).toBe(false);
  });

  it("cannot be built from a server that lists no language", () => {
    expect(() => toolBoundsFrom(create(ListLanguagesResponseSchema, {}))).toThrow(/no languages/);
  });
});
