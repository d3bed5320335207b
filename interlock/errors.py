"""Domain errors shared by every app.

Services raise a subclass of :class:`DomainError`; the API exception handler turns it into
the one error body every client sees (``code``, ``message``, ``details[]``), the admin
shows its message. Each detail names *where* (``path``), *what* (``code``) and, when it
helps, what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    path: str
    code: str
    message: str
    expected: Any = None
    found: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class DomainError(Exception):
    """A business rule said no. ``http_status`` is what the API answers (400 by default)."""

    message: str
    code: str = "domain_error"
    details: list[ErrorDetail] = field(default_factory=list)
    http_status: int = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotAllowed(DomainError):
    def __init__(self, message: str, *, code: str = "permission_denied") -> None:
        super().__init__(message=message, code=code, http_status=403)


class Conflict(DomainError):
    def __init__(self, message: str, *, code: str = "conflict", details=None) -> None:
        super().__init__(message=message, code=code, details=details or [], http_status=409)


class ServiceUnavailable(DomainError):
    """A dependency (the database) failed for a moment and nothing was decided: the client
    retries after ``retry_after`` seconds (the API answers 503 with ``Retry-After``)."""

    def __init__(
        self, message: str, *, retry_after: int = 5, code: str = "service_unavailable"
    ) -> None:
        super().__init__(message=message, code=code, http_status=503)
        self.retry_after = retry_after


def is_transient_db_error(exc: BaseException) -> bool:
    """A lost connection, a terminated backend, a deadlock or serialization failure: worth
    retrying as a whole, never a reason to quarantine a message. (Data errors such as a
    numeric overflow are ``DataError``, not included.)"""
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))
