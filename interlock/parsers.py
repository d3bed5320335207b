"""The one request parser of the API: JSON, checked for what PostgreSQL cannot hold.

Its own module because DRF reads ``DEFAULT_PARSER_CLASSES`` while ``rest_framework.views``
is being imported: it must not import views (``interlock.api`` does).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import parsers, status

from . import jsonsafe
from .errors import DomainError, ErrorDetail


class SafeJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing by path what PostgreSQL cannot hold (NUL, lone
    surrogates, non-finite numbers, integers past 64 bits, deep nesting) and bodies over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413): the same checks as the inbound event API
    (:mod:`interlock.jsonsafe`), so no view ever passes them on to the database."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit else stream.read()
        if limit and len(raw) > limit:
            raise DomainError(
                message=f"request body over {limit} bytes",
                code="request_too_large",
                details=[
                    ErrorDetail(path="", code="request_too_large", message="", expected=limit)
                ],
                http_status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            doc, _ = jsonsafe.loads(raw)
        except jsonsafe.JsonError as exc:
            detail = ErrorDetail(path="", code=exc.code, message=exc.message)
            raise DomainError(message=exc.message, code=exc.code, details=[detail]) from None
        problems = jsonsafe.problems(doc)
        if problems:
            noun = "problem" if len(problems) == 1 else "problems"
            raise DomainError(
                message=f"{len(problems)} {noun} in the request",
                code="validation_error",
                details=[
                    ErrorDetail(path=p.path, code=p.code, message=p.message, found=p.found)
                    for p in problems
                ],
            )
        return doc
