"""Structured logs: JSON lines carrying who and what a line is about.

Every line gets the fields of the current *log context* (a ``contextvars`` mapping): the
request id and correlation id (set by :class:`RequestContextMiddleware`), the connected
system and plant (set when an API key authenticates), the Celery task id and name and
the ids a task was called with (set by the task signals below), and whatever a caller
binds with :func:`log_context`. Context variables follow the request's thread or task,
so concurrent requests never mix their fields.

A traceback is logged once: the first record that carries an exception prints it and
marks the exception; a later record about the same exception (a view that logs and
re-raises, then Django's own "Internal Server Error") says ``"exc_logged_before": true``
instead of repeating kilobytes of stack.

``LOG_FORMAT=json`` (the default when ``DEBUG`` is off: the web server and the worker)
writes JSON lines; ``plain`` (the default with ``DEBUG=1``: the demo and ``manage.py``)
keeps readable console lines with the same context appended.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import uuid
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

#: Fields a line may carry from its context, in the order they are printed.
CONTEXT_FIELDS = (
    "request_id",
    "correlation_id",
    "plant",
    "system",
    "event_id",
    "task_id",
    "task_name",
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "interlock_log_context", default=_EMPTY
)


def current_context() -> Mapping[str, Any]:
    return _context.get()


def bind(**fields: Any) -> contextvars.Token:
    """Add fields to the log context of this request or task; returns the reset token."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v not in (None, "")}}
    return _context.set(merged)


def reset(token: contextvars.Token) -> None:
    _context.reset(token)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """``with log_context(event_id=…):`` every line inside carries the fields."""
    token = bind(**fields)
    try:
        yield
    finally:
        reset(token)


class ContextFilter(logging.Filter):
    """Copies the log context onto each record (explicit ``extra=`` values win) and
    decides whether the record's traceback has been logged before."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            if getattr(exc, "_interlock_logged", False):
                record.exc_logged_before = True
                record.exc_type = type(exc).__name__
                record.exc_info = None
                record.exc_text = None
            else:
                with contextlib.suppress(AttributeError, TypeError):
                    exc._interlock_logged = True  # type: ignore[union-attr]
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the context
    fields that are known, any ``extra=`` fields, and ``exc_info`` once per exception."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault(
            "rename_fields", {"levelname": "level", "name": "logger", "exc_info": "exc_info"}
        )
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)


class PlainFormatter(logging.Formatter):
    """Readable console lines for the demo, with the known context fields appended."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if hasattr(record, key)
        )
        if getattr(record, "exc_logged_before", False):
            context += f" exc={record.exc_type} (traceback logged above)"
        return f"{text} [{context}]" if context else text


def logging_config(*, fmt: str, level: str) -> dict:
    """The ``LOGGING`` dict of the settings (``fmt`` is ``json`` or ``plain``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "interlock.logging.ContextFilter"}},
        "formatters": {
            "json": {"()": "interlock.logging.JsonFormatter"},
            "plain": {"()": "interlock.logging.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


# --- web ------------------------------------------------------------------------------------
class RequestContextMiddleware:
    """Binds ``request_id`` (the caller's ``X-Request-ID`` or a new one, echoed back) and
    the caller's ``X-Correlation-ID`` for every line logged while the request runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = (request.headers.get("X-Request-ID") or "")[:100] or uuid.uuid4().hex
        token = bind(
            request_id=request_id,
            correlation_id=(request.headers.get("X-Correlation-ID") or "")[:100],
        )
        try:
            response = self.get_response(request)
        finally:
            reset(token)
        response.headers.setdefault("X-Request-ID", request_id)
        return response


# --- Celery ---------------------------------------------------------------------------------
_TASK_ARGS = {"event_id": "event_id", "system_id": "system", "correlation_id": "correlation_id"}
_task_tokens: dict[str, contextvars.Token] = {}


def _named_args(task, args, kwargs) -> dict[str, Any]:
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return dict(kwargs or {})
    return dict(bound.arguments)


def _task_prerun(task_id=None, task=None, args=None, kwargs=None, **_):
    named = _named_args(task, args, kwargs) if task is not None else {}
    fields = {field: named[arg] for arg, field in _TASK_ARGS.items() if arg in named}
    _task_tokens[task_id] = bind(task_id=task_id, task_name=getattr(task, "name", None), **fields)


def _task_postrun(task_id=None, **_):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        with contextlib.suppress(ValueError):
            reset(token)


def connect_celery_signals() -> None:
    """Bind the task id, name and id arguments around every task (called by the app)."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_prerun, weak=False, dispatch_uid="interlock-log-prerun")
    task_postrun.connect(_task_postrun, weak=False, dispatch_uid="interlock-log-postrun")
