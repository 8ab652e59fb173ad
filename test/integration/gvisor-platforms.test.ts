import * as grpc from "@grpc/grpc-js";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { startAurea, useAurea } from "../support/aurea-server.js";
import { noContainersWithin, removalBoundMs } from "../support/containers.js";
import { createGrpcSandboxClient } from "../support/grpc-js-client.js";
import { javaHeapBomb } from "../support/hostile-programs.js";

/**
 * gVisor's platforms (RUNSC_PLATFORM): the whole suite runs runsc on the default (ptrace); here a
 * server runs on systrap, where the host's memory kill may end the program alone and a JVM that
 * loses a thread hangs, and output is the flood the relays' blocks are for. And a platform the
 * engine has not registered is refused, never a crash or a hang.
 */
const docker = new Docker();
const mebibyte = 1024 * 1024;

/** The engine runtime of the first Aurea container of a run that appears while `work` runs. */
async function runtimeOfRunContainer(work: Promise<unknown>): Promise<string | undefined> {
  let found: string | undefined;
  const deadline = Date.now() + 20_000;
  while (found === undefined && Date.now() < deadline) {
    const containers = await docker.listContainers({ filters: { label: ["dev.aurea.managed=true"] } });
    const run = containers.find((container) => container.Labels["dev.aurea.run-id"] !== "warm");
    if (run) found = (await docker.getContainer(run.Id).inspect()).HostConfig.Runtime;
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await work;
  return found;
}

describe("runs under gVisor on systrap", () => {
  const server = useAurea({ RUNSC_PLATFORM: "systrap", SANDBOX_OUTPUT_LIMIT: "4m" });

  it("run on the platform's own registration, and sessions on ptrace whatever RUNSC_PLATFORM says", async () => {
    const run = server.client.run({ language: "bash", code: "sleep 2; echo done", runtime: "runsc" });
    expect(await runtimeOfRunContainer(run)).toBe("runsc-systrap");
    expect(await run).toMatchObject({ status: "RUN_STATUS_OK", stdout: "done\n" });
    const session = await server.client.call("CreateSession", { language: "python", runtime: "runsc" }, 120_000);
    const id = session.session_id as string;
    const [container] = await docker.listContainers({ filters: { label: [`dev.aurea.session=${id}`] } });
    expect((await docker.getContainer(container!.Id).inspect()).HostConfig.Runtime).toBe("runsc");
    await server.client.call("CloseSession", { session_id: id });
  }, 180_000);

  it("deliver 60,000 lines written one at a time whole, through the relays' blocks", async () => {
    const response = await server.client.run({ language: "python", code: "for i in range(60000): print(i)", runtime: "runsc" });
    expect(response.status).toBe("RUN_STATUS_OK");
    expect(response.stdout).toBe(Array.from({ length: 60_000 }, (_, i) => `${i}\n`).join(""));
  }, 60_000);

  it("stream output as it comes (a streamed line waits at most the relay's pause)", async () => {
    const stream = server.client.runStream({
      language: "python",
      code: "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('second')",
      runtime: "runsc",
    });
    const started = performance.now();
    const first = await stream.waitFor((message) => message.event === "stdout");
    // The first line is out well before the program's end, 3 s later.
    expect(performance.now() - started).toBeLessThan(2500);
    expect(Buffer.from(first.stdout as Buffer).toString()).toMatch(/^first/);
    const result = await stream.waitFor((message) => message.event === "result");
    expect(result.result).toMatchObject({ status: "RUN_STATUS_OK" });
  }, 60_000);

  it("report a memory bomb as MEMORY_LIMIT with exit 137, though the host killed only the program", async () => {
    const response = await server.client.run({
      language: "python",
      code: "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))",
      runtime: "runsc",
      limits: { memory_bytes: String(128 * mebibyte) },
    });
    expect(response).toMatchObject({ status: "RUN_STATUS_MEMORY_LIMIT", exit_code: 137, signal: "SIGKILL", success: false });
    expect(response.limits_hit).toContain("LIMIT_MEMORY");
  }, 60_000);

  it("report a JVM that hangs after a memory kill as MEMORY_LIMIT, not as the timeout it then runs into", async () => {
    const response = await server.client.run({
      language: "java",
      code: javaHeapBomb,
      runtime: "runsc",
      timeout: 8,
      limits: { memory_bytes: String(256 * mebibyte) },
    });
    expect(response.status, String(response.stderr)).toBe("RUN_STATUS_MEMORY_LIMIT");
    expect(response.limits_hit).toContain("LIMIT_MEMORY");
  }, 120_000);
});

describe("a platform the engine has not registered", async () => {
  const registered = Object.keys(((await docker.info()) as { Runtimes?: Record<string, unknown> }).Runtimes ?? {});
  // ensure-engine.sh registers kvm only where a KVM sandbox starts, which it does not on this kind
  // of machine; where it does, there is no unregistered platform left to refuse.
  const kvmRegistered = registered.includes("runsc-kvm");

  it.skipIf(kvmRegistered)("refuses runs that need it UNAVAILABLE, naming it, and leaves no container", async () => {
    const aurea = await startAurea({ RUNSC_PLATFORM: "kvm" });
    const client = createGrpcSandboxClient(aurea.port);
    try {
      expect(aurea.logs().some((line) => String(line.msg).includes("engine runtimes not registered"))).toBe(true);
      const refused = (await client
        .run({ language: "python", code: "print(1)", runtime: "runsc" })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(refused.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.details).toMatch(/runsc-kvm/);
      // runc is untouched.
      expect(await client.run({ language: "python", code: "print(1)" })).toMatchObject({ status: "RUN_STATUS_OK" });
    } finally {
      client.close();
      await aurea.stop();
    }
    await noContainersWithin(removalBoundMs.runsc);
  });

  it.skipIf(kvmRegistered)("keeps a server whose default runtime needs it from starting, saying why", async () => {
    await expect(startAurea({ RUNSC_PLATFORM: "kvm", SANDBOX_RUNTIME: "runsc" })).rejects.toThrow(
      /refusing to serve: the default runtime's engine runtime runsc-kvm is not registered/,
    );
  });
});
