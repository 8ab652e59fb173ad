import { afterEach, describe, expect, it, vi } from "vitest";
import { toEngineResources } from "../../src/docker/container-options.js";
import type { SandboxShape } from "../../src/sandbox/limits.js";
import { createColdContainerSource, type LeaseRequest } from "../../src/runner/container-source.js";
import { repositoryLanguages } from "../support/languages.js";
import { createWarmPool, type WarmPool, type WarmPoolOptions } from "../../src/runner/warm-pool.js";
import { runcShape, silentLogger, testLimits, testRecyclerSettings } from "../support/fixtures.js";
import { FakeEngine } from "../support/fake-engine.js";
import { createRecycler } from "../../src/runner/recycler.js";

const logger = silentLogger;
const limits = testLimits;
const runc = runcShape;
const runsc: SandboxShape = { ...runc, runtime: "runsc" };
const python = repositoryLanguages.find("python")!;
const bash = repositoryLanguages.find("bash")!;

let pool: WarmPool | undefined;
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
});

function makePool(engine: FakeEngine, options: Partial<WarmPoolOptions> = {}): WarmPool {
  pool = createWarmPool({
    containers: engine,
    cold: createColdContainerSource(engine),
    instanceId: "test",
    size: 2,
    limits,
    initial: [{ language: python, shape: runc }],
    idleTimeoutMs: 60_000,
    refillConcurrency: 1,
    logger,
    ...options,
  });
  return pool;
}

function request(overrides: Partial<LeaseRequest> = {}): LeaseRequest {
  return {
    runId: "r",
    instanceId: "test",
    shape: runc,
    limits,
    program: { language: python, code: "print(1)", files: [], args: [], env: [], stdin: new Uint8Array() },
    caller: "",
    streamsInput: false,
    ...overrides,
  };
}

