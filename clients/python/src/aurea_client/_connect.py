"""Connect's JSON protocol over HTTP/1.1 with the standard library, and the retry policy.

Unary calls POST JSON and read JSON back; server-streaming calls POST one enveloped JSON message
(a flags byte, a 4-byte big-endian length, the JSON) and read envelopes until the end-of-stream
one, which carries the error when there is one.
"""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import struct
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, Optional

from .errors import AureaError, DeadlineExceeded, Unavailable, error_from_json

SERVICE = "aurea.sandbox.v1.SandboxService"
_END_STREAM = 0x02


@dataclasses.dataclass
class RetryPolicy:
    """The README's policy: UNAVAILABLE only, ``max_attempts`` in all, backoff doubling from
    ``initial_backoff`` to ``max_backoff`` seconds (with full jitter)."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 2.0


def _connection_refused(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, ConnectionRefusedError)


class Connection:
    """One server's address, key, default deadline and retry policy."""

    def __init__(self, base_url: str, api_key: Optional[str], timeout: float, retry: RetryPolicy) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry

    def _request(self, method: str, data: bytes, content_type: str, timeout: float) -> urllib.request.Request:
        headers = {
            "Content-Type": content_type,
            "Connect-Protocol-Version": "1",
            "Connect-Timeout-Ms": str(max(1, int(timeout * 1000))),
            "User-Agent": "aurea-client-python/0.1.0",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(f"{self.base_url}/{SERVICE}/{method}", data=data, headers=headers, method="POST")

    def _open(self, request: urllib.request.Request, timeout: float) -> Any:
        """The response, or the AureaError the server (or the lack of one) means."""
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and "code" in parsed:
                raise error_from_json(parsed) from None
            # A proxy's page, not Aurea's answer.
            kind = Unavailable if error.code in (502, 503, 504) else AureaError
            raise kind(f"HTTP {error.code} from {request.full_url}: {body[:200]!r}") from None
        except (socket.timeout, TimeoutError) as error:
            raise DeadlineExceeded(f"no answer within {timeout} s", answered=False) from error
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            unavailable = Unavailable(f"{request.full_url}: {getattr(error, 'reason', error)}", answered=False)
            unavailable.refused = _connection_refused(error)  # type: ignore[attr-defined]
            raise unavailable from error

    def _with_retries(self, call: Any, safe: bool) -> Any:
        backoff = self.retry.initial_backoff
        attempt = 1
        while True:
            try:
                return call()
            except Unavailable as error:
                # Aurea answers UNAVAILABLE only when the program never started; a connection that
                # was never made reached nothing. A connection that broke may have cut a running
                # exec: only calls safe to repeat go again then.
                repeatable = safe or error.answered or getattr(error, "refused", False)
                if attempt >= max(1, self.retry.max_attempts) or not repeatable:
                    raise
            time.sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, self.retry.max_backoff)
            attempt += 1

    def unary(self, method: str, body: Dict[str, Any], *, safe: bool, timeout: Optional[float] = None) -> Dict[str, Any]:
        """One unary call; ``safe`` says whether it may be repeated after any UNAVAILABLE."""
        seconds = timeout or self.timeout
        data = json.dumps(body).encode("utf-8")

        def call() -> Dict[str, Any]:
            with self._open(self._request(method, data, "application/json", seconds), seconds) as response:
                return json.loads(response.read() or b"{}")

        return self._with_retries(call, safe)

    def stream(self, method: str, body: Dict[str, Any], *, timeout: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """A server-streaming call's messages; its error, if any, is raised at the end."""
        seconds = timeout or self.timeout
        payload = json.dumps(body).encode("utf-8")
        envelope = struct.pack(">BI", 0, len(payload)) + payload
        response = self._with_retries(
            lambda: self._open(self._request(method, envelope, "application/connect+json", seconds), seconds), safe=False
        )
        with response:
            while True:
                header = response.read(5)
                if len(header) < 5:
                    raise Unavailable("the stream ended without its end message", answered=False)
                flags, length = struct.unpack(">BI", header)
                message = json.loads(response.read(length) or b"{}")
                if flags & _END_STREAM:
                    if message.get("error"):
                        raise error_from_json(message["error"])
                    return
                yield message
