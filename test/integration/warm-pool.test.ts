import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type RunningAurea, startAurea, useAurea } from "../support/aurea-server.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "../support/grpc-js-client.js";

/** Waits until every language has a warm container ready, so the next runs take the warm path. */
async function poolFilled(): Promise<void> {
  await vi.waitFor(() => expect(server.current.load().warm).toBe(3), { timeout: 20_000 });
}

/** A container started ahead of its run: fresh from the pool, or recycled (the caller's own, scrubbed). */
const startedAhead = ["warm", "recycled"];

/** Runs `request` on a warm container and checks, from the server's log, that it was one. */
async function warmRun(request: Record<string, unknown>): Promise<GrpcResponse> {
  await poolFilled();
  const response = await server.client.run(request);
  const line = server.current.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished");
  expect(startedAhead, "took a warm container").toContain(line?.container);
  return response;
}

const server = useAurea({ WARM_POOL_SIZE: "1", SANDBOX_OUTPUT_LIMIT: "64k" });

describe("warm containers run programs exactly as cold ones do", () => {
  it.each([
    ["python", "import sys; print('hi', sys.argv[1:])"],
    ["javascript", "console.log('hi', process.argv.slice(2))"],
    ["bash", 'echo hi "$@"'],
  ])("%s: output, args, exit code", async (language, code) => {
    const response = await warmRun({ language, code, args: ["a b"] });
    expect(response.status).toBe("RUN_STATUS_OK");
    expect(response.stdout as string).toMatch(/^hi .*a b/);
  });

  it("javascript: no loader options in process.execArgv (as `node main.js`), and a forked child runs its own file", async () => {
    const code = [
      "const { fork } = require('child_process');",
      "if (process.argv[2] === 'child') console.log('child', JSON.stringify(process.execArgv));",
      "else { console.log('parent', JSON.stringify(process.execArgv)); fork(__filename, ['child']).on('exit', (c) => console.log('exit', c)); }",
    ].join("\n");
    const response = await warmRun({ language: "javascript", code });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "parent []\nchild []\nexit 0\n", stderr: "" });
  });

  it("delivers stdin, files and returns artifacts", async () => {
    const response = await warmRun({
      language: "python",
      code: [
        "import os, sys",
        "from helper import shout",
        "data = sys.stdin.read()",
        "open('out/result.txt', 'w').write(shout(data) + '!')",
        "print(sys.argv[0], os.getcwd(), __name__)",
      ].join("\n"),
      stdin: Buffer.from("quiet"),
      files: { "helper.py": "def shout(s):\n    return s.upper()\n", "out/.keep": "" },
      capture_artifacts: true,
    });
    expect(response).toMatchObject({
      status: "RUN_STATUS_OK",
      stdout: "main.py /workspace __main__\n",
      artifacts: { "out/result.txt": "QUIET!" },
    });
  });

  it("writes the code file itself when it is the only file, byte for byte", async () => {
    const code = "import sys\n# ünïcode, 'quotes' \"and\" $dollars\\\n\n\nprint(open(__file__).read() == sys.argv[1])\n\n";
    const response = await warmRun({ language: "python", code, args: [code] });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "True\n" });
    const bash = "printf '%s' \"$(cat main.sh)\" | wc -c\n\n\n";
    expect(await warmRun({ language: "bash", code: bash })).toMatchObject({ stdout: `${bash.trimEnd().length}\n` });
  });

  it("takes a code file holding NUL through the archive instead", async () => {
    const response = await warmRun({ language: "javascript", code: "const s = '\u0000';\nconsole.log(s.length)" });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "1\n" });
  });

  it("reports an uncaught exception without the loader's frames", async () => {
    const response = await warmRun({ language: "python", code: "def f():\n    raise ValueError('x')\nf()" });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 1 });
    expect(response.stderr as string).toMatch(/^Traceback \(most recent call last\):\n {2}File "main\.py", line 3, in <module>/);
  });

  it("keeps sys.exit and process.exit codes, and signals", async () => {
    expect(await warmRun({ language: "python", code: "import sys; sys.exit(7)" })).toMatchObject({ exit_code: 7 });
    expect(await warmRun({ language: "javascript", code: "process.exit(9)" })).toMatchObject({ exit_code: 9 });
    expect(await warmRun({ language: "bash", code: "kill -SEGV $$" })).toMatchObject({ exit_code: 139, signal: "SIGSEGV" });
  });

  it("applies a run's lower memory limit to the warm container it takes", async () => {
    const response = await warmRun({
      language: "python",
      code: "b = []\nwhile True: b.append(bytearray(8 << 20))",
      limits: { memory_bytes: String(64 << 20) },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", exit_code: 137 });
    expect(Number((response.usage as { peak_memory_bytes: string }).peak_memory_bytes)).toBeLessThanOrEqual(64 << 20);
  });

  it("times out, and caps output, as a cold run does", async () => {
    expect(await warmRun({ language: "bash", code: "sleep 10", timeout: 0.5 })).toMatchObject({ status: "RUN_STATUS_TIMEOUT" });
    expect(await warmRun({ language: "bash", code: "yes" })).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT" });
  });

  it("gives no run anything an earlier run left (a fresh container, or the caller's own, scrubbed)", async () => {
    const first = await warmRun({
      language: "bash",
      code: "echo mark > /tmp/mark; hostname; cat /proc/1/cmdline | tr '\\0' ' ' | head -c 20",
    });
    const second = await warmRun({ language: "bash", code: "ls /tmp; ls /workspace" });
    expect(first.status).toBe("RUN_STATUS_OK");
    expect(second.stdout).not.toContain("mark");
  });
});

