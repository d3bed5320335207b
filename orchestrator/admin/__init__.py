"""Admin of the orchestrator app: business objects, their lifecycles and the audit trail.

Every plant-bound admin is scoped by :class:`plants.admin_scoping.PlantScopedAdminMixin`;
lifecycle models add :class:`.lifecycle.LifecycleAdminMixin` (state picture, transition
buttons that call ``transition_apply``, audit trail). State fields are read-only
everywhere: states change only through transitions. Foreign keys use raw-id widgets so
the pages stay fast with millions of lots and orders.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from plants.admin_scoping import PlantScopedAdminMixin

from .. import models as om
from .lifecycle import LifecycleAdminMixin


class ScopedAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_select_related = ["plant"]


class OperationInline(admin.TabularInline):
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
    readonly_fields = ["state"]
    raw_id_fields = ["work_center"]
    show_change_link = True


class OrderRevisionInline(admin.TabularInline):
    model = om.OrderRevision
    extra = 0
    can_delete = False
    readonly_fields = [
        "kind",
        "previous_value",
        "new_value",
        "revised_at",
        "actor_label",
        "reason",
        "correlation_id",
    ]

    def has_add_permission(self, request, obj=None):
        return False  # revisions come from order_revise()


class OrderComponentInline(admin.TabularInline):
    """Components ERP reserved for the order (what material issues are matched against)."""

    model = om.OrderComponent
    extra = 0
    fields = ["item", "qty", "uom", "issued_qty"]
    readonly_fields = ["issued_qty"]
    raw_id_fields = ["item", "uom"]


class GateInline(admin.TabularInline):
    """The order's gates: what waits for what, since when (changed only by transitions)."""

    model = om.Gate
    fk_name = "order"
    extra = 0
    can_delete = False
    fields = ["kind", "state", "waits_for", "inspection", "reason", "rule", "state_changed_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(om.ProductionOrder)
class ProductionOrderAdmin(LifecycleAdminMixin, PlantScopedAdminMixin, SimpleHistoryAdmin):
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
class OperationAdmin(LifecycleAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "work_center", "planned_qty", "confirmed_qty", "state"]
    list_filter = ["order__plant", "state"]
    list_select_related = ["order", "work_center"]
    search_fields = ["order__number", "sequence", "work_center__code"]
    raw_id_fields = ["order", "work_center"]


class LotGenealogyInline(admin.TabularInline):
    model = om.LotGenealogy
    fk_name = "child"
    extra = 0
    raw_id_fields = ["parent", "order"]
    verbose_name = "component lot"
    verbose_name_plural = "component lots (genealogy)"


@admin.register(om.Lot)
class LotAdmin(LifecycleAdminMixin, PlantScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ["number", "plant", "item", "qty", "uom", "expires_on", "supplier", "status"]
    list_filter = ["plant", "status", "expires_on"]
    list_select_related = ["plant", "item", "uom", "supplier"]
    search_fields = ["number", "supplier_lot", "item__code"]
    raw_id_fields = ["plant", "item", "uom", "supplier", "producing_order"]
    inlines = [LotGenealogyInline]


@admin.register(om.LotGenealogy)
class LotGenealogyAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["parent", "child", "qty", "order", "recorded_at"]
    list_filter = ["child__plant"]
    list_select_related = ["parent", "child", "order"]
    search_fields = ["parent__number", "child__number"]
    raw_id_fields = ["parent", "child", "order"]


@admin.register(om.LotOrderLink)
class LotOrderLinkAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["lot", "order", "relation", "qty"]
    list_filter = ["order__plant", "relation"]
    list_select_related = ["lot", "order"]
    search_fields = ["lot__number", "order__number"]
    raw_id_fields = ["lot", "order"]


@admin.register(om.MaterialIssue)
class MaterialIssueAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["order", "operation", "lot", "item", "qty", "uom", "issued_at"]
    list_filter = ["order__plant", "issued_at"]
    list_select_related = ["order", "operation", "lot", "item", "uom"]
    search_fields = ["order__number", "lot__number", "correlation_id"]
    raw_id_fields = ["order", "operation", "lot", "item", "uom"]


@admin.register(om.OperationConfirmation)
class OperationConfirmationAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
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
class ScrapDeclarationAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
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


class InspectionResultInline(admin.TabularInline):
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


class DispositionInline(admin.TabularInline):
    model = om.Disposition
    extra = 0
    can_delete = False
    readonly_fields = [
        "decision",
        "reason",
        "decided_by",
        "decided_at",
        "approved_by",
        "approved_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False  # dispositions come from disposition_decide()


@admin.register(om.Inspection)
class InspectionAdmin(LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "kind", "lot", "order", "requested_at", "state"]
    list_filter = ["plant", "state", "kind"]
    list_select_related = ["plant", "lot", "order"]
    search_fields = ["number", "qms_reference", "lot__number", "order__number"]
    raw_id_fields = ["plant", "plan", "lot", "order"]
    inlines = [InspectionResultInline, DispositionInline]


@admin.register(om.Disposition)
class DispositionAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "inspection",
        "decision",
        "decided_by",
        "decided_at",
        "approved_by",
        "approved_at",
    ]
    list_filter = ["inspection__plant", "decision"]
    list_select_related = ["inspection__plant", "decided_by", "approved_by"]
    search_fields = ["inspection__number", "reason"]
    raw_id_fields = ["inspection", "decided_by", "approved_by"]


@admin.register(om.Nonconformance)
class NonconformanceAdmin(LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "title", "disposition", "capa_reference", "state"]
    list_filter = ["plant", "state", "disposition"]
    search_fields = ["number", "title", "capa_reference", "lot__number", "order__number"]
    raw_id_fields = ["plant", "lot", "order", "inspection", "supplier"]


@admin.register(om.GoodsReceipt)
class GoodsReceiptAdmin(LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "order", "item", "qty", "uom", "received_at", "state"]
    list_filter = ["plant", "state"]
    list_select_related = ["plant", "order", "item", "uom"]
    search_fields = ["number", "erp_document", "order__number", "item__code"]
    raw_id_fields = ["plant", "order", "lot", "item", "uom"]


@admin.register(om.CycleCount)
class CycleCountAdmin(LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "item", "location", "book_qty", "counted_qty", "state"]
    list_filter = ["plant", "state"]
    list_select_related = ["plant", "item"]
    search_fields = ["number", "item__code", "location"]
    raw_id_fields = ["plant", "item", "lot", "uom"]


class AsnLineInline(admin.TabularInline):
    model = om.AsnLine
    extra = 0
    raw_id_fields = ["item", "uom"]


@admin.register(om.AdvanceShippingNotice)
class AdvanceShippingNoticeAdmin(LifecycleAdminMixin, ScopedAdmin):
    list_display = ["number", "plant", "supplier", "expected_at", "revised_expected_at", "state"]
    list_filter = ["plant", "state"]
    list_select_related = ["plant", "supplier"]
    search_fields = ["number", "supplier__code"]
    raw_id_fields = ["plant", "supplier"]
    inlines = [AsnLineInline]


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
class GateAdmin(LifecycleAdminMixin, ScopedAdmin):
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
    raw_id_fields = ["plant", "order", "lot", "inspection"]
    readonly_fields = ["rule"]


@admin.register(om.CheckRecord)
class CheckRecordAdmin(ScopedAdmin):
    """Synchronous checks that were asked, and their answers (read-only)."""

    list_display = ["asked_at", "check_name", "plant", "system", "allowed", "duration_ms"]
    list_filter = ["check_name", "allowed", "plant"]
    search_fields = ["correlation_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(om.Notification)
class NotificationAdmin(ScopedAdmin):
    """What rules told which role, because of which event."""

    list_display = ["created_at", "plant", "kind", "role", "message", "rule"]
    list_filter = ["plant", "kind", "role"]
    search_fields = ["message", "correlation_id"]
    raw_id_fields = ["plant", "event"]


@admin.register(om.ApprovalRequest)
class ApprovalRequestAdmin(ScopedAdmin):
    """Human decisions rules asked for, with their due time."""

    list_display = ["created_at", "plant", "role", "reason", "state", "due_at", "order", "gate"]
    list_filter = ["plant", "state", "role"]
    search_fields = ["reason", "correlation_id", "order__number"]
    raw_id_fields = ["plant", "event", "order", "gate", "decided_by"]
    readonly_fields = ["state", "decided_by", "decided_at", "decision_reason", "escalated_at"]
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
class MachineDowntimeAdmin(ScopedAdmin):
    """Stoppages MES reported per work center."""

    list_display = ["work_center", "equipment", "started_at", "ended_at", "reason", "plant"]
    list_filter = ["plant", "work_center"]
    raw_id_fields = ["plant", "work_center"]


# Registered on import: outbox, dead-letter queue, replay, circuit state; and the
# exception workbench: messages, events, trace.
from . import outbox, workbench  # noqa: E402, F401
