import { spawn } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  CreateSessionRequestSchema,
  ExecRequestSchema,
  ReadFilesRequestSchema,
  DeleteFilesRequestSchema,
  UpdateSessionRequestSchema,
  WriteFilesRequestSchema,
} from "../../gen/aurea/sandbox/v1/sandbox_pb.js";
import { kernelCommand } from "../../src/sandbox/sandbox-scripts.js";
import { sessionRoute } from "../../src/server/rest-compat.js";
import type { SessionPolicy } from "../../src/service/session-request.js";
import {
  validateCreateSession,
  validateDeleteFiles,
  validateExec,
  validateReadFiles,
  validateUpdateSession,
  validateWriteFiles,
} from "../../src/service/session-request.js";
import { type AgentFrame, AgentFrameParser, AgentProtocolError, encodeAgentRequest } from "../../src/session/agent-protocol.js";
import { execOutcome } from "../../src/session/exec-outcome.js";
import { readSessionLabels, type SessionSettings, toSessionCreateOptions } from "../../src/session/session-container.js";
import { runcShape } from "../support/fixtures.js";
import { testPolicy } from "../support/policy.js";

const policy: SessionPolicy = {
  ...testPolicy,
  workspaceSizeBytes: 64 * 1024 ** 2,
  workspaceFiles: 16,
  sessionMaxTtlSeconds: 3600,
  sessionDefaultTtlSeconds: 600,
  sessionDefaultIdleTimeoutSeconds: 300,
};

const fieldsOf = (checked: { ok: boolean; violations?: readonly { field: string }[] }) =>
  checked.ok ? [] : (checked.violations ?? []).map((violation) => violation.field);

describe("CreateSession requests", () => {
  it("resolve defaults: the policy's ttl and idle timeout, the maxima as limits, the language's env first", () => {
    const checked = validateCreateSession(
      create(CreateSessionRequestSchema, { language: "py", env: { A: "1" } }),
      policy,
      "key-1",
    );
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.value).toMatchObject({
      ownerId: "key-1",
      language: { name: "python" },
      settings: {
        language: "python",
        runtime: "runc",
        stateful: false,
        ttlMs: 600_000,
        idleTimeoutMs: 300_000,
        limits: { cpu: 1, memoryBytes: 512 * 1024 ** 2, pids: 64, workspaceBytes: 64 * 1024 ** 2 },
      },
    });
    expect(checked.value.env.at(-1)).toBe("A=1");
  });

  it("name every bad field at once", () => {
    const checked = validateCreateSession(
      create(CreateSessionRequestSchema, {
        language: "bash",
        stateful: true,
        ttl: 7200,
        idleTimeout: -1,
        workspaceBytes: 10n,
        runtime: "kata",
        files: { "/abs": "x" },
        env: { "1BAD": "x" },
      }),
      policy,
      "",
    );
    expect(fieldsOf(checked)).toEqual([
      "stateful",
      "runtime",
      "workspace_bytes",
      "ttl",
      "idle_timeout",
      'files["/abs"]',
      'env["1BAD"]',
    ]);
  });

  it("keep the idle timeout within the ttl, and a short ttl's default idle timeout is the ttl", () => {
    expect(
      fieldsOf(
        validateCreateSession(create(CreateSessionRequestSchema, { language: "python", ttl: 10, idleTimeout: 11 }), policy, ""),
      ),
    ).toEqual(["idle_timeout"]);
    const short = validateCreateSession(create(CreateSessionRequestSchema, { language: "python", ttl: 10 }), policy, "");
    expect(short.ok && short.value.settings.idleTimeoutMs).toBe(10_000);
  });
});

describe("Exec requests", () => {
  const exec = (fields: Parameters<typeof create<typeof ExecRequestSchema>>[1], remainingMs = 3_600_000) =>
    validateExec(create(ExecRequestSchema, { sessionId: "s", ...fields }), policy, "exec-1", remainingMs);

  it("take exactly one of code and command", () => {
    expect(fieldsOf(exec({}))).toEqual(["code"]);
    expect(fieldsOf(exec({ code: "print(1)", command: ["true"] }))).toEqual(["command"]);
    expect(fieldsOf(exec({ command: [""] }))).toEqual(["command[0]"]);
    expect(exec({ command: ["ls", "-la"] })).toMatchObject({ ok: true, value: { code: undefined, command: ["ls", "-la"] } });
  });

  it("cut the timeout to what is left of the session's life", () => {
    expect(exec({ code: "x", timeout: 100 }, 2_500)).toMatchObject({ ok: true, value: { timeoutMs: 2_500 } });
    expect(exec({ code: "x" })).toMatchObject({ ok: true, value: { timeoutMs: 30_000 } });
    expect(fieldsOf(exec({ code: "x", timeout: 301 }))).toEqual(["timeout"]);
    expect(fieldsOf(exec({ code: "x".repeat(1001) }))).toEqual(["code"]);
  });
});

