"""The egress gateway's readers and writers of wire formats: host:port, TLS SNI, HTTP Host, DNS."""

import struct

DNS_TTL = 30


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
