"""Query filters of the orchestrator read API: plant and master data by code, states by
their canonical values."""

from __future__ import annotations

import datetime as dt

import django_filters as df

from plants.choices import LotStatus

from ..choices import InspectionState, NonconformanceState, OrderState
from ..models import AuditRecord, Inspection, Lot, Nonconformance, ProductionOrder


class UtcDateTimeFilter(df.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC. PostgreSQL refuses offsets past ±15:59 that
    Python reads (``+18:30``): the value is converted before it reaches the query."""

    def filter(self, qs, value):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return super().filter(qs, value)


class PlantCodeFilterSet(df.FilterSet):
    plant = df.CharFilter(field_name="plant__code", help_text="Plant code, e.g. P1.")
    number = df.CharFilter(field_name="number", help_text="Exact number (unique per plant).")


class OrderFilterSet(PlantCodeFilterSet):
    state = df.MultipleChoiceFilter(choices=OrderState.choices)
    item = df.CharFilter(field_name="item__code", help_text="Canonical item code.")
    due_before = df.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = ProductionOrder
        fields = ["plant", "number", "state", "item"]


class LotFilterSet(PlantCodeFilterSet):
    status = df.MultipleChoiceFilter(choices=LotStatus.choices)
    state = df.MultipleChoiceFilter(
        field_name="status", choices=LotStatus.choices, help_text="Alias of status."
    )
    item = df.CharFilter(field_name="item__code")
    supplier = df.CharFilter(field_name="supplier__code")

    class Meta:
        model = Lot
        fields = ["plant", "number", "status", "item"]


class InspectionFilterSet(PlantCodeFilterSet):
    state = df.MultipleChoiceFilter(choices=InspectionState.choices)
    item = df.CharFilter(field_name="lot__item__code")
    lot = df.CharFilter(field_name="lot__number")
    order = df.CharFilter(field_name="order__number")

    class Meta:
        model = Inspection
        fields = ["plant", "number", "state", "lot", "order"]


class NonconformanceFilterSet(PlantCodeFilterSet):
    state = df.MultipleChoiceFilter(choices=NonconformanceState.choices)
    item = df.CharFilter(field_name="lot__item__code")
    lot = df.CharFilter(field_name="lot__number")
    order = df.CharFilter(field_name="order__number")

    class Meta:
        model = Nonconformance
        fields = ["plant", "number", "state", "lot", "order"]


class AuditRecordFilterSet(df.FilterSet):
    plant = df.CharFilter(field_name="plant__code")
    correlation_id = df.CharFilter()
    object_type = df.CharFilter(
        method="filter_object_type", help_text="app_label.model, e.g. orchestrator.productionorder"
    )
    object_id = df.CharFilter()
    transition = df.CharFilter()
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")

    class Meta:
        model = AuditRecord
        fields = ["plant", "correlation_id", "object_type", "object_id", "transition"]

    def filter_object_type(self, queryset, name, value):
        app_label, _, model = value.lower().partition(".")
        return queryset.filter(content_type__app_label=app_label, content_type__model=model)
