"""API plumbing shared by every app: one error shape, one paginator.

Every error body, whatever raised it, looks like::

    {"code": "validation_error", "message": "2 problems in the request",
     "details": [{"path": "payload.qty", "code": "invalid", "message": "A valid number is required."}]}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, permissions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import jsonsafe
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
    if isinstance(exc, TransitionNotAllowed):
        # The object is not in a state that allows it (approve a published version): the
        # client's view of the state is stale, a 409, not a bug.
        name = getattr(getattr(exc, "object", None), "_meta", None)
        return Response(
            error_body(
                "transition_not_allowed",
                str(exc) or "the object is not in a state that allows this",
                [
                    {
                        "path": "",
                        "code": "transition_not_allowed",
                        "message": str(exc),
                        **({"found": name.label} if name else {}),
                    }
                ],
            ),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", str(exc)),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
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


# --- input every API view can hold ------------------------------------------------------
def _unstorable_query(request) -> list[dict[str, Any]]:
    details = []
    if "\x00" in request.path:
        details.append({"path": "path", "code": "string_unstorable", "message": "NUL in the path"})
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in v for v in values):
            details.append(
                {
                    "path": f"query.{jsonsafe.echo(name, 60)}",
                    "code": "string_unstorable",
                    "message": "the parameter contains NUL (\\u0000), which cannot be stored",
                }
            )
    return details


def api_input_middleware(get_response):
    """Refuse, under ``/api/``, a path or query parameter holding NUL (``%00``): it would
    reach a database lookup, and PostgreSQL cannot hold it. Done once here, before any
    view, filter or authentication reads them."""

    def middleware(request):
        if request.path_info.startswith("/api/"):
            details = _unstorable_query(request)
            if details:
                return JsonResponse(
                    error_body("validation_error", "the request URL cannot be stored", details),
                    status=400,
                )
        return get_response(request)

    return middleware


@csrf_exempt  # an unknown POST URL is a 404, not a CSRF page
def api_not_found(request, exception=None, **kwargs):
    """404 under ``/api/`` in the one error shape (a bad path id, an unknown route); the
    HTML page elsewhere. Used as ``handler404`` and as the API's last route (so it holds
    with ``DEBUG`` on as well)."""
    if not request.path_info.startswith("/api/"):
        return page_not_found(request, exception or Http404())
    path = jsonsafe.echo(request.path, 200)
    return JsonResponse(
        error_body(
            "not_found",
            f"no resource at {path}",
            [{"path": "path", "code": "not_found", "message": "unknown URL or id"}],
        ),
        status=404,
    )


class IsPerson(permissions.BasePermission):
    """People only (session or basic auth), never a connected system's API key. As a
    permission class it is checked before the view reads its input, so a system cannot
    make a people-only endpoint parse (or choke on) its body."""

    message = "This operation is for people; a connected system's API key may not use it."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and getattr(user, "system_plant_ids", None) is None
        )


#: The permission classes of an operation only people may use.
PEOPLE_ONLY = [permissions.IsAuthenticated, IsPerson]