describe("UpdateSession requests", () => {
  const created = { createdAtMs: 1_000_000, expiresAtMs: 1_000_000 + 60_000, idleTimeoutMs: 30_000 };
  const update = (ttl: number, idleTimeout = 0, nowMs = 1_010_000) =>
    validateUpdateSession(
      create(UpdateSessionRequestSchema, { sessionId: "s", ttl, idleTimeout }),
      { sessionMaxTtlSeconds: 3600 },
      created,
      nowMs,
    );

  it("count a new ttl from now, keep what is 0, and hold both within the session's longest life", () => {
    expect(update(0)).toEqual({ ok: true, value: { expiresAtMs: created.expiresAtMs, idleTimeoutMs: 30_000 } });
    expect(update(600, 120)).toEqual({ ok: true, value: { expiresAtMs: 1_010_000 + 600_000, idleTimeoutMs: 120_000 } });
    // 3600 s from creation at most: 3590 s are left ten seconds in.
    expect(update(3590)).toMatchObject({ ok: true });
    expect(update(3591)).toMatchObject({
      ok: false,
      violations: [{ field: "ttl", description: expect.stringMatching(/SESSION_MAX_TTL.*at most 3590 s are left/) }],
    });
    expect(fieldsOf(update(-1, -1))).toEqual(["ttl", "idle_timeout"]);
    expect(fieldsOf(update(100, 101))).toEqual(["idle_timeout"]);
  });
});

describe("file requests", () => {
  it("check names as a run's files, within the session's workspace size", () => {
    const write = (files: Record<string, string>, workspaceBytes = 1024) =>
      validateWriteFiles(create(WriteFilesRequestSchema, { sessionId: "s", files }), policy, workspaceBytes);
    expect(fieldsOf(write({}))).toEqual(["files"]);
    expect(fieldsOf(write({ "a/../b": "" }))).toEqual(['files["a/../b"]']);
    expect(fieldsOf(write({ big: "x".repeat(2000) }))).toEqual(["files"]);
    expect(write({ "dir/a.txt": "a" })).toMatchObject({ ok: true });
    expect(fieldsOf(validateReadFiles(create(ReadFilesRequestSchema, { paths: ["ok", "../no"] })))).toEqual(["paths[1]"]);
    const ranges = (...list: { path: string; offset?: bigint; length?: bigint }[]) =>
      validateReadFiles(create(ReadFilesRequestSchema, { sessionId: "s", ranges: list }));
    expect(ranges({ path: "big.bin", offset: 10n, length: 0n })).toEqual({
      ok: true,
      value: { paths: [], ranges: [{ path: "big.bin", offset: 10, length: 0 }] },
    });
    expect(fieldsOf(ranges({ path: "/abs" }, { path: "ok", offset: -1n, length: -2n }))).toEqual([
      "ranges[0].path",
      "ranges[1].offset",
      "ranges[1].length",
    ]);
    const remove = (paths: string[]) => validateDeleteFiles(create(DeleteFilesRequestSchema, { sessionId: "s", paths }));
    expect(fieldsOf(remove([]))).toEqual(["paths"]);
    expect(fieldsOf(remove(["ok", "/abs", "a/./b"]))).toEqual(["paths[1]", "paths[2]"]);
    expect(remove(["dir", "a.txt"])).toEqual({ ok: true, value: ["dir", "a.txt"] });
  });
});

describe("the agent's wire", () => {
  it("round-trips a request, and parses frames split anywhere", () => {
    const encoded = encodeAgentRequest({ op: "kill", id: "k1", target: "e1", reason: "cancelled" });
    expect(encoded.toString()).toBe('{"op":"kill","id":"k1","target":"e1","reason":"cancelled","size":0}\n');
    const frames: AgentFrame[] = [];
    const parser = new AgentFrameParser((frame) => frames.push(frame), 1024);
    const wire = Buffer.concat([
      Buffer.from('\n{"kind":"stdout","id":"e1","size":5}\nhello'),
      Buffer.from('{"kind":"exit","id":"e1","status":0,"size":0}\n'),
    ]);
    for (const byte of wire) parser.push(Buffer.from([byte]));
    expect(frames).toEqual([
      { kind: "stdout", id: "e1", data: Buffer.from("hello") },
      { kind: "exit", id: "e1", status: 0, size: 0 },
    ]);
  });

  it("refuses what breaks the protocol: unknown kinds, oversized payloads, output without an id", () => {
    const parse = (text: string) => () => new AgentFrameParser(() => undefined, 16).push(Buffer.from(text));
    expect(parse('{"kind":"shell","size":0}\n')).toThrow(AgentProtocolError);
    expect(parse('{"kind":"stdout","id":"e","size":17}\n')).toThrow(/over 16/);
    expect(parse('{"kind":"stdout","size":1}\nx')).toThrow(/without an exec id/);
    expect(parse("[]\n")).toThrow(/not an object/);
    expect(parse(`${"x".repeat(70_000)}`)).toThrow(/64 KiB/);
  });
});

