"""The quality lead's job in the admin: take a failed inspection to a disposition.

The inspection page of a failed inspection has a **Decide disposition…** button: a form
with the four dispositions (use as is, rework, scrap, return to supplier) and a reason,
posted to ``disposition_record`` with ``actor=request.user``. Where the plant asks for
four eyes, the disposition then waits on the **Dispositions** list for a second quality
lead's **Approve** (``disposition_approve``). Dispositions and nonconformances are never
edited or deleted through a form: who decided and approved is always the logged-in
person, and states change only through the services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from interlock.errors import DomainError
from plants.admin_scoping import PlantScopedAdminMixin

from ..choices import InspectionState, NonconformanceDisposition
from ..models import Nonconformance
from ..models.base import PERM_DECIDE_DISPOSITION
from ..services.quality import disposition_approve, disposition_record
from .lifecycle import LifecycleAdminMixin

#: What each disposition will do, shown next to the choice so nobody guesses.
DISPOSITION_HELP = {
    NonconformanceDisposition.USE_AS_IS: "conditional release; the goods-receipt gate is "
    "overridden with your reason and the receipt is posted to the ERP",
    NonconformanceDisposition.REWORK: "the order goes back to in process with a rework operation",
    NonconformanceDisposition.SCRAP: "the lot is scrapped, the scrap is posted to the ERP and "
    "the order closes",
    NonconformanceDisposition.RETURN_TO_SUPPLIER: "the lot is blocked and a supplier case "
    "opens for procurement, with the inspection results as evidence",
}


class DispositionForm(forms.Form):
    disposition = forms.ChoiceField(
        choices=[
            (value, f"{label}: {DISPOSITION_HELP[value]}")
            for value, label in NonconformanceDisposition.choices
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        max_length=2000,
        help_text="Why: kept with your name on the disposition and in the audit trail.",
    )


def admin_link(obj, text: str | None = None):
    """A link to ``obj``'s admin page."""
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


class QualityInspectionMixin:
    """Adds the disposition form to the inspection admin."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/dispose/",
                view(self.dispose_view),
                name="orchestrator_inspection_dispose",
            ),
            *super().get_urls(),
        ]

    def object_buttons(self, request, obj) -> list[dict]:
        buttons = super().object_buttons(request, obj)
        if obj.state == InspectionState.FAILED and request.user.has_perm(
            PERM_DECIDE_DISPOSITION, obj
        ):
            pending = obj.dispositions.filter(carried_out_at__isnull=True).first()
            if pending is None:
                buttons.append(
                    {
                        "label": "Decide disposition…",
                        "url": reverse("admin:orchestrator_inspection_dispose", args=[obj.pk]),
                        "cls": "dispose",
                    }
                )
            else:
                buttons.append(
                    {
                        "label": f"Disposition waiting for approval ({pending.get_decision_display()})",
                        "url": reverse("admin:orchestrator_disposition_change", args=[pending.pk]),
                        "cls": "pending-disposition",
                    }
                )
        return buttons

    def dispose_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))  # plant-scoped
        if obj is None:
            raise Http404(f"No inspection {object_id} that you may see.")
        if not request.user.has_perm(PERM_DECIDE_DISPOSITION, obj):
            raise PermissionDenied(f"You may not decide dispositions for {obj}.")
        change_url = reverse("admin:orchestrator_inspection_change", args=[obj.pk])
        form = DispositionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                decided = disposition_record(
                    inspection=obj,
                    disposition=form.cleaned_data["disposition"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                if decided.carried_out_at is not None:
                    steps = "; ".join(decided.outcome.get("steps", []))
                    messages.success(request, f"{decided}: done. {steps}")
                else:
                    messages.warning(
                        request,
                        f"{decided}: recorded; plant {obj.plant.code} asks for four eyes, so "
                        "a second quality lead approves it on the Dispositions list.",
                    )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"Disposition of {obj}",
            "form": form,
            "change_url": change_url,
            "results": list(obj.results.all()),
            "nonconformances": list(obj.nonconformances.all()),
        }
        return TemplateResponse(request, "admin/orchestrator/dispose.html", context)


@admin.action(description="Approve selected dispositions (second pair of eyes)")
def approve_selected(modeladmin, request, queryset):
    done = 0
    for disposition in queryset.select_related("inspection__plant"):
        try:
            disposition_approve(disposition=disposition, actor=request.user)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{disposition}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{done} disposition(s) approved and carried out.")


class DispositionAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    """Quality decisions: who decided, who approved, what carrying them out did."""

    list_display = [
        "inspection",
        "decision",
        "decided_by",
        "decided_at",
        "approved_by",
        "approved_at",
        "carried_out_at",
    ]
    list_filter = ["inspection__plant", "decision"]
    list_select_related = ["inspection__plant", "decided_by", "approved_by"]
    search_fields = ["inspection__number", "reason"]
    actions = [approve_selected]
    fields = [
        "inspection",
        "nonconformance",
        "decision",
        "reason",
        "decided_by",
        "decided_at",
        "approved_by",
        "approved_at",
        "carried_out_at",
        "steps",
    ]
    readonly_fields = fields

    @admin.display(description="what was done")
    def steps(self, obj):
        items = obj.outcome.get("steps", []) if isinstance(obj.outcome, dict) else []
        if not items:
            return "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((s,) for s in items))
        )

    def has_add_permission(self, request, obj=None):
        return False  # dispositions come from disposition_record()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NonconformanceAdmin(LifecycleAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    """Nonconformances: decided through their inspection's disposition, never edited."""

    list_display = ["number", "plant", "title", "disposition", "capa_reference", "state"]
    list_filter = ["plant", "state", "disposition"]
    list_select_related = ["plant"]
    search_fields = ["number", "title", "capa_reference", "lot__number", "order__number"]
    #: ``decide`` and ``close`` are steps of the disposition service, not buttons of their own.
    hidden_transitions = {"decide", "close"}

    def related_groups(self, request, obj) -> list[dict]:
        from .auditor import nonconformance_related_groups

        return nonconformance_related_groups(obj)

    def object_buttons(self, request, obj) -> list[dict]:
        buttons = super().object_buttons(request, obj)
        inspection = obj.inspection
        if (
            inspection is not None
            and inspection.state == InspectionState.FAILED
            and obj.state != "closed"
            and request.user.has_perm(PERM_DECIDE_DISPOSITION, inspection)
        ):
            buttons.append(
                {
                    "label": "Decide disposition…",
                    "url": reverse("admin:orchestrator_inspection_dispose", args=[inspection.pk]),
                    "cls": "dispose",
                }
            )
        return buttons

    def has_add_permission(self, request, obj=None):
        return False  # rules open nonconformances (open_nonconformance)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


__all__ = ["DispositionAdmin", "Nonconformance", "NonconformanceAdmin", "QualityInspectionMixin"]
