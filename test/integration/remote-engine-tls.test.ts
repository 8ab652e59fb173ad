import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeLoopbackPort, freeLoopbackPorts, type ServerProcess, spawnServer } from "../../bench/support/spawn-server.js";
import { createGrpcSandboxClient, type GrpcSandboxClient } from "../support/grpc-js-client.js";

/**
 * DOCKER_HOST over TCP with TLS, as README documents it: a second dockerd on this machine,
 * listening on loopback only, with a certificate authority, server and client certificates made
 * here; Aurea reaches it with DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, and a client
 * without a certificate is refused.
 */

let dir: string;
let engine: ChildProcess;
let enginePort: number;
let aurea: ServerProcess | undefined;
/** The second engine's own bridge interface. */
const bridge = `aurea-tls${process.pid % 10000}`;

function sh(command: string, env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", command], { cwd: dir, env: { ...process.env, ...env }, timeout: 300_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

const tlsEnv = () => ({ DOCKER_HOST: `tcp://127.0.0.1:${enginePort}`, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: dir });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aurea-tls-engine-"));
  // A CA, the engine's certificate for 127.0.0.1, and a client certificate, all signed by it.
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  await sh(
    [
      'openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=aurea-test-ca" -keyout ca-key.pem -out ca.pem',
      'openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr',
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile server.ext -out server-cert.pem",
      'openssl req -newkey rsa:2048 -nodes -subj "/CN=aurea-client" -keyout key.pem -out client.csr',
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile client.ext -out cert.pem",
    ].join(" 2>/dev/null && "),
  );
  enginePort = await freeLoopbackPort();
  // A bridge of its own: told --bridge=none, dockerd removes the default docker0, which the
  // machine's own engine needs. Sandboxes have no network, so this bridge carries nothing.
  await sh(`ip link add name ${bridge} type bridge && ip link set ${bridge} up`);
  engine = spawn(
    "dockerd",
    [
      `--host=tcp://127.0.0.1:${enginePort}`,
      "--tlsverify",
      `--tlscacert=${join(dir, "ca.pem")}`,
      `--tlscert=${join(dir, "server-cert.pem")}`,
      `--tlskey=${join(dir, "server-key.pem")}`,
      `--data-root=${join(dir, "data")}`,
      `--exec-root=${join(dir, "exec")}`,
      `--pidfile=${join(dir, "dockerd.pid")}`,
      `--bridge=${bridge}`,
      "--iptables=false",
      "--ip-masq=false",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  engine.stderr?.resume();
  const deadline = Date.now() + 30_000;
  while ((await sh("docker version --format '{{.Server.Version}}'", tlsEnv()).catch(() => "")) === "") {
    if (Date.now() > deadline) throw new Error("the second engine did not answer over TLS within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  // The core image, copied over: the second engine has no registry either.
  await sh(
    `docker save aurea-sandbox:latest | DOCKER_HOST=${tlsEnv().DOCKER_HOST} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${dir} docker load -q`,
    {
      DOCKER_HOST: "",
    },
  );
}, 300_000);

afterAll(async () => {
  if (aurea) await aurea.stop();
  engine?.kill("SIGTERM");
  await new Promise((resolve) => engine?.once("exit", resolve));
  await sh(`ip link delete ${bridge}`).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a remote engine over TCP with TLS", () => {
  it("refuses a client without a certificate, and serves Aurea configured with DOCKER_HOST and the certificates", async () => {
    await expect(
      sh("docker version --format '{{.Server.Version}}'", { DOCKER_HOST: `tcp://127.0.0.1:${enginePort}` }),
    ).rejects.toThrow();
    aurea = await spawnServer({ ...tlsEnv(), INSTANCE_NAME: "tls-test" });
    const client = createGrpcSandboxClient(aurea.port);
    try {
      expect(await client.health()).toMatchObject({ serving: true, docker_reachable: true });
      expect(await client.run({ language: "python", code: "print('over tls')" })).toMatchObject({
        status: "RUN_STATUS_OK",
        stdout: "over tls\n",
      });
      expect(await client.run({ language: "bash", code: "echo $((6 * 7))", runtime: "runc" })).toMatchObject({ stdout: "42\n" });
    } finally {
      client.close();
    }
    expect(await aurea.stop()).toBe(0);
    aurea = undefined;
    // Its containers were on the remote engine, and are gone from it.
    const remote = new Docker({
      host: "127.0.0.1",
      port: enginePort,
      protocol: "https",
      ca: readFileSync(join(dir, "ca.pem")),
      cert: readFileSync(join(dir, "cert.pem")),
      key: readFileSync(join(dir, "key.pem")),
    });
    expect(await remote.listContainers({ all: true, filters: { label: ["dev.aurea.managed=true"] } })).toEqual([]);
  }, 120_000);
});

describe("replicas on two engines", () => {
  it("forward a session call to its owner on the other engine, and say NOT_FOUND naming the owner once it is gone", async () => {
    const secret = "two-engines-secret-0123456789";
    const [ownerPort, remotePort] = (await freeLoopbackPorts(2)) as [number, number];
    const peerEnv = (port: number, peer: number) => ({
      ADVERTISE_ADDRESS: `127.0.0.1:${port}`,
      PEER_SECRET: secret,
      PEERS: `127.0.0.1:${peer}`,
      INSTANCE_LEASE_INTERVAL: "1",
    });
    // The owner on this machine's engine; the other replica on the TLS engine.
    const owner = await spawnServer({ INSTANCE_NAME: "two-engines-owner", ...peerEnv(ownerPort, remotePort) }, ownerPort);
    let atOwner: GrpcSandboxClient | undefined;
    let elsewhere: GrpcSandboxClient | undefined;
    // Everything after the owner's start is inside the try: an owner left running (its session's
    // container on this machine's engine with it) would fail every later file's leftover check.
    try {
      aurea = await spawnServer(
        { ...tlsEnv(), INSTANCE_NAME: "two-engines-remote", ...peerEnv(remotePort, ownerPort) },
        remotePort,
      );
      atOwner = createGrpcSandboxClient(owner.port);
      elsewhere = createGrpcSandboxClient(aurea.port);
      const created = await atOwner.call("CreateSession", { language: "bash" });
      const sessionId = created.session_id as string;
      expect(await elsewhere.call("Exec", { session_id: sessionId, code: "echo forwarded" })).toMatchObject({
        stdout: "forwarded\n",
      });
      await elsewhere.call("WriteFiles", { session_id: sessionId, files: { "a.txt": "across engines" } });
      expect((await atOwner.call("ReadFiles", { session_id: sessionId, paths: ["a.txt"] })).files).toEqual({
        "a.txt": "across engines",
      });
      // Its only peer is on another engine: stopping, the owner closes its sessions.
      expect(await owner.stop()).toBe(0);
      const gone = await elsewhere
        .call("Exec", { session_id: sessionId, code: "echo x" })
        .catch((error: { code: number; details: string }) => error);
      expect(gone).toMatchObject({ code: 5 });
      expect((gone as { details: string }).details).toContain(`the replica that held it (127.0.0.1:${ownerPort}) is gone`);
    } finally {
      atOwner?.close();
      elsewhere?.close();
      // Stopped (it closes its session), or killed if it will not stop.
      const stopped = await Promise.race([owner.stop(), new Promise((resolve) => setTimeout(resolve, 30_000, "hung"))]);
      if (stopped === "hung") {
        owner.signal("SIGKILL");
        await owner.exited;
      }
    }
  }, 120_000);
});
