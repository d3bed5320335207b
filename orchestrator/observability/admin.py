"""SLA breaches on the operator workbench: a read-only list that opens on what is open.

Breaches are raised and cleared by the evaluator (``services.sla``), never by hand, and
kept as the SLA report's history: nobody adds, changes or deletes one in the admin.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from plants.admin_scoping import PlantScopedAdminMixin

from .charts import format_value
from .choices import BreachState
from .models import SlaBreach


class BreachStateFilter(admin.SimpleListFilter):
    """Opens on the breaches that are still open (like the workbench's "needs attention")."""

    title = "state"
    parameter_name = "state__exact"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("cleared", "Cleared"), ("all", "All")]

    def choices(self, changelist):
        selected = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": selected == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        selected = self.value() or BreachState.OPEN
        return queryset if selected == "all" else queryset.filter(state=selected)


@admin.register(SlaBreach)
class SlaBreachAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "flow",
        "plant",
        "state",
        "started_at",
        "cleared_at",
        "duration",
        "target",
        "peak_over_target",
        "worst_age",
        "role",
    ]
    list_filter = [BreachStateFilter, "flow", "plant"]
    date_hierarchy = "started_at"
    list_select_related = ["plant"]
    readonly_fields = [
        "plant",
        "flow",
        "state",
        "role",
        "target_seconds",
        "started_at",
        "last_seen_at",
        "cleared_at",
        "peak_over_target",
        "worst_age_seconds",
        "notification_link",
    ]
    exclude = ["notification"]

    @admin.display(description="duration")
    def duration(self, obj: SlaBreach) -> str:
        return format_value(obj.duration_seconds, "s")

    @admin.display(description="target")
    def target(self, obj: SlaBreach) -> str:
        return format_value(obj.target_seconds, "s")

    @admin.display(description="worst age")
    def worst_age(self, obj: SlaBreach) -> str:
        return format_value(obj.worst_age_seconds, "s")

    @admin.display(description="notification")
    def notification_link(self, obj: SlaBreach):
        if not obj.notification_id:
            return "—"
        url = reverse("admin:orchestrator_notification_change", args=[obj.notification_id])
        return format_html('<a href="{}">{}</a>', url, obj.notification.message)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
