import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeSubnet, privateSubnets, publicLookingSubnets } from "../../bench/support/free-subnet.js";
import { spawnServer } from "../../bench/support/spawn-server.js";
import { useAurea } from "../support/aurea-server.js";
import {
  connect,
  createTestNetwork,
  egressNetworks,
  gatewayContainer,
  removeExitedGateways,
  removeLeftovers,
  type TestNetwork,
} from "../support/egress-network.js";
import { grpcErrorDetails } from "../support/error-details.js";
import { createGrpcSandboxClient, type GrpcSandboxClient } from "../support/grpc-js-client.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Network on request (egress allow-lists), against a real engine under runc and runsc. Every
 * target is the test's own listener on engine networks the test creates as internal (no route
 * out), reached by the names the test gives it: `pkgs.test` and `other.test` on a network whose
 * addresses are not private (a documentation or benchmark range), `internal.test` on one whose
 * addresses are (10.x), each a subnet this machine does not use (bench/support/free-subnet.ts). No
 * test resolves or contacts any real host name or address.
 */

const upstreamName = "aurea-test-egress-upstream";
const publicSubnet = freeSubnet(publicLookingSubnets);
const privateSubnet = freeSubnet(privateSubnets);
const privateName = "aurea-test-egress-private";
let upstream: TestNetwork;
let privateNetwork: TestNetwork;

beforeAll(async () => {
  await removeLeftovers([upstreamName, privateName]);
  upstream = await createTestNetwork({
    name: upstreamName,
    subnet: publicSubnet,
    aliases: ["pkgs.test", "other.test", "pypi.test"],
  });
  privateNetwork = await createTestNetwork({ name: privateName, subnet: privateSubnet, aliases: ["internal.test"] });
}, 60_000);
afterAll(async () => {
  await upstream?.remove();
  await privateNetwork?.remove();
  // Each server's gateway went with it.
  expect(await gatewayContainer()).toBeUndefined();
});

/** A Python program that fetches `url` through the proxy the environment names, and prints the answer or the error. */
function fetchProgram(url: string): string {
  return [
    "import urllib.request, urllib.error",
    "try:",
    `    print(urllib.request.urlopen(${JSON.stringify(url)}, timeout=10).read().decode())`,
    "except urllib.error.HTTPError as e:",
    "    print('refused', e.code, e.headers.get('X-Aurea-Denied'))",
    "except Exception as e:",
    "    print('failed', type(e).__name__, e)",
  ].join("\n");
}

/** Connects to host:port directly, bypassing the proxy: prints what happened. */

/** Opens a CONNECT tunnel to target and sends `payload` (hex), printing the proxy's status line and what came back. */
function tunnelProgram(target: string, payloadHex: string): string {
  return [
    "import os, socket",
    "proxy = os.environ['HTTPS_PROXY'].split('//')[1].split(':')",
    "s = socket.create_connection((proxy[0], int(proxy[1])), timeout=10)",
    `s.sendall(b'CONNECT ${target} HTTP/1.1\\r\\nHost: ${target}\\r\\n\\r\\n')`,
    "status = s.recv(4096).split(b'\\r\\n')[0].decode()",
    "print(status)",
    `s.sendall(bytes.fromhex('${payloadHex}'))`,
    "try:",
    "    print('echo', len(s.recv(65536)))",
    "except Exception as e:",
    "    print('closed', type(e).__name__)",
  ].join("\n");
}

/**
 * Waits until no egress network is left on the engine; on timeout names the networks left and
 * what the server logged about removals it could not make.
 */
async function expectEgressNetworksGone(what: string, logs: () => Record<string, unknown>[]): Promise<void> {
  try {
    await waitFor(async () => (await egressNetworks()).length === 0, 20_000, what);
  } catch (error) {
    const left = await egressNetworks();
    const said = logs().filter((line) => /not removed/.test(String(line.msg)));
    throw new Error(`${(error as Error).message}; left: ${left.join(", ")}; the server said: ${JSON.stringify(said)}`);
  }
}

