import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { useAurea } from "../support/aurea-server.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The MCP endpoint at /mcp, driven by the SDK's own Client over Streamable HTTP against a real
 * server and real containers: every tool, a plot as an image, a cell's exception, progress, a
 * refused key, a bad language, and an MCP session's sessions closed when it ends.
 */

const key = "mcp-test-key-0123456789";
const otherKey = "mcp-other-key-0123456789";
const auth = { authorization: `Bearer ${key}` };

describe("the MCP endpoint", () => {
  const server = useAurea({ API_KEYS: `agent:${key},other:${otherKey}`, MAX_CONCURRENT_RUNS: "4" });
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  async function connect(
    headers: Record<string, string> = auth,
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.current.baseUrl}/mcp`), {
      requestInit: { headers },
    });
    const client = new Client({ name: "aurea-test", version: "1.0.0" });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }

  const call = (client: Client, name: string, args: Record<string, unknown>) =>
    client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 }) as Promise<CallToolResult>;
  const textOf = (result: CallToolResult) =>
    result.content
      .filter((item) => item.type === "text")
      .map((item) => item.text)
      .join("\n");

  it("lists the eight tools with schemas from the API's own bounds and says which change nothing", async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      "close_session",
      "create_session",
      "execute",
      "list_files",
      "list_languages",
      "read_file",
      "run_code",
      "write_files",
    ]);
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
    const runCode = byName.run_code!.inputSchema as {
      properties: Record<string, { enum?: string[]; maximum?: number }>;
      required: string[];
    };
    expect(runCode.required.sort()).toEqual(["code", "language"]);
    expect(runCode.properties.language!.enum).toContain("python");
    expect(runCode.properties.language!.enum).toContain("python-data");
    expect(runCode.properties.timeout!.maximum).toBe(server.current.config.maxTimeoutSeconds);
    const ttl = (byName.create_session!.inputSchema as { properties: Record<string, { maximum?: number }> }).properties.ttl;
    expect(ttl!.maximum).toBe(server.current.config.sessionMaxTtlSeconds);
    expect(byName.run_code!.outputSchema?.properties).toHaveProperty("exit_code");
    expect(byName.execute!.outputSchema?.properties).toHaveProperty("exception");
    for (const name of ["list_languages", "read_file", "list_files"]) expect(byName[name]!.annotations?.readOnlyHint).toBe(true);
    for (const name of ["create_session", "execute", "write_files", "close_session"]) {
      expect(byName[name]!.annotations?.readOnlyHint).toBe(false);
    }
  });

  it("runs code: status line, stdout and stderr as text, the same as structuredContent", async () => {
    const { client } = await connect();
    const result = await call(client, "run_code", {
      language: "python",
      code: "import sys\nprint(input() * 2)\nprint('warn', file=sys.stderr)\nsys.exit(3)",
      stdin: "ab\n",
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: "RUNTIME_ERROR", exit_code: 3, stdout: "abab\n", stderr: "warn\n" });
    const text = textOf(result);
    expect(text).toMatch(/^status: RUNTIME_ERROR, exit code 3, [\d.]+ s/);
    expect(text).toContain("--- stdout ---\nabab\n");
    expect(text).toContain("--- stderr ---\nwarn\n");
  });

  it("judges test cases and says the compiler's output", async () => {
    const { client } = await connect();
    const judged = await call(client, "run_code", {
      language: "c",
      code: '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}',
      tests: [
        { name: "small", stdin: "1 2\n", expected_stdout: "3\n" },
        { name: "wrong", stdin: "2 2\n", expected_stdout: "5\n" },
      ],
    });
    expect(judged.structuredContent).toMatchObject({
      status: "WRONG_ANSWER",
      test_results: [
        { name: "small", status: "OK" },
        { name: "wrong", status: "WRONG_ANSWER" },
      ],
    });
    expect(textOf(judged)).toContain("1/2 tests passed");
    const broken = await call(client, "run_code", { language: "c", code: "int main(void) { return nope; }" });
    expect(broken.structuredContent).toMatchObject({ status: "COMPILE_ERROR" });
    expect(textOf(broken)).toMatch(/--- compiler output ---\n[\s\S]*nope/);
  });

  it("answers a plot the program saved as image content", async () => {
    const { client } = await connect();
    const result = await call(client, "run_code", {
      language: "python-data",
      code: "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.savefig('plot.png')\nprint('saved')",
    });
    expect(result.structuredContent).toMatchObject({ status: "OK", stdout: "saved\n", artifacts: ["plot.png"] });
    const image = result.content.find((item) => item.type === "image");
    expect(image).toMatchObject({ type: "image", mimeType: "image/png" });
    expect(
      Buffer.from((image as { data: string }).data, "base64")
        .subarray(1, 4)
        .toString(),
    ).toBe("PNG");
  });

  it("refuses a bad language and a bad timeout as isError naming the field, running nothing", async () => {
    const { client } = await connect();
    const language = await call(client, "run_code", { language: "klingon", code: "x" });
    expect(language.isError).toBe(true);
    expect(textOf(language)).toContain("language");
    const timeout = await call(client, "run_code", { language: "python", code: "x", timeout: 1e6 });
    expect(timeout.isError).toBe(true);
    expect(textOf(timeout)).toContain("timeout");
  });

  it("refuses a web page's origin it was not told to allow (DNS rebinding), before anything else", async () => {
    // Only a header: nothing connects to the origin it names.
    const response = await fetch(`${server.current.baseUrl}/mcp`, {
      method: "POST",
      headers: {
        ...auth,
        origin: "http://attacker.test",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain("CORS_ALLOWED_ORIGINS");
  });

  it("refuses a missing or wrong key before any MCP session opens", async () => {
    await expect(connect({})).rejects.toThrow(/401|API key/);
    await expect(connect({ authorization: "Bearer not-the-key-at-all-000" })).rejects.toThrow(/401|API key/);
  });

  it("sends progress while a run streams", async () => {
    const { client } = await connect();
    const progress: { progress: number; message?: string }[] = [];
    const result = (await client.callTool(
      { name: "run_code", arguments: { language: "bash", code: "echo one; sleep 2; echo two" } },
      undefined,
      { timeout: 60_000, onprogress: (update) => progress.push(update) },
    )) as CallToolResult;
    expect(result.structuredContent).toMatchObject({ status: "OK", stdout: "one\ntwo\n" });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (let index = 1; index < progress.length; index++)
      expect(progress[index]!.progress).toBeGreaterThan(progress[index - 1]!.progress);
    expect(progress.at(-1)!.message).toMatch(/bytes of output/);
  });

  it("works a stateful session: values, an exception, files, a figure, and close", async () => {
    const { client } = await connect();
    const created = await call(client, "create_session", { language: "python-data", stateful: true, ttl: 600 });
    expect(created.isError).toBeFalsy();
    const sessionId = (created.structuredContent as { session_id: string }).session_id;
    expect(textOf(created)).toContain(`session_id: ${sessionId}`);

    await call(client, "execute", { session_id: sessionId, code: "x = 21" });
    const value = await call(client, "execute", { session_id: sessionId, code: "x * 2" });
    expect(value.structuredContent).toMatchObject({ status: "OK", value: "42" });
    expect(textOf(value)).toContain("--- value ---\n42");

    const raised = await call(client, "execute", { session_id: sessionId, code: "def f():\n    return 1 / 0\nf()" });
    expect(raised.structuredContent).toMatchObject({ status: "RUNTIME_ERROR", exception: { name: "ZeroDivisionError" } });
    expect(textOf(raised)).toMatch(/--- exception ---\n[\s\S]*<cell \d+>[\s\S]*ZeroDivisionError/);

    const figure = await call(client, "execute", {
      session_id: sessionId,
      code: "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])",
    });
    expect(figure.content.some((item) => item.type === "image" && item.mimeType === "image/png")).toBe(true);

    const written = await call(client, "write_files", { session_id: sessionId, files: { "data/in.txt": "hello\n" } });
    expect(textOf(written)).toContain("data/in.txt");
    const listed = await call(client, "list_files", { session_id: sessionId, path: "data" });
    expect(textOf(listed)).toContain("in.txt (6 bytes)");
    await call(client, "execute", {
      session_id: sessionId,
      code: "open('data/out.txt', 'w').write(open('data/in.txt').read().upper())",
    });
    const read = await call(client, "read_file", { session_id: sessionId, path: "data/out.txt" });
    expect(textOf(read)).toBe("HELLO\n");
    const missing = await call(client, "read_file", { session_id: sessionId, path: "nothing.txt" });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toContain("nothing.txt");

    const closed = await call(client, "close_session", { session_id: sessionId });
    expect(closed.isError).toBeFalsy();
    const after = await call(client, "execute", { session_id: sessionId, code: "x" });
    expect(after.isError).toBe(true);
    expect(textOf(after)).toMatch(/^NOT_FOUND|^FAILED_PRECONDITION/);
  });

  it("closes the sessions an MCP session created when it ends, and no other key sees its MCP session", async () => {
    const { client, transport } = await connect();
    const created = await call(client, "create_session", { language: "python" });
    const sessionId = (created.structuredContent as { session_id: string }).session_id;
    const grpc = createGrpcSandboxClient(server.current.port, auth);
    try {
      expect((await grpc.call("GetSession", { session_id: sessionId })).session).toMatchObject({ state: "SESSION_STATE_ACTIVE" });
      const mcpSessionId = transport.sessionId!;
      const asKey = (secret: string) =>
        fetch(`${server.current.baseUrl}/mcp`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-session-id": mcpSessionId,
            authorization: `Bearer ${secret}`,
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
        });
      // Another key's MCP session is as unknown as one that never was.
      expect((await asKey(otherKey)).status).toBe(404);
      expect((await asKey(key)).status).toBe(200);
      await transport.terminateSession();
      await waitFor(
        async () => {
          const state = await grpc.call("GetSession", { session_id: sessionId }).then(
            (response) => (response.session as { state: string }).state,
            () => "gone",
          );
          return state !== "SESSION_STATE_ACTIVE";
        },
        15_000,
        "the session closed after its MCP session ended",
      );
    } finally {
      grpc.close();
    }
  });
});

/** The MCP configuration README.md shows desktop agents, as JSON. */
function readmeMcpConfig(): { command: string; args: string[]; env: Record<string, string> } {
  const readme = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");
  const block = /<!-- mcp-config[^>]*-->\n```json\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error("README.md has no mcp-config block");
  return (JSON.parse(block[1]!) as { mcpServers: { aurea: { command: string; args: string[]; env: Record<string, string> } } })
    .mcpServers.aurea;
}

describe("the stdio bridge (aurea-mcp)", () => {
  const server = useAurea({ API_KEYS: `agent:${key}` });

  it("serves the tools over stdio as README configures it, and closes its sessions when the agent goes", async () => {
    const config = readmeMcpConfig();
    expect(config.command).toBe("aurea-mcp");
    const packageJson = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as {
      bin: Record<string, string>;
    };
    // The bin npm link installs, started as the agent would (README's arguments, our server and key).
    const bin = fileURLToPath(new URL(`../../${packageJson.bin[config.command]}`, import.meta.url));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [bin, ...config.args.map((arg) => arg.replace("http://localhost:8000", server.current.baseUrl))],
      env: { PATH: process.env.PATH ?? "", AUREA_API_KEY: config.env.AUREA_API_KEY!.replace("<your key>", key) },
      stderr: "pipe",
    });
    const client = new Client({ name: "desktop-agent", version: "1.0.0" });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(8);
    const ran = (await client.callTool({
      name: "run_code",
      arguments: { language: "javascript", code: "console.log(6 * 7)" },
    })) as CallToolResult;
    expect(ran.structuredContent).toMatchObject({ status: "OK", stdout: "42\n" });
    const created = (await client.callTool({ name: "create_session", arguments: { language: "bash" } })) as CallToolResult;
    const sessionId = (created.structuredContent as { session_id: string }).session_id;
    const grpc = createGrpcSandboxClient(server.current.port, auth);
    try {
      expect((await grpc.call("GetSession", { session_id: sessionId })).session).toMatchObject({ state: "SESSION_STATE_ACTIVE" });
      await client.close();
      await waitFor(
        () =>
          grpc.call("GetSession", { session_id: sessionId }).then(
            (response) => (response.session as { state: string }).state !== "SESSION_STATE_ACTIVE",
            () => true,
          ),
        15_000,
        "the bridge closed its session when the agent went",
      );
    } finally {
      grpc.close();
    }
  });

  it("refuses a server it cannot use, saying why", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [fileURLToPath(new URL("../../dist/src/mcp/stdio-bridge.js", import.meta.url)), "--url", server.current.baseUrl],
      env: { PATH: process.env.PATH ?? "", AUREA_API_KEY: "wrong-key-0000000000000" },
      stderr: "pipe",
    });
    const stderr: Buffer[] = [];
    transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    const client = new Client({ name: "desktop-agent", version: "1.0.0" });
    await expect(client.connect(transport)).rejects.toThrow();
    expect(Buffer.concat(stderr).toString()).toMatch(/did not answer ListLanguages: .*API key/);
  });
});
