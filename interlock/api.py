"""API plumbing shared by every app: one error shape, one paginator.

Every error body, whatever raised it, looks like::

    {"code": "validation_error", "message": "2 problems in the request",
     "details": [{"path": "payload.qty", "code": "invalid", "message": "A valid number is required."}]}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError, ServiceUnavailable, is_transient_db_error

logger = logging.getLogger(__name__)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key in ("non_field_errors", "__all__"):
        return path
    return f"{path}.{key}" if path else str(key)


def flatten_errors(data: Any, path: str = "") -> list[dict[str, Any]]:
    """Turn DRF's nested error structure into a flat list of ``{path, code, message}``."""
    if isinstance(data, dict):
        out: list[dict[str, Any]] = []
        for key, value in data.items():
            out.extend(flatten_errors(value, _join(path, key)))
        return out
    if isinstance(data, list):
        out = []
        for index, value in enumerate(data):
            if isinstance(value, (dict, list)):
                out.extend(flatten_errors(value, _join(path, index)))
            else:
                out.extend(flatten_errors(value, path))
        return out
    code = getattr(data, "code", None) or "invalid"
    return [{"path": path, "code": str(code), "message": str(data)}]


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    return {"code": code, "message": message, "details": details or []}


def exception_handler(exc: Exception, context: dict) -> Response:
    if is_transient_db_error(exc):
        # The database went away or aborted us (restart, failover, terminated backend,
        # deadlock): the client retries; one line, not a traceback per request.
        logger.warning("database unavailable in %s: %s", context.get("view"), exc)
        exc = ServiceUnavailable("The database is unavailable for a moment; retry later.")
    if isinstance(exc, DomainError):
        response = Response(
            error_body(exc.code, exc.message, [d.as_dict() for d in exc.details]),
            status=exc.http_status,
        )
        if getattr(exc, "retry_after", None) is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # A bug, not bad input: log it with the traceback, answer in the same shape.
        logger.exception("unhandled error in %s", context.get("view"))
        return Response(
            error_body("server_error", "Internal error; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        details = flatten_errors(exc.detail)
        noun = "problem" if len(details) == 1 else "problems"
        response.data = error_body(
            "validation_error", f"{len(details)} {noun} in the request", details
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if isinstance(code, (dict, list)):
            response.data = error_body("error", "Request failed", flatten_errors(detail))
        else:
            response.data = error_body(str(code), str(detail))
    return response
