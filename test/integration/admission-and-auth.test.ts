import * as grpc from "@grpc/grpc-js";
import { describe, expect, it, vi } from "vitest";
import { startAurea } from "../support/aurea-server.js";
import { aureaContainers, noContainersWithin } from "../support/containers.js";
import { createGrpcHealthClient } from "../support/grpc-health-client.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { postJson } from "../support/http-json.js";

const sleeper = (seconds: number) => ({ language: "bash", code: `sleep ${seconds}; echo done`, timeout: 30 });

describe("admission control", () => {
  it("runs the maximum at once, queues a bounded number, and refuses the rest at once", async () => {
    const aurea = await startAurea({ MAX_CONCURRENT_RUNS: "2", MAX_QUEUED_RUNS: "2", MAX_QUEUE_WAIT: "20" });
    const client = createGrpcSandboxClient(aurea.port);
    try {
      const admitted = [1, 2, 3, 4].map(() => client.run(sleeper(1.5)));
      await vi.waitFor(() => expect(aurea.load()).toMatchObject({ running: 2, queued: 2 }));
      const started = performance.now();
      const refused = (await client.run(sleeper(0)).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(performance.now() - started).toBeLessThan(200);
      expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(refused.details).toMatch(/2 runs are running and the queue is full \(2 waiting\)/);
      const results = await Promise.all(admitted);
      for (const result of results) expect(result).toMatchObject({ status: "RUN_STATUS_OK", stdout: "done\n" });
      const queueTimes = results.map((result) => result.queue_time as number).sort((a, b) => a - b);
      expect(queueTimes[0]).toBeLessThan(0.2);
      expect(queueTimes[3]).toBeGreaterThan(1);
      // Queue time is not run time.
      for (const result of results) expect(result.execution_time as number).toBeLessThan(3);
    } finally {
      client.close();
      await aurea.stop();
    }
  });

  it("refuses a run that waited the maximum queue time, naming the bound", async () => {
    const aurea = await startAurea({ MAX_CONCURRENT_RUNS: "1", MAX_QUEUED_RUNS: "5", MAX_QUEUE_WAIT: "0.5" });
    const client = createGrpcSandboxClient(aurea.port);
    try {
      const running = client.run(sleeper(2));
      await vi.waitFor(() => expect(aurea.load().running).toBe(1));
      const started = performance.now();
      const refused = (await client.run(sleeper(0)).catch((e: unknown) => e)) as grpc.ServiceError;
      const waited = performance.now() - started;
      expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(refused.details).toMatch(/waited 500 ms in the queue, its maximum wait/);
      expect(waited).toBeGreaterThanOrEqual(450);
      expect(waited).toBeLessThan(1500);
      expect(await running).toMatchObject({ status: "RUN_STATUS_OK" });
    } finally {
      client.close();
      await aurea.stop();
    }
  });
});

const aliceKey = "alice-key-0123456789abcdef";
const bobKey = "bob-key-0123456789abcdef";

describe("API keys", () => {
  it("require a valid bearer key, hold each key to its quota, and audit runs by key id", async () => {
    const aurea = await startAurea({ API_KEYS: `alice:${aliceKey}:1,bob:${bobKey}` });
    const anonymous = createGrpcSandboxClient(aurea.port);
    const alice = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${aliceKey}` });
    const wrong = createGrpcSandboxClient(aurea.port, { authorization: `Bearer ${aliceKey}x` });
    try {
      for (const client of [anonymous, wrong]) {
        const error = (await client.run(sleeper(0)).catch((e: unknown) => e)) as grpc.ServiceError;
        expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
        expect(error.details).toMatch(/a valid API key is required/);
      }
      // Health and reflection stay open for probes.
      expect(await anonymous.health()).toMatchObject({ serving: true });
      const probe = createGrpcHealthClient(aurea.port);
      expect(await probe.check("")).toBe("SERVING");
      probe.close();

      const first = alice.run(sleeper(1));
      await vi.waitFor(() => expect(aurea.load().running).toBe(1));
      const second = (await alice.run(sleeper(0)).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(second.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(second.details).toMatch(/caller alice already has 1 runs, its concurrency quota/);
      expect(await first).toMatchObject({ status: "RUN_STATUS_OK" });

      const rest = await postJson(aurea.baseUrl, "/run", { code: "echo hi", language: "bash" });
      expect(rest.status).toBe(401);
      const build = await postJson(aurea.baseUrl, "/build-image", {});
      expect(build).toMatchObject({ status: 401, body: { code: "unauthenticated" } });

      const logs = aurea.logs();
      const audit = logs.filter((line) => line.msg === "run finished");
      expect(audit.length).toBeGreaterThan(0);
      for (const line of audit) expect(line.key_id).toBe("alice");
      const everything = JSON.stringify(logs);
      expect(everything).not.toContain(aliceKey);
      expect(everything).not.toContain(bobKey);
    } finally {
      for (const client of [anonymous, alice, wrong]) client.close();
      await aurea.stop();
    }
  });

  it("protect probes too when asked", async () => {
    const aurea = await startAurea({ API_KEYS: `alice:${aliceKey}`, AUTH_PROTECT_PROBES: "true" });
    const probe = createGrpcHealthClient(aurea.port);
    try {
      await expect(probe.check("")).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      probe.close();
      await aurea.stop();
    }
  });

  it("refuse to start on a malformed key, naming it without the secret", async () => {
    await expect(startAurea({ API_KEYS: "short:abc" })).rejects.toThrow(
      /API_KEYS entry 1 \(short\): the key must have at least 16/,
    );
  });
});

describe("graceful shutdown", () => {
  it("turns health off, refuses new runs, lets short runs finish and cancels the rest at the grace period", async () => {
    const aurea = await startAurea({ SHUTDOWN_GRACE: "1.5" });
    const client = createGrpcSandboxClient(aurea.port);
    const probe = createGrpcHealthClient(aurea.port);
    const watch = probe.watch("");
    try {
      await watch.until("SERVING", 2000);
      const short = client.run(sleeper(0.5));
      const long = client.run(sleeper(30));
      await vi.waitFor(() => expect(aurea.load().running).toBe(2));
      const stopping = aurea.stop();
      await watch.until("NOT_SERVING", 1000);
      const refused = (await client.run(sleeper(0)).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(refused.code).toBe(grpc.status.UNAVAILABLE);
      expect(await short).toMatchObject({ status: "RUN_STATUS_OK", stdout: "done\n" });
      expect(await long).toMatchObject({ status: "RUN_STATUS_CANCELLED" });
      await stopping;
      expect(await noContainersWithin(1000)).toBeLessThan(1000);
    } finally {
      watch.cancel();
      probe.close();
      client.close();
    }
    expect(await aureaContainers()).toEqual([]);
  });
});
