import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeLoopbackPort } from "../../bench/support/spawn-server.js";
import {
  BadRequestSchema,
  Code,
  ConnectError,
  createAureaClient,
  FileType,
  RunStatus,
  type RunEvent,
  SessionState,
} from "../../clients/typescript/src/index.js";
import { type RunningAurea, startAurea, useAurea } from "../support/aurea-server.js";
import { startTcpRelay } from "../support/tcp-relay.js";

/**
 * The TypeScript client (clients/typescript) against real servers: its README example from the
 * packed tarball installed on its own, every method, structured errors, retries that never run a
 * program twice, and session calls that go straight to their owner.
 */

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const key = "ts-client-key-0123456789";

function readmeExample(): string {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const block = /<!-- typescript-client-example[^>]*-->\n```js\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error("README.md has no typescript-client-example block");
  return block[1]!;
}

describe("aurea-client (TypeScript)", () => {
  const server = useAurea({ API_KEYS: `app:${key}` });
  const aurea = () => createAureaClient({ baseUrl: server.current.baseUrl, apiKey: key });

  it("installs on its own from its packed tarball and runs the README's example", async () => {
    const folder = mkdtempSync(join(tmpdir(), "aurea-client-install-"));
    try {
      const client = join(repoRoot, "clients/typescript");
      await run("npx", ["tsc", "-p", join(client, "tsconfig.json")], { cwd: repoRoot, timeout: 120_000 });
      const { stdout: packed } = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", folder], {
        cwd: client,
        timeout: 60_000,
      });
      writeFileSync(join(folder, "package.json"), JSON.stringify({ name: "example", private: true, type: "module" }));
      await run("npm", ["install", "--no-audit", "--no-fund", `./${packed.trim().split("\n").at(-1)}`], {
        cwd: folder,
        timeout: 180_000,
      });
      writeFileSync(join(folder, "example.mjs"), readmeExample().replaceAll("http://localhost:8000", server.current.baseUrl));
      const { stdout } = await run(process.execPath, ["example.mjs"], {
        cwd: folder,
        env: { PATH: process.env.PATH ?? "", AUREA_API_KEY: key },
        timeout: 120_000,
      });
      expect(stdout).toBe("45\n42\n");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("runs, streams events in order, and judges test cases", async () => {
    const client = aurea();
    const result = await client.run({ language: "python", code: "import sys; print(sys.stdin.read()[::-1])", stdin: "abc" });
    expect(result).toMatchObject({ status: RunStatus.OK, stdout: "cba\n" });
    const events: RunEvent[] = [];
    for await (const event of client.runStream({ language: "bash", code: "echo out; echo err >&2; echo é" })) events.push(event);
    expect(events[0]).toMatchObject({ type: "started" });
    expect(events.at(-1)).toMatchObject({ type: "result", result: { status: RunStatus.OK, stdout: "out\né\n" } });
    const text = events.flatMap((event) => (event.type === "stdout" ? [event.text] : [])).join("");
    expect(text).toBe("out\né\n");
    const judged = await client.run({
      language: "python",
      code: "print(int(input()) * 2)",
      tests: [
        { name: "one", stdin: "1\n", expectedStdout: "2\n" },
        { name: "two", stdin: "2\n", expectedStdout: "5\n" },
      ],
    });
    expect(judged.status).toBe(RunStatus.WRONG_ANSWER);
    expect(judged.testResults.map((test) => test.status)).toEqual([RunStatus.OK, RunStatus.WRONG_ANSWER]);
    const languages = await client.listLanguages();
    expect(languages.languages.map((language) => language.name)).toContain("python");
    expect(languages.sessionMaxTtl).toBe(server.current.config.sessionMaxTtlSeconds);
  });

  it("works a session: exec, stream, files, update, close", async () => {
    const session = await aurea().createSession({ language: "python", stateful: true, files: { "in.txt": "hello" } });
    try {
      await session.exec("x = open('in.txt').read()");
      expect((await session.exec("x.upper()")).value).toBe("'HELLO'");
      const raised = await session.exec("1 / 0");
      expect(raised.exception?.name).toBe("ZeroDivisionError");
      const streamed: string[] = [];
      for await (const event of session.execStream("print('a'); print('b')")) {
        if (event.type === "stdout") streamed.push(event.text);
      }
      expect(streamed.join("")).toBe("a\nb\n");
      expect(await session.writeFiles({ "data/t.txt": "text", "data/b.bin": Uint8Array.from([0, 255]) })).toEqual(
        expect.arrayContaining(["data/t.txt", "data/b.bin"]),
      );
      const read = await session.readFiles(["data/t.txt", "data/b.bin"]);
      expect(read.files).toEqual({ "data/t.txt": "text" });
      expect([...read.binaryFiles["data/b.bin"]!]).toEqual([0, 255]);
      const entries = await session.listFiles("data");
      expect(entries.map((entry) => [entry.name, entry.type])).toEqual([
        ["data/b.bin", FileType.FILE],
        ["data/t.txt", FileType.FILE],
      ]);
      expect((await session.update({ idleTimeout: 120 }))?.idleTimeout).toBe(120);
      expect((await session.pause())?.state).toBe(SessionState.PAUSED);
      expect((await session.exec("x")).value).toBe("'hello'");
      const snapshot = await session.snapshot("ts");
      expect((await aurea().listSnapshots()).map((listed) => listed.snapshotId)).toContain(snapshot?.snapshotId);
      const restored = await aurea().createSession({ language: "", fromSnapshot: snapshot!.snapshotId });
      expect((await restored.readFiles(["data/t.txt"])).files).toEqual({ "data/t.txt": "text" });
      await restored.close();
      await aurea().deleteSnapshot(snapshot!.snapshotId);
    } finally {
      expect((await session.close())?.state).toBe(SessionState.CLOSED);
    }
  });

  it("throws ConnectErrors carrying the fields a request got wrong", async () => {
    const failure = await aurea()
      .run({ language: "python", code: "print(1)", timeout: -1 })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConnectError);
    expect((failure as ConnectError).code).toBe(Code.InvalidArgument);
    const fields = (failure as ConnectError).findDetails(BadRequestSchema).flatMap((detail) => detail.fieldViolations);
    expect(fields.map((violation) => violation.field)).toEqual(["timeout"]);
    const build = async () => {
      for await (const _event of aurea().buildImage({ family: "no-such-family" })) {
        // a log line would mean a build started
      }
    };
    const unknownFamily = await build().catch((error: unknown) => error);
    expect((unknownFamily as ConnectError).code).toBe(Code.InvalidArgument);
    expect((unknownFamily as ConnectError).rawMessage).toContain("no-such-family");
    const refused = await createAureaClient({ baseUrl: server.current.baseUrl, apiKey: "wrong-key-000000000000" })
      .run({ language: "python", code: "print(1)" })
      .catch((error: unknown) => error);
    expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
  });
});

describe("aurea-client's retries", () => {
  let late: RunningAurea | undefined;
  afterAll(async () => {
    await late?.stop();
  });

  it("retries a run until a server answers, with one request_id, and runs the program once", async () => {
    const port = await freeLoopbackPort();
    const client = createAureaClient({ baseUrl: `http://127.0.0.1:${port}`, retry: { maxAttempts: 8, initialBackoffMs: 200 } });
    const answered = client.run({ language: "bash", code: "echo once" });
    // Nothing listens yet: the first attempts are refused connections.
    await new Promise((resolve) => setTimeout(resolve, 300));
    late = await startAurea({ PORT: String(port) });
    expect(await answered).toMatchObject({ status: RunStatus.OK, stdout: "once\n" });
    const finished = late.logs().filter((line) => line.msg === "run finished");
    expect(finished).toHaveLength(1);
    expect(finished[0]!.request_id).toMatch(/^aurea-client-[0-9a-f-]{36}$/);
  });

  it("gives up after its attempts with the UNAVAILABLE it got", async () => {
    const port = await freeLoopbackPort();
    const client = createAureaClient({ baseUrl: `http://127.0.0.1:${port}`, retry: { maxAttempts: 3, initialBackoffMs: 10 } });
    const failure = await client.listLanguages().catch((error: unknown) => error);
    expect((failure as ConnectError).code).toBe(Code.Unavailable);
  });
});

