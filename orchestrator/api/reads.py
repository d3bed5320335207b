"""Read endpoints of what flows through Interlock: goods receipts, inbound messages (and
the quarantined ones), exceptions (events that need a person) and the outbox.

Plant-scoped like every read API (``PlantScopedReadOnlyViewSet``): a person sees the rows
of the plants where they hold the view permission; a connected system, only goods receipts
and its plants' outbox (what it may act on), never other systems' raw messages. Replay and
discard stay the workbench's explicit endpoints (``messages/{id}/replay`` …).
"""

from __future__ import annotations

import django_filters as df
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from plants.api.scoping import PlantScopedReadOnlyViewSet

from ..choices import GoodsReceiptState
from ..models import (
    Event,
    EventStatus,
    GoodsReceipt,
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    OutboxStatus,
)
from ..models.outbox import DeliveryAttempt
from .outbox import OutboxMessageSerializer
from .serializers import code, number
from .workbench import WorkbenchEventSerializer, WorkbenchMessageSerializer

TAGS = ["flow"]
#: Event states an operator has to look at (the workbench's exceptions).
EXCEPTION_STATES = (EventStatus.QUARANTINED, EventStatus.ESCALATED, EventStatus.PARKED)
#: Message states that were not taken as they came (the quarantine in the wide sense).
QUARANTINE_STATES = (MessageStatus.QUARANTINED, MessageStatus.REJECTED, MessageStatus.CONFLICT)


# --- serializers ------------------------------------------------------------------------


class GoodsReceiptSerializer(serializers.ModelSerializer):
    plant = code()
    order = number()
    lot = number()
    item = code()
    uom = code()

    class Meta:
        model = GoodsReceipt
        fields = [
            "id",
            "plant",
            "number",
            "order",
            "lot",
            "item",
            "qty",
            "uom",
            "erp_document",
            "received_at",
            "state",
            "state_changed_at",
        ]


class MessageSerializer(WorkbenchMessageSerializer):
    """A stored inbound message: the envelope as received and what was decided."""

    class Meta(WorkbenchMessageSerializer.Meta):
        fields = [
            *WorkbenchMessageSerializer.Meta.fields,
            "source",
            "plant_code",
            "message_id",
            "processed_at",
            "body",
        ]


class ExceptionSerializer(WorkbenchEventSerializer):
    class Meta(WorkbenchEventSerializer.Meta):
        fields = [*WorkbenchEventSerializer.Meta.fields]


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "attempted_at", "outcome", "status_code", "error", "duration_ms"]


class OutboxDetailSerializer(OutboxMessageSerializer):
    attempts_log = DeliveryAttemptSerializer(source="attempts_list", many=True, read_only=True)

    class Meta(OutboxMessageSerializer.Meta):
        fields = [*OutboxMessageSerializer.Meta.fields, "rule", "payload", "attempts_log"]


# --- filters ----------------------------------------------------------------------------


class GoodsReceiptFilterSet(df.FilterSet):
    plant = df.CharFilter(field_name="plant__code")
    state = df.MultipleChoiceFilter(choices=GoodsReceiptState.choices)
    order = df.CharFilter(field_name="order__number")
    lot = df.CharFilter(field_name="lot__number")
    item = df.CharFilter(field_name="item__code")

    class Meta:
        model = GoodsReceipt
        fields = ["plant", "number", "state", "order", "lot", "item"]


class MessageFilterSet(df.FilterSet):
    plant = df.CharFilter(field_name="plant__code")
    system = df.CharFilter(field_name="system__code")
    status = df.MultipleChoiceFilter(choices=MessageStatus.choices)
    type = df.CharFilter(field_name="event_type")
    since = df.IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")

    class Meta:
        model = InboundMessage
        fields = ["plant", "system", "status", "type", "correlation_id"]


class ExceptionFilterSet(df.FilterSet):
    plant = df.CharFilter(field_name="plant__code")
    status = df.MultipleChoiceFilter(choices=EventStatus.choices)
    type = df.CharFilter(field_name="event_type")

    class Meta:
        model = Event
        fields = ["plant", "status", "type", "correlation_id"]


class OutboxFilterSet(df.FilterSet):
    plant = df.CharFilter(field_name="plant__code")
    system = df.CharFilter(field_name="system__code")
    status = df.MultipleChoiceFilter(choices=OutboxStatus.choices)
    type = df.CharFilter(field_name="message_type")

    class Meta:
        model = OutboxMessage
        fields = ["plant", "system", "status", "type", "target_system", "correlation_id"]


# --- views ------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class GoodsReceiptViewSet(PlantScopedReadOnlyViewSet):
    """Goods receipts (pending → posted → reversed), with order, lot and ERP document."""

    queryset = GoodsReceipt.objects.select_related("plant", "order", "lot", "item", "uom")
    serializer_class = GoodsReceiptSerializer
    filterset_class = GoodsReceiptFilterSet
    search_fields = ["number", "erp_document"]
    ordering_fields = ["received_at", "number"]


@extend_schema(tags=TAGS)
class MessageViewSet(PlantScopedReadOnlyViewSet):
    """Inbound messages exactly as received, with status and machine-readable reasons.
    ``/messages/quarantined`` lists those that were not taken (quarantined, rejected,
    conflicting)."""

    queryset = InboundMessage.objects.select_related("system", "plant", "handled_by")
    serializer_class = MessageSerializer
    filterset_class = MessageFilterSet
    system_readable = False
    search_fields = ["message_id", "correlation_id"]
    ordering_fields = ["received_at"]

    @extend_schema(
        tags=TAGS,
        operation_id="messages_quarantined_list",
        responses=MessageSerializer(many=True),
    )
    @action(detail=False)
    def quarantined(self, request):
        queryset = self.filter_queryset(self.get_queryset().filter(status__in=QUARANTINE_STATES))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema(tags=TAGS)
class ExceptionViewSet(PlantScopedReadOnlyViewSet):
    """Canonical events that need a person: quarantined, escalated, or parked (waiting for
    a prerequisite; ``reasons`` and ``waiting_for`` say which)."""

    queryset = Event.objects.filter(status__in=EXCEPTION_STATES).select_related("plant", "system")
    serializer_class = ExceptionSerializer
    filterset_class = ExceptionFilterSet
    system_readable = False
    ordering_fields = ["received_at"]


@extend_schema(tags=TAGS)
class OutboxViewSet(PlantScopedReadOnlyViewSet):
    """Messages to other systems and their delivery (the detail lists every attempt)."""

    queryset = OutboxMessage.objects.select_related("plant", "system")
    serializer_class = OutboxMessageSerializer
    filterset_class = OutboxFilterSet
    ordering_fields = ["created_at", "next_attempt_at"]

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related(
                Prefetch(
                    "attempts_log",
                    DeliveryAttempt.objects.order_by("number"),
                    to_attr="attempts_list",
                )
            )
        return qs

    def get_serializer_class(self):
        return OutboxDetailSerializer if self.action == "retrieve" else OutboxMessageSerializer
