"""The agent's wire (src/session/agent-protocol.ts describes both ends): one line of JSON carrying
"size", then exactly that many raw bytes, the same framing both ways. Empty lines are ignored, so
a server that attaches again can end a line a predecessor left unfinished."""

import json
import os

READ_CHUNK = 65536


def write_all(fd, data):
    """Writes every byte: gVisor completes a large write to the container's stdout only partly."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def send(frame, payload=b""):
    """One frame to the server, on stdout."""
    frame["size"] = len(payload)
    write_all(1, json.dumps(frame, separators=(",", ":")).encode() + b"\n" + payload)


class Requests:
    """Reads framed requests from stdin as they arrive and hands each, whole, to `handle`."""

    def __init__(self, handle):
        self.handle = handle
        # A bytearray grows in place: a large payload (a snapshot's archive, 64 KiB a read) is not
        # copied again with every read, as a bytes buffer would be.
        self.buffer = bytearray()
        self.header = None

    def feed(self, data):
        self.buffer += data
        while True:
            if self.header is None:
                end = self.buffer.find(b"\n")
                if end < 0:
                    return
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                if not line.strip():
                    continue
                try:
                    self.header = json.loads(line)
                    if not isinstance(self.header, dict):
                        raise ValueError("not an object")
                except ValueError as error:
                    self.header = None
                    send({"kind": "error", "id": None, "error": f"unreadable request: {error}"})
                    continue
            size = int(self.header.get("size", 0))
            if len(self.buffer) < size:
                return
            header, self.header = self.header, None
            payload = bytes(self.buffer[:size])
            del self.buffer[:size]
            try:
                self.handle(header, payload)
            except SystemExit:
                raise
            except BlockingIOError as error:
                # A fork refused: the session's process limit is full (its programs' doing).
                send({"kind": "exit", "id": header.get("id"), "status": None, "refused": "processes", "error": str(error)})
            except Exception as error:  # noqa: BLE001 - one bad request must not end the session
                send({"kind": "exit", "id": header.get("id"), "status": None, "error": f"{type(error).__name__}: {error}"})
