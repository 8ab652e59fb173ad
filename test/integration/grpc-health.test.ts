import * as grpc from "@grpc/grpc-js";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryLanguages } from "../support/languages.js";
import { startAurea, type RunningAurea } from "../support/aurea-server.js";
import { aureaContainers } from "../support/containers.js";
import { startEngineProxy, type EngineProxy } from "../support/engine-proxy.js";
import { createGrpcHealthClient, type GrpcHealthClient } from "../support/grpc-health-client.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";

const sandboxService = "aurea.sandbox.v1.SandboxService";

describe("grpc.health.v1.Health, as the kubelet probes it", () => {
  let proxy: EngineProxy;
  let aurea: RunningAurea;
  let health: GrpcHealthClient;

  beforeAll(async () => {
    proxy = await startEngineProxy();
    aurea = await startAurea({ HEALTH_CHECK_INTERVAL: "0.2" }, { docker: new Docker({ socketPath: proxy.socketPath }) });
    health = createGrpcHealthClient(aurea.port);
  });

  afterAll(async () => {
    health?.close();
    await aurea?.stop();
    await proxy?.close();
    expect(await aureaContainers()).toEqual([]);
  });

  it("answers Check for the server and for the sandbox service, well within a 1 s probe", async () => {
    for (const service of ["", sandboxService]) {
      const started = performance.now();
      expect(await health.check(service)).toBe("SERVING");
      expect(performance.now() - started).toBeLessThan(200);
    }
  });

  it("answers Check for each image family whose image is there", async () => {
    for (const family of repositoryLanguages.families())
      expect(await health.check(`aurea.family.${family}`), family).toBe("SERVING");
  });

  it("answers NOT_FOUND for a service it does not serve", async () => {
    await expect(health.check("no.such.Service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("follows an engine outage in Check and Watch, and recovers without a restart", async () => {
    const watch = health.watch("");
    await watch.until("SERVING", 2000);

    await proxy.cut();
    await watch.until("NOT_SERVING", 3000);
    expect(await health.check("")).toBe("NOT_SERVING");
    expect(await health.check(sandboxService)).toBe("NOT_SERVING");
    const run = createGrpcSandboxClient(aurea.port);
    await expect(run.run({ language: "bash", code: "true" })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });

    await proxy.restore();
    await watch.until("SERVING", 3000);
    expect(await health.check("")).toBe("SERVING");
    expect(await run.run({ language: "bash", code: "echo back" })).toMatchObject({ stdout: "back\n" });
    run.close();
    watch.cancel();
    expect(watch.statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
  });
});

describe("health when the sandbox image is missing", () => {
  it("reports NOT_SERVING", async () => {
    const aurea = await startAurea({ SANDBOX_IMAGE: "aurea-sandbox:no-such-tag" });
    const health = createGrpcHealthClient(aurea.port);
    try {
      expect(await health.check("")).toBe("NOT_SERVING");
      expect(await health.check("aurea.family.native")).toBe("NOT_SERVING");
    } finally {
      health.close();
      await aurea.stop();
    }
  });
});

describe("health at shutdown", () => {
  it("pushes NOT_SERVING to watchers once shutdown starts", async () => {
    const aurea = await startAurea();
    const health = createGrpcHealthClient(aurea.port);
    const watch = health.watch("");
    await watch.until("SERVING", 2000);
    const stopping = aurea.stop();
    await watch.until("NOT_SERVING", 2000);
    await stopping;
    health.close();
  });
});

describe("a connection to the engine that loses output", () => {
  it("reports the run as INTERNAL, never as a clean result", async () => {
    const lossy = await startEngineProxy({ halfOpen: false });
    const aurea = await startAurea({}, { docker: new Docker({ socketPath: lossy.socketPath }) });
    const client = createGrpcSandboxClient(aurea.port);
    try {
      const response = await client.run({ language: "bash", code: "sleep 0.2; echo lost" });
      expect(response).toMatchObject({ status: "RUN_STATUS_INTERNAL", success: false });
      expect(response.error).toMatch(/output ended without the supervisor's final report/);
    } finally {
      client.close();
      await aurea.stop();
      await lossy.close();
    }
  });
});
