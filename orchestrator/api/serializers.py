"""Output serializers of the orchestrator read API (canonical codes, never internal ids of
master data: a client knows ``P1`` and ``BRKT-100``, not plant 7 and item 4711)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    AuditRecord,
    Disposition,
    Gate,
    Inspection,
    InspectionResult,
    Lot,
    LotGenealogy,
    Nonconformance,
    Operation,
    ProductionOrder,
)


def code(source: str | None = None, **kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="code", read_only=True, source=source, **kwargs)


def number(source: str | None = None, **kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="number", read_only=True, source=source, allow_null=True, **kwargs
    )


class OperationSerializer(serializers.ModelSerializer):
    work_center = code()

    class Meta:
        model = Operation
        fields = [
            "sequence",
            "description",
            "work_center",
            "planned_qty",
            "confirmed_qty",
            "scrapped_qty",
            "state",
            "state_changed_at",
        ]


class GateSerializer(serializers.ModelSerializer):
    """A dependency gate of an order: what step waits for what, and since when
    ("goods receipt for WO-1001 waits for inspection INS-77 since 10:42")."""

    inspection = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)

    class Meta:
        model = Gate
        fields = [
            "id",
            "kind",
            "state",
            "waits_for",
            "inspection",
            "reason",
            "rule",
            "state_changed_at",
        ]


class OrderSerializer(serializers.ModelSerializer):
    """An order with its operations (list and detail alike: one schema component per
    state vocabulary keeps the OpenAPI enums unambiguous)."""

    plant = code()
    item = code()
    uom = code()
    held_from = serializers.CharField(
        read_only=True, help_text="State the order was in when last put on hold."
    )
    operations = OperationSerializer(many=True, read_only=True)
    gates = GateSerializer(many=True, read_only=True)

    class Meta:
        model = ProductionOrder
        fields = [
            "id",
            "plant",
            "number",
            "item",
            "routing_revision",
            "bom_revision",
            "target_qty",
            "uom",
            "due_date",
            "confirmed_qty",
            "scrapped_qty",
            "erp_reference",
            "state",
            "state_changed_at",
            "held_from",
            "created_at",
            "updated_at",
            "operations",
            "gates",
        ]


class LotSerializer(serializers.ModelSerializer):
    plant = code()
    item = code()
    uom = code()
    supplier = code(allow_null=True)
    producing_order = number()

    class Meta:
        model = Lot
        fields = [
            "id",
            "plant",
            "number",
            "item",
            "qty",
            "uom",
            "expires_on",
            "supplier",
            "supplier_lot",
            "producing_order",
            "status",
            "state_changed_at",
            "created_at",
        ]


class ParentLinkSerializer(serializers.ModelSerializer):
    """A component lot that went into this lot."""

    lot = serializers.CharField(source="parent.number", read_only=True)
    plant = serializers.CharField(source="parent.plant.code", read_only=True)
    order = number()

    class Meta:
        model = LotGenealogy
        fields = ["lot", "plant", "qty", "order"]


class ChildLinkSerializer(ParentLinkSerializer):
    """A lot this lot went into."""

    lot = serializers.CharField(source="child.number", read_only=True)
    plant = serializers.CharField(source="child.plant.code", read_only=True)


class LotDetailSerializer(LotSerializer):
    parents = ParentLinkSerializer(source="parent_links", many=True, read_only=True)
    children = ChildLinkSerializer(source="child_links", many=True, read_only=True)

    class Meta(LotSerializer.Meta):
        fields = [*LotSerializer.Meta.fields, "parents", "children"]


class InspectionResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = InspectionResult
        fields = [
            "characteristic",
            "lower_limit",
            "upper_limit",
            "measured_value",
            "observation",
            "conforming",
            "recorded_at",
        ]


class DispositionSerializer(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)
    approved_by = serializers.CharField(
        source="approved_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Disposition
        fields = ["decision", "reason", "decided_by", "decided_at", "approved_by", "approved_at"]


class InspectionSerializer(serializers.ModelSerializer):
    plant = code()
    lot = number()
    order = number()
    plan = code(allow_null=True)
    results = InspectionResultSerializer(many=True, read_only=True)
    dispositions = DispositionSerializer(many=True, read_only=True)

    class Meta:
        model = Inspection
        fields = [
            "id",
            "plant",
            "number",
            "kind",
            "plan",
            "lot",
            "order",
            "qms_reference",
            "requested_at",
            "state",
            "state_changed_at",
            "results",
            "dispositions",
        ]


class NonconformanceSerializer(serializers.ModelSerializer):
    plant = code()
    lot = number()
    order = number()
    inspection = number()
    supplier = code(allow_null=True)

    class Meta:
        model = Nonconformance
        fields = [
            "id",
            "plant",
            "number",
            "title",
            "description",
            "lot",
            "order",
            "inspection",
            "supplier",
            "disposition",
            "capa_reference",
            "state",
            "state_changed_at",
            "created_at",
        ]


class AuditRecordSerializer(serializers.ModelSerializer):
    plant = code(allow_null=True)
    object_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "occurred_at",
            "actor_label",
            "object_type",
            "object_id",
            "object_repr",
            "plant",
            "field",
            "transition",
            "source_state",
            "target_state",
            "reason",
            "correlation_id",
        ]

    @extend_schema_field(OpenApiTypes.STR)
    def get_object_type(self, obj: AuditRecord) -> str:
        """``app_label.model``, e.g. ``orchestrator.productionorder``."""
        return f"{obj.content_type.app_label}.{obj.content_type.model}"
