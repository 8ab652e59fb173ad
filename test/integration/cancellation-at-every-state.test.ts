import { randomUUID } from "node:crypto";
import Docker from "dockerode";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { DockerodeContainerClient } from "../../src/docker/container-client.js";
import { containerLabels } from "../../src/docker/container-options.js";
import type { SandboxLimits } from "../../src/sandbox/limits.js";
import type { Runtime } from "../../src/sandbox/runtimes.js";
import { createColdContainerSource, type ContainerSource } from "../../src/runner/container-source.js";
import { repositoryLanguages } from "../support/languages.js";
import type { RunState } from "../../src/runner/run-lifecycle.js";
import { createRunner, type RunSpec } from "../../src/runner/runner.js";
import { createWarmPool, type WarmPool } from "../../src/runner/warm-pool.js";
import { aureaContainers } from "../support/containers.js";
import { testRunscPlatform } from "../support/fixtures.js";

/**
 * A deadline or cancellation at any moment of a run ends it within a second as cancelled, with
 * its container removed: on the real engine, cold and warm, under runc and runsc. Each case
 * aborts while the run is in one step: acquiring its container, prepared, starting, running, or
 * reporting after the program ended.
 */

const docker = new Docker();
const logger = pino({ level: "silent" });
const containers = new DockerodeContainerClient(docker, logger);
const instanceId = `cancel-test-${randomUUID()}`;
const limits: SandboxLimits = {
  cpu: 1,
  memoryBytes: 512 << 20,
  pids: 64,
  workspaceBytes: 64 << 20,
  workspaceFiles: 4096,
  tmpBytes: 16 << 20,
};
const image = process.env.SANDBOX_IMAGE ?? "aurea-sandbox:latest";
const pools: WarmPool[] = [];

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.stop()));
  expect(await aureaContainers()).toEqual([]);
});

async function sourceFor(mode: "cold" | "warm", runtime: Runtime): Promise<ContainerSource> {
  const cold = createColdContainerSource(containers);
  if (mode === "cold") return cold;
  const shape = { image, readonlyRootfs: true, runtime, runscPlatform: testRunscPlatform, seccompProfile: undefined };
  const pool = createWarmPool({
    containers,
    cold,
    instanceId,
    size: 1,
    limits,
    initial: [{ language: repositoryLanguages.find("python")!, shape }],
    idleTimeoutMs: 600_000,
    refillConcurrency: 1,
    logger,
  });
  pools.push(pool);
  pool.start();
  const deadline = Date.now() + 30_000;
  while (pool.containerIds().size === 0) {
    if (Date.now() > deadline) throw new Error("the warm pool did not fill");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return pool;
}

type Moment = "acquiring" | "prepared" | "starting" | "started" | "ended";
const moments: Moment[] = ["acquiring", "prepared", "starting", "started", "ended"];

describe.each([
  ["cold", "runc"],
  ["warm", "runc"],
  ["cold", "runsc"],
  ["warm", "runsc"],
] as const)("a %s run under %s", (mode, runtime) => {
  it.each(moments)("cancelled while %s ends within a second as cancelled, its container removed", async (moment) => {
    const source = await sourceFor(mode, runtime);
    const controller = new AbortController();
    let abortedAt = 0;
    const abort = () => {
      if (controller.signal.aborted) return;
      abortedAt = performance.now();
      controller.abort();
    };
    // Acquiring and starting are engine calls in flight: the abort lands while they run.
    const watched: ContainerSource = {
      acquire: (request) => {
        const lease = source.acquire(request);
        if (moment === "acquiring") abort();
        return lease.then((leased) => ({
          ...leased,
          input: leased.input.bind(leased),
          start: () => {
            const started = leased.start();
            if (moment === "starting") abort();
            return started;
          },
        }));
      },
    };
    const runner = createRunner({
      containers,
      source: watched,
      imageFor: () => image,
      instanceId,
      outputLimitBytes: 1 << 20,
      seccompProfile: undefined,
      runscPlatform: testRunscPlatform,
      logger,
    });
    const spec: RunSpec = {
      runId: randomUUID(),
      language: repositoryLanguages.find("python")!,
      code: moment === "ended" ? "print('done')" : "import time\nprint('going', flush=True)\ntime.sleep(30)",
      files: [],
      stdin: new Uint8Array(),
      args: [],
      env: [],
      timeoutMs: 20_000,
      readonlyRootfs: true,
      runtime,
      limits,
      artifacts: undefined,
    };
    const onState = (state: RunState) => {
      if (state === moment) abort();
    };
    const outcome = await runner.run(spec, { signal: controller.signal, observer: { onState } });
    expect(abortedAt).toBeGreaterThan(0);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(outcome.verdict).toBe("cancelled");
    await runner.settled();
    const left = await docker.listContainers({ all: true, filters: { label: [`${containerLabels.runId}=${spec.runId}`] } });
    expect(left).toEqual([]);
  });
});
