import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { freeLoopbackPorts, type ServerProcess, spawnServer } from "../../bench/support/spawn-server.js";
import Docker from "dockerode";
import { noContainersWithin } from "../support/containers.js";
import { createGrpcSandboxClient, type GrpcResponse, type GrpcSandboxClient } from "../support/grpc-js-client.js";
import { retryServiceConfig } from "../support/retry-policy.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Three replicas on one engine behind grpc-js's round_robin with the README's retry policy, each
 * with an address and the shared PEER_SECRET. A stateful session created through the balancer
 * answers 100 mixed calls; SIGKILL its holder and the next calls are answered by a replica that
 * took it over from the engine, its interpreter's state intact; SIGTERM that one and its sessions
 * move to the last replica. Nothing is left on the engine.
 */

const key = "takeover-key-0123456789";
const secret = "takeover-test-secret-0123456789";

describe("sessions whose replica goes", () => {
  const replicas: ServerProcess[] = [];
  const clients: GrpcSandboxClient[] = [];
  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(replicas.map((replica) => replica.stop().catch(() => undefined)));
    await noContainersWithin(15_000);
  });

  it("are taken over with their state on a shared engine: SIGKILL, then SIGTERM", async () => {
    const ports = await freeLoopbackPorts(3);
    for (const [index, port] of ports.entries()) {
      replicas.push(
        await spawnServer(
          {
            INSTANCE_NAME: `takeover-${index}-${port}`,
            ADVERTISE_ADDRESS: `127.0.0.1:${port}`,
            PEER_SECRET: secret,
            PEERS: ports.map((peer) => `127.0.0.1:${peer}`).join(","),
            API_KEYS: `agent:${key}`,
            INSTANCE_LEASE_INTERVAL: "1",
            REAPER_INTERVAL: "2",
            SHUTDOWN_GRACE: "5",
          },
          port,
        ),
      );
    }
    const balanced = createGrpcSandboxClient(
      {
        target: `ipv4:${ports.map((port) => `127.0.0.1:${port}`).join(",")}`,
        options: { "grpc.service_config": JSON.stringify(retryServiceConfig), "grpc.enable_retries": 1 },
      },
      { authorization: `Bearer ${key}` },
    );
    clients.push(balanced);
    const created = await balanced.call("CreateSession", { language: "python", stateful: true, ttl: 600 }, 60_000);
    const sessionId = created.session_id as string;
    const holderOf = (address: string) => replicas[ports.indexOf(Number(address.split(":")[1]))]!;

    // 100 mixed calls through the balancer, spread over the three replicas.
    await balanced.call("Exec", { session_id: sessionId, code: "n = 0" });
    for (let call = 1; call <= 100; call++) {
      if (call % 4 === 0) {
        await balanced.call("WriteFiles", { session_id: sessionId, files: { [`f${call}.txt`]: String(call) } });
        const read = await balanced.call("ReadFiles", { session_id: sessionId, paths: [`f${call}.txt`] });
        expect(read.files).toEqual({ [`f${call}.txt`]: String(call) });
      } else if (call % 4 === 1) {
        const stream = balanced.stream("ExecStream", { session_id: sessionId, code: "n += 1\nprint(n)" });
        await stream.done;
        expect(stream.messages.at(-1)?.message).toMatchObject({ result: { status: "RUN_STATUS_OK" } });
      } else {
        const answer = await balanced.call("Exec", { session_id: sessionId, code: "n += 1\nn" });
        expect(answer).toMatchObject({ status: "RUN_STATUS_OK" });
      }
    }
    const counted = Number((await balanced.call("Exec", { session_id: sessionId, code: "n" })).value);
    expect(counted).toBe(75);

    // SIGKILL the holder: the container runs on; a replica takes it over once the lease lapses.
    const first = holderOf(created.owner_address as string);
    first.signal("SIGKILL");
    await first.exited;
    const afterKill = await eventually(() => balanced.call("Exec", { session_id: sessionId, code: "n" }, 20_000));
    expect(afterKill.value).toBe("75");
    const info = (await balanced.call("GetSession", { session_id: sessionId })).session as GrpcResponse;
    expect(info).toMatchObject({ adopted: true, state: "SESSION_STATE_ACTIVE", interpreter_running: true });
    const takenBy = replicas.filter(
      (replica) =>
        replica !== first && replica.logs().some((line) => line.msg === "session taken over from a replica that is gone"),
    );
    expect(takenBy).toHaveLength(1);

    // SIGTERM the new holder: it hands the session off instead of closing it.
    const second = takenBy[0]!;
    await second.stop();
    expect(second.logs().some((line) => line.msg === "sessions handed off to the peers on the engine")).toBe(true);
    const afterDrain = await eventually(() => balanced.call("Exec", { session_id: sessionId, code: "n += 1\nn" }, 20_000));
    expect(afterDrain.value).toBe("76");
    const last = replicas.find((replica) => replica !== first && replica !== second)!;
    expect(
      last.logs().some((line) => line.msg === "session taken over from a replica that is gone" || line.msg === "session adopted"),
    ).toBe(true);
    const files = await balanced.call("ListFiles", { session_id: sessionId });
    const written = Array.from({ length: 25 }, (_, index) => `f${(index + 1) * 4}.txt`);
    expect((files.entries as GrpcResponse[]).map((entry) => entry.name).sort()).toEqual(written.sort());

    await balanced.call("CloseSession", { session_id: sessionId });
    // Its holder claim goes with it.
    const claims = () =>
      new Docker().listContainers({ all: true, filters: { label: [`dev.aurea.session-holder=${sessionId}`] } });
    await waitFor(async () => (await claims()).length === 0, 5_000, "the holder claim removed");
  }, 180_000);
});

/** The call, repeated while it is UNAVAILABLE (the holder's lease has not lapsed yet), for up to 20 s. */
async function eventually(call: () => Promise<GrpcResponse>): Promise<GrpcResponse> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const failure = error as grpc.ServiceError;
      if (failure.code !== grpc.status.UNAVAILABLE || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
