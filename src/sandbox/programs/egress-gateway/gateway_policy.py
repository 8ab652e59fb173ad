"""The egress gateway's policies: rules, caps, counters and the address check (see gateway_main.py)."""

import asyncio
import ipaddress
import json
import socket
import sys

PROXY_PORT = 3128
DNS_PORT = 53
HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT = 30
CONNECT_TIMEOUT = 10
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
