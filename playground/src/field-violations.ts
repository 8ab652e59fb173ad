/**
 * The form fields a refused request names. Every INVALID_ARGUMENT from Aurea carries a
 * google.rpc.BadRequest with one violation per problem, each naming the request's field path
 * (`timeout`, `limits.memory_bytes`, `tests[2].timeout`): which control each names is decided
 * here, and field-marks.ts marks them on the page.
 */
import { ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

/** The control that sets each request field, by the field path's first part; `code` is the editor's. */
const controlByField: Readonly<Record<string, string>> = {
  language: "language",
  runtime: "runtime",
  code: "editor",
  files: "file-tabs",
  binary_files: "file-tabs",
  stdin: "stdin",
  args: "args",
  env: "env",
  timeout: "limit-timeout",
  "limits.cpu": "limit-cpu",
  "limits.memory_bytes": "limit-memory",
  "limits.pids": "limit-pids",
  tests: "test-cases",
  comparison: "comparison",
  absolute_tolerance: "absolute-tolerance",
  relative_tolerance: "relative-tolerance",
  stop_on_first_failure: "stop-on-first-failure",
};

/** The id of the control a violation's field path names, if the page has one. */
export function controlForField(field: string): string | undefined {
  // `limits.memory_bytes` is one control; `files["a.txt"]`, `args[2]`, `tests[1].timeout` belong to their list's.
  const exact = controlByField[field];
  if (exact) return exact;
  const head = /^[a-z_]+/.exec(field)?.[0];
  return head === undefined ? undefined : controlByField[head];
}

/** The fields an error's BadRequest names, in order; none for any other error. */
export function violatedFields(error: unknown): string[] {
  return ConnectError.from(error)
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations.map((violation) => violation.field));
}
