import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import {
  ArtifactSkipReason,
  ExecRequestSchema,
  FileType,
  RunRequestSchema,
  type RunStreamResponse,
  type SandboxService,
  TestCaseSchema,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { reportProgress, type ToolCallExtra } from "./progress.js";
import { errorToolResult, imageType, runToolResult, textToolResult } from "./tool-results.js";
import { runOutputSchema, type ToolBounds, toolInputSchemas } from "./tool-schemas.js";

export interface AureaMcpServerOptions {
  /** Aurea's API: a server over Connect (the stdio bridge), or this server itself (`/mcp`). */
  readonly client: Client<typeof SandboxService>;
  /** Headers sent with every call: the MCP client's `Authorization`, which the API checks as its own. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Languages and maxima for the input schemas (toolBoundsFrom a ListLanguages answer). */
  readonly bounds: ToolBounds;
  /** The server's version, as the MCP handshake reports it. */
  readonly version: string;
  readonly logger: Logger;
}

export interface AureaMcpServer {
  readonly server: McpServer;
  /** Sessions this MCP session created and has not closed. */
  sessions(): string[];
  /** Closes them: the MCP session ended. Never throws; a session already gone is fine. */
  closeSessions(): Promise<void>;
}

const readOnly = { readOnlyHint: true, destructiveHint: false, openWorldHint: false } as const;

/**
 * One MCP server per MCP session: the eight tools (their names and argument names are a contract),
 * each a few lines over one API call. Every answer reads well to a model (tool-results.ts); every
 * refusal is `isError` naming the field.
 */
export function createAureaMcpServer(options: AureaMcpServerOptions): AureaMcpServer {
  const { client, bounds, logger } = options;
  const inputs = toolInputSchemas(bounds);
  const owned = new Set<string>();
  const server = new McpServer(
    { name: "aurea", title: "Aurea code sandbox", version: options.version },
    {
      instructions:
        "Runs code in fresh, locked-down sandboxes with no network. run_code for one program (with optional test cases); " +
        "create_session, then execute, write_files, read_file and list_files for work that spans calls; close_session when done.",
    },
  );
  const callOptions = (extra: ToolCallExtra): CallOptions => ({ headers: { ...options.headers }, signal: extra.signal });

  /** Runs `call`, answering a refusal as isError and logging every call in one line. */
  async function tool(name: string, extra: ToolCallExtra, call: () => Promise<CallToolResult>): Promise<CallToolResult> {
    const started = performance.now();
    try {
      const result = await call();
      logger.info({ tool: name, mcp_session_id: extra.sessionId, ms: Math.round(performance.now() - started) }, "mcp tool call");
      return result;
    } catch (error) {
      const failure = ConnectError.from(error);
      logger.info(
        { tool: name, mcp_session_id: extra.sessionId, code: Code[failure.code], err: failure.rawMessage },
        "mcp tool call refused",
      );
      return errorToolResult(failure);
    }
  }

  /** A run's or an exec's stream, read to its result, with progress sent while it goes. */
  async function streamToResult(events: AsyncIterable<RunStreamResponse>, extra: ToolCallExtra, timeout: number) {
    const progress = reportProgress(extra, timeout);
    try {
      for await (const event of events) {
        if (event.event.case === "result") return runToolResult(event.event.value);
        progress.saw(event);
      }
    } finally {
      progress.stop();
    }
    throw new ConnectError("the stream ended without a result", Code.Unavailable);
  }

  server.registerTool(
    "run_code",
    {
      title: "Run code",
      description:
        "Runs one program in a fresh sandbox that is discarded afterwards (no network). With tests, compiles once and judges each case. " +
        "PNG and JPEG files the program writes come back as images.",
      inputSchema: inputs.run_code,
      outputSchema: runOutputSchema,
      annotations: { ...readOnly, idempotentHint: false },
    },
    (args, extra) =>
      tool("run_code", extra, () => {
        const request = create(RunRequestSchema, {
          language: args.language,
          code: args.code,
          stdin: new TextEncoder().encode(args.stdin ?? ""),
          files: args.files ?? {},
          timeout: args.timeout ?? 0,
          captureArtifacts: true,
          tests: (args.tests ?? []).map((test) =>
            create(TestCaseSchema, {
              name: test.name ?? "",
              stdin: new TextEncoder().encode(test.stdin ?? ""),
              expectedStdout: test.expected_stdout,
            }),
          ),
        });
        return streamToResult(client.runStream(request, callOptions(extra)), extra, args.timeout ?? bounds.defaultTimeout);
      }),
  );

  server.registerTool(
    "list_languages",
    {
      title: "List languages",
      description: "The languages this server runs, with their versions, and which can keep a stateful session.",
      annotations: { ...readOnly, idempotentHint: true },
    },
    (extra) =>
      tool("list_languages", extra, async () => {
        const response = await client.listLanguages({}, callOptions(extra));
        const lines = response.languages.map((language) =>
          [
            `${language.name}${language.version ? ` ${language.version}` : ""}`,
            language.aliases.length > 0 ? `aliases ${language.aliases.join(", ")}` : "",
            language.compiled ? "compiled" : "",
            language.statefulSessions ? "stateful sessions" : "",
            language.available ? "" : "not available now (its image is missing)",
          ]
            .filter(Boolean)
            .join("; "),
        );
        return textToolResult(lines.join("\n"));
      }),
  );

  server.registerTool(
    "create_session",
    {
      title: "Create a session",
      description:
        "A sandbox that lives across calls: files written stay, and with stateful a live interpreter keeps variables between executes. " +
        "Closed by close_session, when its ttl ends, or when this MCP session ends.",
      inputSchema: inputs.create_session,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) =>
      tool("create_session", extra, async () => {
        const response = await client.createSession(
          { language: args.language, stateful: args.stateful ?? false, ttl: args.ttl ?? 0 },
          callOptions(extra),
        );
        owned.add(response.sessionId);
        const expiresAt = response.expiresAt ? new Date(Number(response.expiresAt.seconds) * 1000).toISOString() : "";
        return textToolResult(
          `session_id: ${response.sessionId}\nlanguage: ${args.language}${args.stateful ? " (stateful)" : ""}\nexpires at: ${expiresAt}`,
          { session_id: response.sessionId, expires_at: expiresAt },
        );
      }),
  );

  server.registerTool(
    "execute",
    {
      title: "Execute in a session",
      description:
        "Runs code in a session's sandbox: a program in its workspace, or a cell of its live interpreter when stateful " +
        "(the value of a trailing expression, displays and open plots come back; an exception's traceback names the cell's lines).",
      inputSchema: inputs.execute,
      outputSchema: runOutputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) =>
      tool("execute", extra, () => {
        const request = create(ExecRequestSchema, { sessionId: args.session_id, code: args.code, timeout: args.timeout ?? 0 });
        return streamToResult(client.execStream(request, callOptions(extra)), extra, args.timeout ?? bounds.defaultTimeout);
      }),
  );

  server.registerTool(
    "write_files",
    {
      title: "Write files",
      description: "Writes text files into a session's workspace (directories are made; an existing file is replaced).",
      inputSchema: inputs.write_files,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      tool("write_files", extra, async () => {
        const response = await client.writeFiles({ sessionId: args.session_id, files: args.files }, callOptions(extra));
        return textToolResult(`wrote ${response.names.length} file(s): ${response.names.join(", ")}`);
      }),
  );

  server.registerTool(
    "read_file",
    {
      title: "Read a file",
      description: "Reads one file of a session's workspace: text as text, a PNG or JPEG as an image, other bytes as a blob.",
      inputSchema: inputs.read_file,
      annotations: { ...readOnly, idempotentHint: true },
    },
    (args, extra) =>
      tool("read_file", extra, async () => {
        const response = await client.readFiles({ sessionId: args.session_id, paths: [args.path] }, callOptions(extra));
        const text = response.files[args.path];
        if (text !== undefined) return textToolResult(text);
        const bytes = response.binaryFiles[args.path];
        if (bytes !== undefined) {
          const mimeType = imageType(bytes);
          const data = Buffer.from(bytes).toString("base64");
          if (mimeType) return { content: [{ type: "image", data, mimeType }] };
          const uri = `file:///workspace/${args.path.split("/").map(encodeURIComponent).join("/")}`;
          return { content: [{ type: "resource", resource: { uri, mimeType: "application/octet-stream", blob: data } }] };
        }
        const skipped = response.skipped.find((entry) => entry.name === args.path);
        throw new ConnectError(
          `path: ${args.path} could not be read (${skipped ? skipReason(skipped.reason) : "not found"})`,
          Code.NotFound,
        );
      }),
  );

  server.registerTool(
    "list_files",
    {
      title: "List files",
      description: "Lists a directory of a session's workspace: each entry's type, size and name.",
      inputSchema: inputs.list_files,
      annotations: { ...readOnly, idempotentHint: true },
    },
    (args, extra) =>
      tool("list_files", extra, async () => {
        const response = await client.listFiles(
          { sessionId: args.session_id, path: args.path ?? "", recursive: args.recursive ?? false },
          callOptions(extra),
        );
        const lines = response.entries.map((entry) =>
          entry.type === FileType.DIRECTORY ? `dir  ${entry.name}/` : `file ${entry.name} (${entry.size} bytes)`,
        );
        if (response.truncated) lines.push("(more entries were left out)");
        return textToolResult(lines.length > 0 ? lines.join("\n") : "(empty)");
      }),
  );

  server.registerTool(
    "close_session",
    {
      title: "Close a session",
      description: "Closes a session: its sandbox and every file in it are removed.",
      inputSchema: inputs.close_session,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      tool("close_session", extra, async () => {
        await client.closeSession({ sessionId: args.session_id }, callOptions(extra));
        owned.delete(args.session_id);
        return textToolResult(`session ${args.session_id} closed`);
      }),
  );

  return {
    server,
    sessions: () => [...owned],
    async closeSessions() {
      await Promise.all(
        [...owned].map(async (sessionId) => {
          owned.delete(sessionId);
          try {
            await client.closeSession({ sessionId }, { headers: { ...options.headers }, timeoutMs: 10_000 });
            logger.info({ session_id: sessionId }, "mcp session ended: its session closed");
          } catch (error) {
            const failure = ConnectError.from(error);
            if (failure.code !== Code.NotFound) {
              logger.warn({ session_id: sessionId, err: failure.rawMessage }, "mcp session ended: closing its session failed");
            }
          }
        }),
      );
    },
  };
}

const skipReasons: Partial<Record<ArtifactSkipReason, string>> = {
  [ArtifactSkipReason.SYMLINK]: "a symbolic link, which is never followed",
  [ArtifactSkipReason.SPECIAL_FILE]: "not a regular file",
  [ArtifactSkipReason.HARD_LINK]: "a hard link, which is never read",
  [ArtifactSkipReason.TOO_LARGE]: "larger than a read returns; read it in ranges with the API",
  [ArtifactSkipReason.NOT_FOUND]: "not found",
};

function skipReason(reason: ArtifactSkipReason): string {
  return skipReasons[reason] ?? ArtifactSkipReason[reason] ?? "skipped";
}
