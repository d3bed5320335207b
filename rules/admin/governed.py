"""Read-only admins of the records the governance services write: rule sets, activations,
scheduled publishes and simulation reports. Rolling back is a button on the rule set page
(it calls :func:`rules.services.ruleset_rollback` with ``request.user``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from interlock.errors import DomainError
from plants.models import Plant

from .. import services
from ..models import Activation, RuleSet, ScheduledPublish, SimulationReport
from .common import (
    EDITOR_CSS,
    HistoryWithoutRevert,
    ReadOnlyAdmin,
    ReadOnlyInline,
    event_link,
    simulation_html,
)


def version_link(version) -> str:
    if version is None:
        return "-"
    url = reverse("admin:rules_rulesetversion_change", args=[version.pk])
    return format_html('<a href="{}">{}</a>', url, version)


class ActivationInline(ReadOnlyInline):
    model = Activation
    fields = ["plant_label", "live", "before", "activated_at", "activated_by"]
    readonly_fields = fields
    verbose_name_plural = "Live where"

    @admin.display(description="Plant")
    def plant_label(self, obj):
        return obj.plant.code if obj.plant_id else "all plants (global default)"

    @admin.display(description="Live version")
    def live(self, obj):
        return version_link(obj.version)

    @admin.display(description="Rolls back to")
    def before(self, obj):
        return version_link(obj.previous)


@admin.register(RuleSet)
class RuleSetAdmin(ReadOnlyAdmin, HistoryWithoutRevert):
    """A rule set is created with its first version (the document's ``ruleset:`` key);
    here it shows where each version is live, and rolls a plant back in one click."""

    list_display = ["key", "description", "live_summary", "created_at"]
    search_fields = ["key", "description"]
    fields = ["key", "description", "created_at", "versions"]
    readonly_fields = fields
    inlines = [ActivationInline]
    change_form_template = "admin/rules/ruleset/change_form.html"

    class Media:
        css = {"all": EDITOR_CSS}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("activations__plant")

    @admin.display(description="Live")
    def live_summary(self, obj):
        rows = sorted(
            (a.plant.code if a.plant_id else "global", a.version_id) for a in obj.activations.all()
        )
        return ", ".join(f"{where}: #{pk}" for where, pk in rows) or "-"

    @admin.display(description="Versions")
    def versions(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    version_link(v),
                    v.get_state_display(),
                    v.plant.code if v.plant_id else "all",
                    v.author,
                )
                for v in obj.versions.select_related("plant", "author").order_by("-number")
            ),
        )
        return format_html(
            '<table class="rules-table"><thead><tr><th>version</th><th>state</th><th>scope</th>'
            "<th>author</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/rollback/",
                self.admin_site.admin_view(self.rollback_view),
                name="rules_ruleset_rollback",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ruleset = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if ruleset is not None:
            extra_context["rollback_targets"] = [
                (
                    a.plant.code if a.plant_id else "",
                    a.plant.code if a.plant_id else "all plants",
                    a,
                )
                for a in ruleset.activations.select_related("plant", "version", "previous")
                if a.previous_id or a.plant_id
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def rollback_view(self, request, object_id):
        """POST: one plant (or the global default) back to its previous version."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        ruleset = self.get_object(request, unquote(object_id))
        if ruleset is None:
            raise Http404(f"No rule set {object_id}.")
        if not self.has_view_permission(request, ruleset):
            raise PermissionDenied
        code = request.POST.get("plant", "")
        plant = Plant.objects.filter(code=code).first() if code else None
        if code and plant is None:
            self.message_user(request, f"No plant {code!r}.", level=messages.ERROR)
        else:
            try:
                activation = services.ruleset_rollback(
                    ruleset=ruleset,
                    plant=plant,
                    actor=request.user,
                    reason=request.POST.get("reason", "").strip() or "rolled back in the admin",
                )
            except DomainError as exc:
                self.message_user(request, f"Not rolled back: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{ruleset} at {code or 'all plants'} is back on {activation.version}.",
                    level=messages.SUCCESS,
                )
        return HttpResponseRedirect(reverse("admin:rules_ruleset_change", args=[ruleset.pk]))


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin, HistoryWithoutRevert):
    """Where each version is live. Written only by publish and rollback (the buttons on
    the version and rule set pages); the history shows every change and who made it."""

    list_display = ["ruleset", "plant", "version", "previous", "activated_at", "activated_by"]
    list_filter = ["ruleset", "plant"]
    fields = ["ruleset", "plant", "version", "previous", "activated_at", "activated_by"]
    readonly_fields = fields


@admin.register(ScheduledPublish)
class ScheduledPublishAdmin(ReadOnlyAdmin):
    """Publishes due in a plant's release window, made with the version page's
    "Schedule" button and carried out by the scheduler."""

    list_display = ["version", "plant", "due_at", "status", "requested_by", "done_at"]
    list_filter = ["status", "plant"]
    fields = ["version", "plant", "due_at", "status", "requested_by", "done_at"]
    readonly_fields = fields


@admin.register(SimulationReport)
class SimulationReportAdmin(ReadOnlyAdmin):
    """Simulation reports are written by the service only; here they are read."""

    list_display = ["__str__", "plant", "baseline", "events_evaluated", "events_changed"]
    list_filter = ["plant"]
    fields = [
        "version_link",
        "baseline",
        "plant",
        "requested_by",
        "created_at",
        "last_n",
        "since",
        "until",
        "report",
        "changed_events",
    ]
    readonly_fields = fields

    class Media:
        css = {"all": EDITOR_CSS}

    @admin.display(description="Version")
    def version_link(self, obj):
        return version_link(obj.version)

    @admin.display(description="Report")
    def report(self, obj):
        return simulation_html(obj, link=False)

    @admin.display(description="Changed events")
    def changed_events(self, obj):
        urls = {c["event_id"]: c.get("url", "") for c in obj.changes}
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    event_link(urls, c["event_id"]),
                    c["event_type"],
                    ", ".join(f"+{a['action']} ({a['rule']})" for a in c["added"])
                    + (f" +error: {c['error']}" if c.get("error") else ""),
                    ", ".join(f"-{a['action']} ({a['rule']})" for a in c["removed"])
                    + (f" -error: {c['baseline_error']}" if c.get("baseline_error") else ""),
                    (", ".join(c["baseline_actions"]) or "nothing")
                    + " → "
                    + (", ".join(c["actions"]) or "nothing"),
                )
                for c in obj.changes
            ),
        )
        return format_html(
            '<table class="rules-table"><thead><tr><th>event</th><th>type</th><th>gains</th>'
            "<th>loses</th><th>actions (live → this version)</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )
