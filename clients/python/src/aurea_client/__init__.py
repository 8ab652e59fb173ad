"""aurea_client: a typed client for Aurea, standard library only (Python 3.9+).

    from aurea_client import Aurea

    aurea = Aurea("http://localhost:8000", api_key="...")
    print(aurea.run("python", "print(6 * 7)").stdout)
"""

from ._client import Aurea, RunEvent, Session
from ._connect import RetryPolicy
from .errors import (
    AlreadyExists,
    AureaError,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from .types import (
    CellResult,
    CompileResult,
    ExceptionInfo,
    FileChunk,
    FileEntry,
    LanguageInfo,
    Languages,
    ReadFilesResult,
    ResourceLimits,
    ResourceUsage,
    RunResult,
    SessionInfo,
    SkippedArtifact,
    SnapshotInfo,
    TestResult,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Aurea",
    "AureaError",
    "Cancelled",
    "CellResult",
    "CompileResult",
    "DeadlineExceeded",
    "ExceptionInfo",
    "FailedPrecondition",
    "FieldViolation",
    "FileChunk",
    "FileEntry",
    "Internal",
    "InvalidArgument",
    "LanguageInfo",
    "Languages",
    "NotFound",
    "PermissionDenied",
    "ReadFilesResult",
    "ResourceExhausted",
    "ResourceLimits",
    "ResourceUsage",
    "RetryPolicy",
    "RunEvent",
    "RunResult",
    "Session",
    "SessionInfo",
    "SkippedArtifact",
    "SnapshotInfo",
    "TestResult",
    "Unauthenticated",
    "Unavailable",
]
