"""Read-side queries of the orchestrator (the admin, the API and rules read through these)."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from .choices import OrderState
from .models import AuditRecord, ProductionOrder


def audit_trail(*, obj: models.Model) -> QuerySet[AuditRecord]:
    """The state changes of one object, newest first (served by ``audit_object_idx``)."""
    return AuditRecord.objects.for_object(obj).select_related("actor", "plant")


def audit_trace(*, correlation_id: str) -> QuerySet[AuditRecord]:
    """Everything that changed under one correlation id, in the order it happened."""
    return (
        AuditRecord.objects.filter(correlation_id=correlation_id)
        .select_related("plant", "content_type")
        .order_by("occurred_at", "id")
    )


def orders_waiting(
    *, state: str, longer_than: dt.timedelta, plant_ids: set[int] | None = None
) -> QuerySet[ProductionOrder]:
    """Orders that have been in ``state`` for longer than ``longer_than`` ("a stalled order
    shows which gate it waits on and since when"), oldest first."""
    OrderState(state)  # ValueError for an unknown state
    qs = ProductionOrder.objects.filter(
        state=state, state_changed_at__lte=timezone.now() - longer_than
    ).select_related("plant", "item")
    if plant_ids is not None:
        qs = qs.filter(plant_id__in=plant_ids)
    return qs.order_by("state_changed_at")
