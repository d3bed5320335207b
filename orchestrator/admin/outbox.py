"""Outbox and dead-letter queue in the admin, plant-scoped: filters by status, system and
plant (the dead-letter queue is the list filtered to ``status = dead``), every attempt inline, the system's circuit state, and replay (action and through
``outbox_replay``, which checks the permission per object and audits)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from interlock.errors import DomainError
from plants.admin_scoping import PlantScopedAdminMixin

from ..models.outbox import DeliveryAttempt, OutboxMessage
from ..services.outbox import PERM_REPLAY
from ..services.replay import outbox_replay
from .workbench import trace_link


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "outcome", "status_code", "duration_ms", "error", "batch"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.action(description="Replay selected dead-lettered messages", permissions=["replay"])
def replay_selected(modeladmin, request, queryset):
    done = 0
    for message in queryset:
        try:
            outbox_replay(message=message, actor=request.user)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{message.pk}: {exc}", messages.WARNING)
    modeladmin.message_user(request, f"{done} message(s) back in the delivery queue.")


class OutboxMessageAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    """Messages to connected systems and their delivery (read-only: only delivery and
    replay change them)."""

    list_display = [
        "created_at",
        "plant",
        "system",
        "message_type",
        "status",
        "attempts",
        "next_attempt_at",
        "reference",
        "circuit",
        "short_error",
        "trace",
    ]
    list_filter = ["status", "system", "plant", "target_system", "message_type"]
    list_select_related = ["plant", "system", "system__circuit_breaker"]
    search_fields = ["idempotency_key", "correlation_id", "reference", "message_type"]
    actions = [replay_selected]
    inlines = [DeliveryAttemptInline]

    def get_readonly_fields(self, request, obj=None):
        return ["trace", *(f.name for f in self.model._meta.fields), "circuit"]

    @admin.display(description="trace", ordering="correlation_id")
    def trace(self, obj):
        return trace_link(obj.correlation_id) if obj.correlation_id else "—"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return request.user.has_perm(PERM_REPLAY)

    @admin.display(description="circuit")
    def circuit(self, obj):
        breaker = getattr(obj.system, "circuit_breaker", None) if obj.system_id else None
        if breaker is None:
            return "—"
        color = {"closed": "green", "open": "red", "half_open": "orange"}[breaker.state]
        return format_html('<span style="color:{}">{}</span>', color, breaker.state)

    @admin.display(description="last error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]


admin.site.register(OutboxMessage, OutboxMessageAdmin)
