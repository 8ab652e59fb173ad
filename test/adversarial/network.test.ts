import dgram from "node:dgram";
import net from "node:net";
import { afterAll, beforeAll, expect } from "vitest";
import { bridgeGatewayAddress } from "../support/containers.js";
import { hostileSuite, pythonErrno, rawSocketsRefused } from "../support/hostile-suite.js";

/**
 * Listeners on this machine's engine bridge address, which a container with any network could
 * reach. Every probe below aims only at them (or at nothing): even a broken isolation sends
 * nothing off this machine.
 */
let gateway = "";
let tcpPort = 0;
let udpPort = 0;
let tcpConnections = 0;
let udpDatagrams = 0;
let tcp: net.Server;
let udp: dgram.Socket;

beforeAll(async () => {
  gateway = await bridgeGatewayAddress();
  tcp = net.createServer((socket) => {
    tcpConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => tcp.listen(0, gateway, resolve));
  tcpPort = (tcp.address() as net.AddressInfo).port;
  udp = dgram.createSocket("udp4");
  udp.on("message", () => udpDatagrams++);
  await new Promise<void>((resolve) => udp.bind(0, gateway, resolve));
  udpPort = udp.address().port;
});

afterAll(() => {
  tcp?.close();
  udp?.close();
  expect(tcpConnections).toBe(0);
  expect(udpDatagrams).toBe(0);
});

// Programs that aim at the listeners are built with getters, when each case runs: after the
// listeners above exist.
hostileSuite("network", [
  {
    name: "sees only the loopback interface and no routes",
    request: {
      language: "python",
      code: [
        // The kernel's own list (gVisor has no /sys/class/net).
        "import socket",
        "print(sorted(name for _, name in socket.if_nameindex()))",
        "print(len(open('/proc/net/route').read().strip().splitlines()) - 1)",
      ].join("\n"),
    },
    check(response, runtime) {
      const [interfaces, routes] = (response.stdout as string).trim().split("\n");
      expect(interfaces).toBe("['lo']");
      if (runtime === "runc") expect(routes).toBe("0");
    },
  },
  {
    name: "gets no answer from any resolver (asked only when nothing but loopback exists)",
    request: {
      language: "python",
      code: [
        "import os, socket",
        "assert sorted(name for _, name in socket.if_nameindex()) == ['lo'], 'isolation broken: not resolving'",
        "try:",
        "    socket.getaddrinfo('aurea-isolation-check.invalid', 80)",
        "    print('resolved')",
        "except socket.gaierror as e:",
        "    print('unresolved')",
      ].join("\n"),
    },
    check(response) {
      expect(response).toMatchObject({ status: "RUN_STATUS_OK", stdout: "unresolved\n" });
    },
  },
  rawSocketsRefused,
  {
    name: "cannot connect over TCP to a listener on the bridge address",
    request: {
      language: "python",
      get code() {
        return pythonErrno(`s = socket.create_connection((${JSON.stringify(gateway)}, ${tcpPort}), timeout=3)`);
      },
    },
    check(response) {
      expect(["ENETUNREACH", "EHOSTUNREACH", "ECONNREFUSED"]).toContain((response.stdout as string).trim());
    },
  },
  {
    name: "cannot send UDP to a listener on the bridge address",
    request: {
      language: "python",
      get code() {
        return pythonErrno(
          `socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x' * 64, (${JSON.stringify(gateway)}, ${udpPort}))`,
        );
      },
    },
    check(response) {
      expect(["ENETUNREACH", "EHOSTUNREACH"]).toContain((response.stdout as string).trim());
    },
  },
  {
    name: "cannot connect over IPv6 to the bridge address",
    request: {
      language: "python",
      get code() {
        return pythonErrno(
          `s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(3); s.connect(('::ffff:${gateway}', ${tcpPort}))`,
        );
      },
    },
    check(response) {
      expect(["ENETUNREACH", "EHOSTUNREACH", "EADDRNOTAVAIL", "EAFNOSUPPORT"]).toContain((response.stdout as string).trim());
    },
  },
]);
