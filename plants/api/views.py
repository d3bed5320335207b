"""Read endpoints of the plants app: plants, connected systems, master data, site mappings.

All are plant-scoped through :class:`PlantScopedReadOnlyViewSet`; company-wide master data
is readable by anyone who holds its view permission somewhere (and by connected systems).
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils import timezone

from .. import filtersets as f
from .. import models as m
from . import serializers as s
from .scoping import PlantScopedReadOnlyViewSet


class PlantViewSet(PlantScopedReadOnlyViewSet):
    queryset = m.Plant.objects.all()
    serializer_class = s.PlantSerializer
    lookup_field = "code"
    filterset_fields = ["profile", "active"]
    search_fields = ["code", "name"]
    plant_query_param = "code"


class ConnectedSystemViewSet(PlantScopedReadOnlyViewSet):
    queryset = m.ConnectedSystem.objects.prefetch_related(
        Prefetch("plants", queryset=m.Plant.objects.only("pk", "code"))
    )
    serializer_class = s.ConnectedSystemSerializer
    filterset_class = f.ConnectedSystemFilterSet
    lookup_field = "code"
    search_fields = ["code", "name"]

    def get_queryset(self):
        # Least disclosure: a system's key shows that system only, never the base URLs,
        # auth types or plants of the systems it shares a plant with.
        qs = super().get_queryset()
        principal = getattr(self.request, "user", None)
        system = getattr(principal, "system", None)
        if getattr(principal, "system_plant_ids", None) is not None and system is not None:
            qs = qs.filter(pk=system.pk)
        return qs


class _MappingViewSet(PlantScopedReadOnlyViewSet):
    ordering_fields = ["plant_code", "valid_from"]
    search_fields = ["plant_code", "note"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.localdate()}


class ItemMappingViewSet(_MappingViewSet):
    queryset = m.ItemMapping.objects.select_related("plant", "item")
    serializer_class = s.ItemMappingSerializer
    filterset_class = f.ItemMappingFilterSet


class WorkCenterMappingViewSet(_MappingViewSet):
    queryset = m.WorkCenterMapping.objects.select_related("plant", "work_center")
    serializer_class = s.WorkCenterMappingSerializer
    filterset_class = f.WorkCenterMappingFilterSet


class UomMappingViewSet(_MappingViewSet):
    queryset = m.UomMapping.objects.select_related("plant", "uom")
    serializer_class = s.UomMappingSerializer
    filterset_class = f.UomMappingFilterSet


class StatusMappingViewSet(_MappingViewSet):
    queryset = m.StatusMapping.objects.select_related("plant")
    serializer_class = s.StatusMappingSerializer
    filterset_class = f.StatusMappingFilterSet


class ItemViewSet(PlantScopedReadOnlyViewSet):
    queryset = m.Item.objects.select_related("base_uom").prefetch_related(
        Prefetch("revisions", queryset=m.ItemRevision.objects.order_by("revision"))
    )
    serializer_class = s.ItemSerializer
    lookup_field = "code"
    filterset_fields = ["item_type", "critical", "active"]
    search_fields = ["code", "description"]


class UnitOfMeasureViewSet(PlantScopedReadOnlyViewSet):
    queryset = m.UnitOfMeasure.objects.all()
    serializer_class = s.UnitOfMeasureSerializer
    lookup_field = "code"
    filterset_fields = ["dimension"]


class WorkCenterViewSet(PlantScopedReadOnlyViewSet):
    queryset = m.WorkCenter.objects.select_related("plant")
    serializer_class = s.WorkCenterSerializer
    filterset_class = f.WorkCenterFilterSet
    lookup_field = "code"
    search_fields = ["code", "name"]


class SupplierViewSet(PlantScopedReadOnlyViewSet):
    queryset = m.Supplier.objects.all()
    serializer_class = s.SupplierSerializer
    lookup_field = "code"
    filterset_fields = ["active"]
    search_fields = ["code", "name"]