describe("the warm pool", () => {
  it("fills each initial shape to its size, one container at a time within the refill budget", async () => {
    const engine = new FakeEngine();
    const gate = engine.hold("create");
    const warm = makePool(engine, { size: 3 });
    warm.start();
    await gate.reached;
    // One create in flight, the others wait for the budget.
    expect(engine.calls.filter((call) => call === "create")).toHaveLength(1);
    gate.release();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(3));
    expect(engine.running()).toHaveLength(3);
    expect(engine.calls.filter((call) => call === "create")).toHaveLength(3);
  });

  it("hands each warm container to one run only, then goes cold, and refills behind", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine);
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    const first = await warm.acquire(request());
    const second = await warm.acquire(request());
    expect([first.origin, second.origin]).toEqual(["warm", "warm"]);
    expect(first.id).not.toBe(second.id);
    const third = await warm.acquire(request());
    expect(third.origin).toBe("cold");
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    expect(warm.containerIds().has(first.id)).toBe(false);
  });

  it("never hands a language's warm container to another command of it: a compile phase or test cases go cold", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine);
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    const compiler = { ...python, command: ["python3", "-m", "py_compile", "main.py"], warmLoader: undefined };
    const program = { language: compiler, code: "x", files: [], args: [], env: [], stdin: new Uint8Array() };
    expect(await warm.acquire(request({ program }))).toMatchObject({ origin: "cold", coldBecause: "no_loader" });
    const judged = { ...program, language: python, judged: true };
    expect(await warm.acquire(request({ program: judged }))).toMatchObject({ origin: "cold", coldBecause: "judged" });
    const network = { name: "aurea-egress-r", gatewayAddress: "192.0.2.2", env: [] };
    expect(await warm.acquire(request({ network }))).toMatchObject({ origin: "cold", coldBecause: "network" });
    expect(warm.containerIds().size).toBe(2);
    expect((await warm.acquire(request())).origin).toBe("warm");
  });

  it("puts lower CPU, memory and process limits on a runc container it hands out", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine);
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    const lower = { ...limits, memoryBytes: 64 << 20, pids: 16 };
    const lease = await warm.acquire(request({ limits: lower }));
    expect(lease.origin).toBe("warm");
    expect(engine.inspect(lease.id).resources).toEqual(toEngineResources("runc", lower));
    const same = await warm.acquire(request());
    expect(engine.inspect(same.id).resources).toBeUndefined();
  });

  it("sends a run cold when its limits cannot be had from a warm container, keeping the warm one", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, {
      size: 1,
      initial: [
        { language: python, shape: runc },
        { language: python, shape: runsc },
      ],
    });
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    // Mount sizes are fixed at creation; gVisor takes no live updates.
    const biggerWorkspace = await warm.acquire(request({ limits: { ...limits, workspaceBytes: 8 << 20 } }));
    const lowerUnderGvisor = await warm.acquire(request({ shape: runsc, limits: { ...limits, memoryBytes: 64 << 20 } }));
    expect([biggerWorkspace.origin, lowerUnderGvisor.origin]).toEqual(["cold", "cold"]);
    expect([biggerWorkspace.coldBecause, lowerUnderGvisor.coldBecause]).toEqual(["limits", "limits"]);
    expect(warm.containerIds().size).toBe(2);
  });

  it("makes room for a new shape past its most by emptying the one demanded longest ago, not one in use", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const engine = new FakeEngine();
      const warm = makePool(engine, { size: 1, maxShapes: 2, initial: [] });
      warm.start();
      const ruby = repositoryLanguages.find("ruby")!;
      const program = (language: typeof python) => ({ ...request().program, language });
      await warm.acquire(request({ program: program(python) }));
      vi.setSystemTime(Date.now() + 20_000);
      await warm.acquire(request({ program: program(bash) }));
      await vi.waitFor(() => expect(warm.waitingCounts().warm).toBe(2));
      // Python was asked for 20 s ago, Bash just now: a third shape empties Python's pool.
      await warm.acquire(request({ program: program(ruby) }));
      await vi.waitFor(() => expect(warm.waitingCounts().warm).toBe(2));
      expect((await warm.acquire(request({ program: program(bash) }))).origin).toBe("warm");
      expect(await warm.acquire(request({ program: program(python) }))).toMatchObject({
        origin: "cold",
        coldBecause: "shape_cap",
      });
      // Every shape was demanded within the last 10 s: no room, and nothing emptied.
      expect(await warm.acquire(request({ program: program(python) }))).toMatchObject({
        origin: "cold",
        coldBecause: "shape_cap",
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("says why a run went cold when the pool is off, or its input cannot go to a recycled container", async () => {
    const engine = new FakeEngine();
    const off = makePool(engine, { size: 0, initial: [] });
    expect(await off.acquire(request())).toMatchObject({ origin: "cold", coldBecause: "pool_off" });
    const recycler = createRecycler({ containers: engine, ...testRecyclerSettings, resetPeakMemory: async () => undefined });
    const warm = makePool(engine, { size: 1, recycler, initial: [] });
    expect(await warm.acquire(request({ streamsInput: true }))).toMatchObject({ origin: "cold", coldBecause: "input" });
    const large = { ...request().program, stdin: new Uint8Array(1 << 20) };
    expect(await warm.acquire(request({ program: large }))).toMatchObject({ origin: "cold", coldBecause: "input" });
    await warm.stop();
    await recycler.clear();
  });

  it("keeps no pool for a language without a warm loader", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { initial: [] });
    warm.start();
    const noLoader = { ...bash, warmLoader: undefined };
    const lease = await warm.acquire(request({ program: { ...request().program, language: noLoader } }));
    expect(lease.origin).toBe("cold");
    expect(warm.containerIds().size).toBe(0);
  });

  it("empties a shape nobody asked for within the idle timeout", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { idleTimeoutMs: 100 });
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    await vi.waitFor(() => expect(engine.containerIds()).toEqual([]), { timeout: 2000 });
    expect(warm.containerIds().size).toBe(0);
  });

  it("drops a container that dies while it waits, and makes a new one", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { size: 1 });
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    const [dying] = warm.containerIds();
    engine.crash(dying!);
    await vi.waitFor(() => expect(warm.containerIds().has(dying!)).toBe(false));
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    expect((await warm.acquire(request())).id).not.toBe(dying);
  });

  it("after an engine outage forgets every container, including those being made, and refills once it is back", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { size: 2 });
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    const gate = engine.hold("start");
    engine.crash([...warm.containerIds()][0]!);
    await gate.reached;
    // The engine goes away while a replacement is starting: the reset must discard it too.
    engine.goAway();
    warm.invalidate();
    gate.release();
    await vi.waitFor(() => expect(engine.calls.filter((call) => call === "create").length).toBeGreaterThanOrEqual(6));
    expect(warm.containerIds().size).toBe(0);
    // Back: the pool fills again at once, without waiting for its next sweep.
    engine.reachable = true;
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
  });

  it("stops retrying a shape after three failures in a row, until the next sweep", async () => {
    const engine = new FakeEngine();
    engine.images.clear();
    const warm = makePool(engine, { size: 2, idleTimeoutMs: 60_000 });
    warm.start();
    await vi.waitFor(() => expect(engine.calls.filter((call) => call === "create")).toHaveLength(3));
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.calls.filter((call) => call === "create")).toHaveLength(3);
  });

  it("stop removes every waiting container", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine);
    warm.start();
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    await warm.stop();
    expect(engine.containerIds()).toEqual([]);
  });
});

