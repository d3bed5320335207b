"""Output serializers of the plants read API (codes, not ids, wherever a code exists)."""

from __future__ import annotations

from rest_framework import serializers

from .. import models as m


class PlantSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.Plant
        fields = ["code", "name", "profile", "timezone", "erp_company_code", "active"]


class ConnectedSystemSerializer(serializers.ModelSerializer):
    plants = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = m.ConnectedSystem
        # Transport settings but never credentials (only the env var's *name* exists anyway).
        fields = [
            "code",
            "name",
            "kind",
            "plants",
            "transport",
            "base_url",
            "auth_type",
            "timeout_seconds",
            "rate_limit_per_second",
            "max_attempts",
            "active",
        ]


class _MappingSerializer(serializers.ModelSerializer):
    plant = serializers.SlugRelatedField(slug_field="code", read_only=True)
    valid_today = serializers.SerializerMethodField()

    def get_valid_today(self, obj) -> bool:
        return obj.is_valid_on(self.context["today"])

    base_fields = ["id", "plant", "plant_code", "valid_from", "valid_to", "valid_today", "note"]


class ItemMappingSerializer(_MappingSerializer):
    item = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = m.ItemMapping
        fields = [*_MappingSerializer.base_fields, "item", "revision"]


class WorkCenterMappingSerializer(_MappingSerializer):
    work_center = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = m.WorkCenterMapping
        fields = [*_MappingSerializer.base_fields, "work_center"]


class UomMappingSerializer(_MappingSerializer):
    uom = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = m.UomMapping
        fields = [
            *_MappingSerializer.base_fields,
            "uom",
            "factor",
            "decimal_places",
            "rounding_mode",
        ]


class StatusMappingSerializer(_MappingSerializer):
    class Meta:
        model = m.StatusMapping
        fields = [*_MappingSerializer.base_fields, "domain", "canonical_status"]


class ItemSerializer(serializers.ModelSerializer):
    base_uom = serializers.SlugRelatedField(slug_field="code", read_only=True)
    revisions = serializers.SlugRelatedField(slug_field="revision", many=True, read_only=True)

    class Meta:
        model = m.Item
        fields = [
            "code",
            "description",
            "item_type",
            "base_uom",
            "shelf_life_days",
            "critical",
            "active",
            "revisions",
        ]


class UnitOfMeasureSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.UnitOfMeasure
        fields = ["code", "name", "dimension"]


class WorkCenterSerializer(serializers.ModelSerializer):
    plant = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = m.WorkCenter
        fields = ["code", "name", "plant", "constrained", "capacity_per_hour", "active"]


class SupplierSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.Supplier
        fields = ["code", "name", "active"]
