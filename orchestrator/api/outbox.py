"""Replay of a dead-lettered outbox message over REST (``POST /api/v1/outbox/{id}/replay``).

Loads the row within the caller's plants (invisible → 404) and calls
``orchestrator.services.replay.outbox_replay``, which checks
``orchestrator.replay_outboxmessage`` at the row's plant (403) and audits the replay.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import PEOPLE_ONLY
from plants.selectors import scope_queryset

from ..models.outbox import OutboxMessage
from ..services.replay import outbox_replay
from .serializers import code
from .workbench import ERRORS


class OutboxMessageSerializer(serializers.ModelSerializer):
    """An outbox message and its delivery state."""

    plant = code()
    system = code(allow_null=True)

    class Meta:
        model = OutboxMessage
        fields = [
            "id",
            "plant",
            "target_system",
            "system",
            "message_type",
            "idempotency_key",
            "correlation_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "delivered_at",
            "reference",
            "created_at",
        ]


class OutboxReplayView(APIView):
    """Put a dead-lettered message back in the delivery queue (after a fix), with a fresh
    attempt budget; the receiver deduplicates by its unchanged idempotency key."""

    permission_classes = PEOPLE_ONLY

    @extend_schema(
        tags=["workbench"],
        operation_id="outbox_replay",
        request=None,
        responses={200: OutboxMessageSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        qs = scope_queryset(
            OutboxMessage.objects.all(), user=request.user, perm="orchestrator.view_outboxmessage"
        )
        message = outbox_replay(message=get_object_or_404(qs, pk=pk), actor=request.user)
        message = OutboxMessage.objects.select_related("plant", "system").get(pk=message.pk)
        return Response(OutboxMessageSerializer(message).data)