describe("aurea-client's sessions on a replica behind a load balancer", () => {
  let replica: RunningAurea;
  beforeAll(async () => {
    const port = await freeLoopbackPort();
    replica = await startAurea({
      PORT: String(port),
      ADVERTISE_ADDRESS: `127.0.0.1:${port}`,
      PEER_SECRET: "pinning-test-secret-0123456789",
    });
  });
  afterAll(async () => {
    await replica?.stop();
  });

  it("sends session calls straight to owner_address, so they answer when the balancer goes", async () => {
    const balancer = await startTcpRelay(replica.port);
    const pinned = createAureaClient({ baseUrl: `http://127.0.0.1:${balancer.port}` });
    const unpinned = createAureaClient({
      baseUrl: `http://127.0.0.1:${balancer.port}`,
      pinSessions: false,
      retry: { maxAttempts: 1 },
    });
    const first = await pinned.createSession({ language: "bash" });
    const second = await unpinned.createSession({ language: "bash" });
    try {
      expect(first.ownerAddress).toBe(`127.0.0.1:${replica.port}`);
      expect((await first.exec("echo before")).stdout).toBe("before\n");
      await balancer.close();
      expect((await first.exec("echo after")).stdout).toBe("after\n");
      const cut = await second.exec("echo after").catch((error: unknown) => error);
      expect((cut as ConnectError).code).toBe(Code.Unavailable);
    } finally {
      await first.close();
      await createAureaClient({ baseUrl: replica.baseUrl }).raw.closeSession({ sessionId: second.id });
    }
  });
});
