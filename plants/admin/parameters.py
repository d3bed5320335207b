"""Site parameters (global defaults) and plant overrides."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from ..models import SiteParameter, SiteParameterOverride
from .base import ParentScopedInlineMixin, ScopedHistoryAdmin


class SiteParameterOverrideInline(ParentScopedInlineMixin, admin.TabularInline):
    """Overrides on the parameter page; each viewer sees only their plants' overrides."""

    model = SiteParameterOverride
    extra = 0
    fields = ["plant", "value", "reason"]


@admin.register(SiteParameter)
class SiteParameterAdmin(ScopedHistoryAdmin):
    list_display = ["key", "description", "value_type", "default_value", "unit", "override_count"]
    list_filter = ["value_type"]
    search_fields = ["key", "description"]
    inlines = [SiteParameterOverrideInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_overrides=Count("overrides"))

    @admin.display(description="plant overrides", ordering="_overrides")
    def override_count(self, obj) -> int:
        return obj._overrides


@admin.register(SiteParameterOverride)
class SiteParameterOverrideAdmin(ScopedHistoryAdmin):
    """Where plant admins set their plant's values (the parameter itself is global)."""

    list_display = ["parameter", "plant", "value", "default_value", "reason"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter), "parameter"]
    search_fields = ["parameter__key", "plant__code", "reason"]
    autocomplete_fields = ["parameter"]
    list_select_related = ["parameter", "plant"]

    @admin.display(description="global default", ordering="parameter__default_value")
    def default_value(self, obj) -> str:
        return obj.parameter.default_value
