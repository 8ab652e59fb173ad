import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { type ServerProcess, spawnServer } from "../../bench/support/spawn-server.js";
import Docker from "dockerode";
import { noContainersWithin } from "../support/containers.js";
import { createGrpcSandboxClient, type GrpcResponse } from "../support/grpc-js-client.js";
import { retryServiceConfig } from "../support/retry-policy.js";

/**
 * Three replicas on this machine sharing one engine, behind grpc-js's round_robin with the retry
 * policy the README gives: a few hundred runs, one replica SIGKILLed and another SIGTERMed under
 * load. Every request must end exactly once with its own output or a truthful error, no program
 * may start twice, and nothing may be left on the engine.
 */

const total = 240;
const concurrency = 12;

describe("three replicas sharing one engine", () => {
  it("lose and duplicate nothing when one is killed and another drained under load", async () => {
    const replicas: ServerProcess[] = [];
    for (const name of ["a", "b", "c"]) {
      replicas.push(
        await spawnServer({
          INSTANCE_NAME: `replica-${name}`,
          INSTANCE_LEASE_INTERVAL: "1",
          REAPER_INTERVAL: "1",
          SHUTDOWN_GRACE: "20",
          MAX_CONCURRENT_RUNS: "4",
          MAX_QUEUED_RUNS: "64",
          MAX_QUEUE_WAIT: "60",
          LOG_LEVEL: "debug",
        }),
      );
    }
    const [killed, drained, survivor] = replicas as [ServerProcess, ServerProcess, ServerProcess];
    try {
      const client = createGrpcSandboxClient({
        target: `ipv4:${replicas.map((replica) => `127.0.0.1:${replica.port}`).join(",")}`,
        options: { "grpc.service_config": JSON.stringify(retryServiceConfig), "grpc.enable_retries": 1 },
      });
      const results: { token: string; response?: GrpcResponse; error?: grpc.ServiceError }[] = [];
      let next = 0;
      let done = 0;
      const worker = async () => {
        while (next < total) {
          next += 1;
          const token = randomUUID();
          // Each program sleeps a little so that runs are in flight when replicas go.
          const request = { language: "bash", code: `sleep 0.3; echo ${token}`, request_id: token };
          try {
            results.push({ token, response: await client.run(request, 120_000) });
          } catch (error) {
            results.push({ token, error: error as grpc.ServiceError });
          }
          done += 1;
        }
      };
      const load = Promise.all(Array.from({ length: concurrency }, worker));
      const whenDone = async (count: number) => {
        while (done < count) await new Promise((resolve) => setTimeout(resolve, 20));
      };
      await whenDone(60);
      killed.signal("SIGKILL");
      await whenDone(120);
      drained.signal("SIGTERM");
      await load;
      expect(await drained.exited).toBe(0);
      await killed.exited;

      // Every request ended once, with its own output or a truthful error.
      expect(results).toHaveLength(total);
      expect(new Set(results.map((result) => result.token)).size).toBe(total);
      const starts = new Map<string, number>();
      for (const replica of replicas) {
        for (const line of replica.logs()) {
          if (line.msg === "run state" && line.state === "started" && typeof line.request_id === "string") {
            starts.set(line.request_id, (starts.get(line.request_id) ?? 0) + 1);
          }
        }
      }
      const codes = new Map<string, number>();
      for (const { token, response, error } of results) {
        // No program ever started twice, whatever the client saw.
        expect(starts.get(token) ?? 0, token).toBeLessThanOrEqual(1);
        if (response) {
          expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: `${token}\n` });
          expect(starts.get(token)).toBe(1);
        } else {
          const code = grpc.status[error?.code ?? 0] ?? "?";
          codes.set(code, (codes.get(code) ?? 0) + 1);
          // The killed replica held its claim (and may have started it), so a retry was refused
          // rather than run again; or it never started anywhere and the client gave up.
          if (error?.code !== grpc.status.ALREADY_EXISTS)
            expect([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED], String(error?.details)).toContain(error?.code);
        }
      }
      const succeeded = results.filter((result) => result.response).length;
      // Runs in flight on the killed replica are lost to their callers (and said so); the rest answer.
      expect(succeeded).toBeGreaterThan(total * 0.8);
      console.log(`replicas: ${succeeded}/${total} answered, errors ${JSON.stringify(Object.fromEntries(codes))}`);

      // The survivor reaps what the killed replica left (runs, claims, its lease) once its lease lapses.
      const killedId = killed.logs().find((line) => line.msg === "aurea ready")?.instance_id as string;
      const docker = new Docker();
      const leftBy = async (instance: string) =>
        (await docker.listContainers({ all: true, filters: { label: [`dev.aurea.instance=${instance}`] } })).length;
      await expect.poll(() => leftBy(killedId), { timeout: 20_000, interval: 250 }).toBe(0);
      client.close();
      expect(await survivor.stop()).toBe(0);
      await noContainersWithin(10_000);
    } finally {
      for (const replica of replicas) replica.signal("SIGKILL");
    }
  }, 300_000);
});
