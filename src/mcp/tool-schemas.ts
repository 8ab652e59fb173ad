import { z } from "zod";
import type { ListLanguagesResponse } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";

/**
 * What the tools' input schemas are built from: the server's own ListLanguages answer, so a model
 * sees the same languages and maxima the API validates (and a stdio bridge the ones of the server
 * it talks to).
 */
export interface ToolBounds {
  /** Canonical language names, in the server's order. */
  readonly languages: readonly [string, ...string[]];
  /** Languages whose sessions can be stateful (a live interpreter). */
  readonly statefulLanguages: readonly string[];
  /** The longest run or exec, seconds (SANDBOX_MAX_TIMEOUT), and the default. */
  readonly maxTimeout: number;
  readonly defaultTimeout: number;
  /** The longest session lifetime, seconds (SESSION_MAX_TTL), and the default. */
  readonly maxTtl: number;
  readonly defaultTtl: number;
}

export function toolBoundsFrom(response: ListLanguagesResponse): ToolBounds {
  const [first, ...rest] = response.languages;
  if (!first) throw new Error("the server lists no languages");
  return {
    languages: [first.name, ...rest.map((language) => language.name)],
    statefulLanguages: response.languages.filter((language) => language.statefulSessions).map((language) => language.name),
    maxTimeout: first.maxTimeout,
    defaultTimeout: first.defaultTimeout,
    maxTtl: response.sessionMaxTtl,
    defaultTtl: response.sessionDefaultTtl,
  };
}

/** Workspace paths as the API takes them: relative, `/` between segments. */
const workspacePath = z.string().min(1).max(1024);

function timeoutSchema(bounds: ToolBounds, what: string) {
  return z
    .number()
    .positive()
    .max(bounds.maxTimeout)
    .optional()
    .describe(`Wall-clock limit of ${what}, seconds (default ${bounds.defaultTimeout}, at most ${bounds.maxTimeout}).`);
}

/** The input schemas of the tools, by tool name; the argument names are a contract. */
export function toolInputSchemas(bounds: ToolBounds) {
  const language = z.enum(bounds.languages).describe("The language, by its canonical name (list_languages).");
  const sessionId = z.string().min(1).max(512).describe("The id create_session returned.");
  return {
    run_code: {
      language,
      code: z.string().min(1).describe("The program's source code."),
      stdin: z.string().optional().describe("Text given to the program's standard input."),
      files: z
        .record(workspacePath, z.string())
        .optional()
        .describe("Files placed in the workspace before the program starts: relative path to text."),
      timeout: timeoutSchema(bounds, "the run"),
      tests: z
        .array(
          z.object({
            name: z.string().max(256).optional(),
            stdin: z.string().optional(),
            expected_stdout: z.string().optional().describe("Omitted: the case passes on exit code 0 alone."),
          }),
        )
        .max(1000)
        .optional()
        .describe("Test cases: the program is compiled once and run once per case, each judged on its output."),
    },
    list_languages: {},
    create_session: {
      language,
      stateful: z
        .boolean()
        .optional()
        .describe(
          `A live interpreter whose variables last from one execute to the next (${bounds.statefulLanguages.join(", ") || "no language here"}).`,
        ),
      ttl: z
        .number()
        .positive()
        .max(bounds.maxTtl)
        .optional()
        .describe(`How long the session lives, seconds (default ${bounds.defaultTtl}, at most ${bounds.maxTtl}).`),
    },
    execute: {
      session_id: sessionId,
      code: z.string().min(1).describe("Code to run in the session (a cell, in a stateful session)."),
      timeout: timeoutSchema(bounds, "this execute"),
    },
    write_files: {
      session_id: sessionId,
      files: z.record(workspacePath, z.string()).describe("Relative path in the workspace to the file's text."),
    },
    read_file: { session_id: sessionId, path: workspacePath.describe("Relative path in the workspace.") },
    list_files: {
      session_id: sessionId,
      path: z.string().max(1024).optional().describe("A directory relative to the workspace (default: the workspace)."),
      recursive: z.boolean().optional().describe("List what sub-directories hold too."),
    },
    close_session: { session_id: sessionId },
  };
}

/** Short verdict names, as `status` says them (the proto's RunStatus without its prefix). */
export const statusNames = [
  "OK",
  "RUNTIME_ERROR",
  "TIMEOUT",
  "MEMORY_LIMIT",
  "OUTPUT_LIMIT",
  "CANCELLED",
  "INTERNAL",
  "COMPILE_ERROR",
  "WRONG_ANSWER",
  "SKIPPED",
  "NETWORK_LIMIT",
] as const;

/** What run_code and execute answer as structuredContent. */
export const runOutputSchema = {
  status: z.enum(statusNames).describe("The verdict."),
  exit_code: z.number().int().describe("The program's exit code; -1 when it has none."),
  stdout: z.string(),
  stderr: z.string(),
  execution_time: z.number().describe("Wall-clock seconds the program ran."),
  exception: z
    .object({ name: z.string(), value: z.string(), traceback: z.string() })
    .optional()
    .describe("What a stateful cell raised and did not catch."),
  value: z.string().optional().describe("A stateful cell's trailing expression, as text."),
  compile_output: z.string().optional().describe("The compiler's output, when the program did not compile."),
  test_results: z
    .array(z.object({ name: z.string(), status: z.enum(statusNames), difference: z.string(), execution_time: z.number() }))
    .optional(),
  artifacts: z.array(z.string()).optional().describe("Files the program wrote in the workspace."),
};
