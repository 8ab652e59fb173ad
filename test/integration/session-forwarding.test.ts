import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeLoopbackPort, freeLoopbackPorts } from "../../bench/support/spawn-server.js";
import { createSessionIds } from "../../src/service/session-ids.js";
import { type RunningAurea, startAurea } from "../support/aurea-server.js";
import { createGrpcSandboxClient, type GrpcSandboxClient, type GrpcResponse } from "../support/grpc-js-client.js";

/**
 * Two replicas on one engine, each with an address of its own (ADVERTISE_ADDRESS) and the shared
 * PEER_SECRET: a session created on one answers on the other, which forwards every call to its
 * owner with the caller's key, deadline and cancellation; a forged id connects nowhere.
 */

const peerSecret = "forwarding-test-secret-0123456789";
const alice = "alice-key-0123456789abcdef";
const bob = "bob-key-0123456789abcdef";

let owner: RunningAurea;
let other: RunningAurea;
let ownerAddress: string;
const clients: GrpcSandboxClient[] = [];
const client = (server: RunningAurea, key?: string) => {
  const made = createGrpcSandboxClient(server.port, key ? { authorization: `Bearer ${key}` } : {});
  clients.push(made);
  return made;
};

async function replica(port?: number, peers: number[] = []): Promise<RunningAurea> {
  const listen = port ?? (await freeLoopbackPort());
  return startAurea({
    PORT: String(listen),
    ADVERTISE_ADDRESS: `127.0.0.1:${listen}`,
    PEER_SECRET: peerSecret,
    API_KEYS: `alice:${alice},bob:${bob}`,
    PEERS: peers.map((peer) => `127.0.0.1:${peer}`).join(","),
  });
}

/** A port nothing listens on: a replica that does not answer. */
let silentPort: number;

/**
 * A loopback port below the kernel's ephemeral range that nothing listens on. A free port from
 * the ephemeral range would do only until another test's server, started on port 0 meanwhile, is
 * given it (it happened: the "silent" peer answered).
 */
async function portNobodyIsGiven(): Promise<number> {
  const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  for (let port = Math.min(low ?? 32768, 32768) - 1000; port > 1024; port -= 7) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(false);
      });
      socket.once("error", () => resolve(true));
    });
    if (refused) return port;
  }
  throw new Error("no unused port below the ephemeral range");
}

beforeAll(async () => {
  const [ownerPort, otherPort] = (await freeLoopbackPorts(2)) as [number, number];
  silentPort = await portNobodyIsGiven();
  [owner, other] = await Promise.all([replica(ownerPort, [otherPort, silentPort]), replica(otherPort, [ownerPort])]);
  ownerAddress = `127.0.0.1:${owner.port}`;
});

afterAll(async () => {
  for (const made of clients) made.close();
  await other?.stop();
  await owner?.stop();
});

