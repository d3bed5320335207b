"""The configuration API: what a plant admin or the board configures in the admin.

CRUD configuration is a ViewSet per model behind the router (``GET`` list/detail, ``POST``,
``PUT``/``PATCH``, and ``DELETE`` where deleting is allowed); actions are explicit
endpoints (issue and revoke a key, import mappings in bulk, onboard a plant from a
template). Every write goes through a service (:mod:`plants.services.config`,
``apikeys``, ``mapping_io``, ``onboarding``) that checks the permission at the row's plant,
so the API and the admin enforce the same rules. Reads stay plant-scoped as before.

Nothing governed is deleted: plants, systems, master data and API keys have no ``DELETE``
(deactivate a system, revoke a key); mappings, overrides and calendar rows may be.
"""

from __future__ import annotations

import csv
import io

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, parsers, permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from interlock.api import error_body

from .. import filtersets as f
from .. import models as m
from ..models.mappings import OPEN_VALID_FROM
from ..services import mapping_io
from ..services.apikeys import api_key_issue, api_key_revoke
from ..services.config import config_create, config_delete, config_update
from ..services.onboarding import plant_onboard_from_template
from . import config_serializers as cs
from .permissions import ConfigPermission
from .scoping import PlantScopedReadOnlyViewSet

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input, by field and code."),
    403: OpenApiResponse(
        OpenApiTypes.OBJECT, description="Missing permission: the body names it and the plant."
    ),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="Not found at the caller's plants."),
    409: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused by the database or in use."),
}


class ConfigViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, PlantScopedReadOnlyViewSet):
    """Plant-scoped reads plus writes through :mod:`plants.services.config`."""

    permission_classes = [permissions.IsAuthenticated & ConfigPermission]
    #: Many-to-many fields written after the row (``ConnectedSystem.plants``).
    m2m_fields: tuple[str, ...] = ()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.localdate()}

    def _split(self, data: dict) -> tuple[dict, dict]:
        values = dict(data)
        m2m = {name: values.pop(name) for name in self.m2m_fields if name in values}
        return values, m2m

    def perform_create(self, serializer):
        values, m2m = self._split(serializer.validated_data)
        serializer.instance = config_create(
            model=self.queryset.model, values=values, m2m=m2m, actor=self.request.user
        )

    def perform_update(self, serializer):
        values, m2m = self._split(serializer.validated_data)
        serializer.instance = config_update(
            obj=serializer.instance, values=values, m2m=m2m, actor=self.request.user
        )


class DeletableConfigViewSet(mixins.DestroyModelMixin, ConfigViewSet):
    """Configuration rows that may be deleted (never governed records)."""

    def perform_destroy(self, instance):
        config_delete(obj=instance, actor=self.request.user)


