import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { baseEnvironment } from "../../src/docker/container-options.js";
import { kernelCommand, sessionAgentCommand, sessionAgentModules } from "../../src/sandbox/sandbox-scripts.js";
import {
  type AgentExit,
  type AgentFrame,
  AgentFrameParser,
  type AgentRequest,
  encodeAgentRequest,
} from "../../src/session/agent-protocol.js";
import { requireTool } from "../support/required-tools.js";

/**
 * The session agent (sandbox/programs/session-agent/) and its stateful Python interpreter run here with
 * the machine's own python3, outside any container, on a temporary workspace, inside a fresh PID
 * and mount namespace (unshare, with its own /proc) so that the agent sees only its own processes.
 * As in a session, the agent runs as root and every exec as uid 10001 (so these tests run as root,
 * as CI does). The frames are read with the server's own parser.
 */

let workspace: string;
let agent: AgentUnderTest | undefined;
beforeEach(() => {
  if (process.getuid?.() !== 0) throw new Error("the agent's tests switch users: run them as root, as CI does");
  requireTool("unshare");
  workspace = mkdtempSync(join(tmpdir(), "aurea-agent-"));
  chownSync(workspace, 10001, 10001);
  chmodSync(workspace, 0o711);
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  rmSync(workspace, { recursive: true, force: true });
});

