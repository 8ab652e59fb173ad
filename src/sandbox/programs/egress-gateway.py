"""Aurea's egress gateway: the only peer a sandbox with a network policy can reach.

One gateway container per server (src/egress/egress-gateway.ts starts it). For every run or
session with a policy, the server gives it a network of its own (internal, no route anywhere) and
connects this container to it; the gateway then listens on its address there, so the address a
connection arrives on names the policy. On that address:

  port 3128  HTTP proxy: CONNECT host:port (tunnels, TLS or not) and absolute-form plain HTTP
             (GET http://host/...), each checked against the policy: the name by host and
             wildcard entries, IP literals only by CIDR entries; the TLS SNI or the HTTP Host
             header must name the same host; every address the name resolves to is checked
             again, so a name cannot rebind to private, loopback or link-local addresses
             unless a CIDR entry allows them.
  port 53    DNS over UDP: allowed names resolve (A and AAAA, the same address check),
             everything else is NXDOMAIN.

Control, on stdin and stdout, one JSON object per line (the server's side is egress-gateway.ts):
  -> {"op": "open", "id", "listen", "rules", "max_bytes", "max_connections"}
  <- {"op": "opened", "id"}, with "error" when it cannot listen
  -> {"op": "usage", "id"}   <- {"op": "usage", "id", "sent", "received"}
  -> {"op": "close", "id"}   <- {"op": "closed", "id", "sent", "received", "hosts", "denied"}
  <- {"op": "ready"} once, {"op": "limit", "id", "limit": "bytes" | "connections"},
     {"op": "connection", "id", "host", "port", "allowed", "reason"} for every attempt.
The gateway exits when stdin closes: the server is gone, and with it every policy.
"""

import asyncio
import ipaddress
import json
import socket
import struct
import sys

PROXY_PORT = 3128
DNS_PORT = 53
HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT = 30
CONNECT_TIMEOUT = 10
DNS_TTL = 30
CHUNK = 64 * 1024

# Addresses a name may not resolve to unless a CIDR entry allows them: the host's own, the local
# network's, link-local (cloud metadata) and the like.
INTERNAL_NETWORKS = [
    ipaddress.ip_network(text)
    for text in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
]


def is_internal(address):
    return any(address in network for network in INTERNAL_NETWORKS if network.version == address.version)