describe("an exec's outcome", () => {
  const capture = {
    stdout: Buffer.from("out"),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    files: new Map(),
  };

  it("follows the run verdict rules: Aurea's stops first, then the program's own ending", () => {
    const verdict = (exit: Record<string, unknown>) => execOutcome("e", { kind: "exit", id: "e", status: 0, ...exit }, capture);
    expect(verdict({})).toMatchObject({ verdict: "ok", exitCode: 0, signal: "", limitsHit: [] });
    expect(verdict({ status: 137, stopped_by: "timeout" })).toMatchObject({
      verdict: "timeout",
      timedOut: true,
      limitsHit: ["time"],
    });
    expect(verdict({ status: 137, stopped_by: "output_limit" })).toMatchObject({
      verdict: "output_limit",
      stdoutTruncated: true,
    });
    expect(verdict({ status: 137, stopped_by: "closed" })).toMatchObject({ verdict: "cancelled" });
    expect(verdict({ status: 137, oom_kills: 1 })).toMatchObject({
      verdict: "memory_limit",
      signal: "SIGKILL",
      limitsHit: ["memory"],
    });
    expect(verdict({ status: 0, pids_refused: 3, workspace_free_blocks: 0 })).toMatchObject({
      verdict: "ok",
      limitsHit: ["pids", "workspace_bytes"],
    });
    expect(verdict({ status: 153 })).toMatchObject({ verdict: "runtime_error", limitsHit: ["file_size"] });
    expect(verdict({ status: null, error: "no fork" })).toMatchObject({ verdict: "internal", exitCode: -1, error: "no fork" });
    expect(verdict({ value: "42", state_lost: true })).toMatchObject({ value: "42", stateLost: true });
  });
});

describe("a session's container", () => {
  const settings: SessionSettings = {
    language: "python",
    runtime: "runc",
    stateful: true,
    limits: {
      cpu: 1,
      memoryBytes: 256 * 1024 ** 2,
      pids: 32,
      workspaceBytes: 1024 ** 2,
      workspaceFiles: 64,
      tmpBytes: 1024 ** 2,
    },
    ttlMs: 60_000,
    idleTimeoutMs: 30_000,
    createdAtMs: 1_000,
    expiresAtMs: 61_000,
  };
  const options = toSessionCreateOptions({
    sessionId: "ses_abc",
    ownerId: "key-1",
    instanceId: "process-1",
    instanceName: "host-a",
    shape: runcShape,
    settings,
    env: ["A=1"],
  });

  it("is a run's sandbox whose agent keeps stdin open across attaches", () => {
    expect(options).toMatchObject({
      User: "0:0",
      StdinOnce: false,
      OpenStdin: true,
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: "none",
        CapDrop: ["ALL"],
        ReadonlyRootfs: true,
        PidsLimit: 32,
        Memory: 256 * 1024 ** 2,
        SecurityOpt: ["no-new-privileges"],
      },
    });
    expect(options.Cmd?.slice(0, 4)).toEqual(["python3", "-I", "-S", "-c"]);
    expect(options.Env).toContain("A=1");
  });

  it("carries in its labels what a restarted server needs to adopt it", () => {
    expect(readSessionLabels(options.Labels ?? {})).toEqual({
      sessionId: "ses_abc",
      ownerId: "key-1",
      instanceName: "host-a",
      settings,
    });
    expect(readSessionLabels({ ...options.Labels, "dev.aurea.session-settings": "{" })).toBeUndefined();
    expect(readSessionLabels({ ...options.Labels, "dev.aurea.managed": "false" })).toBeUndefined();
  });
});

