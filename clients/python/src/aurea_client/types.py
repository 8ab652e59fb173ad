"""The API's messages as dataclasses, with the proto's own field names.

Each class names the proto message it mirrors (``PROTO``); a test compares their fields with the
descriptor set ``buf build`` makes, so they stay in step with ``proto/``. Enums are their proto
names as strings (``"RUN_STATUS_OK"``); bytes are ``bytes``; timestamps are aware ``datetime``s.
Fields a newer server adds are ignored until the client learns them.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import typing
from typing import Any, ClassVar, Dict, List, Optional

__all__ = [
    "CellResult",
    "CompileResult",
    "ExceptionInfo",
    "FileChunk",
    "FileEntry",
    "LanguageInfo",
    "Languages",
    "ReadFilesResult",
    "ResourceLimits",
    "ResourceUsage",
    "RunResult",
    "SessionInfo",
    "SkippedArtifact",
    "SnapshotInfo",
    "TestResult",
    "from_json",
]


@dataclasses.dataclass
class ResourceLimits:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.ResourceLimits"
    cpu: float = 0.0
    memory_bytes: int = 0
    pids: int = 0


@dataclasses.dataclass
class ResourceUsage:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.ResourceUsage"
    cpu_time: float = 0.0
    peak_memory_bytes: int = 0
    network_bytes_sent: int = 0
    network_bytes_received: int = 0


@dataclasses.dataclass
class TestResult:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.TestResult"
    __test__: ClassVar[bool] = False  # not a unittest/pytest test class
    name: str = ""
    status: str = ""
    exit_code: int = 0
    signal: str = ""
    stdout: str = ""
    stderr: str = ""
    execution_time: float = 0.0
    usage: Optional[ResourceUsage] = None
    difference: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timeout: float = 0.0


@dataclasses.dataclass
class CompileResult:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.CompileResult"
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    execution_time: float = 0.0
    status: str = ""
    timeout: float = 0.0
    limits: Optional[ResourceLimits] = None
    usage: Optional[ResourceUsage] = None
    signal: str = ""


@dataclasses.dataclass
class SkippedArtifact:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.SkippedArtifact"
    name: str = ""
    reason: str = ""


@dataclasses.dataclass
class CellResult:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.CellResult"
    data: Dict[str, str] = dataclasses.field(default_factory=dict)
    is_main_result: bool = False


@dataclasses.dataclass
class ExceptionInfo:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.ExceptionInfo"
    name: str = ""
    value: str = ""
    traceback: str = ""


@dataclasses.dataclass
class RunResult:
    """A run's or an exec's result (RunResponse): ``status`` is the verdict, ``ok`` says it was OK."""

    PROTO: ClassVar[str] = "aurea.sandbox.v1.RunResponse"
    run_id: str = ""
    success: bool = False
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    execution_time: float = 0.0
    timed_out: bool = False
    timeout: float = 0.0
    artifacts: Dict[str, str] = dataclasses.field(default_factory=dict)
    status: str = ""
    signal: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    limits: Optional[ResourceLimits] = None
    error: str = ""
    usage: Optional[ResourceUsage] = None
    binary_artifacts: Dict[str, bytes] = dataclasses.field(default_factory=dict)
    skipped_artifacts: List[SkippedArtifact] = dataclasses.field(default_factory=list)
    artifacts_truncated: bool = False
    queue_time: float = 0.0
    limits_hit: List[str] = dataclasses.field(default_factory=list)
    compile: Optional[CompileResult] = None
    test_results: List[TestResult] = dataclasses.field(default_factory=list)
    tests_passed: int = 0
    tests_total: int = 0
    first_failed_test: str = ""
    value: str = ""
    state_lost: bool = False
    exception: Optional[ExceptionInfo] = None
    results: List[CellResult] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "RUN_STATUS_OK"


@dataclasses.dataclass
class LanguageInfo:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.LanguageInfo"
    name: str = ""
    aliases: List[str] = dataclasses.field(default_factory=list)
    version: str = ""
    compiled: bool = False
    family: str = ""
    available: bool = False
    default_limits: Optional[ResourceLimits] = None
    maximum_limits: Optional[ResourceLimits] = None
    default_timeout: float = 0.0
    max_timeout: float = 0.0
    default_compile_timeout: float = 0.0
    default_compile_memory_bytes: int = 0
    warm: bool = False
    title: str = ""
    file_name: str = ""
    example: str = ""
    stateful_sessions: bool = False


@dataclasses.dataclass
class Languages:
    """What ListLanguages answers: the languages, the runtimes, and the bounds of sessions."""

    PROTO: ClassVar[str] = "aurea.sandbox.v1.ListLanguagesResponse"
    languages: List[LanguageInfo] = dataclasses.field(default_factory=list)
    runtimes: List[str] = dataclasses.field(default_factory=list)
    default_runtime: str = ""
    session_max_ttl: float = 0.0
    session_default_ttl: float = 0.0


@dataclasses.dataclass
class SessionInfo:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.SessionInfo"
    session_id: str = ""
    language: str = ""
    runtime: str = ""
    stateful: bool = False
    limits: Optional[ResourceLimits] = None
    workspace_bytes: int = 0
    created_at: Optional[datetime.datetime] = None
    expires_at: Optional[datetime.datetime] = None
    last_used_at: Optional[datetime.datetime] = None
    idle_timeout: float = 0.0
    ttl: float = 0.0
    state: str = ""
    reason: str = ""
    execs_running: int = 0
    execs_total: int = 0
    interpreter_running: bool = False
    states_lost: int = 0
    adopted: bool = False
    on_idle: str = ""
    paused_at: Optional[datetime.datetime] = None


@dataclasses.dataclass
class SnapshotInfo:
    """A saved workspace (SnapshotSession): ``Aurea.session(..., from_snapshot=snapshot_id)`` starts from it."""

    PROTO: ClassVar[str] = "aurea.sandbox.v1.SnapshotInfo"
    snapshot_id: str = ""
    name: str = ""
    session_id: str = ""
    language: str = ""
    runtime: str = ""
    stateful: bool = False
    memory: bool = False
    size_bytes: int = 0
    created_at: Optional[datetime.datetime] = None
    expires_at: Optional[datetime.datetime] = None


@dataclasses.dataclass
class FileEntry:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.FileEntry"
    name: str = ""
    type: str = ""
    size: int = 0
    modified_at: Optional[datetime.datetime] = None
    mode: int = 0


@dataclasses.dataclass
class FileChunk:
    PROTO: ClassVar[str] = "aurea.sandbox.v1.FileChunk"
    path: str = ""
    offset: int = 0
    data: bytes = b""
    eof: bool = False


@dataclasses.dataclass
class ReadFilesResult:
    """What ReadFiles answers: text files, binary files, and what was skipped with the reason."""

    PROTO: ClassVar[str] = "aurea.sandbox.v1.ReadFilesResponse"
    files: Dict[str, str] = dataclasses.field(default_factory=dict)
    binary_files: Dict[str, bytes] = dataclasses.field(default_factory=dict)
    skipped: List[SkippedArtifact] = dataclasses.field(default_factory=list)
    truncated: bool = False
    ranges: List[FileChunk] = dataclasses.field(default_factory=list)


def _timestamp(text: str) -> datetime.datetime:
    # RFC 3339 with up to nine fraction digits and "Z"; fromisoformat before 3.11 takes neither.
    date, _, rest = text.rstrip("Z").partition(".")
    fraction = (rest + "000000")[:6] if rest else "000000"
    return datetime.datetime.strptime(f"{date}.{fraction}", "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)


def _decode(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union:  # Optional[X]
        inner = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        return None if value is None else _decode(inner, value)
    if origin in (list, List):
        (item,) = typing.get_args(kind)
        return [_decode(item, entry) for entry in value or []]
    if origin in (dict, Dict):
        _, item = typing.get_args(kind)
        return {key: _decode(item, entry) for key, entry in (value or {}).items()}
    if kind is bytes:
        return base64.b64decode(value or "")
    if kind is datetime.datetime:
        return _timestamp(value)
    if kind is float:
        return float(value)  # also "NaN" and "Infinity", as proto JSON writes them
    if kind is int:
        return int(value)  # 64-bit integers come as strings
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value)
    return value


_hints: Dict[type, Dict[str, Any]] = {}

T = typing.TypeVar("T")


def from_json(cls: typing.Type[T], data: Optional[Dict[str, Any]]) -> T:
    """A dataclass from the server's JSON (snake_case names); unknown fields are ignored."""
    hints = _hints.get(cls)
    if hints is None:
        hints = _hints[cls] = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {name: _decode(hints[name], value) for name, value in (data or {}).items() if name in known}
    return cls(**values)
