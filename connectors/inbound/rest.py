"""The REST inbound adapter: ``POST /api/v1/events`` and ``POST /api/v1/events/bulk``.

The body is read and parsed here rather than by DRF's parser so that even a request that is
not JSON is stored (as a rejected message) before it is answered, and so that a parse
error can name its line and column. Only connected systems (API keys) may post events.
"""

from __future__ import annotations

import json
import uuid

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import error_body
from orchestrator.ingest.coalesce import ingest_single
from orchestrator.ingest.normalize import Reason
from orchestrator.ingest.pipeline import ItemResult, ingest_batch, store_unparseable
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
            ["accepted", "duplicate", "conflict", "quarantined", "rejected"]
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


class _InboundView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated & IsConnectedSystem]
    parser_classes = [_PassThroughParser]

    def _read(self, request) -> tuple[object | None, Response | None]:
        limit = settings.INTERLOCK_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        too_big = Response(
            error_body(
                "request_too_large",
                f"request body over {limit} bytes",
                [
                    {
                        "path": "",
                        "code": "request_too_large",
                        "message": "split the batch",
                        "expected": limit,
                        "found": length,
                    }
                ],
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
        if length > limit:
            return None, too_big
        try:
            raw = request._request.body
        except RequestDataTooBig:
            return None, too_big
        try:
            return orjson.loads(raw), None  # several times faster than json on big batches
        except orjson.JSONDecodeError:
            pass  # json decides (it also reads NaN, huge integers) and names line and column
        try:
            return json.loads(raw), None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            col = getattr(exc, "colno", None)
            where = f"line {line} column {col}" if line else "body"
            reason = Reason(
                code="invalid_json",
                path="",
                message=f"not valid JSON at {where}: {getattr(exc, 'msg', exc)}",
            )
            message = store_unparseable(
                principal=request.user, raw=raw.decode("utf-8", "replace"), reason=reason
            )
            detail = {**reason.as_dict(), "line": line, "column": col, "message_id": message.pk}
            return None, Response(error_body("invalid_json", reason.message, [detail]), status=400)


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
        # Shares a batch and a commit with concurrent single events of this process.
        result = ingest_single(principal=request.user, envelope=body)
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
        envelopes = body.get("events") if isinstance(body, dict) else body
        if not isinstance(envelopes, list):
            return Response(
                error_body(
                    "validation_error",
                    'expected {"events": [...]} or a JSON array',
                    [{"path": "events", "code": "schema.type", "message": "must be an array"}],
                ),
                status=400,
            )
        limit = settings.INTERLOCK_BULK_MAX_ITEMS
        if len(envelopes) > limit:
            return Response(
                error_body(
                    "too_many_items",
                    f"{len(envelopes)} events in one request; the limit is {limit}",
                    [
                        {
                            "path": "events",
                            "code": "too_many_items",
                            "message": "split the batch",
                            "expected": limit,
                            "found": len(envelopes),
                        }
                    ],
                ),
                status=413,
            )
        results = ingest_batch(principal=request.user, envelopes=envelopes, request_id=uuid.uuid4())
        return _json({"results": [r.as_dict() for r in results]}, status=200)
