"""A test's own listener for egress tests (test/support/egress-network.ts), on a test network.

  TCP 80    HTTP: `/` answers "hello from <Host>"; `/_log` answers what arrived so far as JSON;
            `/simple/...` is a package index holding one wheel, aurea-demo 1.0, built here;
            `/bytes/N` answers N bytes.
  TCP 8443  counts connections and bytes and echoes them (SNI tests: did anything get through?).
  UDP 5353  counts datagrams.
Nothing here reaches anywhere: it only answers.
"""

import hashlib
import io
import json
import socket
import socketserver
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = {"http": 0, "tcp_connections": 0, "tcp_bytes": 0, "udp": 0, "hosts": []}
LOCK = threading.Lock()


def build_wheel():
    files = {
        "aurea_demo.py": 'GREETING = "hello from the test index"\n',
        "aurea_demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: aurea-demo\nVersion: 1.0\n",
        "aurea_demo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: aurea-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "aurea_demo-1.0.dist-info/RECORD,,\n"
    files["aurea_demo-1.0.dist-info/RECORD"] = record
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


WHEEL_NAME = "aurea_demo-1.0-py3-none-any.whl"
WHEEL = build_wheel()
WHEEL_SHA = hashlib.sha256(WHEEL).hexdigest()


class Http(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        host = self.headers.get("Host", "")
        if self.path == "/_log":
            with LOCK:
                return self.answer(200, json.dumps(LOG).encode(), "application/json")
        with LOCK:
            LOG["http"] += 1
            LOG["hosts"].append(host)
        if self.path.startswith("/bytes/"):
            return self.answer(200, b"x" * int(self.path.split("/")[2]))
        if self.path.rstrip("/") == "/simple":
            return self.answer(200, b'<html><body><a href="aurea-demo/">aurea-demo</a></body></html>', "text/html")
        if self.path.rstrip("/") == "/simple/aurea-demo":
            link = f'<a href="/files/{WHEEL_NAME}#sha256={WHEEL_SHA}">{WHEEL_NAME}</a>'
            return self.answer(200, f"<html><body>{link}</body></html>".encode(), "text/html")
        if self.path == f"/files/{WHEEL_NAME}":
            return self.answer(200, WHEEL, "application/octet-stream")
        self.answer(200, f"hello from {host}".encode())


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        with LOCK:
            LOG["tcp_connections"] += 1
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            with LOCK:
                LOG["tcp_bytes"] += len(data)
            self.request.sendall(data)


class Udp(socketserver.BaseRequestHandler):
    def handle(self):
        with LOCK:
            LOG["udp"] += 1


class ThreadingTcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    servers = [
        ThreadingHTTPServer(("0.0.0.0", 80), Http),
        ThreadingTcp(("0.0.0.0", 8443), Echo),
        socketserver.ThreadingUDPServer(("0.0.0.0", 5353), Udp),
    ]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("listening", socket.gethostname(), flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
