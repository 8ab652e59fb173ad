"""Errors the server answers, as exceptions carrying the Connect code and the structured details."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

__all__ = [
    "AlreadyExists",
    "AureaError",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "error_from_json",
]


@dataclasses.dataclass
class FieldViolation:
    """One field a request got wrong (google.rpc.BadRequest): its path and what is wrong."""

    field: str
    description: str


class AureaError(Exception):
    """A call the server refused or could not complete.

    ``code`` is the Connect code (``invalid_argument``, ``unavailable``, ...); ``violations`` the
    fields a request got wrong; ``reason`` and ``metadata`` the google.rpc.ErrorInfo a refusal to
    act on carries (``QUEUE_FULL``, ``SESSION_LIMIT``, ``FAMILY_NOT_BUILT``, ...).
    """

    code = "unknown"

    def __init__(
        self,
        message: str,
        *,
        violations: Optional[List[FieldViolation]] = None,
        reason: str = "",
        metadata: Optional[Dict[str, str]] = None,
        answered: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.violations = violations or []
        self.reason = reason
        self.metadata = metadata or {}
        #: False when no server answered (the connection failed): nothing says what happened.
        self.answered = answered

    def __str__(self) -> str:
        fields = "".join(f"\n  {violation.field}: {violation.description}" for violation in self.violations)
        return f"[{self.code}] {self.message}{fields}"


class Cancelled(AureaError):
    code = "canceled"


class InvalidArgument(AureaError):
    code = "invalid_argument"


class DeadlineExceeded(AureaError):
    code = "deadline_exceeded"


class NotFound(AureaError):
    code = "not_found"


class AlreadyExists(AureaError):
    code = "already_exists"


class PermissionDenied(AureaError):
    code = "permission_denied"


class ResourceExhausted(AureaError):
    code = "resource_exhausted"


class FailedPrecondition(AureaError):
    code = "failed_precondition"


class Internal(AureaError):
    code = "internal"


class Unavailable(AureaError):
    code = "unavailable"


class Unauthenticated(AureaError):
    code = "unauthenticated"


_by_code = {
    cls.code: cls
    for cls in (
        Cancelled,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Internal,
        Unavailable,
        Unauthenticated,
    )
}


def error_from_json(body: Dict[str, Any]) -> AureaError:
    """A Connect error body (``{"code", "message", "details"}``) as the matching exception.

    Details are read from their ``debug`` copy, which the server writes beside the binary value.
    """
    violations: List[FieldViolation] = []
    reason = ""
    metadata: Dict[str, str] = {}
    for detail in body.get("details") or []:
        debug = detail.get("debug") or {}
        kind = detail.get("type", "")
        if kind == "google.rpc.BadRequest":
            for violation in debug.get("field_violations") or debug.get("fieldViolations") or []:
                violations.append(FieldViolation(violation.get("field", ""), violation.get("description", "")))
        elif kind == "google.rpc.ErrorInfo":
            reason = debug.get("reason", "")
            metadata = dict(debug.get("metadata") or {})
    code = str(body.get("code", "unknown"))
    cls = _by_code.get(code, AureaError)
    error = cls(str(body.get("message", "")), violations=violations, reason=reason, metadata=metadata)
    if cls is AureaError:
        error.code = code
    return error
