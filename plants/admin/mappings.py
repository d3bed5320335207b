"""Site mapping tables, with validity at a glance and CSV import/export.

The change list of every mapping table has "Import CSV" (upload → error table or a
success message with counts; nothing is written if any row is bad) and "Export CSV"
(the current, plant-scoped and filtered list); "Export selected as CSV" is an action.
The CSV format and its checks live in :mod:`plants.services.mapping_io`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from ..models import ItemMapping, StatusMapping, UomMapping, WorkCenterMapping
from ..services import mapping_io
from .base import ScopedHistoryAdmin


class ValidityFilter(admin.SimpleListFilter):
    """Validity relative to today (plant admins ask "what is in force now?")."""

    title = "validity"
    parameter_name = "validity"

    def lookups(self, request, model_admin):
        return [
            ("today", "Valid today"),
            ("future", "Starts later"),
            ("ended", "Ended"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "today":
            return queryset.filter(valid_from__lte=today).filter(
                Q(valid_to__isnull=True) | Q(valid_to__gt=today)
            )
        if self.value() == "future":
            return queryset.filter(valid_from__gt=today)
        if self.value() == "ended":
            return queryset.filter(valid_to__lte=today)
        return queryset


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, comma or semicolon separated.")
    dry_run = forms.BooleanField(
        required=False,
        label="Only check the file (write nothing)",
    )


class MappingAdmin(ScopedHistoryAdmin):
    """Shared by the four mapping tables; ``table`` names the one in ``MAPPING_MODELS``."""

    table: str = ""
    change_list_template = "admin/plants/mapping_change_list.html"
    import_template = "admin/plants/mapping_import.html"
    actions = ["export_selected_csv"]
    list_select_related = ["plant"]
    date_hierarchy = None

    def get_list_filter(self, request):
        return [("plant", admin.RelatedOnlyFieldListFilter), ValidityFilter, *self.list_filter]

    @admin.display(description="valid today", boolean=True)
    def valid_today(self, obj) -> bool:
        return obj.is_valid_on(timezone.localdate())

    # --- CSV ---------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("import-csv/", wrap(self.import_csv_view), name="{}_{}_import_csv".format(*info)),
            path("export-csv/", wrap(self.export_csv_view), name="{}_{}_export_csv".format(*info)),
            *super().get_urls(),
        ]

    def _csv_response(self, queryset) -> HttpResponse:
        text = mapping_io.mappings_export_csv(table=self.table, queryset=queryset)
        filename = f"{self.table}-mappings-{timezone.localdate().isoformat()}.csv"
        # The byte-order mark makes Excel open the file as UTF-8 (umlauts in notes).
        response = HttpResponse("\ufeff" + text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return self._csv_response(queryset)

    def export_csv_view(self, request):
        """The change list as it is on screen (scope, filters, search) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            changelist_url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
            )
            return HttpResponseRedirect(f"{changelist_url}?e=1")
        return self._csv_response(changelist.get_queryset(request))

    def import_csv_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            result = mapping_io.mappings_import_csv(
                table=self.table,
                file=form.cleaned_data["file"],
                actor=request.user,
                dry_run=form.cleaned_data["dry_run"],
            )
            if result.ok and not result.dry_run:
                self.message_user(request, f"Imported. {result.summary()}", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {self.opts.verbose_name_plural} from CSV",
            "opts": self.opts,
            "form": form,
            "result": result,
            "columns": mapping_io.COLUMNS[self.table],
            "required": sorted(mapping_io.REQUIRED[self.table]),
            "has_view_permission": self.has_view_permission(request),
        }
        status = 400 if result is not None and not result.ok else 200
        return TemplateResponse(request, self.import_template, context, status=status)


@admin.register(ItemMapping)
class ItemMappingAdmin(MappingAdmin):
    table = "item"
    list_display = [
        "plant",
        "plant_code",
        "item",
        "revision",
        "valid_from",
        "valid_to",
        "valid_today",
        "note",
    ]
    list_filter = ["item__item_type"]
    search_fields = ["plant_code", "item__code", "item__description", "note"]
    autocomplete_fields = ["item"]
    list_select_related = ["plant", "item"]


@admin.register(WorkCenterMapping)
class WorkCenterMappingAdmin(MappingAdmin):
    table = "work_center"
    list_display = [
        "plant",
        "plant_code",
        "work_center",
        "valid_from",
        "valid_to",
        "valid_today",
        "note",
    ]
    search_fields = ["plant_code", "work_center__code", "work_center__name", "note"]
    autocomplete_fields = ["work_center"]
    list_select_related = ["plant", "work_center"]


@admin.register(UomMapping)
class UomMappingAdmin(MappingAdmin):
    table = "uom"
    list_display = [
        "plant",
        "plant_code",
        "uom",
        "factor",
        "decimal_places",
        "rounding_mode",
        "valid_from",
        "valid_to",
        "valid_today",
    ]
    list_filter = ["uom", "rounding_mode"]
    search_fields = ["plant_code", "uom__code", "note"]
    autocomplete_fields = ["uom"]
    list_select_related = ["plant", "uom"]


@admin.register(StatusMapping)
class StatusMappingAdmin(MappingAdmin):
    table = "status"
    list_display = [
        "plant",
        "domain",
        "plant_code",
        "canonical_status",
        "valid_from",
        "valid_to",
        "valid_today",
        "note",
    ]
    list_filter = ["domain", "canonical_status"]
    search_fields = ["plant_code", "canonical_status", "note"]
