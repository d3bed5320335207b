"""Read endpoints of the orchestrator: orders, lots, inspections, nonconformances and the
audit trail, each limited to the caller's plants by ``PlantScopedReadOnlyViewSet``.

Every queryset names its joins and prefetches, so a page costs a fixed number of queries
whatever its size (the tests pin the bound).
"""

from __future__ import annotations

from django.db.models import Prefetch

from plants.api.scoping import PlantScopedReadOnlyViewSet

from ..models import (
    AuditRecord,
    Disposition,
    Gate,
    Inspection,
    Lot,
    LotGenealogy,
    Nonconformance,
    Operation,
    ProductionOrder,
)
from . import filtersets, serializers


class OrderViewSet(PlantScopedReadOnlyViewSet):
    """Production orders with their current lifecycle state and their operations."""

    queryset = ProductionOrder.objects.select_related("plant", "item", "uom").prefetch_related(
        Prefetch("operations", Operation.objects.select_related("work_center")),
        Prefetch("gates", Gate.objects.select_related("inspection")),
    )
    serializer_class = serializers.OrderSerializer
    filterset_class = filtersets.OrderFilterSet
    search_fields = ["number", "erp_reference"]
    ordering_fields = ["number", "due_date", "state_changed_at", "created_at"]


class LotViewSet(PlantScopedReadOnlyViewSet):
    """Lots with inventory status; the detail adds genealogy (component and output lots)."""

    queryset = Lot.objects.select_related("plant", "item", "uom", "supplier", "producing_order")
    filterset_class = filtersets.LotFilterSet
    search_fields = ["number", "supplier_lot"]
    ordering_fields = ["number", "expires_on", "created_at"]

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            links = LotGenealogy.objects.select_related("order")
            qs = qs.prefetch_related(
                Prefetch("parent_links", links.select_related("parent__plant")),
                Prefetch("child_links", links.select_related("child__plant")),
            )
        return qs

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.LotDetailSerializer
        return serializers.LotSerializer


class InspectionViewSet(PlantScopedReadOnlyViewSet):
    """Inspections with their result lines and dispositions."""

    queryset = Inspection.objects.select_related("plant", "lot", "order", "plan").prefetch_related(
        "results",
        Prefetch("dispositions", Disposition.objects.select_related("decided_by", "approved_by")),
    )
    serializer_class = serializers.InspectionSerializer
    filterset_class = filtersets.InspectionFilterSet
    search_fields = ["number", "qms_reference"]
    ordering_fields = ["number", "requested_at"]


class NonconformanceViewSet(PlantScopedReadOnlyViewSet):
    """Nonconformances with disposition and CAPA reference."""

    queryset = Nonconformance.objects.select_related(
        "plant", "lot", "order", "inspection", "supplier"
    )
    serializer_class = serializers.NonconformanceSerializer
    filterset_class = filtersets.NonconformanceFilterSet
    search_fields = ["number", "title", "capa_reference"]
    ordering_fields = ["number", "created_at"]


class AuditRecordViewSet(PlantScopedReadOnlyViewSet):
    """The audit trail: filter by ``correlation_id`` for an event's trace, or by
    ``object_type`` + ``object_id`` for one object's history."""

    queryset = AuditRecord.objects.select_related("plant", "content_type")
    serializer_class = serializers.AuditRecordSerializer
    filterset_class = filtersets.AuditRecordFilterSet
    ordering_fields = ["occurred_at"]
