"""The REST inbound adapter: ``POST /api/v1/events`` and ``POST /api/v1/events/bulk``.

The body is read and parsed here rather than by DRF's parser so that even a request that is
not JSON is stored (as a rejected message) before it is answered, and so that a parse
error can name its line and column. Only connected systems (API keys) may post events.
"""

from __future__ import annotations

import hashlib
import uuid

import orjson
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import error_body
from orchestrator.ingest import intake
from orchestrator.ingest.coalesce import ingest_single
from orchestrator.ingest.contract import EVENTS_DESCRIPTION
from orchestrator.ingest.intake import RawBody
from orchestrator.ingest.pipeline import ItemResult, ingest_batch
from plants.api.authentication import ApiKeyAuthentication


class IsConnectedSystem(permissions.BasePermission):
    message = "Events are posted by connected systems with their API key."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "system_plant_ids", None) is not None


class _PassThroughParser:
    """Accept any media type and leave the body alone (parsed in the view)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover
        return None


_Envelope = inline_serializer(
    "EventEnvelope",
    {
        "source": serializers.CharField(help_text="Code of the sending system, e.g. MES-P1."),
        "plant": serializers.CharField(help_text="Plant code, e.g. P1."),
        "type": serializers.CharField(help_text="Canonical event type, e.g. operation.confirmed."),
        "occurred_at": serializers.DateTimeField(),
        "message_id": serializers.CharField(required=False),
        "correlation_id": serializers.CharField(required=False),
        "payload": serializers.DictField(help_text="Plant-native fields (codes are mapped)."),
    },
)
_Result = inline_serializer(
    "EventResult",
    {
        "event_id": serializers.IntegerField(allow_null=True),
        "message_id": serializers.IntegerField(allow_null=True),
        "status": serializers.ChoiceField(
            ["accepted", "parked", "duplicate", "conflict", "quarantined", "rejected"]
        ),
        "waiting_for": serializers.CharField(
            required=False, help_text="Only when parked: the prerequisite it waits for."
        ),
        "correlation_id": serializers.CharField(),
        "idempotency_key": serializers.CharField(allow_null=True),
        "reasons": serializers.ListField(child=serializers.DictField()),
    },
)
_Error = inline_serializer(
    "InboundError",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "details": serializers.ListField(child=serializers.DictField()),
    },
)


#: A body over the limit is still read (hashed, not kept) up to this many times the limit,
#: so the client gets its 413 instead of a broken pipe; past that the connection is cut.
DRAIN_FACTOR = 4
_CHUNK = 64 * 1024


def read_body(request, limit: int) -> RawBody:
    """The request body, read in chunks: at most ``limit`` bytes kept, the rest drained and
    hashed (``complete`` is false when even draining stopped).

    A chunked upload has no Content-Length, so under WSGI Django's ``request.body`` is
    empty: the WSGI server (gunicorn) de-chunks it on ``wsgi.input``, which is read directly
    then. Under ASGI (uvicorn) there is no ``wsgi.input``: the server de-chunks, and
    Django's ASGI request reads the whole body whatever the headers say."""
    meta = request.META
    chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    # Otherwise HttpRequest.read: bounded by Content-Length under WSGI.
    stream = meta["wsgi.input"] if chunked and "wsgi.input" in meta else request
    chunks: list[bytes] = []
    size = 0
    digest = None  # hashed as read only past the limit (the kept bytes are not all)
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if digest is not None:
            digest.update(chunk)
        elif size > limit:
            kept = b"".join(chunks)
            digest = hashlib.sha256(kept)
            digest.update(chunk)
            chunks = [kept, chunk[: max(0, limit + 1 - len(kept))]]
        else:
            chunks.append(chunk)
        if size > limit * DRAIN_FACTOR:
            return RawBody(b"".join(chunks), size, digest.hexdigest(), complete=False)
    data = b"".join(chunks)
    return RawBody(data, size, digest.hexdigest() if digest is not None else None)


