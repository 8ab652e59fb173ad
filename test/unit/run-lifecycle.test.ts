import { describe, expect, it, vi } from "vitest";
import { createColdContainerSource } from "../../src/runner/container-source.js";
import { repositoryLanguages } from "../support/languages.js";
import type { RunState } from "../../src/runner/run-lifecycle.js";
import type { EgressGateway, EgressLease } from "../../src/egress/egress-gateway.js";
import { parseAllowList } from "../../src/sandbox/allow-list.js";
import { createRunner, type RunSpec } from "../../src/runner/runner.js";
import { createWarmPool } from "../../src/runner/warm-pool.js";
import { runcShape, silentLogger, testLimits } from "../support/fixtures.js";
import { FakeEngine, type FakeAction } from "../support/fake-engine.js";

const logger = silentLogger;
const limits = testLimits;
const shape = runcShape;

function spec(overrides: Partial<RunSpec> = {}): RunSpec {
  return {
    runId: `run-${Math.random().toString(16).slice(2)}`,
    language: repositoryLanguages.find("python")!,
    code: "print('ok')",
    files: [],
    stdin: new Uint8Array(),
    args: [],
    env: [],
    timeoutMs: 5000,
    readonlyRootfs: true,
    runtime: "runc",
    limits,
    artifacts: undefined,
    ...overrides,
  };
}

/** A runner on the fake engine, cold or with a warm pool of one per language, filled; with `egress` for runs with a network. */
async function setUp(mode: "cold" | "warm", egress?: EgressGateway) {
  const engine = new FakeEngine();
  const cold = createColdContainerSource(engine);
  const pool =
    mode === "warm"
      ? createWarmPool({
          containers: engine,
          cold,
          instanceId: "test",
          size: 1,
          limits,
          initial: [{ language: repositoryLanguages.find("python")!, shape }],
          idleTimeoutMs: 60_000,
          refillConcurrency: 1,
          logger,
        })
      : undefined;
  pool?.start();
  if (pool) await vi.waitFor(() => expect(pool.containerIds().size).toBe(1));
  const runner = createRunner({
    containers: engine,
    source: pool ?? cold,
    imageFor: () => shape.image,
    instanceId: "test",
    outputLimitBytes: 1024,
    seccompProfile: undefined,
    runscPlatform: "systrap",
    logger,
    egress,
  });
  /** Runs to the end and waits for removal; the pool's own containers are not the run's. */
  const finish = async (promise: ReturnType<typeof runner.run>) => {
    const outcome = await promise;
    await runner.settled();
    await pool?.stop();
    return outcome;
  };
  return { engine, runner, finish };
}

