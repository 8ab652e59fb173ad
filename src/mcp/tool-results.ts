import { Code, ConnectError } from "@connectrpc/connect";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type RunResponse, RunStatus, type TestResult } from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { statusNames } from "./tool-schemas.js";

type Content = CallToolResult["content"][number];

/** The verdict as the tools say it: the RunStatus name without its prefix. */
export function statusName(status: RunStatus): (typeof statusNames)[number] {
  const name = RunStatus[status]?.replace(/^RUN_STATUS_/, "");
  return (statusNames as readonly string[]).includes(name ?? "") ? (name as (typeof statusNames)[number]) : "INTERNAL";
}

/** PNG and JPEG by their first bytes (a file's name says nothing about what a program wrote). */
export function imageType(bytes: Uint8Array): "image/png" | "image/jpeg" | undefined {
  const starts = (...prefix: number[]) => prefix.every((byte, index) => bytes[index] === byte);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  return undefined;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

function statusLine(response: RunResponse): string {
  const parts = [`status: ${statusName(response.status)}`];
  if (response.exitCode >= 0) parts.push(`exit code ${response.exitCode}${response.signal ? ` (${response.signal})` : ""}`);
  parts.push(`${response.executionTime.toFixed(3)} s`);
  if (response.testsTotal > 0) parts.push(`${response.testsPassed}/${response.testsTotal} tests passed`);
  if (response.stateLost) parts.push("the interpreter's state was lost");
  if (response.stdoutTruncated || response.stderrTruncated) parts.push("output truncated at the cap");
  return parts.join(", ");
}

function testLine(result: TestResult): string {
  const difference = result.difference ? `: ${result.difference}` : "";
  return `${result.name}: ${statusName(result.status)} (${result.executionTime.toFixed(3)} s)${difference}`;
}

/** Sections a model reads in order; empty ones are left out. */
function section(title: string, text: string): string[] {
  return text === "" ? [] : [`--- ${title} ---\n${text}`];
}

/**
 * A run's or an exec's answer to a model: one text (status line, stdout, stderr, the compiler's
 * output when it failed, the exception's traceback, a cell's value, each test), then every image
 * it made (PNG and JPEG files it wrote, a cell's rich results) as image content, and the same
 * facts as structuredContent for programs.
 */
export function runToolResult(response: RunResponse): CallToolResult {
  const compileFailed = response.status === RunStatus.COMPILE_ERROR && response.compile !== undefined;
  const compileOutput = compileFailed ? [response.compile?.stdout, response.compile?.stderr].filter(Boolean).join("\n") : "";
  const exception = response.exception && {
    name: response.exception.name,
    value: response.exception.value,
    traceback: response.exception.traceback,
  };
  const text = [
    statusLine(response),
    ...section("stdout", response.stdout),
    ...section("stderr", response.stderr),
    ...section("compiler output", compileOutput),
    ...section("exception", exception ? exception.traceback || `${exception.name}: ${exception.value}` : ""),
    ...section("value", response.value),
    ...section("tests", response.testResults.map(testLine).join("\n")),
    ...section("error", response.error),
  ].join("\n");
  const images: Content[] = [];
  for (const result of response.results) {
    const png = result.data["image/png"];
    if (png) images.push({ type: "image", data: png, mimeType: "image/png" });
  }
  // A cell's figures are in `results` already; files the program wrote are shown by name.
  const figuresShown = images.length > 0;
  const artifacts = [...Object.keys(response.artifacts), ...Object.keys(response.binaryArtifacts)].sort();
  if (!figuresShown) {
    for (const name of Object.keys(response.binaryArtifacts).sort()) {
      const bytes = response.binaryArtifacts[name] as Uint8Array;
      const mimeType = imageType(bytes);
      if (mimeType) images.push({ type: "image", data: base64(bytes), mimeType });
    }
  }
  const artifactLine = artifacts.length > 0 ? [`files written: ${artifacts.join(", ")}`] : [];
  return {
    content: [{ type: "text", text: [text, ...artifactLine].join("\n") }, ...images],
    structuredContent: {
      status: statusName(response.status),
      exit_code: response.exitCode,
      stdout: response.stdout,
      stderr: response.stderr,
      execution_time: response.executionTime,
      ...(exception ? { exception } : {}),
      ...(response.value ? { value: response.value } : {}),
      ...(compileOutput ? { compile_output: compileOutput } : {}),
      ...(response.testResults.length > 0
        ? {
            test_results: response.testResults.map((result) => ({
              name: result.name,
              status: statusName(result.status),
              difference: result.difference,
              execution_time: result.executionTime,
            })),
          }
        : {}),
      ...(artifacts.length > 0 ? { artifacts } : {}),
    },
  };
}

/** A plain answer: text for the model, and the same as structuredContent when given. */
export function textToolResult(text: string, structured?: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], ...(structured ? { structuredContent: structured } : {}) };
}

/**
 * A refused call, as a model can act on it: the Connect code, the server's message, and each field
 * the request got wrong (google.rpc.BadRequest) or the reason it was refused (ErrorInfo).
 */
export function errorToolResult(error: unknown): CallToolResult {
  const failure = ConnectError.from(error);
  // INVALID_ARGUMENT, as gRPC and the README spell the codes.
  const code = (Code[failure.code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  const lines = [`${code}: ${failure.rawMessage}`];
  for (const detail of failure.findDetails(BadRequestSchema)) {
    for (const violation of detail.fieldViolations) lines.push(`field ${violation.field}: ${violation.description}`);
  }
  for (const info of failure.findDetails(ErrorInfoSchema)) lines.push(`reason: ${info.reason}`);
  if (failure.code === Code.Unauthenticated) lines.push("The MCP client's API key (Authorization: Bearer) was refused.");
  return { content: [{ type: "text", text: lines.join("\n") }], isError: true };
}
