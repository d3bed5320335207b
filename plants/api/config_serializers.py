"""Serializers of the configuration API: the read shapes of ``serializers``, made writable.

Relations are written as codes, exactly as they are read (``"plant": "P1"``,
``"item": "CMP-4711"``), so a client never looks up a database id. Validation beyond the
field types (overlapping validity, a value outside a parameter's range) is the model's
``full_clean()``, run by the service.
"""

from __future__ import annotations

from rest_framework import serializers

from .. import models as m
from . import serializers as read


def _code(model, **kwargs):
    return serializers.SlugRelatedField(slug_field="code", queryset=model.objects.all(), **kwargs)


class PlantWriteSerializer(read.PlantSerializer):
    class Meta(read.PlantSerializer.Meta):
        pass


class ConnectedSystemWriteSerializer(read.ConnectedSystemSerializer):
    plants = _code(m.Plant, many=True)
    credential_env = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Name of the environment variable (or *_FILE) holding the outbound "
        "credential: never the secret itself.",
    )

    class Meta(read.ConnectedSystemSerializer.Meta):
        fields = [*read.ConnectedSystemSerializer.Meta.fields, "credential_env", "token_url"]


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key as stored: its prefix, never the key or its hash."""

    system = serializers.SlugRelatedField(slug_field="code", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    revoked_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = m.ApiKey
        fields = [
            "prefix",
            "system",
            "name",
            "created_at",
            "created_by",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "revoked_by",
            "active",
        ]
        read_only_fields = fields


class ApiKeyIssueSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What the key is for, e.g. 'MES prod'.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyIssuedSerializer(ApiKeySerializer):
    """The answer to an issue: the only time the raw key is ever shown."""

    key = serializers.CharField(read_only=True, help_text="The raw key. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ItemMappingWriteSerializer(read.ItemMappingSerializer):
    plant = _code(m.Plant)
    item = _code(m.Item)


class WorkCenterMappingWriteSerializer(read.WorkCenterMappingSerializer):
    plant = _code(m.Plant)
    work_center = _code(m.WorkCenter)


class UomMappingWriteSerializer(read.UomMappingSerializer):
    plant = _code(m.Plant)
    uom = _code(m.UnitOfMeasure)


class StatusMappingWriteSerializer(read.StatusMappingSerializer):
    plant = _code(m.Plant)


class UnitOfMeasureWriteSerializer(read.UnitOfMeasureSerializer):
    class Meta(read.UnitOfMeasureSerializer.Meta):
        pass


class ItemWriteSerializer(read.ItemSerializer):
    base_uom = _code(m.UnitOfMeasure)


class ItemRevisionSerializer(serializers.ModelSerializer):
    item = _code(m.Item)

    class Meta:
        model = m.ItemRevision
        fields = ["id", "item", "revision", "released", "description"]


class WorkCenterWriteSerializer(read.WorkCenterSerializer):
    plant = _code(m.Plant)


class SupplierWriteSerializer(read.SupplierSerializer):
    class Meta(read.SupplierSerializer.Meta):
        pass


class SiteParameterSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.SiteParameter
        fields = [
            "key",
            "description",
            "value_type",
            "unit",
            "default_value",
            "minimum",
            "maximum",
        ]


class SiteParameterOverrideSerializer(serializers.ModelSerializer):
    parameter = serializers.SlugRelatedField(
        slug_field="key", queryset=m.SiteParameter.objects.all()
    )
    plant = _code(m.Plant)

    class Meta:
        model = m.SiteParameterOverride
        fields = ["id", "parameter", "plant", "value", "reason"]


class ReleaseWindowSerializer(serializers.ModelSerializer):
    plant = _code(m.Plant)

    class Meta:
        model = m.ReleaseWindow
        fields = ["id", "plant", "name", "weekday", "start_time", "end_time", "active"]


class ReleaseFreezeSerializer(serializers.ModelSerializer):
    plant = _code(m.Plant)

    class Meta:
        model = m.ReleaseFreeze
        fields = ["id", "plant", "starts_at", "ends_at", "reason"]


# --- bulk import ------------------------------------------------------------------------


class MappingImportSerializer(serializers.Serializer):
    """JSON form of a bulk import; a CSV file can be sent instead (multipart ``file`` or a
    ``text/csv`` body)."""

    rows = serializers.ListField(
        child=serializers.DictField(),
        help_text="One object per mapping, with the CSV columns as keys (codes, not ids).",
    )
    dry_run = serializers.BooleanField(default=False)


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Line of the CSV (header = 1), or index of rows[].")
    column = serializers.CharField()
    message = serializers.CharField()
    value = serializers.CharField()


class MappingImportResultSerializer(serializers.Serializer):
    table = serializers.CharField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    summary = serializers.CharField()


# --- onboarding -------------------------------------------------------------------------


class OnboardSerializer(serializers.Serializer):
    template = _code(m.Plant, help_text="The plant whose configuration is copied.")
    dry_run = serializers.BooleanField(default=True, help_text="Only show the diff.")
    include = serializers.MultipleChoiceField(
        choices=["mappings", "work_centers", "parameters", "systems", "calendar"],
        required=False,
        help_text="What to copy (default: everything).",
    )


class OnboardChangeSerializer(serializers.Serializer):
    table = serializers.CharField()
    action = serializers.ChoiceField(["create", "join", "exists", "conflict", "skip"])
    key = serializers.CharField()
    values = serializers.DictField()
    note = serializers.CharField(allow_blank=True)


class OnboardResultSerializer(serializers.Serializer):
    template = serializers.CharField()
    target = serializers.CharField()
    dry_run = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField())
    changes = OnboardChangeSerializer(many=True)
