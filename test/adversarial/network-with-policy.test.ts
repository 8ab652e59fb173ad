import dgram from "node:dgram";
import net from "node:net";
import { afterAll, beforeAll, expect } from "vitest";
import { freeSubnet, publicLookingSubnets } from "../../bench/support/free-subnet.js";
import { bridgeGatewayAddress } from "../support/containers.js";
import { createTestNetwork, removeLeftovers, type TestNetwork } from "../support/egress-network.js";
import { hostileSuite, pythonErrno, rawSocketsRefused } from "../support/hostile-suite.js";

/**
 * The network probes again, with a network policy set on every run and session: the sandbox now
 * has an interface, a route and a proxy, and still reaches nothing but the gateway's proxy and DNS
 * for the one name it allows. The targets are listeners this test opens on the engine bridge
 * address, and the test's own listener on a network it creates as internal (the gateway's
 * upstream here); even a broken isolation sends nothing off this machine.
 */
const upstreamName = "aurea-test-egress-adversarial";
const upstreamSubnet = freeSubnet(publicLookingSubnets);
let upstream: TestNetwork;
let bridge = "";
let tcpPort = 0;
let udpPort = 0;
let tcpConnections = 0;
let udpDatagrams = 0;
let udp6Port = 0;
let udp6Datagrams = 0;
let tcp: net.Server;
let udp: dgram.Socket;
let udp6: dgram.Socket;

beforeAll(async () => {
  await removeLeftovers([upstreamName]);
  upstream = await createTestNetwork({ name: upstreamName, subnet: upstreamSubnet, aliases: ["pkgs.test", "other.test"] });
  bridge = await bridgeGatewayAddress();
  tcp = net.createServer((socket) => {
    tcpConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => tcp.listen(0, bridge, resolve));
  tcpPort = (tcp.address() as net.AddressInfo).port;
  udp = dgram.createSocket("udp4");
  udp.on("message", () => udpDatagrams++);
  await new Promise<void>((resolve) => udp.bind(0, bridge, resolve));
  udpPort = udp.address().port;
  // Every IPv6 address of this machine, the bridges' link-local ones included.
  udp6 = dgram.createSocket({ type: "udp6", ipv6Only: true });
  udp6.on("message", () => udp6Datagrams++);
  await new Promise<void>((resolve) => udp6.bind(0, "::", resolve));
  udp6Port = udp6.address().port;
}, 60_000);

afterAll(async () => {
  tcp?.close();
  udp?.close();
  udp6?.close();
  const log = await upstream.log();
  await upstream.remove();
  expect(tcpConnections).toBe(0);
  expect(udpDatagrams).toBe(0);
  expect(udp6Datagrams).toBe(0);
  // Only pkgs.test was ever asked for by name; nothing else reached the listener.
  expect(log.hosts.filter((host) => host !== "pkgs.test")).toEqual([]);
  expect(log.udp).toBe(0);
  expect(log.tcp_connections).toBe(0);
});

/** Fetches `url` through the proxy the environment names; prints the body or how it was refused. */
function fetchThroughProxy(url: string): string {
  return [
    "import urllib.request, urllib.error",
    "try:",
    `    print(urllib.request.urlopen(${JSON.stringify(url)}, timeout=5).read().decode()[:40])`,
    "except urllib.error.HTTPError as e:",
    "    print('refused', e.code, e.headers.get('X-Aurea-Denied'))",
    "except Exception as e:",
    "    print('failed', type(e).__name__)",
  ].join("\n");
}

hostileSuite(
  "network with a policy",
  [
    {
      name: "reaches the allowed name through the proxy (the policy works at all)",
      request: { language: "python", code: fetchThroughProxy("http://pkgs.test/") },
      check(response) {
        expect(response.stdout).toBe("hello from pkgs.test\n");
      },
    },
    {
      name: "has one interface besides loopback, and no resolver but the gateway",
      request: {
        language: "python",
        code: [
          "import socket",
          "print(sorted(name for _, name in socket.if_nameindex()))",
          "print([l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')])",
        ].join("\n"),
      },
      check(response) {
        const [interfaces, resolvers] = (response.stdout as string).trim().split("\n");
        expect(interfaces).toBe("['eth0', 'lo']");
        expect(JSON.parse((resolvers ?? "").replaceAll("'", '"'))).toHaveLength(1);
      },
    },
    {
      name: "cannot connect over TCP to a listener on the bridge address, directly or through the proxy",
      request: {
        language: "python",
        get code() {
          return [
            pythonErrno(`s = socket.create_connection((${JSON.stringify(bridge)}, ${tcpPort}), timeout=3)`),
            fetchThroughProxy(`http://${bridge}:${tcpPort}/`),
          ].join("\n");
        },
      },
      check(response) {
        const [direct, proxied] = (response.stdout as string).trim().split("\n");
        // Refused, unreachable or timed out (errno None): anything but connected; the listener counts nothing.
        expect(direct).not.toBe("ok");
        expect(proxied).toBe("refused 403 ip_literal");
      },
    },
    {
      name: "cannot send UDP to a listener on the bridge address, nor to the test's listener",
      request: {
        language: "python",
        get code() {
          return [
            "import socket",
            "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
            `for target in [(${JSON.stringify(bridge)}, ${udpPort}), (${JSON.stringify(upstream.listenerAddress)}, 5353)]:`,
            "    try:",
            "        u.sendto(b'x' * 64, target)",
            "    except OSError:",
            "        pass",
            "print('sent')",
          ].join("\n");
        },
      },
      check(response) {
        expect(response.stdout).toBe("sent\n");
      },
    },
    {
      name: "cannot reach the metadata address or the host through the proxy, by literal or by name",
      request: {
        language: "python",
        code: [
          fetchThroughProxy("http://169.254.169.254/latest/meta-data/"),
          fetchThroughProxy("http://127.0.0.1:2375/version"),
          fetchThroughProxy("http://localhost/"),
          fetchThroughProxy("http://other.test/"),
        ].join("\n"),
      },
      check(response) {
        expect((response.stdout as string).trim().split("\n")).toEqual([
          "refused 403 ip_literal",
          "refused 403 ip_literal",
          "refused 403 not_allowed",
          "refused 403 not_allowed",
        ]);
      },
    },
    {
      name: "has no IPv6 on its network: nothing on the link hears it, the host's bridge included",
      request: {
        language: "python",
        get code() {
          return [
            "import socket",
            "u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)",
            "try:",
            `    u.sendto(b'x' * 64, ('ff02::1%eth0', ${udp6Port})); print('sent')`,
            "except OSError as e:",
            "    print('refused', e.errno)",
          ].join("\n");
        },
      },
      check(response) {
        // Whether the send is refused or goes nowhere, the host's listener counts nothing (afterAll).
        expect(response.stdout).toMatch(/^(sent|refused \d+)\n$/);
      },
    },
    rawSocketsRefused,
    {
      name: "cannot connect to the test's listener directly, bypassing the proxy",
      request: {
        language: "python",
        get code() {
          return pythonErrno(`s = socket.create_connection((${JSON.stringify(upstream.listenerAddress)}, 8443), timeout=3)`);
        },
      },
      check(response) {
        expect((response.stdout as string).trim()).not.toBe("ok");
      },
    },
  ],
  {
    EGRESS_ALLOWED: `*.test,${upstreamSubnet}`,
    EGRESS_UPSTREAM_NETWORK: upstreamName,
  },
  { allow: ["pkgs.test"] },
);