describe("the warm pool's compilers", () => {
  const java = repositoryLanguages.find("java")!;
  // The compile phase's view of its language (compile-phase.ts): the compiler's command and loader.
  const compiler = { ...java, command: java.compile!.command, warmLoader: java.compile!.warm };
  const compileLimits = { ...limits, memoryBytes: 1 << 30, pids: 64 };
  const program = {
    language: compiler,
    code: "class Main {}",
    files: [],
    args: [],
    env: [],
    stdin: new Uint8Array(),
    phase: "compile" as const,
  };

  it("makes a compiler's containers with its compile limits, warmed up on the hello example, one compile each even where runs recycle", async () => {
    const engine = new FakeEngine();
    const recycler = createRecycler({ containers: engine, ...testRecyclerSettings, resetPeakMemory: async () => undefined });
    const warm = makePool(engine, { size: 1, initial: [], compileLimits: () => compileLimits, recycler });
    warm.start();
    // The first compile makes the pool, and goes cold.
    expect((await warm.acquire(request({ program, limits: compileLimits }))).origin).toBe("cold");
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    const [id] = [...warm.containerIds()];
    const created = engine.inspect(id!).options;
    expect(created.HostConfig?.Memory).toBe(1 << 30);
    const argv = created.Cmd ?? [];
    expect(argv[argv.indexOf("aurea-supervisor") + 1]).toBe("warm");
    expect(argv).toContain(java.examples.hello.code);
    expect(argv).toContain("javac");
    const second = await warm.acquire(request({ program, limits: compileLimits }));
    expect(second).toMatchObject({ id, origin: "warm" });
    expect(second.reuse).toBeUndefined();
    expect(engine.inspect(second.id).resources).toBeUndefined();
  });

  it("lowers a warm compiler's limits for a compile that asks for less, and keeps runs' and compiles' containers apart", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { size: 1, initial: [], compileLimits: () => compileLimits });
    warm.start();
    await warm.acquire(request({ program, limits: compileLimits }));
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    const lower = { ...compileLimits, memoryBytes: 256 << 20 };
    const lease = await warm.acquire(request({ program, limits: lower }));
    expect(lease.origin).toBe("warm");
    expect(engine.inspect(lease.id).resources).toEqual(toEngineResources("runc", lower));
    // Java's program (the exec loader) has a pool of its own: the compiler's never serves it.
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    const [waitingCompiler] = [...warm.containerIds()];
    const run = { ...program, language: java, phase: "run" as const };
    const runLease = await warm.acquire(request({ program: run }));
    expect(runLease.origin).toBe("cold");
    expect(runLease.id).not.toBe(waitingCompiler);
    expect(warm.containerIds().has(waitingCompiler!)).toBe(true);
  });

  it("keeps a compile's container for a compile command without a loaded compiler too (C's gcc): the exec loader, compile limits, one compile", async () => {
    const engine = new FakeEngine();
    const c = repositoryLanguages.find("c")!;
    const gcc = { ...c, command: c.compile!.command, warmLoader: "exec" as const };
    const warm = makePool(engine, { size: 1, initial: [], compileLimits: () => compileLimits });
    warm.start();
    const compile = { ...program, language: gcc, code: "int main(void) { return 0; }" };
    expect((await warm.acquire(request({ program: compile, limits: compileLimits }))).origin).toBe("cold");
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    const [id] = [...warm.containerIds()];
    const created = engine.inspect(id!);
    expect(created.options.HostConfig?.Memory).toBe(1 << 30);
    expect(created.options.Labels?.["dev.aurea.warm-for"]).toBe("c:compile");
    expect(created.options.Cmd).toEqual(expect.arrayContaining([...c.compile!.command]));
    const lease = await warm.acquire(request({ program: compile, limits: compileLimits }));
    expect(lease).toMatchObject({ id, origin: "warm" });
    expect(lease.reuse).toBeUndefined();
    // C's program has its own pool, never the compile's.
    const run = { ...compile, language: c, phase: "run" as const };
    expect((await warm.acquire(request({ program: run }))).id).not.toBe(id);
  });

  it("warms compilers up apart from the programs' pools: a compiler seconds from ready holds up no program's refill", async () => {
    const engine = new FakeEngine();
    // The compiler takes a minute to say it is ready (stop() ends its warm-up at once).
    engine.warmUpMs = (options) => (options.Labels?.["dev.aurea.warm-for"]?.endsWith(":compile") ? 60_000 : 0);
    const warm = makePool(engine, { size: 2, refillConcurrency: 1, initial: [], compileLimits: () => compileLimits });
    warm.start();
    await warm.acquire(request({ program, limits: compileLimits }));
    expect((await warm.acquire(request())).origin).toBe("cold");
    // Python's pool fills to its two while the compiler's first creation is still warming up.
    await vi.waitFor(() => expect(warm.waitingCounts().warm).toBe(2));
    expect(engine.running().length).toBeGreaterThanOrEqual(3);
  });

  it("with loaded compilers turned off, gives a compile the exec loader's container, which starts the compile command", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { size: 1, initial: [], compileLimits: () => compileLimits, loadedCompilers: false });
    warm.start();
    await warm.acquire(request({ program, limits: compileLimits }));
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(1));
    const argv = engine.inspect([...warm.containerIds()][0]!).options.Cmd ?? [];
    expect(argv).toContain("aurea-loader");
    expect(argv).not.toContain("aurea-compiler-loader");
    expect(argv).toEqual(expect.arrayContaining([...java.compile!.command]));
  });

  it("gives a run with environment variables of its own the exec loader's container: an interpreter reads them when it starts", async () => {
    const engine = new FakeEngine();
    const warm = makePool(engine, { size: 1 });
    warm.start();
    await vi.waitFor(() => expect(warm.waitingCounts().warm).toBe(1));
    const withEnv = request({ program: { ...request().program, env: [...python.env, "PYTHONPATH=/workspace/lib"] } });
    // Not the interpreter that waits: a container of the exec loader's, started for this run.
    const leased = await warm.acquire(withEnv);
    expect(leased.origin).not.toBe("warm");
    expect(warm.waitingCounts().warm).toBe(1);
    await vi.waitFor(() => expect(warm.containerIds().size).toBe(2));
    const execArgv = [...warm.containerIds()]
      .map((id) => engine.inspect(id).options.Cmd ?? [])
      .find((argv) => argv.includes("aurea-loader"));
    expect(execArgv).toEqual(expect.arrayContaining([...python.command]));
    // The next such run takes the exec loader's warm container; one without, the interpreter's.
    expect((await warm.acquire(withEnv)).origin).toBe("warm");
    expect((await warm.acquire(request())).origin).toBe("warm");
  });
});
