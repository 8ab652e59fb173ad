import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { spawnServer } from "../../bench/support/spawn-server.js";
import { startAurea } from "../support/aurea-server.js";
import { aureaContainers, noContainersWithin } from "../support/containers.js";
import { createGrpcHealthClient } from "../support/grpc-health-client.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { waitFor } from "../support/wait-for.js";

const docker = new Docker();
const sleeper = (seconds: number) => ({ language: "bash", code: `echo started; sleep ${seconds}; echo done`, timeout: 60 });

describe("SIGTERM under load", () => {
  it("finishes short runs, cancels long ones at the grace period, removes every container and exits 0", async () => {
    const server = await spawnServer({ SHUTDOWN_GRACE: "2", MAX_CONCURRENT_RUNS: "6" });
    const client = createGrpcSandboxClient(server.port);
    try {
      const short = [1, 2, 3].map(() => client.run(sleeper(0.8)));
      const long = [1, 2].map(() => client.run(sleeper(60)));
      await waitFor(async () => (await aureaContainers()).length === 5, 5000, "five containers running");
      const signalled = performance.now();
      server.signal("SIGTERM");
      for (const result of await Promise.all(short))
        expect(result).toMatchObject({ status: "RUN_STATUS_OK", stdout: "started\ndone\n" });
      for (const result of await Promise.all(long))
        expect(result).toMatchObject({ status: "RUN_STATUS_CANCELLED", stdout: "started\n" });
      expect(await server.exited).toBe(0);
      expect(performance.now() - signalled).toBeLessThan(8000);
      expect(await aureaContainers()).toEqual([]);
      const logs = server.logs();
      expect(logs.some((line) => line.msg === "draining")).toBe(true);
      expect(logs.at(-1)).toMatchObject({ msg: "aurea stopped" });
    } finally {
      client.close();
      server.signal("SIGKILL");
    }
  });
});

describe("SIGKILL of the server, then a restart", () => {
  it("reaps the crashed process's containers within seconds and never touches anyone else's", async () => {
    const decoy = await docker.createContainer({
      Image: "aurea-sandbox:latest",
      Cmd: ["sleep", "60"],
      Labels: { "dev.aurea.test": "decoy-not-managed" },
      HostConfig: { NetworkMode: "none" },
    });
    // Leases renewed every second: the crashed server counts as dead three seconds after its last.
    const first = await spawnServer({ INSTANCE_LEASE_INTERVAL: "1" });
    const client = createGrpcSandboxClient(first.port);
    try {
      const runs = [1, 2].map(() => client.run(sleeper(60)).catch((e: unknown) => e));
      await waitFor(async () => (await aureaContainers()).length === 2, 5000, "two containers running");
      first.signal("SIGKILL");
      await first.exited;
      for (const result of await Promise.all(runs)) expect(result).toMatchObject({ code: grpc.status.UNAVAILABLE });
      expect(await aureaContainers()).toHaveLength(2);

      const second = await spawnServer({ REAPER_INTERVAL: "1", INSTANCE_LEASE_INTERVAL: "1" });
      try {
        expect(await noContainersWithin(8000)).toBeLessThan(8000);
        // The two runs' containers and the dead server's lease. The lease is not among the
        // containers counted above, and one sweep removes them one after another, so its line may
        // still be on its way when the runs' containers are already gone.
        const reaped = () => second.logs().filter((line) => line.msg === "orphaned container removed");
        await waitFor(() => reaped().length >= 3, 5000, "three orphaned containers removed");
        expect(reaped()).toHaveLength(3);
        expect((await decoy.inspect()).Id).toBe(decoy.id);
      } finally {
        await second.stop();
      }
    } finally {
      client.close();
      await decoy.remove({ force: true });
    }
  });
});

