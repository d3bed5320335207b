"""``GET /api/v1/trace/{correlation_id}``: the whole chain of one correlation id.

Thin on purpose: ``orchestrator.selectors_trace.trace_get`` gathers and scopes, the
serializers below only shape. A caller who may see nothing of the chain at their plants
gets a 404, exactly as for an id that never existed (no probing other plants' ids).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors_trace import trace_get
from .serializers import AuditRecordSerializer


class TraceReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    path = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
    expected = serializers.JSONField(required=False, allow_null=True)
    found = serializers.JSONField(required=False, allow_null=True)
    rule = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="A rule's reason: rule set, version, rule, condition and the facts read.",
    )


class TraceValidationSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        ["pending", "passed", "rejected", "quarantined", "failed"],
        help_text="rejected: the envelope; quarantined: schema, mapping or master data.",
    )
    reasons = TraceReasonSerializer(many=True)


class TraceMappingChangeSerializer(serializers.Serializer):
    path = serializers.CharField()
    sent = serializers.JSONField(allow_null=True)
    canonical = serializers.JSONField(allow_null=True)


class TraceMappingSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(["pending", "mapped", "failed", "not_reached"])
    canonical_payload = serializers.JSONField(allow_null=True)
    changes = TraceMappingChangeSerializer(many=True)
    note = serializers.CharField(allow_blank=True)


class TraceIdempotencySerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        ["accepted", "duplicate", "conflict"],
        allow_null=True,
        help_text="null: the message never reached the claim.",
    )
    event_id = serializers.IntegerField(allow_null=True)
    idempotency_key = serializers.CharField(allow_null=True)
    original_correlation_id = serializers.CharField(allow_null=True)
    explanation = serializers.CharField()


class TraceMessageSerializer(serializers.Serializer):
    """One raw message as received and what each stage made of it."""

    id = serializers.IntegerField(source="message.pk")
    received_at = serializers.DateTimeField(source="message.received_at")
    request_id = serializers.UUIDField(source="message.request_id")
    position = serializers.IntegerField(source="message.position")
    system = serializers.CharField(source="message.system.code", allow_null=True, default=None)
    plant = serializers.CharField(source="message.plant.code", allow_null=True, default=None)
    source = serializers.CharField(source="message.source")
    plant_code = serializers.CharField(source="message.plant_code")
    event_type = serializers.CharField(source="message.event_type")
    message_id = serializers.CharField(source="message.message_id")
    status = serializers.CharField(source="message.status")
    reasons = TraceReasonSerializer(source="message.reasons", many=True)
    processed_at = serializers.DateTimeField(source="message.processed_at", allow_null=True)
    body = serializers.JSONField(source="message.body", help_text="Exactly as received.")
    replay_of = serializers.IntegerField(source="message.replay_of_id", allow_null=True)
    replays = serializers.SerializerMethodField()
    handled_by = serializers.CharField(
        source="message.handled_by.username", allow_null=True, default=None
    )
    handled_reason = serializers.CharField(source="message.handled_reason")
    validation = TraceValidationSerializer()
    mapping = TraceMappingSerializer()
    idempotency = TraceIdempotencySerializer()

    def get_replays(self, stage) -> list[int]:
        return sorted(r.pk for r in stage.message.replays.all())


class TraceEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    plant = serializers.CharField(source="plant.code")
    system = serializers.CharField(source="system.code")
    event_type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    correlation_id = serializers.CharField()
    idempotency_key = serializers.CharField()
    payload_hash = serializers.CharField()
    payload = serializers.JSONField(help_text="Canonical payload (after site mapping).")
    status = serializers.CharField()
    reasons = TraceReasonSerializer(many=True)
    waiting_for = serializers.CharField()
    parked_at = serializers.DateTimeField(allow_null=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    rule_pins = serializers.JSONField()
    explanation = serializers.JSONField()


class TraceGateSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    plant = serializers.CharField(source="plant.code")
    kind = serializers.CharField()
    order = serializers.CharField(source="order.number", allow_null=True, default=None)
    lot = serializers.CharField(source="lot.number", allow_null=True, default=None)
    inspection = serializers.CharField(source="inspection.number", allow_null=True, default=None)
    waits_for = serializers.CharField()
    state = serializers.CharField()
    since = serializers.DateTimeField(source="state_changed_at", allow_null=True)
    reason = serializers.CharField()
    rule = serializers.CharField()


class TraceOutboxSerializer(serializers.Serializer):
    """A message to another system written by this chain (fields as far as tracked)."""

    id = serializers.IntegerField()
    description = serializers.CharField()
    event_id = serializers.IntegerField(required=False, allow_null=True)
    target_system = serializers.CharField(required=False)
    message_type = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    idempotency_key = serializers.CharField(required=False)
    rule = serializers.CharField(required=False, allow_blank=True)
    created_at = serializers.DateTimeField(required=False, allow_null=True)
    attempts = serializers.IntegerField(required=False)
    delivered_at = serializers.DateTimeField(required=False, allow_null=True)
    last_error = serializers.CharField(required=False, allow_blank=True)
    system = serializers.CharField(required=False, allow_null=True)
    reference = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    next_attempt_at = serializers.DateTimeField(required=False, allow_null=True)
    attempts_log = serializers.ListField(child=serializers.DictField(), required=False)


class TraceSerializer(serializers.Serializer):
    """The chain under one correlation id, stage by stage."""

    correlation_id = serializers.CharField()
    messages = TraceMessageSerializer(many=True)
    events = TraceEventSerializer(many=True)
    transitions = AuditRecordSerializer(many=True)
    gates = TraceGateSerializer(many=True)
    outbox = TraceOutboxSerializer(
        many=True,
        allow_null=True,
        help_text="Deliveries to other systems; null while delivery is not tracked yet.",
    )


class TraceView(APIView):
    """Everything Interlock did under one correlation id, limited to the caller's plants."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="trace_retrieve",
        tags=["trace"],
        summary="The whole chain of a correlation id",
        responses={
            200: TraceSerializer,
            404: OpenApiResponse(description="Nothing under this id at the caller's plants."),
        },
    )
    def get(self, request, correlation_id: str):
        trace = trace_get(correlation_id=correlation_id, user=request.user)
        if trace.empty:
            raise NotFound(f"No trace {correlation_id!r} at your plants.")
        return Response(TraceSerializer(trace).data)