# --- plants and onboarding --------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(responses={201: cs.PlantWriteSerializer, **ERRORS}),
)
class PlantViewSet(ConfigViewSet):
    """Plants. Creating one is the board's; onboarding copies a template plant's setup."""

    queryset = m.Plant.objects.all()
    serializer_class = cs.PlantWriteSerializer
    lookup_field = "code"
    filterset_fields = ["profile", "active"]
    search_fields = ["code", "name"]
    plant_query_param = "code"
    action_perms = {"onboard": "plants.add_itemmapping"}

    @extend_schema(
        tags=["configuration"],
        operation_id="plants_onboard",
        summary="Copy a template plant's mappings, parameters, systems and calendar (diff first)",
        description="With `dry_run` (the default) nothing is written and the answer is the "
        "diff: one change per row, `create`, `exists`, `conflict` or `skip` with the reason. "
        "Without it every `create` is written in one transaction, with the permissions of "
        "the caller at the target plant. API keys and secrets are never copied.",
        request=cs.OnboardSerializer,
        responses={200: cs.OnboardResultSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def onboard(self, request, code=None):
        target = self.get_object()
        data = cs.OnboardSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = data.validated_data["template"]
        result = plant_onboard_from_template(
            template=template,
            target=target,
            actor=request.user,
            dry_run=data.validated_data["dry_run"],
            include=set(data.validated_data.get("include") or ()) or None,
        )
        return Response(result.as_dict())


# --- connected systems and keys ---------------------------------------------------------


class ConnectedSystemViewSet(ConfigViewSet):
    """Connected systems: a plant admin may connect systems serving their own plant(s)."""

    queryset = m.ConnectedSystem.objects.prefetch_related(
        Prefetch("plants", queryset=m.Plant.objects.only("pk", "code"))
    )
    serializer_class = cs.ConnectedSystemWriteSerializer
    filterset_class = f.ConnectedSystemFilterSet
    lookup_field = "code"
    search_fields = ["code", "name"]
    m2m_fields = ("plants",)
    action_perms = {"keys": "plants.add_apikey"}

    def get_queryset(self):
        # Least disclosure: a system's key shows that system only, never the base URLs,
        # auth types or plants of the systems it shares a plant with.
        qs = super().get_queryset()
        principal = getattr(self.request, "user", None)
        system = getattr(principal, "system", None)
        if getattr(principal, "system_plant_ids", None) is not None and system is not None:
            qs = qs.filter(pk=system.pk)
        return qs

    @extend_schema(
        tags=["configuration"],
        operation_id="systems_keys_issue",
        summary="Issue an API key for this system (the key is in this answer only)",
        request=cs.ApiKeyIssueSerializer,
        responses={201: cs.ApiKeyIssuedSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def keys(self, request, code=None):
        system = self.get_object()
        data = cs.ApiKeyIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, raw = api_key_issue(
            system=system,
            name=data.validated_data["name"],
            expires_at=data.validated_data.get("expires_at"),
            actor=request.user,
        )
        body = {**cs.ApiKeySerializer(key).data, "key": raw}
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # the raw key must not sit in a cache
        return response


class ApiKeyViewSet(PlantScopedReadOnlyViewSet):
    """API keys as stored (prefix, dates, state); revoke is an action."""

    queryset = m.ApiKey.objects.select_related("system", "created_by", "revoked_by")
    serializer_class = cs.ApiKeySerializer
    permission_classes = [permissions.IsAuthenticated & ConfigPermission]
    system_readable = False
    lookup_field = "prefix"
    filterset_fields = ["system__code"]
    search_fields = ["prefix", "name", "system__code"]
    action_perms = {"revoke": "plants.change_apikey"}

    @extend_schema(
        tags=["configuration"],
        operation_id="api_keys_revoke",
        summary="Revoke an API key at once",
        request=None,
        responses={200: cs.ApiKeySerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, prefix=None):
        key = api_key_revoke(key=self.get_object(), actor=request.user)
        return Response(cs.ApiKeySerializer(key).data)


# --- site mappings and their bulk import -------------------------------------------------


class _CsvParser(parsers.BaseParser):
    """``text/csv`` bodies are read by the import service itself."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"csv": stream.read()}


def _rows_as_csv(table: str, rows: list[dict]) -> str:
    """JSON rows as the CSV the import service reads. A row without ``valid_from`` starts
    at the open default, as a mapping created one by one does (the CSV format, written by
    people in spreadsheets, keeps the date required)."""
    rows = [
        {**row, "valid_from": row.get("valid_from") or OPEN_VALID_FROM.isoformat()} for row in rows
    ]
    columns = list(mapping_io.COLUMNS[table])
    extra = sorted({k for row in rows for k in row} - set(columns))
    header = [c for c in columns if any(c in row for row in rows)] + extra
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                "" if row.get(c) is None else str(row.get(c)).replace("\n", " ").replace("\r", " ")
                for c in header
            ]
        )
    return out.getvalue()


class _MappingViewSet(DeletableConfigViewSet):
    table = ""
    ordering_fields = ["plant_code", "valid_from"]
    search_fields = ["plant_code", "note"]
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser, _CsvParser]

    @property
    def action_perms(self) -> dict[str, str]:
        return {"import_rows": f"plants.add_{self.queryset.model._meta.model_name}"}

    @extend_schema(
        tags=["configuration"],
        summary="Import mappings in bulk: CSV or JSON, all rows or none",
        description='Send `{"rows": [...], "dry_run": false}` (JSON, one object per '
        "mapping with the CSV columns as keys), a `text/csv` body, or a multipart `file`. "
        "Every row is checked (codes, dates, overlapping validity in the file and against "
        "the database, your right to change that row's plant); with a single problem "
        "nothing is written and the 400 lists each problem with its row and column "
        "(JSON: `row` is the index in `rows`; CSV: the line, header = 1).",
        request={
            "application/json": cs.MappingImportSerializer,
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses={200: cs.MappingImportResultSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_rows(self, request):
        from_json = "rows" in request.data
        dry_run = str(request.query_params.get("dry_run", "")).lower() in {"1", "true", "yes"}
        if from_json:
            data = cs.MappingImportSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            text = _rows_as_csv(self.table, data.validated_data["rows"])
            dry_run = dry_run or data.validated_data["dry_run"]
        else:
            text = request.data.get("csv") or request.data.get("file")
            if not text:
                return Response(
                    error_body(
                        "validation_error",
                        "send JSON rows, a text/csv body or a multipart 'file'",
                        [{"path": "rows", "code": "required", "message": "nothing to import"}],
                    ),
                    status=400,
                )
            dry_run = dry_run or str(request.data.get("dry_run", "")).lower() in {"1", "true"}
        result = mapping_io.mappings_import_csv(
            table=self.table, file=text, actor=request.user, dry_run=dry_run
        )
        if not result.ok:
            details = [
                {
                    "path": (f"rows[{e.row - 2}]" if from_json else f"line {e.row}")
                    + (f".{e.column}" if e.column else ""),
                    "code": "invalid_row",
                    "message": e.message,
                    "found": e.value,
                    "row": e.row - 2 if from_json else e.row,
                }
                for e in result.errors
            ]
            noun = "problem" if len(details) == 1 else "problems"
            return Response(
                error_body(
                    "import_failed",
                    f"{len(details)} {noun}; nothing was imported"
                    + (
                        f" ({result.errors_truncated} more not shown)"
                        if result.errors_truncated
                        else ""
                    ),
                    details,
                ),
                status=400,
            )
        return Response(
            {
                "table": result.table,
                "rows": result.rows,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "dry_run": result.dry_run,
                "summary": result.summary(),
            }
        )


class ItemMappingViewSet(_MappingViewSet):
    table = "item"
    queryset = m.ItemMapping.objects.select_related("plant", "item")
    serializer_class = cs.ItemMappingWriteSerializer
    filterset_class = f.ItemMappingFilterSet


class WorkCenterMappingViewSet(_MappingViewSet):
    table = "work_center"
    queryset = m.WorkCenterMapping.objects.select_related("plant", "work_center")
    serializer_class = cs.WorkCenterMappingWriteSerializer
    filterset_class = f.WorkCenterMappingFilterSet


class UomMappingViewSet(_MappingViewSet):
    table = "uom"
    queryset = m.UomMapping.objects.select_related("plant", "uom")
    serializer_class = cs.UomMappingWriteSerializer
    filterset_class = f.UomMappingFilterSet


class StatusMappingViewSet(_MappingViewSet):
    table = "status"
    queryset = m.StatusMapping.objects.select_related("plant")
    serializer_class = cs.StatusMappingWriteSerializer
    filterset_class = f.StatusMappingFilterSet


# --- canonical master data --------------------------------------------------------------


class ItemViewSet(ConfigViewSet):
    queryset = m.Item.objects.select_related("base_uom").prefetch_related(
        Prefetch("revisions", queryset=m.ItemRevision.objects.order_by("revision"))
    )
    serializer_class = cs.ItemWriteSerializer
    lookup_field = "code"
    filterset_fields = ["item_type", "critical", "active"]
    search_fields = ["code", "description"]


class ItemRevisionViewSet(ConfigViewSet):
    """Revisions of canonical items (``"item": "FG-1000", "revision": "B"``)."""

    queryset = m.ItemRevision.objects.select_related("item")
    serializer_class = cs.ItemRevisionSerializer
    filterset_fields = ["item__code", "released"]
    search_fields = ["item__code", "revision"]


class UnitOfMeasureViewSet(ConfigViewSet):
    queryset = m.UnitOfMeasure.objects.all()
    serializer_class = cs.UnitOfMeasureWriteSerializer
    lookup_field = "code"
    filterset_fields = ["dimension"]


class WorkCenterViewSet(ConfigViewSet):
    queryset = m.WorkCenter.objects.select_related("plant")
    serializer_class = cs.WorkCenterWriteSerializer
    filterset_class = f.WorkCenterFilterSet
    lookup_field = "code"
    search_fields = ["code", "name"]


class SupplierViewSet(ConfigViewSet):
    queryset = m.Supplier.objects.all()
    serializer_class = cs.SupplierWriteSerializer
    lookup_field = "code"
    filterset_fields = ["active"]
    search_fields = ["code", "name"]


# --- site parameters and the release calendar ---------------------------------------------


class SiteParameterViewSet(ConfigViewSet):
    """Global parameters with their defaults (the board's)."""

    queryset = m.SiteParameter.objects.all()
    serializer_class = cs.SiteParameterSerializer
    lookup_field = "key"
    lookup_value_regex = "[^/]+"
    filterset_fields = ["value_type"]
    search_fields = ["key", "description"]


class SiteParameterOverrideViewSet(DeletableConfigViewSet):
    """A plant's own value of a parameter (the plant admin's)."""

    queryset = m.SiteParameterOverride.objects.select_related("parameter", "plant")
    serializer_class = cs.SiteParameterOverrideSerializer
    filterset_fields = ["plant__code", "parameter__key"]


class ReleaseWindowViewSet(DeletableConfigViewSet):
    queryset = m.ReleaseWindow.objects.select_related("plant")
    serializer_class = cs.ReleaseWindowSerializer
    filterset_fields = ["plant__code", "weekday", "active"]


class ReleaseFreezeViewSet(DeletableConfigViewSet):
    queryset = m.ReleaseFreeze.objects.select_related("plant")
    serializer_class = cs.ReleaseFreezeSerializer
    filterset_fields = ["plant__code"]
