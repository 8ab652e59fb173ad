import { afterEach, describe, expect, it, vi } from "vitest";
import { containerLabels } from "../../src/docker/container-options.js";
import type { ExecPlan } from "../../src/session/session.js";
import { SessionFailedError, SessionLimitError, SessionNotFoundError } from "../../src/session/session-errors.js";
import {
  createSessionManager,
  type SessionManager,
  type SessionManagerOptions,
  type SessionPlan,
} from "../../src/session/session-manager.js";
import { createFakeAgent, type ExecAnswer, type ReceivedCommand, type ReceivedExec } from "../support/fake-agent.js";
import { FakeEngine } from "../support/fake-engine.js";
import { runcShape, silentLogger, testLimits } from "../support/fixtures.js";
import { repositoryLanguages } from "../support/languages.js";

/**
 * The stateful core of sessions, Session and SessionManager, against the in-memory engine with
 * a fake agent that speaks the agent's wire: creation, execs (compiled ones too), cancellation,
 * the bounds, a container that dies, expiry and closing. The real agent is tested on its own
 * (session-agent.test.ts) and everything together in real containers (sessions.test.ts).
 */

function setUp(answer?: (exec: ReceivedExec) => ExecAnswer, bounds: { maxSessions?: number; maxPerKey?: number } = {}) {
  const engine = new FakeEngine();
  const agent = createFakeAgent(answer);
  engine.interactive = agent.program;
  const manager = createSessionManager({
    ...managerOptions(engine),
    maxSessions: bounds.maxSessions ?? 4,
    maxSessionsPerKey: bounds.maxPerKey ?? 2,
  });
  managers.push(manager);
  return { engine, agent, manager };
}

function managerOptions(engine: FakeEngine): SessionManagerOptions {
  return {
    containers: engine,
    languages: repositoryLanguages,
    instanceId: "instance-1",
    instanceName: "test",
    shapeFor: (_language, runtime) => ({ ...runcShape, runtime }),
    maxSessions: 4,
    maxSessionsPerKey: 2,
    maxExecs: 2,
    maxListed: 100,
    outputLimitBytes: 1024,
    artifactCaps: { maxFiles: 10, maxFileBytes: 1024, maxTotalBytes: 4096 },
    compileTimeoutMs: () => 10_000,
    logger: silentLogger,
  };
}

const managers: SessionManager[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const manager of managers.splice(0)) {
    manager.stop();
    await manager.closeAll("test over");
  }
});

const plan = (language = "bash", ownerId = "alice", ttlMs = 60_000): SessionPlan => ({
  ownerId,
  language: repositoryLanguages.find(language)!,
  settings: { language, runtime: "runc", stateful: false, limits: testLimits, ttlMs, idleTimeoutMs: ttlMs },
  files: [],
  env: ["GREETING=hi"],
});

const exec = (code: string, execId = "exec-1"): ExecPlan => ({
  execId,
  code,
  command: [],
  args: [],
  env: [],
  stdin: new Uint8Array(),
  timeoutMs: 5000,
});

const execsReceived = (requests: { op: string }[]) => requests.filter((request) => request.op === "exec") as ReceivedCommand[];