describe("a client that stops reading a stream", () => {
  it("does not make the server buffer without bound", async () => {
    const server = await spawnServer({ SANDBOX_OUTPUT_LIMIT: "4m" });
    try {
      const before = server.rssBytes();
      const client = new (grpc.makeGenericClientConstructor({}, "x"))(
        `127.0.0.1:${server.port}`,
        grpc.credentials.createInsecure(),
      );
      const call = client.makeServerStreamRequest(
        "/aurea.sandbox.v1.SandboxService/RunStream",
        (value: Buffer) => value,
        (bytes: Buffer) => bytes,
        // RunRequest{code:"yes flood", language:"bash"} in protobuf binary.
        Buffer.concat([Buffer.from([0x0a, 9]), Buffer.from("yes flood"), Buffer.from([0x12, 4]), Buffer.from("bash")]),
      );
      call.on("error", () => undefined);
      call.pause();
      // The program floods; the client reads nothing until the run has ended at the output cap
      // instead of waiting on the reader.
      const ended = () => server.logs().some((line) => line.msg === "run finished" && line.status === "output_limit");
      await waitFor(ended, 10_000, "the run ended at the output cap");
      const grown = server.rssBytes() - before;
      expect(grown).toBeLessThan(100 * 1024 * 1024);
      expect(ended()).toBe(true);
      call.cancel();
      client.close();
    } finally {
      await server.stop();
    }
  });
});

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

function run(command: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile("bash", ["-c", command], { cwd: repoRoot, timeout: 120_000 }, (error) => (error ? reject(error) : resolve())),
  );
}

describe("the Docker daemon stopped and restarted under load", () => {
  it("ends in-flight runs truthfully, fails new ones fast, and recovers, warm pool included, without a restart of Aurea", async () => {
    const aurea = await startAurea({
      HEALTH_CHECK_INTERVAL: "0.5",
      REAPER_INTERVAL: "1",
      REAPER_FOREIGN_AFTER: "0",
      WARM_POOL_SIZE: "1",
    });
    const client = createGrpcSandboxClient(aurea.port);
    const health = createGrpcHealthClient(aurea.port);
    try {
      const inFlight = [1, 2, 3].map(() => client.run(sleeper(30)).catch((e: unknown) => e));
      // Runs in flight: containers of runs, not the pool's warm ones.
      const runContainers = async () =>
        (await docker.listContainers({ filters: { label: ["dev.aurea.managed=true"] } })).filter(
          (container) => container.Labels["dev.aurea.run-id"] !== "warm",
        ).length;
      await waitFor(async () => (await runContainers()) >= 2, 10_000, "runs in flight");
      await waitFor(() => aurea.load().started === 3, 10_000, "every program started");

      await run("pkill -TERM -x dockerd");
      await waitFor(async () => (await health.check("")) === "NOT_SERVING", 5000, "health NOT_SERVING");
      for (const result of await Promise.all(inFlight)) {
        // Never OK: either the run's verdict says Aurea lost it, or the call failed.
        const outcome = result as { status?: string; code?: number };
        if (outcome.status !== undefined) expect(outcome.status).toBe("RUN_STATUS_INTERNAL");
        else expect([grpc.status.UNAVAILABLE, grpc.status.INTERNAL]).toContain(outcome.code);
      }
      const started = performance.now();
      const refused = (await client.run(sleeper(0)).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(refused.code, JSON.stringify(refused)).toBe(grpc.status.UNAVAILABLE);
      expect(performance.now() - started).toBeLessThan(500);

      await run("bash scripts/ensure-engine.sh");
      await waitFor(async () => (await health.check("")) === "SERVING", 15_000, "health SERVING again");
      expect(await client.run({ language: "bash", code: "echo back" })).toMatchObject({
        status: "RUN_STATUS_OK",
        stdout: "back\n",
      });
      // The warm pool is rebuilt: runs find live warm containers again, never a dead one.
      await waitFor(
        async () => {
          const response = await client.run({ language: "python", code: "print('warm again')" });
          expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "warm again\n" });
          const line = aurea.logs().find((entry) => entry.run_id === response.run_id && entry.msg === "run finished");
          // Fresh from the pool, or the caller's own container recycled after an earlier run.
          return line?.container === "warm" || line?.container === "recycled";
        },
        20_000,
        "a warm run after the restart",
      );
    } finally {
      health.close();
      client.close();
      await aurea.stop();
    }
    // Everything of the runs before the outage, and the pool's, is gone once the server is.
    expect(await aureaContainers()).toEqual([]);
  }, 180_000);
});