class AgentUnderTest {
  private readonly frames: AgentFrame[] = [];
  private readonly waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;
  private counter = 0;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    const parser = new AgentFrameParser(
      (frame) => {
        this.frames.push(frame);
        for (const waiter of this.waiters.splice(0)) waiter();
      },
      64 * 1024 * 1024,
    );
    child.stdout.on("data", (chunk: Buffer) => parser.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static start(): AgentUnderTest {
    const [, ...agentArgv] = sessionAgentCommand("runc", 64).map((arg) => (arg === "/workspace" ? workspace : arg));
    const env = Object.fromEntries(baseEnvironment.map((entry) => entry.split(/=(.*)/s).slice(0, 2)));
    const child = spawn("unshare", ["--pid", "--fork", "--mount-proc", "python3", ...agentArgv], {
      env: { ...env, HOME: workspace },
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new AgentUnderTest(child);
  }

  send(request: AgentRequest, payload?: Uint8Array): void {
    this.child.stdin.write(encodeAgentRequest(request, payload));
  }

  sendRaw(bytes: string): void {
    this.child.stdin.write(bytes);
  }

  /** Waits for a frame matching `predicate`. */
  async frame(predicate: (frame: AgentFrame) => boolean, timeoutMs = 10_000): Promise<AgentFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no such frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.kind))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Runs argv as an exec; resolves with its exit frame and output. */
  async exec(
    argv: string[],
    options: { stdin?: string; timeout?: number; outputLimit?: number; code?: [string, string] } = {},
  ): Promise<{ exit: AgentExit; stdout: string; stderr: string; id: string }> {
    const id = this.start(argv, options);
    return this.result(id);
  }

  start(
    argv: string[],
    options: { stdin?: string; timeout?: number; outputLimit?: number; code?: [string, string] } = {},
  ): string {
    this.counter += 1;
    const id = `e${this.counter}`;
    const code = options.code ? Buffer.from(options.code[1]) : Buffer.alloc(0);
    this.send(
      {
        op: "exec",
        id,
        argv,
        env: ["EXTRA=1"],
        timeout: options.timeout ?? 10,
        output_limit: options.outputLimit ?? 1 << 20,
        ...(options.code ? { code_file: options.code[0], code_size: code.length } : {}),
      },
      Buffer.concat([code, Buffer.from(options.stdin ?? "")]),
    );
    return id;
  }

  async result(id: string): Promise<{ exit: AgentExit; stdout: string; stderr: string; id: string }> {
    const exit = (await this.frame((frame) => frame.kind === "exit" && frame.id === id, 20_000)) as AgentExit;
    const output = (stream: string) =>
      Buffer.concat(
        this.frames.filter((frame) => frame.kind === stream && frame.id === id).map((frame) => (frame as { data: Buffer }).data),
      ).toString("utf8");
    return { exit, stdout: output("stdout"), stderr: output("stderr"), id };
  }

  async cell(code: string, timeout = 10): Promise<{ exit: AgentExit; stdout: string; stderr: string }> {
    this.counter += 1;
    const id = `c${this.counter}`;
    const [program, ...rest] = kernelCommand("python").map((arg) => (arg === "/workspace" ? workspace : arg));
    this.send(
      { op: "cell", id, kernel: { name: "python", argv: [program ?? "python3", ...rest] }, timeout, output_limit: 1 << 20 },
      Buffer.from(JSON.stringify({ code, args: [], env: [], stdin: "" })),
    );
    return this.result(id);
  }

  async stop(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe("the session agent", () => {
  it("says it is ready, runs an exec as the program's user with its stdin (also by name), env and code file", async () => {
    agent = AgentUnderTest.start();
    expect(await agent.frame((frame) => frame.kind === "ready")).toMatchObject({ execs: 0 });
    const { exit, stdout } = await agent.exec(["sh", "-c", 'id -u; pwd; echo "$EXTRA"; cat /dev/stdin; cat main.txt; exit 3'], {
      stdin: "fed\n",
      code: ["main.txt", "code file\n"],
    });
    expect(stdout).toBe(`10001\n${workspace}\n1\nfed\ncode file\n`);
    expect(exit).toMatchObject({ status: 3, stopped_by: null, state_lost: false });
    expect(exit.cpu_ns).toBeGreaterThan(0);
    expect(exit.peak_rss).toBeGreaterThan(0);
  });

  it("kills a timed-out exec's every process, setsid double forks included, and only its own", async () => {
    agent = AgentUnderTest.start();
    const bystander = agent.start(["sh", "-c", "sleep 1.5; echo bystander done"]);
    const { exit } = await agent.exec(["sh", "-c", "(setsid sh -c 'sleep 60' &) ; sleep 60"], { timeout: 0.5 });
    expect(exit).toMatchObject({ status: 137, stopped_by: "timeout" });
    expect((exit.wall_ms ?? 0) / 1000).toBeLessThan(3);
    const left = await agent.exec(["sh", "-c", "ps -e -o user=,args= | grep 'sleep 60' | grep -v grep || true"]);
    expect(left.stdout).toBe("");
    expect(await agent.result(bystander)).toMatchObject({ stdout: "bystander done\n", exit: { status: 0 } });
  });

  it("kills whatever an exec left running when it ends on its own", async () => {
    agent = AgentUnderTest.start();
    expect((await agent.exec(["sh", "-c", "sleep 60 & echo started"])).exit).toMatchObject({ status: 0 });
    expect((await agent.exec(["sh", "-c", "ps -e -o args= | grep -c '^sleep 60' || true"])).stdout).toBe("0\n");
  });

  it("cuts output at the limit and ends the exec, and ends one on a kill request", async () => {
    agent = AgentUnderTest.start();
    const flood = await agent.exec(["sh", "-c", "yes"], { outputLimit: 1000 });
    expect(flood.stdout).toHaveLength(1000);
    expect(flood.exit).toMatchObject({ stopped_by: "output_limit", status: 137 });
    const id = agent.start(["sleep", "60"]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    agent.send({ op: "kill", id: "k", target: id, reason: "cancelled" });
    expect((await agent.result(id)).exit).toMatchObject({ stopped_by: "cancelled", status: 137 });
  });

  it("answers a command that does not exist with 127, and an unreadable request with an error frame", async () => {
    agent = AgentUnderTest.start();
    const missing = await agent.exec(["no-such-program"]);
    expect(missing.exit.status).toBe(127);
    expect(missing.stderr).toContain("cannot run no-such-program");
    agent.sendRaw("{not json\n");
    expect(await agent.frame((frame) => frame.kind === "error")).toMatchObject({
      error: expect.stringContaining("unreadable request"),
    });
    expect((await agent.exec(["true"])).exit.status).toBe(0);
  });

  it("keeps a stateful interpreter's namespace, through an interrupted cell too, and says when a timeout took it", async () => {
    agent = AgentUnderTest.start();
    expect((await agent.cell("x = 20")).exit).toMatchObject({ status: 0, value: null });
    expect(await agent.cell("print('half', x)\nx * 2")).toMatchObject({ stdout: "half 20\n", exit: { status: 0, value: "40" } });
    const failed = await agent.cell("raise ValueError('no')");
    expect(failed.exit.status).toBe(1);
    expect(failed.stderr).toMatch(/File "<cell 3>", line 1[\s\S]*ValueError: no/);
    expect(failed.stderr).not.toContain("python-kernel");
    // The same exception, structured: its class, str(), and the traceback of the cell's frames.
    expect(failed.exit.exception).toMatchObject({ name: "ValueError", value: "no" });
    expect(failed.exit.exception?.traceback).toMatch(/^Traceback[\s\S]*File "<cell 3>", line 1[\s\S]*ValueError: no\n$/);
    expect((await agent.cell("x")).exit.exception).toBeNull();
    // Results, Jupyter's display-data: display() calls in order, then the main result.
    const rich = "class Page:\n    def _repr_html_(self):\n        return '<b>hi</b>'\ndisplay(Page(), [1, 2])\n{'a': x}";
    expect((await agent.cell(rich)).exit.results).toEqual([
      {
        data: { "text/plain": expect.stringMatching(/^<__main__\.Page object/), "text/html": "<b>hi</b>" },
        is_main_result: false,
      },
      { data: { "text/plain": "[1, 2]", "application/json": "[1, 2]" }, is_main_result: false },
      { data: { "text/plain": "{'a': 20}", "application/json": '{"a": 20}' }, is_main_result: true },
    ]);
    expect((await agent.cell("y = 1")).exit.results).toEqual([]);
    // An image an object draws itself (as PIL's images do, with _repr_png_) comes back as base64 PNG.
    const drawn = "class Dot:\n    def _repr_png_(self):\n        return b'\\x89PNG-bytes'\nDot()";
    const [image] = (await agent.cell(drawn)).exit.results ?? [];
    expect(Buffer.from(image?.data["image/png"] ?? "", "base64").toString("latin1")).toBe("\x89PNG-bytes");
    expect((await agent.cell("import sys\nsys.exit(4)")).exit.status).toBe(4);
    // A timeout interrupts the cell (KeyboardInterrupt at its next bytecode): the namespace stays.
    const started = performance.now();
    const interrupted = await agent.cell("import time\ny = 1\ntime.sleep(30)", 0.5);
    expect(interrupted.exit).toMatchObject({
      stopped_by: "timeout",
      state_lost: false,
      exception: { name: "KeyboardInterrupt" },
    });
    expect(performance.now() - started).toBeLessThan(5000);
    expect((await agent.cell("x + y")).exit).toMatchObject({ value: "21", state_lost: false });
    // A cell that will not be interrupted (SIGINT blocked, as a stuck native call is deaf to it)
    // is killed after the grace, and the interpreter's state with it.
    const deaf = "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])\ntime.sleep(30)";
    expect((await agent.cell(deaf, 0.5)).exit).toMatchObject({ stopped_by: "timeout", state_lost: true });
    expect((await agent.cell("'x' in globals()")).exit).toMatchObject({ value: "False", state_lost: false });
  });

  it("exits when told to close", async () => {
    agent = AgentUnderTest.start();
    await agent.frame((frame) => frame.kind === "ready");
    agent.send({ op: "close", id: "bye" });
    expect(await agent.exited).toBe(0);
  });
});

describe("the agent's modules", () => {
  it("import only the modules loaded before them, as the bootstrap loads them in sessionAgentModules' order", () => {
    const folder = new URL("../../src/sandbox/programs/session-agent/", import.meta.url);
    const files = readdirSync(folder).filter((name) => name.startsWith("agent_"));
    expect(files.map((name) => name.replace(/\.py$/, "")).sort()).toEqual([...sessionAgentModules].sort());
    for (const [index, name] of sessionAgentModules.entries()) {
      const source = readFileSync(new URL(`${name}.py`, folder), "utf8");
      const imported = [...source.matchAll(/^(?:from|import) (agent_\w+)/gm)].map((match) => match[1]!);
      for (const module of imported) expect(sessionAgentModules.indexOf(module), `${name} imports ${module}`).toBeLessThan(index);
    }
  });
});
