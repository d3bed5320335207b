"""From request bytes to envelopes: every refusal answered by path and code, and stored.

The inbound adapters (REST today, a lean ASGI path or a file drop tomorrow) hand the raw
bytes of a request to these functions and get back either the envelopes for
:func:`~orchestrator.ingest.pipeline.ingest_batch` or a :class:`BodyRefusal` (answer and
stored message). Nothing here knows about HTTP frameworks.

What is refused, and how it is kept (the design rule: *every message stored*):

- A body over the size limit, or that is not JSON, or nests too deeply: one rejected
  message holding ``{"raw": <prefix>, "size", "sha256", "truncated"}``: a bounded prefix
  of the bytes as text, so an oversized body cannot fill the database and an unstorable
  one (NUL, lone surrogates) is still inspectable.
- A bulk body of the wrong shape or with too many items: the same.
- An envelope PostgreSQL cannot hold (``\\u0000``, a lone surrogate, a non-finite number,
  an integer past 64 bits, deep nesting) or that is not an object at all (``null``): a
  :class:`Refused` item, stored like any rejected envelope by the pipeline, while the
  batch's valid envelopes go on.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from interlock import jsonsafe

from ..models import InboundMessage, MessageStatus
from .normalize import Reason

#: How much of a refused body is kept as text (the size and SHA-256 cover all of it).
RAW_PREFIX_BYTES = 64 * 1024


@dataclass(frozen=True)
class RawBody:
    """The bytes of a request as far as they were kept, with the size and hash of all."""

    data: bytes
    size: int
    #: SHA-256 of all ``size`` bytes when ``data`` is not all of them (else computed).
    digest: str | None = None
    complete: bool = True

    @classmethod
    def of(cls, data: bytes) -> RawBody:
        return cls(data=data, size=len(data))

    @property
    def sha256(self) -> str:
        # Only a refused body is hashed: accepted ones never pay for it.
        return self.digest or hashlib.sha256(self.data).hexdigest()

    def stored(self) -> dict[str, Any]:
        """What the message store keeps of a body it cannot keep as parsed JSON."""
        prefix = self.data[:RAW_PREFIX_BYTES]
        text = prefix.decode("utf-8", "replace").replace("\x00", "\ufffd")
        return {
            "raw": text,
            "size": self.size,
            "sha256": self.sha256,
            "truncated": len(prefix) < self.size,
        }


@dataclass(frozen=True)
class Refused:
    """An envelope refused before the pipeline could look at it: ``body`` is what the
    message store keeps instead of it, ``reasons`` say why (paths relative to the item)."""

    body: dict[str, Any]
    reasons: tuple[Reason, ...]


@dataclass
class BodyRefusal:
    """A whole request refused: the HTTP status, the error code and every detail."""

    status: int
    code: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)
    message_id: int | None = None


def _reason(problem: jsonsafe.Problem, prefix: str = "") -> Reason:
    path = problem.path
    if prefix:
        path = f"{prefix}{'' if not path or path.startswith('[') else '.'}{path}"
    return Reason(code=problem.code, path=path, message=problem.message, found=problem.found)


def store_refused_body(*, principal, body: RawBody, reasons: Iterable[Reason]) -> InboundMessage:
    """Keep a request that could not be split into envelopes (rejected, with reasons)."""
    now = timezone.now()
    return InboundMessage.objects.create(
        received_at=now,
        request_id=uuid.uuid4(),
        system=principal.system,
        source=principal.system.code,
        correlation_id=str(uuid.uuid4()),
        body=body.stored(),
        status=MessageStatus.REJECTED,
        reasons=[r.as_dict() for r in reasons],
        processed_at=now,
    )


def refuse_body(
    *, principal, body: RawBody, status: int, code: str, message: str, reasons: list[Reason]
) -> BodyRefusal:
    stored = store_refused_body(principal=principal, body=body, reasons=reasons)
    details = [{**r.as_dict(), "message_id": stored.pk} for r in reasons]
    return BodyRefusal(status, code, message, details, message_id=stored.pk)


def too_large(*, principal, body: RawBody, limit: int) -> BodyRefusal:
    reason = Reason(
        code="request_too_large",
        path="",
        message=f"the body has {body.size}{'' if body.complete else '+'} bytes; split the batch",
        expected=limit,
        found=body.size,
    )
    return refuse_body(
        principal=principal,
        body=body,
        status=413,
        code="request_too_large",
        message=f"request body over {limit} bytes",
        reasons=[reason],
    )


@dataclass(frozen=True)
class Parsed:
    """A parsed body; ``suspect`` when its envelopes must be screened value by value."""

    doc: Any
    suspect: bool


def parse(*, principal, body: RawBody) -> tuple[Parsed | None, BodyRefusal | None]:
    """The parsed document, or the stored refusal of a body that is not JSON (or nests
    past what a parser holds)."""
    try:
        return Parsed(*jsonsafe.loads(body.data)), None
    except jsonsafe.JsonError as exc:
        reason = Reason(code=exc.code, path="", message=exc.message)
        refusal = refuse_body(
            principal=principal,
            body=body,
            status=400,
            code=exc.code,
            message=exc.message,
            reasons=[reason],
        )
        for detail in refusal.details:
            detail.update(line=exc.line, column=exc.column)
        return None, refusal


def screen(envelope: Any, *, suspect: bool = True, depth: int = 0) -> Any:
    """``envelope`` itself when the layers below can hold it, else a :class:`Refused`.
    ``depth`` is how deep the envelope sits in its body (the limit counts from the top);
    an envelope from a body that is not ``suspect`` is not walked."""
    if envelope is None:
        return Refused(
            body={"raw": "null"},
            reasons=(
                Reason(
                    code="schema.type",
                    path="",
                    message="an event envelope must be a JSON object, not null",
                    expected="object",
                    found="null",
                ),
            ),
        )
    if not suspect:
        return envelope
    problems = jsonsafe.problems(envelope, max_depth=jsonsafe.MAX_DEPTH - depth)
    if not problems:
        return envelope
    return Refused(
        body=RawBody.of(_escaped(envelope)).stored(),
        reasons=tuple(_reason(p) for p in problems),
    )


def _escaped(envelope: Any) -> bytes:
    # The refused envelope as JSON text: escapes keep NUL and surrogates as six ASCII
    # characters; str() covers what json cannot write (non-finite markers write as NaN).
    try:
        return json.dumps(envelope, ensure_ascii=True).encode()
    except (ValueError, RecursionError):
        return repr(envelope).encode("ascii", "backslashreplace")


def bulk_envelopes(
    *, principal, body: RawBody, parsed: Parsed, max_items: int
) -> tuple[list[Any] | None, BodyRefusal | None]:
    """The envelopes of a bulk request (``{"events": [...]}`` or a bare array), each
    screened; or the stored refusal of a wrong shape or too many items."""
    doc = parsed.doc
    envelopes = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(envelopes, list):
        reason = Reason(
            code="schema.type",
            path="events",
            message='expected {"events": [...]} or a JSON array',
            expected="array",
            found=type(envelopes).__name__ if envelopes is not None else "null",
        )
        return None, refuse_body(
            principal=principal,
            body=body,
            status=400,
            code="validation_error",
            message=reason.message,
            reasons=[reason],
        )
    if len(envelopes) > max_items:
        reason = Reason(
            code="too_many_items",
            path="events",
            message="split the batch",
            expected=max_items,
            found=len(envelopes),
        )
        return None, refuse_body(
            principal=principal,
            body=body,
            status=413,
            code="too_many_items",
            message=f"{len(envelopes)} events in one request; the limit is {max_items}",
            reasons=[reason],
        )
    depth = 2 if isinstance(doc, dict) else 1
    return [screen(e, suspect=parsed.suspect, depth=depth) for e in envelopes], None


def single_envelope(*, parsed: Parsed) -> Any:
    """The one envelope of ``POST /events``, screened."""
    return screen(parsed.doc, suspect=parsed.suspect)