describe.each(["cold", "warm"] as const)("a %s run", (mode) => {
  it("runs to OK, reports the program's output, and removes its container", async () => {
    const { engine, runner, finish } = await setUp(mode);
    const states: RunState[] = [];
    const outcome = await finish(runner.run(spec(), { observer: { onState: (state) => states.push(state) } }));
    expect(outcome).toMatchObject({ verdict: "ok", exitCode: 0, signal: "", error: undefined });
    expect(outcome.stdout.toString()).toBe("ok\n");
    expect(outcome.usage).toEqual({ peakMemoryBytes: 1048576, cpuTimeNs: 2000000 });
    expect(states).toEqual(["prepared", "started", "ended", "reported", "removed"]);
    expect(engine.containerIds()).toEqual([]);
  });

  it("times out a program that never ends, killing its container", async () => {
    const { engine, runner, finish } = await setUp(mode);
    engine.program = () => ({ hang: true });
    const outcome = await finish(runner.run(spec({ timeoutMs: 50 })));
    expect(outcome).toMatchObject({ verdict: "timeout", timedOut: true, exitCode: 137, signal: "SIGKILL" });
    expect(outcome.usage).toEqual({ peakMemoryBytes: 1 << 20, cpuTimeNs: 1_000_000 });
    expect(engine.calls).toContain("kill");
    expect(engine.containerIds()).toEqual([]);
  });

  it("kills a program past the output cap", async () => {
    const { engine, runner, finish } = await setUp(mode);
    engine.program = () => ({ stdout: "x".repeat(5000), hang: true });
    const outcome = await finish(runner.run(spec()));
    expect(outcome).toMatchObject({ verdict: "output_limit", stdoutTruncated: true });
    expect(outcome.stdout.length).toBe(1024);
  });

  it("never reports OK when the supervisor's report is missing", async () => {
    const { engine, runner, finish } = await setUp(mode);
    engine.program = () => ({ stdout: "partial", status: 0, noReport: true });
    const outcome = await finish(runner.run(spec()));
    expect(outcome.verdict).toBe("internal");
    expect(outcome.error).toMatch(/without the supervisor's final report/);
  });

  it("under gVisor on systrap, waits for the exit of a run that reported a failure, and reads the engine's OOM flag as the memory kill it is", async () => {
    const { engine, runner, finish } = await setUp(mode);
    // The host killed the program's stub: the supervisor reported status 1; the engine flags the
    // OOM kill only once the container has exited, a moment after the report.
    engine.program = () => ({ status: 1, oomKilled: true, exitAfterMs: 50 });
    const killed = await finish(runner.run(spec({ runtime: "runsc" })));
    expect(killed).toMatchObject({ verdict: "memory_limit", exitCode: 137, signal: "SIGKILL" });
    // An ordinary failure is still its own, and a success does not wait for the engine.
    engine.program = () => ({ status: 1, exitAfterMs: 50 });
    expect(await finish(runner.run(spec({ runtime: "runsc" })))).toMatchObject({ verdict: "runtime_error", exitCode: 1 });
    engine.program = () => ({ status: 0, oomKilled: true, exitAfterMs: 3000 });
    const started = performance.now();
    expect((await runner.run(spec({ runtime: "runsc" }))).verdict).toBe("ok");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("ends INTERNAL, never OK, when the engine goes away mid-run", async () => {
    const { engine, runner, finish } = await setUp(mode);
    engine.program = () => ({ hang: true });
    const running = runner.run(spec(), {
      observer: { onState: (state) => state === "started" && setImmediate(() => engine.goAway()) },
    });
    const outcome = await running;
    expect(outcome.verdict).toBe("internal");
    engine.reachable = true;
    await finish(Promise.resolve(outcome));
  });
});

/**
 * A cancellation at any moment of a run ends it within a second as cancelled, with its container
 * removed. Each case aborts while the run is in one state (or in the engine call between two).
 */
describe.each(["cold", "warm"] as const)("a %s run cancelled", (mode) => {
  const abortWhileIn = (state: RunState) => async (controller: AbortController) => ({
    onState: (entered: RunState) => entered === state && controller.abort(),
  });
  // A warm lease's only engine call is the limits update; a cold one's are create and attach.
  const acquireCall: FakeAction = mode === "warm" ? "update" : "create";
  const cases: [string, { hold?: FakeAction; abortIn?: RunState }][] = [
    ["while acquiring its container", { hold: acquireCall }],
    ["once prepared, before it starts", { abortIn: "prepared" }],
    ["while its container starts", { hold: "start" }],
    ["while running", { abortIn: "started" }],
    ["while reporting, after it ended", { abortIn: "ended" }],
  ];

  it.each(cases)("%s", async (_name, { hold, abortIn }) => {
    const { engine, runner, finish } = await setUp(mode);
    engine.program = () => ({ hang: abortIn !== "ended" });
    const controller = new AbortController();
    const gate = hold ? engine.hold(hold) : undefined;
    const observer = abortIn ? await abortWhileIn(abortIn)(controller) : undefined;
    // Lower limits make a warm lease update its container, the step held for "acquiring".
    const running = runner.run(spec({ limits: { ...limits, memoryBytes: 128 << 20 } }), { signal: controller.signal, observer });
    let abortedAt = performance.now();
    if (gate) {
      await gate.reached;
      abortedAt = performance.now();
      controller.abort();
      gate.release();
    } else {
      await vi.waitFor(() => expect(controller.signal.aborted).toBe(true));
    }
    const outcome = await running;
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(outcome.verdict).toBe("cancelled");
    await finish(Promise.resolve(outcome));
    expect(engine.containerIds()).toEqual([]);
    // A cold container started for the run is killed, never left running to its end.
    if (mode === "cold" && engine.calls.includes("start") && abortIn !== "ended") expect(engine.calls).toContain("kill");
  });

  it("before it begins: no container is made or taken", async () => {
    const { engine, runner, finish } = await setUp(mode);
    const created = engine.calls.filter((call) => call === "create").length;
    const outcome = await finish(runner.run(spec(), { signal: AbortSignal.abort() }));
    expect(outcome.verdict).toBe("cancelled");
    expect(engine.calls.filter((call) => call === "create").length).toBe(created);
  });
});

describe("a run with a network", () => {
  it("has its network removed even when its container could not be (left to the reaper)", async () => {
    const disposed: string[] = [];
    const lease = (id: string): EgressLease => ({
      network: `aurea-egress-${id}`,
      gatewayAddress: "192.0.2.2",
      env: [],
      ended: new Promise(() => undefined),
      usage: async () => ({ sent: 0, received: 0 }),
      finish: async () => ({ sent: 0, received: 0, hosts: {}, denied: {} }),
      dispose: async () => {
        disposed.push(`aurea-egress-${id}`);
      },
    });
    const egress: EgressGateway = {
      open: async (id) => lease(id),
      reopen: async (id) => lease(id),
      containerId: () => undefined,
      sweepNetworks: async () => undefined,
      stop: async () => undefined,
    };
    const { engine, runner } = await setUp("cold", egress);
    engine.failNext("remove", new Error("tried to kill container, but did not receive an exit event"));
    const run = spec({ network: parseAllowList(["pkgs.test"]) });
    const outcome = await runner.run(run);
    await runner.settled();
    expect(outcome.verdict).toBe("ok");
    expect(engine.containerIds()).toHaveLength(1);
    expect(disposed).toEqual([`aurea-egress-${run.runId}`]);
  });
});
