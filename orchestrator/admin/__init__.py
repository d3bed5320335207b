"""Admin of the orchestrator app: business objects, their lifecycles and the audit trail.

Every plant-bound admin is scoped by :class:`plants.admin_scoping.PlantScopedAdminMixin`;
lifecycle models add :class:`.lifecycle.LifecycleAdminMixin` (state picture, transition
buttons that call ``transition_apply``, audit trail). Foreign keys use raw-id widgets so
the pages stay fast with millions of lots and orders.

The business objects, facts reported by systems and governance records are written only by
services (ingest, transitions, dispositions, approvals, replay): here they are
:class:`ServiceWritten` (no add, change or delete form), and what a person may do with
them is a button or an action that calls the service with ``actor=request.user``.
``tests/test_admin_walk.py`` holds every registered admin to that.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from plants.admin_scoping import PlantScopedAdminMixin

from .. import models as om
from .auditor import (
    LotAuditorMixin,
    OrderAuditorMixin,
    inspection_related_groups,
)
from .lifecycle import LifecycleAdminMixin
from .quality import DispositionAdmin, NonconformanceAdmin, QualityInspectionMixin


class ServiceWritten:
    """Mix into an admin or inline of a model only services write: shown, never added,
    edited or deleted through a form (the walk test checks every admin for this)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        # Everything shown is read-only, non-editable fields (auto timestamps) included:
        # a view-only form must not try to build a form field for them.
        declared = [f for f in (self.fields or []) if isinstance(f, str)]
        model_fields = [f.name for f in self.model._meta.fields if not f.auto_created]
        return list(
            dict.fromkeys([*super().get_readonly_fields(request, obj), *declared, *model_fields])
        )


class ScopedAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_select_related = ["plant"]


class OperationInline(ServiceWritten, admin.TabularInline):
    model = om.Operation
    extra = 0
    fields = [
        "sequence",
        "description",
        "work_center",
        "planned_qty",
        "confirmed_qty",
        "scrapped_qty",
        "state",
    ]
    show_change_link = True


class OrderRevisionInline(ServiceWritten, admin.TabularInline):
    model = om.OrderRevision
    extra = 0
    fields = [
        "kind",
        "previous_value",
        "new_value",
        "revised_at",
        "actor_label",
        "reason",
        "correlation_id",
    ]  # revisions come from order_revise()


class OrderComponentInline(ServiceWritten, admin.TabularInline):
    """Components ERP reserved for the order (what material issues are matched against)."""

    model = om.OrderComponent
    extra = 0
    fields = ["item", "qty", "uom", "issued_qty"]


class GateInline(ServiceWritten, admin.TabularInline):
    """The order's gates: what waits for what, since when (changed only by transitions)."""

    model = om.Gate
    fk_name = "order"
    extra = 0
    fields = ["kind", "state", "waits_for", "inspection", "reason", "rule", "state_changed_at"]
    show_change_link = True


@admin.register(om.ProductionOrder)
class ProductionOrderAdmin(
    ServiceWritten,
    OrderAuditorMixin,
    LifecycleAdminMixin,
    PlantScopedAdminMixin,
    SimpleHistoryAdmin,
):
    list_display = [
        "number",
        "plant",
        "item",
        "target_qty",
        "confirmed_qty",
        "uom",
        "due_date",
        "state",
        "state_changed_at",
    ]
    list_filter = ["plant", "state", "due_date"]
    list_select_related = ["plant", "item", "uom"]
    search_fields = ["number", "erp_reference", "item__code"]
    raw_id_fields = ["plant", "item", "uom", "erp_system"]
    date_hierarchy = "due_date"
    inlines = [OperationInline, OrderComponentInline, GateInline, OrderRevisionInline]


@admin.register(om.Operation)
class OperationAdmin(ServiceWritten, LifecycleAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "work_center", "planned_qty", "confirmed_qty", "state"]
    list_filter = ["order__plant", "state"]
    list_select_related = ["order", "work_center"]
    search_fields = ["order__number", "sequence", "work_center__code"]
    raw_id_fields = ["order", "work_center"]


class LotGenealogyInline(ServiceWritten, admin.TabularInline):
    model = om.LotGenealogy
    fk_name = "child"
    extra = 0
    fields = ["parent", "qty", "order", "recorded_at"]
    verbose_name = "component lot"
    verbose_name_plural = "component lots (genealogy)"