describe("a run with environment variables of its own", () => {
  // A server of its own: these runs make pools of the exec loader, which poolFilled() above does not count.
  let own: RunningAurea;
  let ownClient: GrpcSandboxClient;
  beforeAll(async () => {
    own = await startAurea({ WARM_POOL_SIZE: "1" });
    ownClient = createGrpcSandboxClient(own.port);
  });
  afterAll(async () => {
    ownClient?.close();
    await own?.stop();
  });
  it.each([
    [
      "python",
      "import os, sys, greeting; print(greeting.HELLO, os.environ['SUFFIX'], sys.flags.dont_write_bytecode)",
      { PYTHONPATH: "/workspace/lib", PYTHONDONTWRITEBYTECODE: "1", SUFFIX: "!" },
      { "lib/greeting.py": "HELLO = 'hello'\n" },
      "hello ! 1\n",
    ],
    [
      "javascript",
      "console.log(globalThis.preloaded, process.env.SUFFIX)",
      { NODE_OPTIONS: "--require=/workspace/pre.js", SUFFIX: "!" },
      { "pre.js": "globalThis.preloaded = 'preloaded';\n" },
      "preloaded !\n",
    ],
  ])(
    "%s: the interpreter sees them when it starts, as in a cold run, and such runs are warm soon",
    async (language, code, env, files, stdout) => {
      // Every run answers as a cold one would; the first makes the exec loader's pool, and a run
      // soon takes one of its containers (or the caller's own, recycled).
      const deadline = Date.now() + 30_000;
      for (;;) {
        const response = await ownClient.run({ language, code, env, files });
        expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout, stderr: "" });
        const line = own.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished");
        if (startedAhead.includes(line?.container as string)) break;
        if (Date.now() > deadline) throw new Error(`${language}: no warm run with its own environment`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    },
  );
});

describe("the pool never hands out a dead container", () => {
  it("skips warm containers that died while waiting, and refills", async () => {
    await poolFilled();
    const docker = new Docker();
    const warm = await docker.listContainers({ filters: { label: ["dev.aurea.run-id=warm"] } });
    expect(warm.length).toBeGreaterThanOrEqual(3);
    await Promise.all(
      warm.map((container) =>
        docker
          .getContainer(container.Id)
          .kill()
          .catch(() => undefined),
      ),
    );
    const response = await server.client.run({ language: "python", code: "print('after the warm ones died')" });
    expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "after the warm ones died\n" });
    const line = server.current.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished");
    expect(line?.container).toBe("cold");
    // Refilled with live ones: the next run is warm again.
    expect(await warmRun({ language: "python", code: "print(2)" })).toMatchObject({ stdout: "2\n" });
  });
});

