import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { spawnServer } from "../../bench/support/spawn-server.js";
import { useAurea } from "../support/aurea-server.js";
import { aureaContainers, noContainersWithin, removalBoundMs } from "../support/containers.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "../support/grpc-js-client.js";
import { grpcErrorDetails } from "../support/error-details.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Sessions for real: every test creates sessions on a real engine through an independent grpc-js
 * client and checks what the programs inside saw, what came back, and that nothing is left.
 */

const runtimes = ["runc", "runsc"] as const;

async function createSession(client: GrpcSandboxClient, request: Record<string, unknown>): Promise<string> {
  const created = await client.call("CreateSession", request, 120_000);
  expect(created.session_id).toMatch(/^ses_[A-Za-z0-9_-]{24}$/);
  return created.session_id as string;
}

const exec = (client: GrpcSandboxClient, sessionId: string, request: Record<string, unknown>) =>
  client.call("Exec", { session_id: sessionId, ...request }, 120_000);

describe("a session", () => {
  const server = useAurea({ SESSION_MAX_EXECS: "3", MAX_CONCURRENT_RUNS: "8" });

  describe.each(runtimes)("under %s", (runtime) => {
    it("keeps the files earlier execs wrote, as the sandbox user, with no capability and no network", async () => {
      const client = server.client;
      const id = await createSession(client, { language: "python", runtime, files: { "data/in.txt": "seed\n" } });
      const first = await exec(client, id, { command: ["sh", "-c", "cat data/in.txt > copy.txt; echo made >> copy.txt"] });
      expect(first).toMatchObject({ status: "RUN_STATUS_OK", exit_code: 0 });
      const second = await exec(client, id, {
        code: [
          "import os, socket",
          "print(open('copy.txt').read().split())",
          "print(os.getuid(), os.getgid(), os.getcwd())",
          "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('Cap')])",
          "try:",
          "    socket.create_connection(('127.0.0.1', 9), timeout=1); print('connected')",
          "except OSError as e:",
          "    print('refused')",
          "print(open('/dev/stdin').read())",
        ].join("\n"),
        stdin: Buffer.from("by name"),
      });
      expect(second.status).toBe("RUN_STATUS_OK");
      expect((second.stdout as string).split("\n")).toEqual([
        "['seed', 'made']",
        "10001 10001 /workspace",
        `[${Array(runtime === "runc" ? 5 : 4)
          .fill("'0000000000000000'")
          .join(", ")}]`,
        "refused",
        "by name",
        "",
      ]);
      // The root file system is read-only as in a run.
      const write = await exec(client, id, { command: ["sh", "-c", "touch /usr/x"] });
      expect(write.status).toBe("RUN_STATUS_RUNTIME_ERROR");
      await client.call("CloseSession", { session_id: id });
    });

    it("keeps a stateful interpreter's variables between cells, and the trailing expression's value", async () => {
      const client = server.client;
      const id = await createSession(client, { language: "python", runtime, stateful: true });
      expect(await exec(client, id, { code: "import math\nx = 41\ndef double(n):\n    return 2 * n" })).toMatchObject({
        status: "RUN_STATUS_OK",
        value: "",
      });
      expect(await exec(client, id, { code: "x += 1\nprint('side', x)\ndouble(x)" })).toMatchObject({
        status: "RUN_STATUS_OK",
        stdout: "side 42\n",
        value: "84",
        state_lost: false,
      });
      const failed = await exec(client, id, { code: "1 / 0" });
      expect(failed).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 1 });
      expect(failed.stderr).toMatch(/<cell 3>.*\n.*1 \/ 0[\s\S]*ZeroDivisionError/);
      expect(failed.exception).toMatchObject({ name: "ZeroDivisionError", value: "division by zero" });
      expect((failed.exception as { traceback: string }).traceback).toMatch(/File "<cell 3>", line 1, in <module>\n\s+1 \/ 0/);
      expect(await exec(client, id, { code: "input() + str(x)", stdin: Buffer.from("x=\n") })).toMatchObject({
        value: "'x=42'",
      });
      // A timeout or an output flood interrupts the cell (KeyboardInterrupt): the state stays.
      const slow = await exec(client, id, { code: "import time\ntime.sleep(30)", timeout: 1 });
      expect(slow).toMatchObject({
        status: "RUN_STATUS_TIMEOUT",
        state_lost: false,
        timed_out: true,
        exception: { name: "KeyboardInterrupt" },
      });
      const flood = await exec(client, id, { code: "while True:\n    print('x' * 1000)" });
      expect(flood).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", state_lost: false });
      expect(await exec(client, id, { code: "x" })).toMatchObject({ status: "RUN_STATUS_OK", value: "42" });
      // A cell deaf to the interrupt (as a stuck native call is) is killed with its interpreter:
      // the session says its state is gone, and starts afresh.
      const deaf = "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])\ntime.sleep(30)";
      expect(await exec(client, id, { code: deaf, timeout: 1 })).toMatchObject({
        status: "RUN_STATUS_TIMEOUT",
        state_lost: true,
      });
      const fresh = await exec(client, id, { code: "'x' in globals()" });
      expect(fresh).toMatchObject({ status: "RUN_STATUS_OK", value: "False" });
      expect((await client.call("GetSession", { session_id: id })).session).toMatchObject({
        states_lost: 1,
        interpreter_running: true,
        execs_total: "9",
      });
      await client.call("CloseSession", { session_id: id });
    });
  });

  it("keeps JavaScript declarations between cells and shows values as Node does", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "javascript", stateful: true });
    await exec(client, id, {
      code: "const fs = require('fs'); let items = [1, 2]; function sum(a) { return a.reduce((x, y) => x + y, 0) }",
    });
    expect(
      await exec(client, id, { code: "items.push(3); console.log('n', items.length); ({ total: sum(items) })" }),
    ).toMatchObject({
      status: "RUN_STATUS_OK",
      stdout: "n 3\n",
      value: "{ total: 6 }",
    });
    expect(
      await exec(client, id, { code: "Promise.resolve(fs.readFileSync(0, 'utf8').trim())", stdin: Buffer.from("in\n") }),
    ).toMatchObject({
      value: "'in'",
    });
    const thrown = await exec(client, id, { code: "undefinedThing.x" });
    expect(thrown).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR" });
    expect(thrown.stderr).toContain("ReferenceError: undefinedThing is not defined");
    expect(thrown.exception).toMatchObject({ name: "ReferenceError", value: "undefinedThing is not defined" });
    // A timeout stops a cell's synchronous loop, and the global scope stays.
    expect(await exec(client, id, { code: "items.push(4); for (;;) {}", timeout: 1 })).toMatchObject({
      status: "RUN_STATUS_TIMEOUT",
      state_lost: false,
    });
    expect(await exec(client, id, { code: "sum(items)" })).toMatchObject({ status: "RUN_STATUS_OK", value: "10" });
    await client.call("CloseSession", { session_id: id });
  });

  it("writes a CSV, reads it with pandas, plots it and returns the PNG", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "python-data", stateful: true });
    const written = await client.call("WriteFiles", {
      session_id: id,
      files: { "sales.csv": "month,units\njan,3\nfeb,5\nmar,8\n" },
    });
    expect(written).toEqual({ names: ["sales.csv"] });
    expect(
      await exec(client, id, { code: "import pandas as pd\ndf = pd.read_csv('sales.csv')\nint(df.units.sum())" }),
    ).toMatchObject({
      status: "RUN_STATUS_OK",
      value: "16",
    });
    const plotted = await exec(client, id, {
      code: "import matplotlib.pyplot as plt\ndf.plot(x='month', y='units')\nplt.title('units')\ndf.units.max()",
    });
    expect(plotted).toMatchObject({ status: "RUN_STATUS_OK", value: expect.stringMatching(/^(np\.int64\()?8\)?$/) });
    const png = (plotted.binary_artifacts as Record<string, Buffer>)["figure-1.png"];
    expect(png?.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // The same figure among the results, after the main one, as a notebook shows it.
    const shown = plotted.results as { data: Record<string, string>; is_main_result: boolean }[];
    expect(shown.map((result) => result.is_main_result)).toEqual([true, false]);
    expect(Buffer.from(shown[1]?.data["image/png"] ?? "", "base64")).toEqual(png);
    // A DataFrame as the main result: its HTML table, and display() of a dict before it.
    const table = await exec(client, id, { code: "display({'rows': len(df)})\ndf.head(2)" });
    const [first, main] = table.results as { data: Record<string, string>; is_main_result: boolean }[];
    expect(first).toEqual({ data: { "text/plain": "{'rows': 3}", "application/json": '{"rows": 3}' }, is_main_result: false });
    expect(main?.is_main_result).toBe(true);
    expect(main?.data["text/html"]).toMatch(/<table[\s\S]*<td>jan<\/td>/);
    expect(main?.data["text/plain"]).toBe(table.value);
    // The same figure saved to a file in a plain command, read back with ReadFiles.
    await exec(client, id, { code: "plt.figure(); df.plot(x='month', y='units'); plt.savefig('plot.png'); plt.close('all')" });
    const files = await client.call("ReadFiles", { session_id: id, paths: ["plot.png", "missing.txt"] });
    expect((files.binary_files as Record<string, Buffer>)["plot.png"]?.subarray(1, 4).toString()).toBe("PNG");
    expect(files.skipped).toEqual([{ name: "missing.txt", reason: "ARTIFACT_SKIP_REASON_NOT_FOUND" }]);
    await client.call("CloseSession", { session_id: id });
  });

  it("compiles code in the session and runs it, and reports a compile error as a run does", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "c" });
    const ran = await exec(client, id, {
      code: '#include <stdio.h>\nint main(int c, char **v) { printf("hi %s\\n", v[1]); return 3; }',
      args: ["there"],
    });
    expect(ran).toMatchObject({ status: "RUN_STATUS_RUNTIME_ERROR", exit_code: 3, stdout: "hi there\n" });
    expect(ran.compile).toMatchObject({ status: "RUN_STATUS_OK" });
    const listed = await client.call("ListFiles", { session_id: id });
    expect((listed.entries as GrpcResponse[]).map((entry) => [entry.name, entry.type])).toEqual([
      ["main", "FILE_TYPE_FILE"],
      ["main.c", "FILE_TYPE_FILE"],
    ]);
    const broken = await exec(client, id, { code: "int main( {" });
    expect(broken).toMatchObject({ status: "RUN_STATUS_COMPILE_ERROR", compile: { status: "RUN_STATUS_RUNTIME_ERROR" } });
    expect((broken.compile as GrpcResponse).stderr).toContain("error");
    await client.call("CloseSession", { session_id: id });
  });

  it("lives longer when UpdateSession says so, within SESSION_MAX_TTL, over gRPC and PATCH", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "bash", ttl: 2 });
    const updated = await client.call("UpdateSession", { session_id: id, ttl: 30, idle_timeout: 20 });
    const expiresAt = Number((updated.expires_at as { seconds: string }).seconds) * 1000;
    expect(expiresAt).toBeGreaterThan(Date.now() + 25_000);
    expect(updated.session).toMatchObject({ session_id: id, idle_timeout: 20 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await client.call("GetSession", { session_id: id })).session).toMatchObject({ state: "SESSION_STATE_ACTIVE" });
    const refused = (await client
      .call("UpdateSession", { session_id: id, ttl: 10 * 86_400 })
      .catch((error: unknown) => error)) as grpc.ServiceError;
    expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(grpcErrorDetails(refused).violations.map((violation) => violation.field)).toEqual(["ttl"]);
    const patched = await fetch(`${server.current.baseUrl}/sessions/${id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ idle_timeout: 5 }),
    });
    expect(await patched.json()).toMatchObject({ session: { idle_timeout: 5 } });
    await client.call("CloseSession", { session_id: id });
  });

  it("reads parts of a file larger than the artifact caps, and names what it could not read", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "bash" });
    // 9 MiB, past SANDBOX_ARTIFACT_MAX_FILE_SIZE (8 MiB): whole, it is skipped as too large.
    const size = 9 * 1024 * 1024;
    await exec(client, id, {
      command: ["sh", "-c", `head -c ${size} /dev/urandom > big.bin && ln -s big.bin link && mkdir dir`],
    });
    const sums = await exec(client, id, {
      command: [
        "python3",
        "-c",
        "import hashlib\nb = open('big.bin', 'rb').read()\nprint(hashlib.sha256(b[1000:1000 + 1048576]).hexdigest(), hashlib.sha256(b[-100:]).hexdigest())",
      ],
    });
    const [headSum, tailSum] = (sums.stdout as string).trim().split(" ");
    const read = await client.call("ReadFiles", {
      session_id: id,
      ranges: [
        { path: "big.bin", offset: 1000, length: 1048576 },
        { path: "big.bin", offset: size - 100, length: 0 },
        { path: "missing.bin", offset: 0, length: 1 },
        { path: "link", offset: 0, length: 1 },
        { path: "dir", offset: 0, length: 1 },
      ],
    });
    const chunks = read.ranges as { path: string; offset: string; data: Buffer; eof: boolean }[];
    const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");
    expect(chunks.map((chunk) => [chunk.path, Number(chunk.offset), chunk.data.length, chunk.eof])).toEqual([
      ["big.bin", 1000, 1048576, false],
      ["big.bin", size - 100, 100, true],
    ]);
    expect([sha(chunks[0]!.data), sha(chunks[1]!.data)]).toEqual([headSum, tailSum]);
    expect(read.skipped).toEqual([
      { name: "missing.bin", reason: "ARTIFACT_SKIP_REASON_NOT_FOUND" },
      { name: "link", reason: "ARTIFACT_SKIP_REASON_SYMLINK" },
      { name: "dir", reason: "ARTIFACT_SKIP_REASON_SPECIAL_FILE" },
    ]);
    expect(read.files).toEqual({});
    const whole = await client.call("ReadFiles", { session_id: id, paths: ["big.bin"] });
    expect(whole.skipped).toEqual([{ name: "big.bin", reason: "ARTIFACT_SKIP_REASON_TOO_LARGE" }]);
    await client.call("CloseSession", { session_id: id });
  });

  it("deletes files and directories, follows no symbolic link, and names what it left alone", async () => {
    const client = server.client;
    const id = await createSession(client, {
      language: "bash",
      files: { "a.txt": "a", "dir/b.txt": "b", "dir/deep/c.txt": "c", "keep.txt": "k" },
    });
    // A link to a directory outside the workspace, and a file there the program's user owns.
    await exec(client, id, { command: ["sh", "-c", "mkdir /tmp/outside && echo x > /tmp/outside/f && ln -s /tmp/outside out"] });
    const deleted = await client.call("DeleteFiles", {
      session_id: id,
      paths: ["a.txt", "dir", "missing.txt", "out/f", "out"],
    });
    expect(deleted.deleted).toEqual(["a.txt", "dir", "out"]);
    expect(deleted.skipped).toEqual([
      { name: "missing.txt", reason: "ARTIFACT_SKIP_REASON_NOT_FOUND" },
      { name: "out/f", reason: "ARTIFACT_SKIP_REASON_SYMLINK" },
    ]);
    const left = await exec(client, id, { command: ["sh", "-c", "ls -A; cat /tmp/outside/f"] });
    expect(left.stdout).toBe("keep.txt\nx\n");
    await expect(client.call("DeleteFiles", { session_id: id, paths: ["../etc"] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^paths\[0\]: /),
    });
    // The REST route: DELETE with the paths in the body.
    const rest = await fetch(`${server.current.baseUrl}/sessions/${id}/files`, {
      method: "DELETE",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ paths: ["keep.txt"] }),
    });
    expect(await rest.json()).toMatchObject({ deleted: ["keep.txt"], skipped: [] });
    await client.call("CloseSession", { session_id: id });
  });

  it("ends a timed-out or flooding exec without ending the session or its other execs", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "bash" });
    const long = exec(client, id, { command: ["sh", "-c", "sleep 2; echo survived"] });
    const [timedOut, flooded] = await Promise.all([
      exec(client, id, { command: ["sh", "-c", "sleep 1000 & sleep 1000"], timeout: 0.5 }),
      exec(client, id, { command: ["sh", "-c", "yes"] }),
    ]);
    expect(timedOut).toMatchObject({ status: "RUN_STATUS_TIMEOUT", timed_out: true });
    expect(flooded).toMatchObject({ status: "RUN_STATUS_OUTPUT_LIMIT", stdout_truncated: true });
    expect(await long).toMatchObject({ status: "RUN_STATUS_OK", stdout: "survived\n" });
    // Nothing of the ended execs is left running.
    const left = await exec(client, id, { command: ["sh", "-c", "ps -eo user,comm | grep -c sleep || true"] });
    expect(left.stdout).toBe("0\n");
    await client.call("CloseSession", { session_id: id });
  });

  it("refuses more execs at once than SESSION_MAX_EXECS, naming the bound", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "bash" });
    const sleepers = [1, 2, 3].map(() => exec(client, id, { command: ["sleep", "1"] }));
    await waitFor(
      async () => ((await client.call("GetSession", { session_id: id })).session as GrpcResponse).execs_running === 3,
      5000,
      "three execs running",
    );
    await expect(exec(client, id, { command: ["true"] })).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: expect.stringContaining("SESSION_MAX_EXECS"),
    });
    for (const result of await Promise.all(sleepers)) expect(result.status).toBe("RUN_STATUS_OK");
    await client.call("CloseSession", { session_id: id });
  });

  it("streams an exec's output as it comes, and a cancelled stream ends that exec only", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "python" });
    const stream = client.stream("ExecStream", {
      session_id: id,
      code: "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)",
    });
    await stream.done;
    const events = stream.messages.map(({ message }) => message.event);
    expect(events[0]).toBe("started");
    expect(events.at(-1)).toBe("result");
    const chunks = stream.messages.filter(({ message }) => message.event === "stdout");
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect((chunks.at(-1)?.at ?? 0) - (chunks[0]?.at ?? 0)).toBeGreaterThan(400);
    const result = stream.messages.at(-1)?.message.result as GrpcResponse;
    expect(result).toMatchObject({ status: "RUN_STATUS_OK", stdout: "0\n1\n2\n" });
    expect(stream.messages[0]?.message.started).toEqual({ run_id: result.run_id });

    const cancelled = client.stream("ExecStream", { session_id: id, command: ["sleep", "30"] });
    await cancelled.waitFor((message) => message.event === "started");
    cancelled.cancel();
    await expect(cancelled.done).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    await waitFor(
      async () => ((await client.call("GetSession", { session_id: id })).session as GrpcResponse).execs_running === 0,
      5000,
      "the cancelled exec ended",
    );
    expect(await exec(client, id, { command: ["echo", "still here"] })).toMatchObject({ stdout: "still here\n" });
    await client.call("CloseSession", { session_id: id });
  });

  it("names the field of a bad request", async () => {
    const client = server.client;
    await expect(client.call("CreateSession", { language: "bash", stateful: true, ttl: -1 })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/stateful: bash has no stateful interpreter.*ttl: must be a positive number/),
    });
    await expect(client.call("CreateSession", { language: "python", ttl: 10, idle_timeout: 20 })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining("idle_timeout: 20 s is above the maximum of 10 s"),
    });
    const id = await createSession(client, { language: "python" });
    await expect(exec(client, id, { code: "print(1)", command: ["true"] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining("command: exactly one of code and command is required"),
    });
    await expect(client.call("WriteFiles", { session_id: id, files: { "../x": "" } })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining('files["../x"]'),
    });
    await expect(client.call("Exec", { session_id: "", command: ["true"] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: "session_id: is required",
    });
    await client.call("CloseSession", { session_id: id });
    await expect(exec(client, id, { command: ["true"] })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("ends at its ttl and after its idle timeout, removing its container", async () => {
    const client = server.client;
    const idle = await createSession(client, { language: "bash", idle_timeout: 1, ttl: 60 });
    const short = await createSession(client, { language: "bash", ttl: 2 });
    // Used every half second, the idle one stays.
    for (let i = 0; i < 3; i++) {
      await exec(client, idle, { command: ["true"] });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect((await client.call("GetSession", { session_id: idle })).session).toMatchObject({ state: "SESSION_STATE_ACTIVE" });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    for (const id of [idle, short]) {
      await expect(client.call("GetSession", { session_id: id })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    }
    const closed = server.current.logs().filter((line) => line.msg === "session closed");
    expect(closed.map((line) => line.reason)).toEqual(expect.arrayContaining(["idle for 1 s", "its ttl of 2 s passed"]));
    await noContainersWithin(removalBoundMs.runc);
  });

  it("reports a container that died as FAILED_PRECONDITION with the cause, once, then forgets it", async () => {
    const client = server.client;
    const id = await createSession(client, { language: "bash" });
    const [container] = await aureaContainers();
    await new Docker().getContainer(container as string).kill();
    await waitFor(
      async () =>
        ((await client.call("ListSessions", {})).sessions as GrpcResponse[]).every((s) => s.state === "SESSION_STATE_FAILED"),
      5000,
      "the session failed",
    );
    await expect(exec(client, id, { command: ["true"] })).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: expect.stringContaining("output ended"),
    });
    await expect(exec(client, id, { command: ["true"] })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await noContainersWithin(removalBoundMs.runc);
  });
});

describe("sessions and API keys", () => {
  const server = useAurea({ API_KEYS: "alice:alice-secret-0123456789,bob:bob-secret-0123456789", MAX_SESSIONS_PER_KEY: "2" });

  it("belong to the key that made them: any other key gets NOT_FOUND", async () => {
    const alice = createGrpcSandboxClient(server.current.port, { authorization: "Bearer alice-secret-0123456789" });
    const bob = createGrpcSandboxClient(server.current.port, { authorization: "Bearer bob-secret-0123456789" });
    try {
      const id = await createSession(alice, { language: "python", files: { "secret.txt": "alice's" } });
      for (const [method, request] of [
        ["GetSession", {}],
        ["Exec", { command: ["cat", "secret.txt"] }],
        ["ReadFiles", { paths: ["secret.txt"] }],
        ["ListFiles", {}],
        ["WriteFiles", { files: { "x.txt": "bob was here" } }],
        ["CloseSession", {}],
      ] as const) {
        await expect(bob.call(method, { session_id: id, ...request }), method).rejects.toMatchObject({
          code: grpc.status.NOT_FOUND,
          details: `session "${id}" not found`,
        });
      }
      await expect(bob.call("GetSession", { session_id: "ses_neverexisted00000000000" })).rejects.toMatchObject({
        code: grpc.status.NOT_FOUND,
        details: 'session "ses_neverexisted00000000000" not found',
      });
      expect((await bob.call("ListSessions", {})).sessions).toEqual([]);
      expect(((await alice.call("ListSessions", {})).sessions as GrpcResponse[]).map((s) => s.session_id)).toEqual([id]);
      expect((await alice.call("ReadFiles", { session_id: id, paths: ["secret.txt"] })).files).toEqual({
        "secret.txt": "alice's",
      });
      // Two per key: the third is refused, naming the bound; bob still has his own two.
      await createSession(alice, { language: "bash" });
      await expect(alice.call("CreateSession", { language: "bash" })).rejects.toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: expect.stringContaining("MAX_SESSIONS_PER_KEY"),
      });
      await createSession(bob, { language: "bash" });
    } finally {
      for (const client of [alice, bob]) {
        for (const s of (await client.call("ListSessions", {})).sessions as GrpcResponse[]) {
          await client.call("CloseSession", { session_id: s.session_id });
        }
        client.close();
      }
    }
  });
});

describe("a fork bomb or a memory bomb in one exec", () => {
  const server = useAurea();

  it.each(runtimes)(
    "leaves the session usable, or says why not, under %s",
    async (runtime) => {
      const client = server.client;
      const id = await createSession(client, {
        language: "python",
        runtime,
        limits: { memory_bytes: String(256 * 1024 ** 2), pids: "32" },
      });
      const bomb = await exec(client, id, { command: ["bash", "-c", ":(){ :|:& };:; sleep 2"], timeout: 5 });
      expect(["RUN_STATUS_OK", "RUN_STATUS_RUNTIME_ERROR", "RUN_STATUS_TIMEOUT"]).toContain(bomb.status);
      expect(await exec(client, id, { command: ["echo", "after the fork bomb"] })).toMatchObject({
        stdout: "after the fork bomb\n",
      });
      const hog = await exec(client, id, { code: "x = bytearray(1024 ** 3)", timeout: 20 }).catch(
        (error: grpc.ServiceError) => error,
      );
      if (runtime === "runc") {
        // The kernel's OOM killer takes the program, never the agent (its score is raised).
        expect(hog).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", limits_hit: expect.arrayContaining(["LIMIT_MEMORY"]) });
        expect(await exec(client, id, { command: ["echo", "after the memory bomb"] })).toMatchObject({
          stdout: "after the memory bomb\n",
        });
        await client.call("CloseSession", { session_id: id });
      } else {
        // gVisor's memory limit covers the whole sandbox, which the host kills: the exec that did it
        // reads MEMORY_LIMIT, and the session says it is gone, and why.
        expect(hog).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", limits_hit: ["LIMIT_MEMORY"] });
        await expect(exec(client, id, { command: ["true"] })).rejects.toMatchObject({
          code: grpc.status.FAILED_PRECONDITION,
          details: expect.stringContaining("memory limit (limits.memory_bytes, 268435456 bytes) was exceeded"),
        });
      }
      await noContainersWithin(removalBoundMs[runtime]);
    },
    120_000,
  );
});

describe("a restarted server", () => {
  it("adopts the sessions its predecessor left (same INSTANCE_NAME), and SIGTERM closes every session", async () => {
    const name = `adopt-${process.pid}`;
    const first = await spawnServer({ INSTANCE_NAME: name });
    let client = createGrpcSandboxClient(first.port);
    const id = await createSession(client, { language: "python", stateful: true, files: { "kept.txt": "kept" } });
    await exec(client, id, { code: "counter = 1" });
    // New times, which the labels do not hold: the successor learns them from the agent.
    await client.call("UpdateSession", { session_id: id, ttl: 1234, idle_timeout: 321 });
    first.signal("SIGKILL");
    await first.exited;
    client.close();
    expect(await aureaContainers()).toHaveLength(1);

    const second = await spawnServer({ INSTANCE_NAME: name, SHUTDOWN_GRACE: "1" });
    client = createGrpcSandboxClient(second.port);
    try {
      expect(await client.health()).toMatchObject({ sessions: 1, sessions_adopted: 1 });
      expect((await client.call("GetSession", { session_id: id })).session).toMatchObject({
        adopted: true,
        state: "SESSION_STATE_ACTIVE",
        idle_timeout: 321,
      });
      // Files and the interpreter's variables are still there.
      expect(await exec(client, id, { code: "counter += 1\ncounter" })).toMatchObject({ value: "2" });
      expect(await exec(client, id, { command: ["cat", "kept.txt"] })).toMatchObject({ stdout: "kept" });
      const long = exec(client, id, { command: ["sleep", "30"] }).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 300));
      second.signal("SIGTERM");
      expect(await long).toMatchObject({ status: "RUN_STATUS_CANCELLED" });
      expect(await second.exited).toBe(0);
      expect(
        second
          .logs()
          .filter((line) => line.msg === "session closed")
          .map((line) => line.reason),
      ).toEqual(["the server is shutting down"]);
      await noContainersWithin(removalBoundMs.runc);
    } finally {
      client.close();
      second.signal("SIGKILL");
    }
  }, 120_000);
});

describe("the session REST routes", () => {
  const server = useAurea({ API_KEYS: "carol:carol-secret-0123456789" });

  it("create, exec, write, list, read, get, list and close a session with plain JSON over HTTP/1.1", async () => {
    const base = server.current.baseUrl;
    const headers = { authorization: "Bearer carol-secret-0123456789", "content-type": "application/json" };
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const created = await call("POST", "/sessions", { language: "python", stateful: true, ttl: 60 });
    expect(created.status).toBe(200);
    const id = created.body.session_id as string;
    expect(typeof created.body.expires_at).toBe("string");
    expect(await call("POST", `/sessions/${id}/exec`, { code: "n = 6 * 7\nn" })).toMatchObject({
      status: 200,
      body: { status: "RUN_STATUS_OK", value: "42" },
    });
    expect(await call("PUT", `/sessions/${id}/files`, { files: { "notes/a.txt": "alpha" } })).toMatchObject({
      body: { names: ["notes/a.txt"] },
    });
    const listed = await call("GET", `/sessions/${id}/files?path=notes&recursive=true`);
    expect((listed.body.entries as Record<string, unknown>[]).map((entry) => entry.name)).toEqual(["notes/a.txt"]);
    expect(await call("POST", `/sessions/${id}/files/read`, { paths: ["notes/a.txt"] })).toMatchObject({
      body: { files: { "notes/a.txt": "alpha" } },
    });
    expect(await call("GET", `/sessions/${id}`)).toMatchObject({ body: { session: { session_id: id, stateful: true } } });
    expect((await call("GET", "/sessions")).body.sessions).toHaveLength(1);
    expect(await call("DELETE", `/sessions/${id}`)).toMatchObject({ body: { session: { state: "SESSION_STATE_CLOSED" } } });
    expect(await call("GET", `/sessions/${id}`)).toMatchObject({ status: 404, body: { code: "not_found" } });
    const unauthenticated = await fetch(`${base}/sessions`, { method: "GET" });
    expect(unauthenticated.status).toBe(401);
  });
});