describe("the session REST routes", () => {
  it("map onto the session RPCs with the id from the path", () => {
    const route = (method: string, url: string) => {
      const [path = "", query = ""] = url.split("?");
      return sessionRoute(method, path, new URLSearchParams(query));
    };
    expect(route("POST", "/sessions")).toEqual({ rpc: "CreateSession", fields: {} });
    expect(route("GET", "/sessions/")).toEqual({ rpc: "ListSessions", fields: {} });
    expect(route("GET", "/sessions/ses_1")).toEqual({ rpc: "GetSession", fields: { session_id: "ses_1" } });
    expect(route("DELETE", "/sessions/ses_1")).toEqual({ rpc: "CloseSession", fields: { session_id: "ses_1" } });
    expect(route("POST", "/sessions/ses_1/exec")).toEqual({ rpc: "Exec", fields: { session_id: "ses_1" } });
    expect(route("PUT", "/sessions/ses_1/files")).toEqual({ rpc: "WriteFiles", fields: { session_id: "ses_1" } });
    expect(route("GET", "/sessions/ses_1/files?path=a%2Fb&recursive=true")).toEqual({
      rpc: "ListFiles",
      fields: { session_id: "ses_1", path: "a/b", recursive: true },
    });
    expect(route("POST", "/sessions/ses_1/files/read")).toEqual({ rpc: "ReadFiles", fields: { session_id: "ses_1" } });
    expect(route("DELETE", "/sessions/ses_1/files")).toEqual({ rpc: "DeleteFiles", fields: { session_id: "ses_1" } });
    expect(route("PATCH", "/sessions/ses_1")).toEqual({ rpc: "UpdateSession", fields: { session_id: "ses_1" } });
    expect(route("PUT", "/sessions/ses_1")).toBeUndefined();
    expect(route("POST", "/run")).toBeUndefined();
  });
});

describe("the stateful JavaScript interpreter", () => {
  it("keeps declarations between cells and answers each with its completion value", async () => {
    const [program, ...args] = kernelCommand("javascript").map((arg) => (arg === "/workspace" ? process.cwd() : arg));
    const child = spawn(program ?? "node", args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    const [control, answers] = [child.stdio[3] as NodeJS.WritableStream, child.stdio[4] as NodeJS.ReadableStream];
    const lines: string[] = [];
    let pending = "";
    answers.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const complete = pending.split("\n");
      pending = complete.pop() ?? "";
      lines.push(...complete);
    });
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const cell = async (code: string, stdin = "", env = ["CELL=yes"]) => {
      const before = lines.length;
      control.write(`${JSON.stringify({ code, args: [], env, stdin: Buffer.from(stdin).toString("base64") })}\n`);
      while (lines.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      return JSON.parse(lines[before] ?? "{}") as {
        status: number;
        value: string | null;
        exception: { name: string; value: string; traceback: string } | null;
        results: { data: Record<string, string>; is_main_result: boolean }[];
      };
    };
    try {
      expect(await cell("let n = 1; const fs = require('fs');")).toMatchObject({ status: 0, value: null });
      expect(await cell("n += 1; console.log(process.env.CELL); n")).toMatchObject({ status: 0, value: "2" });
      expect(await cell("fs.readFileSync('/dev/stdin', 'utf8')", "piped")).toMatchObject({ value: "'piped'" });
      const thrown = await cell("\nthrow new RangeError('boom')");
      expect(thrown).toMatchObject({ status: 1, value: null, exception: { name: "RangeError", value: "boom" } });
      expect(thrown.exception?.traceback).toMatch(/RangeError: boom\n\s+at cell-4:2:7/);
      expect((await cell("throw 42")).exception).toMatchObject({ name: "number", value: "42", traceback: "Uncaught 42" });
      expect((await cell("n")).exception).toBeNull();
      expect((await cell("display('shown'); ({ n, list: [1] })")).results).toEqual([
        { data: { "text/plain": "'shown'" }, is_main_result: false },
        { data: { "text/plain": "{ n: 2, list: [ 1 ] }", "application/json": '{"n":2,"list":[1]}' }, is_main_result: true },
      ]);
      // SIGINT (what the agent sends at a cell's timeout) stops the cell, and the scope stays.
      const interrupt = async (code: string) => {
        const answered = cell(code);
        await new Promise((resolve) => setTimeout(resolve, 300));
        child.kill("SIGINT");
        return answered;
      };
      expect(await interrupt("n = 10; for (;;) {}")).toMatchObject({
        status: 1,
        exception: { value: "Script execution was interrupted by `SIGINT`" },
      });
      expect(await interrupt("new Promise(() => {})")).toMatchObject({
        status: 1,
        exception: { value: "Cell interrupted while awaiting a promise." },
      });
      expect(await cell("n")).toMatchObject({ status: 0, value: "10" });
      // A cell's env applies to that cell only.
      expect(await cell("process.env.CELL === undefined ? 'restored' : 'kept'", "", [])).toMatchObject({ value: "'restored'" });
      expect(stdout).toBe("yes\n");
    } finally {
      child.kill("SIGKILL");
    }
  });
});