describe("a session on two replicas", () => {
  it("answers every call on the replica that does not hold it, with the caller's key checked by the owner", async () => {
    const created = await client(owner, alice).call("CreateSession", { language: "bash" });
    const id = created.session_id as string;
    expect(created.owner_address).toBe(ownerAddress);
    const elsewhere = client(other, alice);

    expect(await elsewhere.call("Exec", { session_id: id, code: "echo from $(hostname) > where.txt; echo ran" })).toMatchObject({
      status: "RUN_STATUS_OK",
      stdout: "ran\n",
    });
    const stream = elsewhere.stream("ExecStream", { session_id: id, code: "for i in 1 2 3; do echo $i; sleep 0.1; done" });
    await stream.done;
    const chunks = stream.messages.map(({ message }) => message).filter((message) => message.stdout);
    expect(chunks.length).toBeGreaterThan(1);
    expect(stream.messages.at(-1)?.message).toMatchObject({ result: { status: "RUN_STATUS_OK", stdout: "1\n2\n3\n" } });
    await elsewhere.call("WriteFiles", { session_id: id, files: { "note.txt": "written elsewhere" } });
    const read = await client(owner, alice).call("ReadFiles", { session_id: id, paths: ["note.txt"] });
    expect(read.files).toEqual({ "note.txt": "written elsewhere" });
    const listed = await elsewhere.call("ListFiles", { session_id: id });
    expect((listed.entries as GrpcResponse[]).map((entry) => entry.name)).toEqual(["main.sh", "note.txt", "where.txt"]);
    expect((await elsewhere.call("UpdateSession", { session_id: id, idle_timeout: 100 })).session).toMatchObject({
      idle_timeout: 100,
    });

    // The owner checks the key exactly as for a call made to it: another key's call is NOT_FOUND.
    await expect(client(other, bob).call("GetSession", { session_id: id })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    await expect(client(other).call("GetSession", { session_id: id })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });

    // The caller's deadline reaches the owner, which ends the exec there.
    const slow = await elsewhere
      .call("Exec", { session_id: id, command: ["sleep", "30"] }, 1000)
      .catch((error: unknown) => error);
    expect(slow).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    await expect
      .poll(() => owner.logs().filter((line) => line.msg === "exec finished" && line.status === "cancelled").length, {
        timeout: 5000,
      })
      .toBe(1);

    await elsewhere.call("CloseSession", { session_id: id });
    await expect(client(owner, alice).call("GetSession", { session_id: id })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it("answers a forged or foreign-signed id NOT_FOUND without connecting to the address it names", async () => {
    const connections: net.Socket[] = [];
    const decoy = net.createServer((socket) => {
      connections.push(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => decoy.listen(0, "127.0.0.1", resolve));
    const decoyAddress = `127.0.0.1:${(decoy.address() as net.AddressInfo).port}`;
    try {
      const random = randomBytes(18).toString("base64url");
      const unsigned = `ses_${random}.${Buffer.from(decoyAddress).toString("base64url")}.${randomBytes(16).toString("base64url")}`;
      const foreign = createSessionIds({ advertiseAddress: decoyAddress, peerSecret: "some-other-secret-0123456789" }).newId();
      for (const id of [unsigned, foreign]) {
        const refused = (await client(other, alice)
          .call("Exec", { session_id: id, command: ["true"] })
          .catch((error: unknown) => error)) as grpc.ServiceError;
        expect(refused.code).toBe(grpc.status.NOT_FOUND);
        expect(refused.details).toBe(`session ${JSON.stringify(id)} not found`);
      }
      expect(connections).toHaveLength(0);
    } finally {
      decoy.close();
    }
  });

  it("gives a retried request_id that reaches the other replica the first attempt's own result", async () => {
    const request = { language: "bash", code: "sleep 1; echo $RANDOM", request_id: `job-${process.pid}` };
    const first = client(owner, alice).run(request);
    await expect.poll(() => owner.load().running, { timeout: 5000 }).toBe(1);
    const retried = await client(other, alice).run(request);
    const answered = await first;
    expect(retried).toMatchObject({ status: "RUN_STATUS_OK", run_id: answered.run_id, stdout: answered.stdout });
    const ran = (server: RunningAurea) =>
      server.logs().filter((line) => line.msg === "run audit" && line.request_id === request.request_id).length;
    expect([ran(owner), ran(other)]).toEqual([1, 0]);
  });

  it("lists the caller's sessions on every replica, and says when one did not answer", async () => {
    const mine = [
      (await client(owner, alice).call("CreateSession", { language: "bash" })).session_id,
      (await client(other, alice).call("CreateSession", { language: "bash" })).session_id,
    ];
    const bobs = (await client(other, bob).call("CreateSession", { language: "bash" })).session_id as string;
    const ids = (answer: GrpcResponse) => (answer.sessions as GrpcResponse[]).map((session) => session.session_id).sort();
    const everywhere = await client(other, alice).call("ListSessions", {});
    expect(ids(everywhere)).toEqual([...mine].sort());
    expect(everywhere.complete).toBe(true);
    // The owner's PEERS also names a replica that does not answer: the list says it may be incomplete.
    const started = performance.now();
    const partial = await client(owner, alice).call("ListSessions", {});
    expect(ids(partial)).toEqual([...mine].sort());
    expect(partial.complete).toBe(false);
    expect(performance.now() - started).toBeLessThan(3000);
    for (const id of mine) await client(other, alice).call("CloseSession", { session_id: id });
    await client(other, bob).call("CloseSession", { session_id: bobs });
  });

  it("takes over, from the engine they share, the session of a replica that stopped", async () => {
    const gone = await replica();
    const id = (await client(gone, alice).call("CreateSession", { language: "bash" })).session_id as string;
    await client(gone, alice).call("WriteFiles", { session_id: id, files: { "kept.txt": "kept" } });
    // It has peers on the engine: it leaves the session running for them instead of closing it.
    await gone.stop();
    const answered = await client(other, alice).call("GetSession", { session_id: id });
    expect(answered.session).toMatchObject({ state: "SESSION_STATE_ACTIVE", adopted: true });
    expect((await client(owner, alice).call("ReadFiles", { session_id: id, paths: ["kept.txt"] })).files).toEqual({
      "kept.txt": "kept",
    });
    // Another key still cannot see it.
    const refused = (await client(owner, bob)
      .call("GetSession", { session_id: id })
      .catch((error: unknown) => error)) as grpc.ServiceError;
    expect(refused.code).toBe(grpc.status.NOT_FOUND);
    await client(owner, alice).call("CloseSession", { session_id: id });
  });
});