def emit(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Denied(Exception):
    """A connection the policy does not allow; the reason is counted and reported."""


class TunnelDenied(Denied):
    """Denied after the tunnel was set up (by its SNI or Host): the connection is only closed."""


class Policy:
    """One run's or session's allow-list, caps, counters and listeners."""

    def __init__(self, request):
        self.id = request["id"]
        self.listen = request["listen"]
        self.rules = request["rules"]
        for rule in self.rules:
            if rule["kind"] == "cidr":
                rule["network"] = ipaddress.ip_network(rule["cidr"], strict=False)
        self.max_bytes = int(request["max_bytes"])
        self.max_connections = int(request["max_connections"])
        self.sent = 0
        self.received = 0
        self.connections = 0
        self.hosts = {}
        self.denied = {}
        self.limited = None
        self.writers = set()
        self.servers = []

    def name_allowed(self, name, port=None):
        for rule in self.rules:
            if port is not None and port not in rule["ports"]:
                continue
            if rule["kind"] == "host" and rule["name"] == name:
                return True
            if rule["kind"] == "suffix":
                suffix = rule["suffix"]
                if suffix == "" or (name.endswith(suffix) and len(name) > len(suffix)):
                    return True
        return False

    def address_allowed(self, address, port=None):
        for rule in self.rules:
            if rule["kind"] != "cidr" or (port is not None and port not in rule["ports"]):
                continue
            if address.version == rule["network"].version and address in rule["network"]:
                return True
        return False

    def deny(self, host, port, reason):
        self.denied[reason] = self.denied.get(reason, 0) + 1
        emit({"op": "connection", "id": self.id, "host": host, "port": port, "allowed": False, "reason": reason})
        raise Denied(reason)

    def count(self, direction, size, host):
        if direction == "sent":
            self.sent += size
        else:
            self.received += size
        entry = self.hosts.setdefault(host, {"sent": 0, "received": 0, "connections": 0})
        entry[direction] += size
        if self.sent + self.received > self.max_bytes:
            self.reach_limit("bytes")

    def reach_limit(self, which):
        if self.limited is None:
            self.limited = which
            emit({"op": "limit", "id": self.id, "limit": which})
        for writer in list(self.writers):
            writer.close()

    async def authorize(self, host, port):
        """The address to connect to for host:port, or Denied."""
        if self.limited is not None:
            self.deny(host, port, "cap_reached")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not self.address_allowed(literal, port):
                self.deny(host, port, "ip_literal")
            addresses = [literal]
        else:
            if not self.name_allowed(host, port):
                self.deny(host, port, "not_allowed")
            addresses = await resolve(host, socket.AF_UNSPEC)
            if not addresses:
                self.deny(host, port, "no_address")
            addresses = [a for a in addresses if not is_internal(a) or self.address_allowed(a, port)]
            if not addresses:
                self.deny(host, port, "private_address")
        if self.connections >= self.max_connections:
            self.reach_limit("connections")
            self.deny(host, port, "cap_reached")
        self.connections += 1
        self.hosts.setdefault(host, {"sent": 0, "received": 0, "connections": 0})["connections"] += 1
        emit({"op": "connection", "id": self.id, "host": host, "port": port, "allowed": True, "reason": ""})
        return addresses[0]

    def report(self):
        return {"sent": self.sent, "received": self.received, "hosts": self.hosts, "denied": self.denied}


async def resolve(name, family):
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    seen = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


def split_host_port(text, default_port):
    """host and port of `host:port`, `[v6]:port` or `host`; ValueError when malformed."""
    if text.startswith("["):
        end = text.index("]")
        host, rest = text[1:end], text[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    else:
        host, port = text, default_port
    if not host or not 0 < port < 65536:
        raise ValueError(text)
    return host.lower().rstrip("."), port


def tls_server_name(data):
    """The SNI of a TLS ClientHello; "" when it names none; None when `data` is not a whole one."""
    if len(data) < 5 or data[0] != 0x16:
        return None
    record_length = struct.unpack(">H", data[3:5])[0]
    body = data[5 : 5 + record_length]
    if len(body) < record_length or len(body) < 4 or body[0] != 0x01:
        return None
    at = 4 + 2 + 32
    try:
        at += 1 + body[at]
        at += 2 + struct.unpack(">H", body[at : at + 2])[0]
        at += 1 + body[at]
        end = at + 2 + struct.unpack(">H", body[at : at + 2])[0]
        at += 2
        while at + 4 <= end:
            kind, size = struct.unpack(">HH", body[at : at + 4])
            at += 4
            if kind == 0:
                names = body[at : at + size]
                cursor = 2
                while cursor + 3 <= len(names):
                    name_type, name_size = names[cursor], struct.unpack(">H", names[cursor + 1 : cursor + 3])[0]
                    if name_type == 0:
                        return names[cursor + 3 : cursor + 3 + name_size].decode("ascii").lower().rstrip(".")
                    cursor += 3 + name_size
            at += size
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return ""


def http_host(head):
    """The Host header's host of an HTTP request head, "" without one, None when not HTTP."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            try:
                return split_host_port(value.strip().decode("ascii"), 80)[0]
            except (ValueError, UnicodeDecodeError):
                return None
    return ""


async def pipe(policy, host, reader, writer, direction):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            policy.count(direction, len(data), host)
            if policy.limited == "bytes":
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def relay(policy, host, client, upstream, first=b""):
    client_reader, client_writer = client
    upstream_reader, upstream_writer = upstream
    policy.writers.add(upstream_writer)
    try:
        if first:
            policy.count("sent", len(first), host)
            upstream_writer.write(first)
        await asyncio.gather(
            pipe(policy, host, client_reader, upstream_writer, "sent"),
            pipe(policy, host, upstream_reader, client_writer, "received"),
        )
    finally:
        policy.writers.discard(upstream_writer)
        upstream_writer.close()


async def read_first_bytes(reader):
    """The client's first bytes in a tunnel: a whole TLS ClientHello or HTTP request head."""
    data = b""
    while len(data) < HEAD_LIMIT:
        chunk = await asyncio.wait_for(reader.read(HEAD_LIMIT - len(data)), HEAD_TIMEOUT)
        if not chunk:
            break
        data += chunk
        if data[0] == 0x16:
            if tls_server_name(data) is not None:
                break
        elif b"\r\n\r\n" in data or not data[:1].isalpha():
            break
    return data


def check_agreement(policy, host, port, first):
    """The tunnel's first bytes must name the CONNECT's host, by SNI or by Host."""
    if not first:
        return
    if first[0] == 0x16:
        name = tls_server_name(first)
        if name is None:
            policy.deny(host, port, "unreadable_client_hello")
        if name and name != host:
            policy.deny(host, port, "sni_mismatch")
        return
    name = http_host(first.split(b"\r\n\r\n")[0])
    if name and name != host:
        policy.deny(host, port, "host_mismatch")


async def open_upstream(address, port):
    return await asyncio.wait_for(asyncio.open_connection(str(address), port), CONNECT_TIMEOUT)


async def handle_connect(policy, client, target):
    reader, writer = client
    host, port = split_host_port(target, 443)
    address = await policy.authorize(host, port)
    upstream = await open_upstream(address, port)
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    first = await read_first_bytes(reader)
    try:
        check_agreement(policy, host, port, first)
    except Denied as denied:
        upstream[1].close()
        raise TunnelDenied(str(denied)) from None
    await relay(policy, host, client, upstream, first)


async def handle_plain(policy, client, method, target, version, header_lines):
    if not target.startswith("http://"):
        raise Denied("not_a_proxy_request")
    rest = target[len("http://") :]
    authority, slash, path = rest.partition("/")
    host, port = split_host_port(authority, 80)
    named = http_host(b"\r\n".join([b"GET / HTTP/1.1", *header_lines]))
    if named and named != host:
        policy.deny(host, port, "host_mismatch")
    address = await policy.authorize(host, port)
    upstream = await open_upstream(address, port)
    kept = [
        line
        for line in header_lines
        if line.split(b":")[0].strip().lower() not in (b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive")
    ]
    # One request per connection: a second one could name another host.
    head = b"\r\n".join([f"{method} {slash}{path} {version}".encode(), *kept, b"Connection: close", b"", b""])
    await relay(policy, host, client, upstream, head)


async def serve_proxy(policy, reader, writer):
    policy.writers.add(writer)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        lines = head[:-4].split(b"\r\n")
        method, target, version = lines[0].decode("latin-1").split(" ")
        if method.upper() == "CONNECT":
            await handle_connect(policy, (reader, writer), target)
        else:
            await handle_plain(policy, (reader, writer), method, target, version, lines[1:])
    except TunnelDenied:
        pass
    except Denied as denied:
        reason = str(denied)
        writer.write(f"HTTP/1.1 403 Forbidden\r\nX-Aurea-Denied: {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    except (ValueError, IndexError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except (OSError, asyncio.TimeoutError):
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    finally:
        policy.writers.discard(writer)
        try:
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()


def dns_question(packet):
    """(id, flags, name, qtype, end of question) of a query; ValueError when malformed."""
    if len(packet) < 12:
        raise ValueError("short")
    query_id, flags, questions = struct.unpack(">HHH", packet[:6])
    if questions != 1 or flags & 0x8000:
        raise ValueError("not one question")
    labels, at = [], 12
    while True:
        size = packet[at]
        if size == 0:
            at += 1
            break
        if size & 0xC0:
            raise ValueError("compressed question")
        labels.append(packet[at + 1 : at + 1 + size].decode("ascii"))
        at += 1 + size
    qtype, _ = struct.unpack(">HH", packet[at : at + 4])
    return query_id, flags, ".".join(labels).lower().rstrip("."), qtype, at + 4


def dns_answer(packet, query_id, flags, question_end, rcode, records):
    header = struct.pack(">HHHHHH", query_id, 0x8000 | (flags & 0x0100) | 0x0080 | rcode, 1, len(records), 0, 0)
    body = packet[12:question_end]
    for qtype, data in records:
        body += struct.pack(">HHHIH", 0xC00C, qtype, 1, DNS_TTL, len(data)) + data
    return header + body


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, policy):
        self.policy = policy
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.ensure_future(self.answer(data, addr))

    async def answer(self, packet, addr):
        try:
            query_id, flags, name, qtype, end = dns_question(packet)
        except (ValueError, IndexError, UnicodeDecodeError, struct.error):
            return
        policy = self.policy
        if not policy.name_allowed(name):
            policy.denied["dns"] = policy.denied.get("dns", 0) + 1
            reply = dns_answer(packet, query_id, flags, end, 3, [])
        elif qtype in (1, 28):
            family = socket.AF_INET if qtype == 1 else socket.AF_INET6
            addresses = [a for a in await resolve(name, family) if not is_internal(a) or policy.address_allowed(a)]
            reply = dns_answer(packet, query_id, flags, end, 0, [(qtype, a.packed) for a in addresses])
        else:
            reply = dns_answer(packet, query_id, flags, end, 0, [])
        if self.transport is not None:
            self.transport.sendto(reply, addr)


class Gateway:
    def __init__(self):
        self.policies = {}

    async def open(self, request):
        policy = Policy(request)
        loop = asyncio.get_running_loop()
        try:
            server = await asyncio.start_server(
                lambda r, w: serve_proxy(policy, r, w), policy.listen, PROXY_PORT, limit=HEAD_LIMIT
            )
            policy.servers.append(server)
            transport, _ = await loop.create_datagram_endpoint(lambda: DnsServer(policy), local_addr=(policy.listen, DNS_PORT))
            policy.servers.append(transport)
        except OSError as error:
            self.stop(policy)
            emit({"op": "opened", "id": policy.id, "error": f"cannot listen on {policy.listen}: {error}"})
            return
        self.policies[policy.id] = policy
        emit({"op": "opened", "id": policy.id})

    @staticmethod
    def stop(policy):
        for server in policy.servers:
            server.close()
        for writer in list(policy.writers):
            writer.close()

    def close(self, request):
        policy = self.policies.pop(request["id"], None)
        if policy is None:
            emit({"op": "closed", "id": request["id"], "sent": 0, "received": 0, "hosts": {}, "denied": {}})
            return
        self.stop(policy)
        emit({"op": "closed", "id": policy.id, **policy.report()})

    def usage(self, request):
        policy = self.policies.get(request["id"])
        emit({"op": "usage", "id": request["id"], "sent": policy.sent if policy else 0, "received": policy.received if policy else 0})


async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gateway = Gateway()
    emit({"op": "ready"})
    while True:
        line = await reader.readline()
        if not line:
            return
        request = json.loads(line)
        if request["op"] == "open":
            await gateway.open(request)
        elif request["op"] == "close":
            gateway.close(request)
        elif request["op"] == "usage":
            gateway.usage(request)


if __name__ == "__main__":
    asyncio.run(main())