class _InboundView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated & IsConnectedSystem]
    parser_classes = [_PassThroughParser]

    def _read(self, request) -> tuple[intake.Parsed | None, Response | None]:
        """The parsed body, or the answer to a body that is too large or not JSON (stored
        either way, see :mod:`orchestrator.ingest.intake`)."""
        limit = settings.INTERLOCK_MAX_REQUEST_BYTES
        body = read_body(request._request, limit)
        if body.size > limit:
            return None, refusal_response(
                intake.too_large(principal=request.user, body=body, limit=limit)
            )
        self.raw_body = body
        parsed, refusal = intake.parse(principal=request.user, body=body)
        if refusal is not None:
            return None, refusal_response(refusal)
        return parsed, None


def refusal_response(refusal: intake.BodyRefusal) -> Response:
    """The answer to a stored refusal of a whole body (shared with the other inbound views)."""
    return Response(
        {
            **error_body(refusal.code, refusal.message, refusal.details),
            "message_id": refusal.message_id,
        },
        status=refusal.status,
    )


def _json(data, status: int) -> HttpResponse:
    """The answer to a connected system, serialised by orjson (a bulk answer is one result
    per item: DRF's renderer was a visible share of a bulk request)."""
    try:
        body = orjson.dumps(data)
    except TypeError:
        return Response(data, status=status)
    return HttpResponse(body, status=status, content_type="application/json")


class EventView(_InboundView):
    """Submit one event."""

    @extend_schema(
        operation_id="events_create",
        description=EVENTS_DESCRIPTION,
        request=_Envelope,
        responses={
            202: _Result,
            400: OpenApiResponse(_Error, description="invalid JSON or envelope"),
            403: OpenApiResponse(_Error, description="key of another system or plant"),
            409: OpenApiResponse(_Result, description="same business key, different payload"),
            413: _Error,
        },
        tags=["events"],
    )
    def post(self, request):
        body, error = self._read(request)
        if error is not None:
            return error
        envelope = intake.single_envelope(parsed=body)
        # Shares a batch and a commit with concurrent single events of this process.
        result = ingest_single(principal=request.user, envelope=envelope)
        code, data = single_answer(result)
        if code in (400, 403):
            return Response(data, status=code)
        return _json(data, status=code)


def single_answer(result: ItemResult) -> tuple[int, dict]:
    """HTTP status and body answering one event (shared with the lean ASGI path,
    ``connectors/inbound/asgi.py``, so both answer alike)."""
    if result.forbidden:
        return 403, error_body("permission_denied", result.reasons[0]["message"], result.reasons)
    if result.status == "rejected":
        noun = "problem" if len(result.reasons) == 1 else "problems"
        return 400, {
            **error_body(
                "validation_error", f"{len(result.reasons)} {noun} in the envelope", result.reasons
            ),
            "message_id": result.message_id,
        }
    return (409 if result.status == "conflict" else 202), result.as_dict()


class BulkEventView(_InboundView):
    """Submit up to ``INTERLOCK_BULK_MAX_ITEMS`` events; one result per item, in order."""

    @extend_schema(
        operation_id="events_bulk_create",
        description=EVENTS_DESCRIPTION,
        request=inline_serializer("EventBulk", {"events": serializers.ListField(child=_Envelope)}),
        responses={
            200: inline_serializer(
                "EventBulkResult", {"results": serializers.ListField(child=_Result)}
            ),
            400: _Error,
            413: _Error,
        },
        tags=["events"],
    )
    def post(self, request):
        body, error = self._read(request)
        if error is not None:
            return error
        envelopes, refusal = intake.bulk_envelopes(
            principal=request.user,
            body=self.raw_body,
            parsed=body,
            max_items=settings.INTERLOCK_BULK_MAX_ITEMS,
        )
        if refusal is not None:
            return refusal_response(refusal)
        results = ingest_batch(principal=request.user, envelopes=envelopes, request_id=uuid.uuid4())
        return _json({"results": [r.as_dict() for r in results]}, status=200)
