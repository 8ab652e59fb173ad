import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { requireTool } from "../support/required-tools.js";

/**
 * The gateway's pure parts (sandbox/programs/egress-gateway/), run by the host's python3 outside
 * any container: the rules, the address check, the SNI and Host readers, and DNS encoding.
 */
const gatewayDir = fileURLToPath(new URL("../../src/sandbox/programs/egress-gateway/", import.meta.url));

function python(body: string): unknown {
  requireTool("python3");
  const program = [
    "import importlib.util, ipaddress, json, ssl, struct, sys",
    `sys.path.insert(0, ${JSON.stringify(gatewayDir)})`,
    "import types, gateway_policy, gateway_wire",
    "gw = types.SimpleNamespace(**vars(gateway_policy), **{k: v for k, v in vars(gateway_wire).items() if not k.startswith('__')})",
    "def hello(name):",
    "    context = ssl.create_default_context()",
    "    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()",
    "    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)",
    "    try:",
    "        tls.do_handshake()",
    "    except ssl.SSLWantReadError:",
    "        pass",
    "    return outgoing.read()",
    body,
  ].join("\n");
  return JSON.parse(execFileSync("python3", ["-c", program], { encoding: "utf8" }));
}

describe("the egress gateway program", () => {
  it("matches names by host and wildcard entries, on their ports only, and addresses by CIDR", () => {
    const result = python(`
policy = gw.Policy({"id": "r", "listen": "127.0.0.1", "max_bytes": 1, "max_connections": 1, "rules": [
  {"kind": "host", "name": "pypi.org", "ports": [443, 80]},
  {"kind": "suffix", "suffix": ".example.com", "ports": [8443]},
  {"kind": "cidr", "cidr": "203.0.113.0/24", "ports": [80]}]})
print(json.dumps([
  policy.name_allowed("pypi.org", 443), policy.name_allowed("pypi.org", 22), policy.name_allowed("evil.org", 443),
  policy.name_allowed("a.example.com", 8443), policy.name_allowed("example.com", 8443), policy.name_allowed("a.example.com"),
  policy.address_allowed(ipaddress.ip_address("203.0.113.9"), 80), policy.address_allowed(ipaddress.ip_address("203.0.113.9"), 443),
  policy.address_allowed(ipaddress.ip_address("198.51.100.1"), 80)]))`);
    expect(result).toEqual([true, false, false, true, false, true, true, false, false]);
  });

  it("counts private, loopback, link-local and mapped addresses as internal, documentation ranges not", () => {
    const result = python(`
print(json.dumps([gw.is_internal(ipaddress.ip_address(a)) for a in
  ["10.1.2.3", "172.17.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
   "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "198.51.100.7", "203.0.113.7", "8.8.8.8"]]))`);
    expect(result).toEqual([true, true, true, true, true, true, true, true, true, true, true, false, false, false]);
  });

  it("reads the SNI of a real ClientHello, and knows a partial one from one without a name", () => {
    const result = python(`
whole = hello("pkgs.test")
print(json.dumps([gw.tls_server_name(whole), gw.tls_server_name(whole[:100]), gw.tls_server_name(b"GET / HTTP/1.1\\r\\n")]))`);
    expect(result).toEqual(["pkgs.test", null, null]);
  });

  it("reads the Host header of a request head, with or without a port", () => {
    const result = python(`
print(json.dumps([gw.http_host(b"GET / HTTP/1.1\\r\\nHost: Pkgs.Test:8080"), gw.http_host(b"GET / HTTP/1.1\\r\\nAccept: */*"),
  gw.http_host(b"\\x16\\x03\\x01 junk")]))`);
    expect(result).toEqual(["pkgs.test", "", null]);
  });

  it("splits host and port the way CONNECT and URLs write them, and refuses bad ones", () => {
    const result = python(`
out = [gw.split_host_port("pkgs.test:8443", 443), gw.split_host_port("[2001:db8::1]:443", 80), gw.split_host_port("pkgs.test.", 80)]
for bad in ["pkgs.test:0", "pkgs.test:99999", ":80", "a:b"]:
    try:
        gw.split_host_port(bad, 80); out.append("accepted " + bad)
    except ValueError:
        out.append("refused")
print(json.dumps(out))`);
    expect(result).toEqual([
      ["pkgs.test", 8443],
      ["2001:db8::1", 443],
      ["pkgs.test", 80],
      "refused",
      "refused",
      "refused",
      "refused",
    ]);
  });

  it("answers a DNS question with the records given, echoing the question, or NXDOMAIN", () => {
    const result = python(`
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\\x04pkgs\\x04test\\x00" + struct.pack(">HH", 1, 1)
query_id, flags, name, qtype, end = gw.dns_question(query)
answer = gw.dns_answer(query, query_id, flags, end, 0, [(1, ipaddress.ip_address("203.0.113.7").packed)])
denied = gw.dns_answer(query, query_id, flags, end, 3, [])
bad = []
for packet in [query[:5], struct.pack(">HHHHHH", 1, 0x8100, 1, 0, 0, 0) + query[12:], struct.pack(">HHHHHH", 1, 0x0100, 2, 0, 0, 0) + query[12:]]:
    try:
        gw.dns_question(packet); bad.append("accepted")
    except (ValueError, IndexError, struct.error):
        bad.append("refused")
print(json.dumps([query_id, name, qtype, struct.unpack(">HHHH", answer[:8]), answer[-4:].hex(), struct.unpack(">HH", denied[2:6]), bad]))`);
    expect(result).toEqual([
      0x1234,
      "pkgs.test",
      1,
      [0x1234, 0x8180, 1, 1],
      "cb007107",
      [0x8183, 1],
      ["refused", "refused", "refused"],
    ]);
  });
});
