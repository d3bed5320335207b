"""django-filter FilterSets of the plants API."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Q
from django.utils import timezone

from . import models as m


class _MappingFilterSet(filters.FilterSet):
    plant = filters.CharFilter(field_name="plant__code")
    plant_code = filters.CharFilter()
    valid_on = filters.DateFilter(method="filter_valid_on", label="Valid on (YYYY-MM-DD)")
    valid_today = filters.BooleanFilter(method="filter_valid_today")

    def filter_valid_on(self, qs, name, value):
        return qs.filter(valid_from__lte=value).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=value)
        )

    def filter_valid_today(self, qs, name, value):
        today = timezone.localdate()
        valid = Q(valid_from__lte=today) & (Q(valid_to__isnull=True) | Q(valid_to__gt=today))
        return qs.filter(valid) if value else qs.exclude(valid)


class ItemMappingFilterSet(_MappingFilterSet):
    item = filters.CharFilter(field_name="item__code")

    class Meta:
        model = m.ItemMapping
        fields = ["plant", "plant_code", "item"]


class WorkCenterMappingFilterSet(_MappingFilterSet):
    work_center = filters.CharFilter(field_name="work_center__code")

    class Meta:
        model = m.WorkCenterMapping
        fields = ["plant", "plant_code", "work_center"]


class UomMappingFilterSet(_MappingFilterSet):
    uom = filters.CharFilter(field_name="uom__code")

    class Meta:
        model = m.UomMapping
        fields = ["plant", "plant_code", "uom"]


class StatusMappingFilterSet(_MappingFilterSet):
    class Meta:
        model = m.StatusMapping
        fields = ["plant", "plant_code", "domain", "canonical_status"]


class ConnectedSystemFilterSet(filters.FilterSet):
    plant = filters.CharFilter(field_name="plants__code")

    class Meta:
        model = m.ConnectedSystem
        fields = ["plant", "kind", "transport", "active"]


class WorkCenterFilterSet(filters.FilterSet):
    plant = filters.CharFilter(field_name="plant__code")

    class Meta:
        model = m.WorkCenter
        fields = ["plant", "constrained", "active"]