@admin.register(om.Lot)
class LotAdmin(
    ServiceWritten, LotAuditorMixin, LifecycleAdminMixin, PlantScopedAdminMixin, SimpleHistoryAdmin
):
    list_display = ["number", "plant", "item", "qty", "uom", "expires_on", "supplier", "status"]
    list_filter = ["plant", "status", "expires_on"]
    list_select_related = ["plant", "item", "uom", "supplier"]
    search_fields = ["number", "supplier_lot", "item__code"]
    raw_id_fields = ["plant", "item", "uom", "supplier", "producing_order"]
    inlines = [LotGenealogyInline]


@admin.register(om.LotGenealogy)
class LotGenealogyAdmin(ServiceWritten, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["parent", "child", "qty", "order", "recorded_at"]
    list_filter = ["child__plant"]
    list_select_related = ["parent", "child", "order"]
    search_fields = ["parent__number", "child__number"]
    raw_id_fields = ["parent", "child", "order"]


@admin.register(om.LotOrderLink)
class LotOrderLinkAdmin(ServiceWritten, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["lot", "order", "relation", "qty"]
    list_filter = ["order__plant", "relation"]
    list_select_related = ["lot", "order"]
    search_fields = ["lot__number", "order__number"]
    raw_id_fields = ["lot", "order"]


@admin.register(om.MaterialIssue)
class MaterialIssueAdmin(ServiceWritten, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["order", "operation", "lot", "item", "qty", "uom", "issued_at"]
    list_filter = ["order__plant", "issued_at"]
    list_select_related = ["order", "operation", "lot", "item", "uom"]
    search_fields = ["order__number", "lot__number", "correlation_id"]
    raw_id_fields = ["order", "operation", "lot", "item", "uom"]


@admin.register(om.OperationConfirmation)
class OperationConfirmationAdmin(ServiceWritten, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "operation",
        "confirmation_number",
        "good_qty",
        "scrap_qty",
        "final",
        "confirmed_at",
    ]
    list_filter = ["operation__order__plant", "final"]
    list_select_related = ["operation__order"]
    search_fields = ["operation__order__number", "confirmation_number", "correlation_id"]
    raw_id_fields = ["operation"]


@admin.register(om.ScrapDeclaration)
class ScrapDeclarationAdmin(ServiceWritten, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["order", "operation", "qty", "uom", "reason_code", "declared_at"]
    list_filter = ["order__plant", "reason_code"]
    list_select_related = ["order", "operation", "uom"]
    search_fields = ["order__number", "reason_code", "correlation_id"]
    raw_id_fields = ["order", "operation", "lot", "uom"]


@admin.register(om.InspectionPlan)
class InspectionPlanAdmin(PlantScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ["code", "plant", "item", "kind", "sample_size", "active"]
    list_filter = ["plant", "kind", "active"]
    list_select_related = ["plant", "item"]
    search_fields = ["code", "item__code", "description"]
    raw_id_fields = ["plant", "item"]


class InspectionResultInline(ServiceWritten, admin.TabularInline):
    model = om.InspectionResult
    extra = 0
    fields = [
        "characteristic",
        "lower_limit",
        "upper_limit",
        "measured_value",
        "observation",
        "conforming",
        "recorded_at",
    ]


@admin.register(om.Inspection)
class InspectionAdmin(ServiceWritten, QualityInspectionMixin, LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "kind", "lot", "order", "requested_at", "state"]
    list_filter = ["plant", "state", "kind"]
    list_select_related = ["plant", "lot", "order"]
    search_fields = ["number", "qms_reference", "lot__number", "order__number"]
    inlines = [InspectionResultInline]

    def related_groups(self, request, obj):
        return inspection_related_groups(obj)


admin.site.register(om.Disposition, DispositionAdmin)
admin.site.register(om.Nonconformance, NonconformanceAdmin)


@admin.register(om.GoodsReceipt)
class GoodsReceiptAdmin(ServiceWritten, LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "order", "item", "qty", "uom", "received_at", "state"]
    list_filter = ["plant", "state"]
    list_select_related = ["plant", "order", "item", "uom"]
    search_fields = ["number", "erp_document", "order__number", "item__code"]
    raw_id_fields = ["plant", "order", "lot", "item", "uom"]


@admin.register(om.CycleCount)
class CycleCountAdmin(ServiceWritten, LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "item", "location", "book_qty", "counted_qty", "state"]
    list_filter = ["plant", "state"]
    list_select_related = ["plant", "item"]
    search_fields = ["number", "item__code", "location"]
    raw_id_fields = ["plant", "item", "lot", "uom"]


class AsnLineInline(ServiceWritten, admin.TabularInline):
    model = om.AsnLine
    extra = 0


@admin.register(om.AdvanceShippingNotice)
class AdvanceShippingNoticeAdmin(ServiceWritten, LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "supplier", "expected_at", "revised_expected_at", "state"]
    list_filter = ["plant", "state"]
    list_select_related = ["plant", "supplier"]
    search_fields = ["number", "supplier__code"]
    raw_id_fields = ["plant", "supplier"]
    readonly_fields = ["exposures"]
    inlines = [AsnLineInline]

    @admin.display(description="exposures (orders at risk)")
    def exposures(self, asn: om.AdvanceShippingNotice) -> str:
        from .exposures import exposure_links

        return exposure_links(asn.exposures.all())


@admin.register(om.AuditRecord)
class AuditRecordAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    """Read-only for everyone, superusers included: the trail is evidence."""

    list_display = [
        "occurred_at",
        "object_repr",
        "content_type",
        "transition",
        "source_state",
        "target_state",
        "actor_label",
        "plant",
        "correlation_id",
    ]
    list_filter = ["plant", "content_type", "transition"]
    list_select_related = ["plant", "content_type"]
    search_fields = ["correlation_id", "object_repr", "actor_label", "=object_id"]
    date_hierarchy = "occurred_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(om.Gate)
class GateAdmin(ServiceWritten, LifecycleAdminMixin, ScopedAdmin):
    """Where is a transaction stalled and why: every gate, closed ones first."""

    list_display = [
        "kind",
        "plant",
        "order",
        "lot",
        "waits_for",
        "state",
        "state_changed_at",
        "rule",
    ]
    list_filter = ["plant", "state", "kind"]
    list_select_related = ["plant", "order", "lot"]
    search_fields = ["kind", "waits_for", "order__number", "lot__number", "reason"]

    def apply_transition(self, request, obj, name: str, reason: str):
        # An override lets the waiting work proceed (parked events, the gated posting):
        # that is the gate service's job, not the bare transition's.
        if name == "override":
            from ..services.gates import gate_override

            return gate_override(gate=obj, actor=request.user, reason=reason)
        return super().apply_transition(request, obj, name, reason)


@admin.register(om.CheckRecord)
class CheckRecordAdmin(ServiceWritten, ScopedAdmin):
    """Synchronous checks that were asked, and their answers (read-only)."""

    list_display = ["asked_at", "check_name", "plant", "system", "allowed", "duration_ms"]
    list_filter = ["check_name", "allowed", "plant"]
    search_fields = ["correlation_id"]


@admin.register(om.Notification)
class NotificationAdmin(ServiceWritten, ScopedAdmin):
    """What rules told which role, because of which event."""

    list_display = ["created_at", "plant", "kind", "role", "message", "rule"]
    list_filter = ["plant", "kind", "role"]
    search_fields = ["message", "correlation_id"]
    raw_id_fields = ["plant", "event"]


@admin.register(om.ApprovalRequest)
class ApprovalRequestAdmin(ServiceWritten, ScopedAdmin):
    """Human decisions rules asked for, with their due time."""

    list_display = ["created_at", "plant", "role", "reason", "state", "due_at", "order", "gate"]
    list_filter = ["plant", "state", "role"]
    search_fields = ["reason", "correlation_id", "order__number"]
    actions = ["approve_selected", "reject_selected"]

    def _decide(self, request, queryset, *, approve: bool) -> None:
        from django.contrib import messages

        from interlock.errors import DomainError

        from ..services.approvals import approval_decide

        verb = "approved" if approve else "rejected"
        done = 0
        for approval in queryset:
            try:
                approval_decide(
                    request=approval,
                    actor=request.user,
                    approve=approve,
                    reason=f"{verb} in the admin by {request.user.get_username()}",
                )
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{approval.pk}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} approval(s) {verb}.")

    @admin.action(description="Approve selected (opens their gates)")
    def approve_selected(self, request, queryset) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected (gates stay closed)")
    def reject_selected(self, request, queryset) -> None:
        self._decide(request, queryset, approve=False)


@admin.register(om.MachineDowntime)
class MachineDowntimeAdmin(ServiceWritten, ScopedAdmin):
    """Stoppages MES reported per work center."""

    list_display = ["work_center", "equipment", "started_at", "ended_at", "reason", "plant"]
    list_filter = ["plant", "work_center"]
    raw_id_fields = ["plant", "work_center"]
    readonly_fields = ["exposures"]

    @admin.display(description="exposures (orders at risk)")
    def exposures(self, downtime: om.MachineDowntime) -> str:
        from .exposures import exposure_links

        return exposure_links(
            om.Exposure.objects.filter(
                work_center=downtime.work_center_id, since=downtime.started_at
            )
        )


# Registered on import: outbox, dead-letter queue, replay, circuit state; and the
# exception workbench: messages, events, trace.
from . import exposures, outbox, reconciliation, tasks, workbench  # noqa: E402, F401
