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

Control, on stdin and stdout, one JSON object per line (every request carries a "seq" that its
answer repeats) (the server's side is egress-gateway.ts):
  -> {"op": "open", "id", "listen", "rules", "max_bytes", "max_connections"}
  <- {"op": "opened", "id"}, with "error" when it cannot listen
  -> {"op": "usage", "id"}   <- {"op": "usage", "id", "sent", "received"}
  -> {"op": "close", "id"}   <- {"op": "closed", "id", "sent", "received", "hosts", "denied"}
  <- {"op": "ready"} once, {"op": "limit", "id", "limit": "bytes" | "connections"},
     {"op": "connection", "id", "host", "port", "allowed", "reason"} for every attempt.
The gateway exits when stdin closes: the server is gone, and with it every policy.
"""

import asyncio
import json
import sys

from gateway_policy import DNS_PORT, HEAD_LIMIT, PROXY_PORT, Policy, emit
from gateway_proxy import DnsServer, serve_proxy


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
            return {"op": "opened", "id": policy.id, "error": f"cannot listen on {policy.listen}: {error}"}
        self.policies[policy.id] = policy
        return {"op": "opened", "id": policy.id}

    @staticmethod
    def stop(policy):
        for server in policy.servers:
            server.close()
        for writer in list(policy.writers):
            writer.close()

    def close(self, request):
        policy = self.policies.pop(request["id"], None)
        if policy is None:
            return {"op": "closed", "id": request["id"], "sent": 0, "received": 0, "hosts": {}, "denied": {}}
        self.stop(policy)
        return {"op": "closed", "id": policy.id, **policy.report()}

    def usage(self, request):
        policy = self.policies.get(request["id"])
        return {"op": "usage", "id": request["id"], "sent": policy.sent if policy else 0, "received": policy.received if policy else 0}


async def serve():
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
            answer = await gateway.open(request)
        elif request["op"] == "close":
            answer = gateway.close(request)
        elif request["op"] == "usage":
            answer = gateway.usage(request)
        else:
            answer = {"op": "unknown"}
        # Every answer names the request it answers: several may be waiting for one id.
        emit({**answer, "seq": request.get("seq")})


def run():
    asyncio.run(serve())
