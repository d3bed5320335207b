"""Reconciliation in the admin (scenario 9): the runs with their reports, and the
exceptions with their correction workflow (assign, correct through the outbox, accept
with a reason, close), each button calling ``orchestrator.services.reconciliation`` with
``actor=request.user``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from interlock.errors import DomainError
from plants.models import Plant

from .. import models as om
from ..services import reconciliation as recon
from . import ScopedAdmin, ServiceWritten


class ExceptionInline(ServiceWritten, admin.TabularInline):
    model = om.ReconciliationException
    fk_name = "run"
    fields = [
        "system",
        "subject_kind",
        "subject",
        "field",
        "interlock_value",
        "system_value",
        "state",
    ]
    show_change_link = True
    extra = 0


def _differences(part: dict):
    """A system's cell in the report: its differences, or why it gave no snapshot."""
    if part.get("error"):
        return format_html(
            '<strong class="recon-no-snapshot">no snapshot: {}</strong>', part["error"]
        )
    found = part.get("differences", [])
    return format_html_join(mark_safe("<br>"), "{}", ((d,) for d in found)) or "none"


class ReconcileForm(forms.Form):
    plant = forms.ModelChoiceField(queryset=Plant.objects.none())


@admin.register(om.ReconciliationRun)
class ReconciliationRunAdmin(ServiceWritten, ScopedAdmin):
    """Each reconciliation of a plant: what was compared, what differed, what closed."""

    list_display = [
        "started_at",
        "plant",
        "state",
        "compared",
        "differences",
        "opened",
        "closed",
        "started_by",
    ]
    list_filter = ["plant", "state"]
    list_select_related = ["plant"]
    inlines = [ExceptionInline]
    fields = [
        "plant",
        "state",
        "started_at",
        "finished_at",
        "started_by",
        "compared",
        "differences",
        "opened",
        "closed",
        "report_table",
        "error",
    ]

    @admin.display(description="Report")
    def report_table(self, obj):
        """The run's report as a person reads it: per system what was compared and which
        values differed, under the plant's tolerance (the raw JSON stays in the API)."""
        report = obj.report or {}
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    code,
                    part.get("kind", ""),
                    part.get("compared", 0),
                    part.get("orders", 0),
                    part.get("lots", 0),
                    part.get("inspections", 0),
                    _differences(part),
                )
                for code, part in sorted(report.get("systems", {}).items())
            ),
        )
        if not rows:
            return "-"
        return format_html(
            '<div id="recon-report"><p>Tolerance: {}</p><table><thead><tr><th>System</th><th>Kind</th>'
            "<th>Values compared</th><th>Orders</th><th>Lots</th><th>Inspections</th>"
            "<th>Differences</th></tr></thead><tbody>{}</tbody></table></div>",
            report.get("tolerance", "-"),
            rows,
        )

    change_list_template = "admin/orchestrator/reconciliation_run_change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "reconcile/", view(self.reconcile_view), name="orchestrator_reconciliationrun_now"
            ),
            *super().get_urls(),
        ]

    def _plants(self, request):
        from plants.auth import plant_ids_for

        allowed = plant_ids_for(request.user, "orchestrator.view_reconciliationrun")
        qs = Plant.objects.filter(active=True).order_by("code")
        return qs if allowed is None else qs.filter(pk__in=allowed)

    def reconcile_view(self, request):
        form = ReconcileForm(request.POST or None)
        form.fields["plant"].queryset = self._plants(request)
        if request.method == "POST" and form.is_valid():
            run = recon.reconcile_plant(plant=form.cleaned_data["plant"], actor=request.user)
            level = messages.SUCCESS if run.state == "done" else messages.ERROR
            messages.add_message(
                request,
                level,
                f"Reconciled {run.plant.code}: {run.compared} compared, {run.differences} "
                f"difference(s), {run.opened} new exception(s), {run.closed} closed."
                + (f" {run.error}" if run.error else ""),
            )
            return HttpResponseRedirect(
                reverse("admin:orchestrator_reconciliationrun_change", args=[run.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Reconcile a plant now",
            "form": form,
        }
        return TemplateResponse(request, "admin/orchestrator/reconcile_now.html", context)


class ResolveForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


@admin.register(om.ReconciliationException)
class ReconciliationExceptionAdmin(ServiceWritten, ScopedAdmin):
    """A difference between a system and Interlock, and how it was resolved."""

    list_display = [
        "created_at",
        "plant",
        "system",
        "subject_kind",
        "subject",
        "field",
        "interlock_value",
        "system_value",
        "state",
        "assignee",
    ]
    list_filter = ["plant", "state", "system", "field"]
    search_fields = ["subject", "correlation_id"]
    raw_id_fields = ["run", "last_seen_run", "order", "lot", "correction", "task", "assignee"]
    change_form_template = "admin/orchestrator/reconciliation_exception_change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/act/",
                view(self.act_view),
                name="orchestrator_reconciliationexception_act",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        exception = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if exception is not None:
            steps = (
                om.AuditRecord.objects.for_object(exception).select_related("actor").order_by("pk")
            )
            extra.update(
                exception=exception,
                correction_text=recon.describe_correction(exception),
                form=ResolveForm(),
                steps=list(steps),
            )
        return super().change_view(request, object_id, form_url, extra)

    def act_view(self, request, object_id):
        exception = self.get_object(request, object_id)
        back = reverse("admin:orchestrator_reconciliationexception_change", args=[object_id])
        if exception is None or request.method != "POST":
            return HttpResponseRedirect(back)
        action = request.POST.get("action")
        reason = (request.POST.get("reason") or "").strip()
        try:
            if action == "assign":
                recon.exception_assign(exception=exception, actor=request.user)
                messages.success(request, "Assigned to you.")
            elif action == "correct":
                recon.exception_correct(exception=exception, actor=request.user, reason=reason)
                messages.success(request, "The correction is in the outbox to the system.")
            elif action == "accept":
                recon.exception_accept(exception=exception, actor=request.user, reason=reason)
                messages.success(request, "The difference is accepted.")
            elif action == "close":
                recon.exception_close(exception=exception, actor=request.user, reason=reason)
                messages.success(request, "Closed.")
            else:
                messages.error(request, f"Unknown action {action!r}.")
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(back)
