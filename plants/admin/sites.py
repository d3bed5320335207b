"""Plants and their release calendar."""

from __future__ import annotations

from django.contrib import admin

from ..models import Plant, ReleaseFreeze, ReleaseWindow
from .base import ParentScopedInlineMixin, ScopedHistoryAdmin


class ReleaseWindowInline(ParentScopedInlineMixin, admin.TabularInline):
    model = ReleaseWindow
    extra = 0
    fields = ["name", "weekday", "start_time", "end_time", "active"]


class ReleaseFreezeInline(ParentScopedInlineMixin, admin.TabularInline):
    model = ReleaseFreeze
    extra = 0
    fields = ["starts_at", "ends_at", "reason"]


@admin.register(Plant)
class PlantAdmin(ScopedHistoryAdmin):
    list_display = ["code", "name", "profile", "timezone", "erp_company_code", "active"]
    list_filter = ["profile", "active"]
    search_fields = ["code", "name", "erp_company_code"]
    inlines = [ReleaseWindowInline, ReleaseFreezeInline]


@admin.register(ReleaseWindow)
class ReleaseWindowAdmin(ScopedHistoryAdmin):
    """Where plant admins edit their windows (the Plant page shows them read-only to
    anyone who may not change the Plant record itself)."""

    list_display = ["plant", "name", "weekday", "start_time", "end_time", "active"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter), "weekday", "active"]
    search_fields = ["name", "plant__code"]
    list_select_related = ["plant"]


@admin.register(ReleaseFreeze)
class ReleaseFreezeAdmin(ScopedHistoryAdmin):
    list_display = ["plant", "starts_at", "ends_at", "reason"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["reason", "plant__code"]
    date_hierarchy = "starts_at"
    list_select_related = ["plant"]
