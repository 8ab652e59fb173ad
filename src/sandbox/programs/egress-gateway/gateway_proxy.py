"""The egress gateway's listeners on a run's network: the HTTP proxy and the DNS server."""

import asyncio
import socket
import struct

from gateway_policy import CHUNK, CONNECT_TIMEOUT, HEAD_LIMIT, HEAD_TIMEOUT, Denied, TunnelDenied, is_internal, resolve
from gateway_wire import dns_answer, dns_question, http_host, split_host_port, tls_server_name


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
