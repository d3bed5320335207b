"""The exception workbench over REST: replay and discard, of messages and of events.

One view per operation; each loads the object within the caller's plants (someone who
may not even see it gets a 404, as in the trace) and calls one service in
``orchestrator.services.replay``, which checks the object-level permission (a 403 for an
auditor, who sees but may not act) and writes the audit record.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import PEOPLE_ONLY
from plants.selectors import scope_queryset

from ..models import Event, InboundMessage
from ..services import replay as services
from .serializers import code

TAGS = ["workbench"]

_Error = inline_serializer(
    "WorkbenchError",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "details": serializers.ListField(child=serializers.DictField()),
    },
)
ERRORS = {
    400: OpenApiResponse(_Error, description="Missing or invalid reason."),
    403: OpenApiResponse(_Error, description="No replay/discard permission at its plant."),
    404: OpenApiResponse(_Error, description="Not found at the caller's plants."),
    409: OpenApiResponse(_Error, description="Not in a state this action applies to."),
}


class WorkbenchMessageSerializer(serializers.ModelSerializer):
    """A stored message after an operator's action."""

    system = code(allow_null=True)
    plant = code(allow_null=True)
    handled_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "received_at",
            "system",
            "plant",
            "event_type",
            "correlation_id",
            "status",
            "reasons",
            "event",
            "replay_of",
            "handled_by",
            "handled_reason",
        ]


class WorkbenchEventSerializer(serializers.ModelSerializer):
    """A canonical event after an operator's action."""

    plant = code()
    system = code()

    class Meta:
        model = Event
        fields = [
            "id",
            "plant",
            "system",
            "event_type",
            "correlation_id",
            "idempotency_key",
            "status",
            "reasons",
            "waiting_for",
            "applied_at",
        ]


class DiscardInput(serializers.Serializer):
    """Request body of a discard."""

    reason = serializers.CharField(max_length=services.REASON_MAX, help_text="Why (audited).")


class _WorkbenchView(APIView):
    permission_classes = PEOPLE_ONLY
    model: type = InboundMessage

    def get_object(self, pk: int):
        perm = f"orchestrator.view_{self.model._meta.model_name}"
        qs = scope_queryset(self.model.objects.all(), user=self.request.user, perm=perm)
        return get_object_or_404(qs, pk=pk)


class MessageReplayView(_WorkbenchView):
    """Re-ingest a quarantined, rejected or conflicting message as its system (after a
    fix); the answer is the new message, which points back with ``replay_of``."""

    @extend_schema(
        tags=TAGS,
        operation_id="messages_replay",
        request=None,
        responses={200: WorkbenchMessageSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        replay = services.message_replay(message=self.get_object(pk), actor=request.user)
        return Response(WorkbenchMessageSerializer(replay).data)


class MessageDiscardView(_WorkbenchView):
    """Set a message aside for good, with a reason."""

    @extend_schema(
        tags=TAGS,
        operation_id="messages_discard",
        request=DiscardInput,
        responses={200: WorkbenchMessageSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        data = DiscardInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_discard(
            message=self.get_object(pk), actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(WorkbenchMessageSerializer(message).data)


class EventReplayView(_WorkbenchView):
    """Re-apply a quarantined or escalated event through its handler (after a fix)."""

    model = Event

    @extend_schema(
        tags=TAGS,
        operation_id="events_replay",
        request=None,
        responses={200: WorkbenchEventSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        event = services.event_replay(event=self.get_object(pk), actor=request.user)
        return Response(WorkbenchEventSerializer(event).data)


class EventDiscardView(_WorkbenchView):
    """Set a quarantined, escalated or parked event aside for good, with a reason."""

    model = Event

    @extend_schema(
        tags=TAGS,
        operation_id="events_discard",
        request=DiscardInput,
        responses={200: WorkbenchEventSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        data = DiscardInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.event_discard(
            event=self.get_object(pk), actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(WorkbenchEventSerializer(event).data)
