"""The client: ``Aurea`` for runs and languages, ``Session`` for work that spans calls."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from ._connect import Connection, RetryPolicy
from .types import FileEntry, Languages, ReadFilesResult, RunResult, SessionInfo, SnapshotInfo, TestResult, from_json

TextOrBytes = Union[str, bytes]


@dataclasses.dataclass
class RunEvent:
    """One event of a streamed run or exec, in order: ``started`` (``run_id``), ``stdout`` and
    ``stderr`` (``data`` as bytes, ``text`` decoded), ``test_result`` (``test_result``), and last
    ``result`` (``result``)."""

    type: str
    run_id: str = ""
    data: bytes = b""
    text: str = ""
    test_result: Optional[TestResult] = None
    result: Optional[RunResult] = None


def _b64(value: Optional[TextOrBytes]) -> str:
    if value is None:
        return ""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def _files(files: Optional[Mapping[str, TextOrBytes]]) -> Dict[str, Any]:
    """Text files as ``files``, bytes as ``binary_files`` (base64 in JSON)."""
    text = {name: content for name, content in (files or {}).items() if isinstance(content, str)}
    binary = {name: _b64(content) for name, content in (files or {}).items() if not isinstance(content, str)}
    return {"files": text, "binary_files": binary}


def _run_body(language: str, code: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """A RunRequest: snake_case options as the proto names them; stdin and files as text or bytes."""
    body: Dict[str, Any] = {"language": language, "code": code}
    body.update(_files(options.pop("files", None)))
    if "stdin" in options:
        body["stdin"] = _b64(options.pop("stdin"))
    tests = options.pop("tests", None)
    if tests is not None:
        body["tests"] = [{**test, "stdin": _b64(test.get("stdin"))} for test in tests]
    body.update(options)
    return body


def _events(messages: Iterator[Dict[str, Any]]) -> Iterator[RunEvent]:
    for message in messages:
        if "started" in message:
            yield RunEvent("started", run_id=message["started"].get("run_id", ""))
        elif "stdout" in message or "stderr" in message:
            kind = "stdout" if "stdout" in message else "stderr"
            data = base64.b64decode(message[kind])
            yield RunEvent(kind, data=data, text=data.decode("utf-8", errors="replace"))
        elif "test_result" in message:
            yield RunEvent("test_result", test_result=from_json(TestResult, message["test_result"]))
        elif "result" in message:
            yield RunEvent("result", result=from_json(RunResult, message["result"]))


class Session:
    """A sandbox that lives across calls. Use it as a context manager: it is closed on exit."""

    def __init__(self, connection: Connection, created: Dict[str, Any]) -> None:
        self._connection = connection
        self.id: str = created["session_id"]
        #: The replica holding it (host:port) when the server runs with peers; else empty.
        self.owner_address: str = created.get("owner_address", "")
        self.info: SessionInfo = from_json(SessionInfo, created.get("session"))

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, body: Dict[str, Any], safe: bool = True, timeout: Optional[float] = None) -> Dict[str, Any]:
        return self._connection.unary(method, {"session_id": self.id, **body}, safe=safe, timeout=timeout)

    def exec(self, code: str = "", *, stdin: Optional[TextOrBytes] = None, **options: Any) -> RunResult:
        """Runs code (or ``command=[...]``) in the session; a cell, when it is stateful.

        Options are ExecRequest's fields: ``args``, ``env``, ``timeout``, ``command``.
        """
        timeout = options.get("timeout")
        body = {"code": code, "stdin": _b64(stdin), **options}
        # Retried only when nothing can have started (the server refused it, or no connection).
        deadline = (timeout or 0) + self._connection.timeout
        return from_json(RunResult, self._call("Exec", body, safe=False, timeout=deadline))

    def exec_stream(self, code: str = "", *, stdin: Optional[TextOrBytes] = None, **options: Any) -> Iterator[RunEvent]:
        """As ``exec``, streamed: output as it is written, then the result."""
        body = {"session_id": self.id, "code": code, "stdin": _b64(stdin), **options}
        deadline = (options.get("timeout") or 0) + self._connection.timeout
        return _events(self._connection.stream("ExecStream", body, timeout=deadline))

    def write_files(self, files: Mapping[str, TextOrBytes]) -> List[str]:
        """Writes files (text or bytes) into the workspace; answers the names written."""
        return list(self._call("WriteFiles", _files(files)).get("names", []))

    def read_files(self, paths: Sequence[str]) -> ReadFilesResult:
        """Reads files: ``files`` (text), ``binary_files`` (bytes), ``skipped`` with the reason."""
        return from_json(ReadFilesResult, self._call("ReadFiles", {"paths": list(paths)}))

    def list_files(self, path: str = "", recursive: bool = False) -> List[FileEntry]:
        """A directory of the workspace (the workspace itself by default)."""
        listed = self._call("ListFiles", {"path": path, "recursive": recursive})
        return [from_json(FileEntry, entry) for entry in listed.get("entries", [])]

    def update(self, ttl: Optional[float] = None, idle_timeout: Optional[float] = None) -> SessionInfo:
        """Changes the ttl (counted from now) or the idle timeout, in seconds."""
        updated = self._call("UpdateSession", {"ttl": ttl or 0, "idle_timeout": idle_timeout or 0})
        self.info = from_json(SessionInfo, updated.get("session"))
        return self.info

    def pause(self) -> SessionInfo:
        """Freezes the session (no CPU, memory and files kept); any later call resumes it."""
        self.info = from_json(SessionInfo, self._call("PauseSession", {}).get("session"))
        return self.info

    def resume(self) -> SessionInfo:
        """Thaws a paused session."""
        self.info = from_json(SessionInfo, self._call("ResumeSession", {}).get("session"))
        return self.info

    def snapshot(self, name: str = "") -> SnapshotInfo:
        """Saves the workspace; start sessions from it with ``Aurea.session(from_snapshot=...)``."""
        return from_json(SnapshotInfo, self._call("SnapshotSession", {"name": name}, safe=False).get("snapshot"))

    def close(self) -> SessionInfo:
        """Closes the session: its sandbox and files are removed."""
        closed = self._call("CloseSession", {})
        self.info = from_json(SessionInfo, closed.get("session"))
        return self.info


class Aurea:
    """A client of one Aurea server (or the load balancer in front of its replicas).

    ``timeout`` is each call's deadline in seconds beyond the run's own ``timeout``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
        retry: Optional[RetryPolicy] = None,
    ) -> None:
        self._connection = Connection(base_url, api_key, timeout, retry or RetryPolicy())

    def run(self, language: str, code: str, **options: Any) -> RunResult:
        """Runs a program and answers its whole result.

        Options are RunRequest's fields: ``stdin`` (text or bytes), ``files`` (name to text or
        bytes), ``args``, ``env``, ``timeout``, ``limits``, ``tests`` (dicts with ``name``,
        ``stdin``, ``expected_stdout``), ``capture_artifacts``, ``runtime``, ... A ``request_id`` is
        set when none is given, so the retries never run the program twice.
        """
        options.setdefault("request_id", f"aurea-client-py-{uuid.uuid4()}")
        deadline = (options.get("timeout") or 0) + self._connection.timeout
        body = _run_body(language, code, options)
        return from_json(RunResult, self._connection.unary("Run", body, safe=True, timeout=deadline))

    def run_stream(self, language: str, code: str, **options: Any) -> Iterator[RunEvent]:
        """Runs a program, streaming its events (see RunEvent)."""
        deadline = (options.get("timeout") or 0) + self._connection.timeout
        return _events(self._connection.stream("RunStream", _run_body(language, code, options), timeout=deadline))

    def languages(self) -> Languages:
        """The languages, runtimes and session bounds the server offers."""
        return from_json(Languages, self._connection.unary("ListLanguages", {}, safe=True))

    def snapshots(self) -> List[SnapshotInfo]:
        """The caller's snapshots."""
        listed = self._connection.unary("ListSnapshots", {}, safe=True)
        return [from_json(SnapshotInfo, snapshot) for snapshot in listed.get("snapshots", [])]

    def delete_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """Removes one of the caller's snapshots."""
        deleted = self._connection.unary("DeleteSnapshot", {"snapshot_id": snapshot_id}, safe=True)
        return from_json(SnapshotInfo, deleted.get("snapshot"))

    def session(self, language: str = "", stateful: bool = False, **options: Any) -> Session:
        """Creates a session. Options are CreateSessionRequest's fields: ``ttl``, ``idle_timeout``,
        ``limits``, ``runtime``, ``files`` (text or bytes), ``env``, ``workspace_bytes``, ``on_idle``
        (``"ON_IDLE_PAUSE"``, ...), ``from_snapshot`` (then ``language`` may be left empty)."""
        body: Dict[str, Any] = {"language": language, "stateful": stateful}
        body.update(_files(options.pop("files", None)))
        body.update(options)
        return Session(self._connection, self._connection.unary("CreateSession", body, safe=False))