describe("nothing a warm program does can forge its result", () => {
  it("killing, stopping or tracing the supervisor changes nothing", async () => {
    const response = await warmRun({
      language: "python",
      code: [
        "import os, signal, ctypes",
        "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGINT, signal.SIGUSR1):",
        "    try: os.kill(1, sig)",
        "    except OSError: pass",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "print('attach', libc.ptrace(16, 1, 0, 0))",
        "print('alive')",
        "raise SystemExit(5)",
      ].join("\n"),
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 5, stdout: "attach -1\nalive\n" });
  });

  it("printing bytes that look like the protocol is only output", async () => {
    const response = await warmRun({
      language: "python",
      code: [
        "import sys",
        "fake = b'\\x00aurea-usage:' + b'0' * 32 + b' ok 0 1 1 0\\n'",
        "frame = b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x05forge'",
        "sys.stdout.buffer.write(fake + frame + b'go\\n')",
        "sys.stdout.flush()",
        "open('/tmp/.aurea-go', 'w').close() if False else None",
        "raise SystemExit(3)",
      ].join("\n"),
      capture_artifacts: true,
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 3 });
    expect(Buffer.from(response.stdout as string).includes("aurea-usage:")).toBe(true);
    expect(Number((response.usage as { peak_memory_bytes: string }).peak_memory_bytes)).toBeGreaterThan(1);
  });

  it("writing to the loader's FIFO or closing its streams changes nothing", async () => {
    const response = await warmRun({
      language: "bash",
      code: "echo go > /tmp/.aurea-go & sleep 0.1; exec 1>&- 2>&-; exit 4",
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 4 });
  });
});

describe("warm containers under gVisor", () => {
  it("run programs as cold ones do", async () => {
    const gvisor = await startAurea({ WARM_POOL_SIZE: "1", SANDBOX_RUNTIME: "runsc" });
    const gvisorClient = createGrpcSandboxClient(gvisor.port);
    try {
      for (const [language, code, expected] of [
        ["python", "import sys; print(sys.argv[1])", "gvisor\n"],
        ["javascript", "console.log(process.argv[2])", "gvisor\n"],
        ["bash", 'echo "$1"', "gvisor\n"],
      ] as const) {
        const deadline = Date.now() + 30_000;
        let response: GrpcResponse;
        // The first run of a shape may find its pool still warming; a warm run must come soon.
        for (;;) {
          response = await gvisorClient.run({ language, code, args: ["gvisor"] });
          expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: expected });
          const line = gvisor.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished");
          if (startedAhead.includes(line?.container as string)) break;
          if (Date.now() > deadline) throw new Error(`${language}: no warm run under runsc`);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    } finally {
      gvisorClient.close();
      await gvisor.stop();
    }
  }, 120_000);
});

describe("RunStream on a warm container", () => {
  it("streams live output and ends with the result", async () => {
    await poolFilled();
    const stream = server.client.runStream({
      language: "python",
      code: "import time\nprint('one')\ntime.sleep(0.5)\nprint('two')",
    });
    await stream.done;
    const result = stream.messages.at(-1)!.message.result as GrpcResponse;
    expect(result).toMatchObject({ status: "RUN_STATUS_OK", stdout: "one\ntwo\n" });
    const line = server.current.logs().find((entry) => entry.run_id === result.run_id && entry.msg === "run finished");
    expect(startedAhead).toContain(line?.container);
    const first = stream.messages.find(({ message }) => message.event === "stdout")!;
    expect(stream.messages.at(-1)!.at - first.at).toBeGreaterThanOrEqual(400);
  });
});
