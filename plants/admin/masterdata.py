"""Canonical master data (company-wide): units, items and revisions, suppliers, and the
canonical work centers (which belong to one plant each)."""

from __future__ import annotations

from django.contrib import admin

from ..models import AlternateRouting, Item, ItemRevision, Supplier, UnitOfMeasure, WorkCenter
from .base import ParentScopedInlineMixin, ScopedHistoryAdmin


@admin.register(UnitOfMeasure)
class UnitOfMeasureAdmin(ScopedHistoryAdmin):
    list_display = ["code", "name", "dimension"]
    list_filter = ["dimension"]
    search_fields = ["code", "name"]


class ItemRevisionInline(ParentScopedInlineMixin, admin.TabularInline):
    model = ItemRevision
    extra = 0
    fields = ["revision", "released", "description"]


@admin.register(Item)
class ItemAdmin(ScopedHistoryAdmin):
    list_display = [
        "code",
        "description",
        "item_type",
        "base_uom",
        "critical",
        "need_lead_days",
        "active",
    ]
    list_filter = ["item_type", "critical", "active", "base_uom"]
    search_fields = ["code", "description"]
    autocomplete_fields = ["base_uom"]
    list_select_related = ["base_uom"]
    inlines = [ItemRevisionInline]


@admin.register(ItemRevision)
class ItemRevisionAdmin(ScopedHistoryAdmin):
    list_display = ["item", "revision", "released", "description"]
    list_filter = ["released"]
    search_fields = ["item__code", "revision", "description"]
    autocomplete_fields = ["item"]
    list_select_related = ["item"]


@admin.register(WorkCenter)
class WorkCenterAdmin(ScopedHistoryAdmin):
    list_display = ["code", "name", "plant", "constrained", "capacity_per_hour", "active"]
    list_filter = [("plant", admin.RelatedOnlyFieldListFilter), "constrained", "active"]
    search_fields = ["code", "name"]
    list_select_related = ["plant"]


@admin.register(Supplier)
class SupplierAdmin(ScopedHistoryAdmin):
    list_display = ["code", "name", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]


@admin.register(AlternateRouting)
class AlternateRoutingAdmin(ScopedHistoryAdmin):
    list_display = ["work_center", "item", "alternate", "priority", "capacity_pct", "active"]
    list_filter = ["active"]
    search_fields = ["work_center__code", "alternate__code", "item__code"]
    autocomplete_fields = ["work_center", "item", "alternate"]
    list_select_related = ["work_center", "item", "alternate"]