/** A TLS ClientHello naming `serverName`, as Python's ssl makes it (hex). */
function clientHelloProgramFor(serverName: string): string {
  return [
    "import ssl",
    "context = ssl.create_default_context()",
    "incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()",
    `tls = context.wrap_bio(incoming, outgoing, server_hostname=${JSON.stringify(serverName)})`,
    "try:",
    "    tls.do_handshake()",
    "except ssl.SSLWantReadError:",
    "    pass",
    "hello = outgoing.read()",
  ].join("\n");
}

function sniTunnelProgram(target: string, serverName: string): string {
  return [clientHelloProgramFor(serverName), tunnelProgram(target, "00").replace("bytes.fromhex('00')", "hello")].join("\n");
}

describe.each(["runc", "runsc"])("egress under %s", (runtime) => {
  const server = useAurea({
    EGRESS_ALLOWED: `pkgs.test,other.test,*.test,${publicSubnet},${privateSubnet},pkgs.test:8443,other.test:8443`,
    EGRESS_UPSTREAM_NETWORK: upstreamName,
    EGRESS_MAX_BYTES: "1m",
    EGRESS_MAX_CONNECTIONS: "20",
  });
  const client = (): GrpcSandboxClient => server.client;
  const run = (code: string, allow: string[] | undefined, extra: Record<string, unknown> = {}) =>
    client().call(
      "Run",
      { language: "python", code, runtime, timeout: 30, ...(allow ? { network: { allow } } : {}), ...extra },
      90_000,
    );

  it("answers an allowed name through the proxy, refuses the other name on the same listener, and counts the bytes", async () => {
    const allowed = await run(fetchProgram("http://pkgs.test/"), ["pkgs.test"]);
    expect(allowed.stdout).toBe("hello from pkgs.test\n");
    expect(allowed.status).toBe("RUN_STATUS_OK");
    expect(Number((allowed.usage as Record<string, string>).network_bytes_received)).toBeGreaterThan(100);
    expect(Number((allowed.usage as Record<string, string>).network_bytes_sent)).toBeGreaterThan(20);
    const other = await run(fetchProgram("http://other.test/"), ["pkgs.test"]);
    expect(other.stdout).toBe("refused 403 not_allowed\n");
    // Nothing of the refused request reached the listener.
    expect((await upstream.log()).hosts).not.toContain("other.test");
    // The audit line names the host and its bytes; the metrics count both answers by reason.
    const audit = server.current
      .logs()
      .find((line) => line.msg === "run finished" && line.run_id === allowed.run_id && line.network_hosts !== undefined);
    expect(audit?.network_hosts).toMatchObject({ "pkgs.test": { connections: 1, received: expect.any(Number) } });
    const metrics = await (await fetch(`${server.current.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/aurea_egress_connections_total\{result="allowed",reason=""\} [1-9]/);
    expect(metrics).toMatch(/aurea_egress_connections_total\{result="denied",reason="not_allowed"\} [1-9]/);
  });

  it("sets the proxy for the program, and resolves only allowed names", async () => {
    const result = await run(
      [
        "import os, socket",
        "print(os.environ['HTTP_PROXY'].startswith('http://'), os.environ['HTTPS_PROXY'] == os.environ['HTTP_PROXY'])",
        "for name in ['pkgs.test', 'other.test', 'example.com']:",
        "    try:",
        "        print(name, socket.gethostbyname(name))",
        "    except socket.gaierror as e:",
        "        print(name, 'unresolved')",
      ].join("\n"),
      ["pkgs.test"],
    );
    expect(result.stdout).toBe(
      `True True\npkgs.test ${upstream.listenerAddress}\nother.test unresolved\nexample.com unresolved\n`,
    );
  });

  it("refuses an IP literal unless a CIDR entry allows it", async () => {
    const url = `http://${upstream.listenerAddress}/`;
    const byName = await run(fetchProgram(url), ["pkgs.test"]);
    expect(byName.stdout).toBe("refused 403 ip_literal\n");
    const byCidr = await run(fetchProgram(url), [`${publicSubnet}:80`]);
    expect(byCidr.stdout).toBe(`hello from ${upstream.listenerAddress}\n`);
  });

  it("refuses a name that resolves to a private address unless a CIDR entry allows that address", async () => {
    const gateway = await gatewayContainer();
    expect(gateway).toBeDefined();
    // The gateway can reach the test's private network too: only the policy stands in the way.
    if (!Object.keys(gateway?.NetworkSettings.Networks ?? {}).includes(privateName)) await connect(privateName, gateway!.Id);
    const refused = await run(fetchProgram("http://internal.test/"), ["internal.test"]);
    expect(refused.stdout).toBe("refused 403 private_address\n");
    const allowed = await run(fetchProgram("http://internal.test/"), ["internal.test", `${privateSubnet}:80`]);
    expect(allowed.stdout).toBe("hello from internal.test\n");
  });

  it("gets nothing by a direct connect, UDP or ICMP, to the listener or the gateway", async () => {
    const gatewayHost = "os.environ['HTTP_PROXY'].split('//')[1].split(':')[0]";
    const result = await run(
      [
        "import os, socket, subprocess",
        `gateway = ${gatewayHost}`,
        "def tcp(host, port):",
        "    s = socket.socket(); s.settimeout(3)",
        "    try:",
        "        s.connect((host, port)); return 'connected'",
        "    except Exception as e:",
        "        return type(e).__name__",
        `print('listener', tcp(${JSON.stringify(upstream.listenerAddress)}, 80))`,
        "print('gateway-ssh', tcp(gateway, 22))",
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
        `u.sendto(b'x', (${JSON.stringify(upstream.listenerAddress)}, 5353))`,
        "u.sendto(b'x', (gateway, 5353))",
        "try:",
        "    icmp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)",
        "    icmp.settimeout(2)",
        "    icmp.sendto(b'\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00', (gateway, 0))",
        "    print('icmp', icmp.recv(64) and 'answered')",
        "except Exception as e:",
        "    print('icmp', type(e).__name__)",
      ].join("\n"),
      ["pkgs.test"],
    );
    const lines = (result.stdout as string).split("\n");
    expect(lines[0]).not.toBe("listener connected");
    expect(lines[1]).not.toBe("gateway-ssh connected");
    expect(lines[2]).not.toBe("icmp answered");
    expect((await upstream.log()).udp).toBe(0);
  });

  it("refuses a tunnel whose TLS SNI or HTTP Host names another host", async () => {
    const sni = await run(sniTunnelProgram("pkgs.test:8443", "other.test"), ["pkgs.test:8443"]);
    expect(sni.stdout).toMatch(/^HTTP\/1.1 200 .*\nclosed|^HTTP\/1.1 200 .*\necho 0/);
    const before = (await upstream.log()).tcp_bytes;
    const matching = await run(sniTunnelProgram("pkgs.test:8443", "pkgs.test"), ["pkgs.test:8443"]);
    expect(matching.stdout).toMatch(/^HTTP\/1.1 200 .*\necho \d+/);
    const after = (await upstream.log()).tcp_bytes;
    // Only the matching ClientHello reached the listener.
    expect(after).toBeGreaterThan(before);
    const hostHeader = await run(
      tunnelProgram("pkgs.test:8443", Buffer.from("GET / HTTP/1.1\r\nHost: other.test\r\n\r\n").toString("hex")),
      ["pkgs.test:8443"],
    );
    expect(hostHeader.stdout).not.toMatch(/echo [1-9]/);
    expect((await upstream.log()).tcp_bytes).toBe(after);
  });

  it("ends the run with LIMIT_NETWORK at the byte cap", async () => {
    const result = await run(
      [
        "import urllib.request",
        "for _ in range(10):",
        "    urllib.request.urlopen('http://pkgs.test/bytes/400000', timeout=10).read()",
        "print('all read')",
      ].join("\n"),
      ["pkgs.test"],
    );
    expect(result.status).toBe("RUN_STATUS_NETWORK_LIMIT");
    expect(result.limits_hit).toContain("LIMIT_NETWORK");
    expect(result.stdout).not.toContain("all read");
  });

  it("ends the run with LIMIT_NETWORK at the connection cap", async () => {
    const result = await run(
      [
        "import urllib.request",
        "for _ in range(25):",
        "    urllib.request.urlopen('http://pkgs.test/', timeout=10).read()",
        "print('all fetched')",
      ].join("\n"),
      ["pkgs.test"],
    );
    // EGRESS_MAX_CONNECTIONS is 20 here: the 21st connection is the cap.
    expect(result.status).toBe("RUN_STATUS_NETWORK_LIMIT");
    expect(result.limits_hit).toContain("LIMIT_NETWORK");
    expect(result.stdout).not.toContain("all fetched");
  });

  it("runs without a policy exactly as before: no network at all", async () => {
    const result = await run(
      ["import socket", "print(sorted(socket.if_nameindex()))", "print(open('/etc/resolv.conf').read().strip() or 'empty')"].join(
        "\n",
      ),
      undefined,
    );
    expect(result.stdout).toMatch(/^\[\(1, 'lo'\)\]\n/);
    expect(Number((result.usage as Record<string, string>).network_bytes_sent)).toBe(0);
  });

  it("fails the run, not open, when the gateway stops mid-run; the next run gets a new gateway", async () => {
    const fetchedBefore = (await upstream.log()).http;
    const pending = run(
      [
        "import time, urllib.request",
        "print(urllib.request.urlopen('http://pkgs.test/', timeout=5).read().decode(), flush=True)",
        "time.sleep(20)",
      ].join("\n"),
      ["pkgs.test"],
    );
    await waitFor(async () => (await upstream.log()).http > fetchedBefore, 30_000, "the run's first fetch");
    const gateway = await gatewayContainer();
    const { default: Docker } = await import("dockerode");
    await new Docker().getContainer(gateway!.Id).kill();
    const result = await pending;
    expect(result.status).toBe("RUN_STATUS_INTERNAL");
    expect(result.error).toMatch(/egress gateway stopped/);
    const next = await run(fetchProgram("http://pkgs.test/"), ["pkgs.test"]);
    expect(next.stdout).toBe("hello from pkgs.test\n");
  }, 120_000);

  it("refuses a policy outside EGRESS_ALLOWED naming the entry, and removes every run's network", async () => {
    const refused = await client()
      .call("Run", { language: "python", code: "print(1)", runtime, network: { allow: ["pkgs.test", "example.com"] } })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toMatchObject({ code: 3 });
    const details = grpcErrorDetails(refused as never);
    expect(details.violations).toEqual([{ field: "network.allow[1]", description: expect.stringContaining("EGRESS_ALLOWED") }]);
    await expectEgressNetworksGone("every run's egress network to be removed", () => server.current.logs());
  });

  it("gives a session its network back on a new gateway when the gateway is lost, with the same policy", async () => {
    const created = await client().call(
      "CreateSession",
      { language: "python", runtime, network: { allow: ["pkgs.test"] } },
      120_000,
    );
    const session_id = created.session_id as string;
    try {
      const fetch = { session_id, code: fetchProgram("http://pkgs.test/") };
      expect((await client().call("Exec", fetch)).stdout).toBe("hello from pkgs.test\n");
      const restoredBefore = server.current.logs().filter((line) => line.msg === "session network restored").length;
      const { default: Docker } = await import("dockerode");
      await new Docker().getContainer((await gatewayContainer())!.Id).kill();
      await waitFor(
        () => server.current.logs().filter((line) => line.msg === "session network restored").length > restoredBefore,
        30_000,
        "the session's network to be restored",
      );
      expect((await client().call("Exec", fetch)).stdout).toBe("hello from pkgs.test\n");
      expect((await client().call("Exec", { session_id, code: fetchProgram("http://other.test/") })).stdout).toBe(
        "refused 403 not_allowed\n",
      );
    } finally {
      await client().call("CloseSession", { session_id });
    }
  }, 120_000);

  it("pip installs the test's wheel from the test's index in a session that allows the index, and cannot without", async () => {
    const pip = [
      "python3",
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--no-cache-dir",
      "--retries",
      "0",
      "--timeout",
      "5",
      "--target",
      "/workspace/lib",
      "--index-url",
      "http://pypi.test/simple",
      "--trusted-host",
      "pypi.test",
      "aurea-demo",
    ];
    const use = "import sys; sys.path.insert(0, '/workspace/lib'); import aurea_demo; print(aurea_demo.GREETING)";
    const open = async (network: Record<string, unknown>) =>
      (await client().call("CreateSession", { language: "python-data", runtime, ...network }, 120_000)).session_id as string;
    const allowed = await open({ network: { allow: ["pypi.test:80"] } });
    try {
      const installed = await client().call("Exec", { session_id: allowed, command: pip, timeout: 90 }, 120_000);
      expect(installed, String(installed.stderr)).toMatchObject({ status: "RUN_STATUS_OK" });
      // The wheel and the index pages came through the gateway during this exec.
      expect(Number((installed.usage as Record<string, string>).network_bytes_received)).toBeGreaterThan(500);
      const used = await client().call("Exec", { session_id: allowed, code: use });
      expect(used.stdout).toBe("hello from the test index\n");
    } finally {
      await client().call("CloseSession", { session_id: allowed });
    }
    const without = await open({});
    try {
      const refused = await client().call("Exec", { session_id: without, command: pip, timeout: 90 }, 120_000);
      expect(refused.status).toBe("RUN_STATUS_RUNTIME_ERROR");
      const used = await client().call("Exec", { session_id: without, code: use });
      expect(used.stderr).toMatch(/ModuleNotFoundError/);
    } finally {
      await client().call("CloseSession", { session_id: without });
    }
    await expectEgressNetworksGone("the session's egress network to be removed", () => server.current.logs());
  }, 240_000);
});

describe("a session's network across a restart", () => {
  it("is restored for the successor that adopts the session (same INSTANCE_NAME), with its policy", async () => {
    const env = {
      INSTANCE_NAME: `egress-adopt-${process.pid}`,
      EGRESS_ALLOWED: "*.test",
      EGRESS_UPSTREAM_NETWORK: upstreamName,
      SHUTDOWN_GRACE: "1",
    };
    const first = await spawnServer(env);
    let client = createGrpcSandboxClient(first.port);
    let second: Awaited<ReturnType<typeof spawnServer>> | undefined;
    try {
      const created = await client.call("CreateSession", { language: "python", network: { allow: ["pkgs.test"] } }, 120_000);
      const session_id = created.session_id as string;
      const fetch = { session_id, code: fetchProgram("http://pkgs.test/") };
      const refused = { session_id, code: fetchProgram("http://other.test/") };
      expect((await client.call("Exec", fetch)).stdout).toBe("hello from pkgs.test\n");
      first.signal("SIGKILL");
      await first.exited;
      client.close();
      second = await spawnServer(env);
      client = createGrpcSandboxClient(second.port);
      expect(await client.health()).toMatchObject({ sessions_adopted: 1 });
      // The same proxy address, now served by the successor's gateway, with the same policy.
      expect((await client.call("Exec", fetch)).stdout).toBe("hello from pkgs.test\n");
      expect((await client.call("Exec", refused)).stdout).toBe("refused 403 not_allowed\n");
      expect(second.logs().some((line) => line.msg === "session network restored")).toBe(true);
      await client.call("CloseSession", { session_id });
      await expectEgressNetworksGone("the session's network to be removed", () => second?.logs() ?? []);
    } finally {
      client.close();
      second?.signal("SIGTERM");
      await second?.exited;
      first.signal("SIGKILL");
      // The killed server's gateway exited with it; its reaper would have removed it later.
      await removeExitedGateways();
    }
  }, 180_000);
});