describe("a session", () => {
  it("is a labelled container whose agent said hello, and runs each exec in it with the language's command", async () => {
    const { engine, agent, manager } = setUp(() => ({ stdout: "hi\n" }));
    const session = await manager.create(plan());
    expect(engine.running()).toEqual([session.containerId]);
    expect(engine.inspect(session.containerId).options.Labels?.[containerLabels.managed]).toBe("true");
    expect(agent.requests[0]?.op).toBe("hello");

    const outcome = await session.exec(exec('echo "$GREETING"'));
    expect(outcome).toMatchObject({ runId: "exec-1", verdict: "ok", exitCode: 0, limitsHit: [] });
    expect(outcome.stdout.toString()).toBe("hi\n");
    const [sent] = execsReceived(agent.requests);
    expect(sent?.argv).toEqual(repositoryLanguages.find("bash")?.command);
    expect(sent?.code_file).toBe("main.sh");
    expect(sent?.payload.toString()).toBe('echo "$GREETING"');
    expect(manager.counts()).toEqual({ open: 1, adopted: 0 });
  });

  it("compiles a compiled language's code first, and never runs a program that did not compile", async () => {
    const c = repositoryLanguages.find("c")!;
    let compiles = 0;
    const { agent, manager } = setUp((request) => {
      if (request.op === "exec" && request.argv[0] === c.compile?.command[0]) {
        compiles += 1;
        return compiles === 1 ? { status: 1, stderr: "main.c:1: error: expected ';'" } : {};
      }
      return { stdout: "ran\n" };
    });
    const session = await manager.create(plan("c"));
    const failed = await session.exec(exec("int main(void) { return 0 }"));
    expect(failed).toMatchObject({ verdict: "compile_error", compile: { verdict: "runtime_error", exitCode: 1 } });
    expect(failed.compile?.stderr.toString()).toContain("expected ';'");
    expect(execsReceived(agent.requests)).toHaveLength(1);

    const ran = await session.exec(exec("int main(void) { return 0; }", "exec-2"));
    expect(ran).toMatchObject({ verdict: "ok", compile: { verdict: "ok" } });
    expect(ran.stdout.toString()).toBe("ran\n");
    expect(execsReceived(agent.requests).map((request) => request.argv)).toEqual([
      c.compile?.command,
      c.compile?.command,
      c.command,
    ]);
  });

  it("asks the agent to kill an exec its caller gave up on, which then reads CANCELLED", async () => {
    const { agent, manager } = setUp(() => "hang");
    const session = await manager.create(plan());
    const caller = new AbortController();
    const running = session.exec(exec("sleep 100"), {}, caller.signal);
    await vi.waitFor(() => expect(execsReceived(agent.requests)).toHaveLength(1));
    caller.abort();
    expect(await running).toMatchObject({ verdict: "cancelled", signal: "SIGKILL" });
    expect(agent.requests.find((request) => request.op === "kill")).toMatchObject({ target: "exec-1", reason: "cancelled" });
    expect(session.state).toBe("active");
  });

  it("holds a session to its exec limit, naming it", async () => {
    const { agent, manager } = setUp(() => "hang");
    const session = await manager.create(plan());
    const caller = new AbortController();
    const running = [session.exec(exec("a", "e1"), {}, caller.signal), session.exec(exec("b", "e2"), {}, caller.signal)];
    await vi.waitFor(() => expect(execsReceived(agent.requests)).toHaveLength(2));
    await expect(session.exec(exec("c", "e3"))).rejects.toThrow(SessionLimitError);
    await expect(session.exec(exec("c", "e3"))).rejects.toThrow(/SESSION_MAX_EXECS/);
    caller.abort();
    expect((await Promise.all(running)).map((outcome) => outcome.verdict)).toEqual(["cancelled", "cancelled"]);
  });

  it("fails when its container dies: the owner is told once, then the id is unknown", async () => {
    const { engine, manager } = setUp();
    const session = await manager.create(plan());
    engine.crash(session.containerId);
    await vi.waitFor(() => expect(session.state).toBe("failed"));
    await expect(session.exec(exec("true"))).rejects.toThrow(SessionFailedError);
    expect(() => manager.get(session.id, "alice")).toThrow(SessionFailedError);
    expect(() => manager.get(session.id, "alice")).toThrow(SessionNotFoundError);
  });
});

describe("the session manager", () => {
  it("finds a session for its owner only", async () => {
    const { manager } = setUp();
    const session = await manager.create(plan());
    expect(manager.get(session.id, "alice")).toBe(session);
    expect(() => manager.get(session.id, "bob")).toThrow(SessionNotFoundError);
    expect(manager.list("alice")).toEqual([session]);
    expect(manager.list("bob")).toEqual([]);
  });

  it("refuses past the key's bound and the server's, before making a container", async () => {
    const { engine, manager } = setUp(undefined, { maxSessions: 3, maxPerKey: 2 });
    await manager.create(plan("bash", "alice"));
    await manager.create(plan("bash", "alice"));
    await expect(manager.create(plan("bash", "alice"))).rejects.toThrow(SessionLimitError);
    await manager.create(plan("bash", "bob"));
    await expect(manager.create(plan("bash", "carol"))).rejects.toThrow(/MAX_SESSIONS/);
    expect(engine.containerIds()).toHaveLength(3);
  });

  it("closes a session on request: the agent is told, the container removed", async () => {
    const { engine, agent, manager } = setUp();
    const session = await manager.create(plan());
    await manager.close(session.id, "alice", "closed by its owner");
    await manager.settled();
    expect(agent.requests.some((request) => request.op === "close")).toBe(true);
    expect(engine.containerIds()).toEqual([]);
    expect(() => manager.get(session.id, "alice")).toThrow(SessionNotFoundError);
  });

  it("takes new times (UpdateSession), and a server that adopts the session keeps them", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const { engine, agent, manager } = setUp();
    const session = await manager.create(plan("bash", "alice", 5_000));
    manager.start();
    const expiresAtMs = Date.now() + 60_000;
    session.updateTimes({ expiresAtMs, idleTimeoutMs: 30_000 });
    expect(session.settings).toMatchObject({ expiresAtMs, idleTimeoutMs: 30_000, ttlMs: 60_000 });
    await vi.waitFor(() => expect(agent.requests.some((request) => request.op === "times")).toBe(true));
    // Past the ttl it was created with, it lives on.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(session.state).toBe("active");
    // A restarted server (same instance name, same engine) finds the times in the agent, not the labels.
    const successor = createSessionManager({ ...managerOptions(engine), instanceName: "test" });
    managers.push(successor);
    expect(await successor.adopt()).toBe(1);
    expect(successor.get(session.id, "alice").settings).toMatchObject({ expiresAtMs, idleTimeoutMs: 30_000 });
  });

  it("closes a session whose time is up, on its own clock", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const { engine, manager } = setUp();
    const session = await manager.create(plan("bash", "alice", 5_000));
    manager.start();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(session.state).toBe("active");
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([]));
    expect(session.state).toBe("closed");
  });
});
