"""Admin for rule sets: YAML in the ACE editor (served from the django-ace package, no CDN),
problems shown with their line on save, embedded test results, simulation reports, a diff
between any two versions, decisions and history.

Edits go through the services: a draft is validated and compiled on save; state changes
are the services' (submit/approve/publish), never a field edit. A refusal by a service
(the four-eyes rule, failing tests, a missing permission) is shown as an error message and
changes nothing.
"""

from __future__ import annotations

import difflib

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_ace import AceWidget
from simple_history.admin import SimpleHistoryAdmin

from interlock.errors import DomainError

from . import services
from .compiler import check_ruleset
from .models import (
    Activation,
    RuleSet,
    RuleSetVersion,
    ScheduledPublish,
    SimulationReport,
    VersionDecision,
)


class VersionForm(forms.ModelForm):
    class Meta:
        model = RuleSetVersion
        fields = ["source", "plant"]
        widgets = {"source": AceWidget(mode="yaml", width="100%", height="500px", tabsize=2)}

    def clean_source(self):
        source = self.cleaned_data["source"]
        _, problems = check_ruleset(source)
        if problems:
            raise forms.ValidationError(
                [
                    f"line {p.line}, column {p.column}: {p.path} [{p.code}] {p.message}"
                    for p in problems
                ]
            )
        return source


class DecisionInline(admin.TabularInline):
    model = VersionDecision
    extra = 0
    fields = ["created_at", "kind", "actor", "plant", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class SimulationInline(admin.TabularInline):
    """The simulation reports of a version, each linking to its grouped report."""

    model = SimulationReport
    fk_name = "version"
    extra = 0
    fields = ["report", "plant", "baseline", "events_evaluated", "events_changed", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Report")
    def report(self, obj):
        url = reverse("admin:rules_simulationreport_change", args=[obj.pk])
        return format_html('<a href="{}">simulation #{}</a>', url, obj.pk)


def _groups_table(title: str, groups: list[dict]) -> str:
    if not groups:
        return format_html("<p><strong>{}</strong>: none</p>", title)
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
        ((g["key"], g["events"], ", ".join(g["examples"])) for g in groups),
    )
    return format_html(
        "<p><strong>{}</strong></p><table><thead><tr><th>group</th><th>events</th>"
        "<th>examples</th></tr></thead><tbody>{}</tbody></table>",
        title,
        rows,
    )


def simulation_html(report: SimulationReport) -> str:
    """A report as HTML tables: counts, then the groups by rule, action and event type."""
    summary = report.summary or {}
    head = format_html(
        "<p>{} of {} events would get different actions at {} (against {}).</p>",
        report.events_changed,
        report.events_evaluated,
        report.plant.code,
        summary.get("baseline") or "nothing live",
    )
    return mark_safe(  # noqa: S308 - every part is built with format_html
        head
        + _groups_table("By rule", summary.get("by_rule", []))
        + _groups_table("By action difference", summary.get("by_action", []))
        + _groups_table("By event type", summary.get("by_event_type", []))
    )


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(SimpleHistoryAdmin):
    form = VersionForm
    list_display = ["__str__", "plant", "state", "author", "approved_by", "created_at"]
    list_filter = ["state", "ruleset"]
    readonly_fields = [
        "state",
        "author",
        "approved_by",
        "tests",
        "latest_simulation",
        "compare",
        "submitted_at",
        "approved_at",
        "published_at",
    ]
    inlines = [DecisionInline, SimulationInline]
    actions = ["submit", "approve"]

    def has_change_permission(self, request, obj=None):
        # Published (and any non-draft) versions are immutable.
        if obj is not None and obj.state != "draft":
            return False
        return super().has_change_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("rules.approve_rulesetversion"):
            actions.pop("approve", None)  # plant admins never see the approval action
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            services.ruleset_version_update(version=obj, source=obj.source, actor=request.user)
        else:
            created = services.ruleset_version_create(
                source=obj.source, author=request.user, plant=obj.plant
            )
            obj.pk = created.pk

    # --- read-only panels ----------------------------------------------------------------
    @admin.display(description="Embedded tests")
    def tests(self, obj):
        if not obj.pk or not obj.test_results:
            return "not run yet (they run on submit)"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (r["name"], "✔ passed" if r["passed"] else "✘ failed", r.get("message", ""))
                for r in obj.test_results
            ),
        )
        return format_html(
            "<table><thead><tr><th>test</th><th>result</th><th>message</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Latest simulation")
    def latest_simulation(self, obj):
        report = obj.simulations.select_related("plant").first() if obj.pk else None
        if report is None:
            return "none yet (POST /api/v1/rules/versions/<id>/simulate)"
        return simulation_html(report)

    @admin.display(description="Diff")
    def compare(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:rules_rulesetversion_diff", args=[obj.pk])
        return format_html('<a href="{}">compare with another version</a>', url)

    # --- diff page --------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "<path:object_id>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="rules_rulesetversion_diff",
            ),
            *super().get_urls(),
        ]

    def diff_view(self, request, object_id):
        """Side-by-side diff of this version's text with ``?other=<id>`` (default: the
        version before it) of the same rule set."""
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404(f"No rule set version {object_id}.")
        if not self.has_view_or_change_permission(request, version):
            raise PermissionDenied
        siblings = list(version.ruleset.versions.order_by("-number"))
        other_id = request.GET.get("other")
        if other_id:
            other = next((v for v in siblings if str(v.pk) == other_id), None)
            if other is None:
                raise Http404(f"Version {other_id} is not a version of {version.ruleset}.")
        else:
            other = next((v for v in siblings if v.number < version.number), None)
        table = None
        if other is not None:
            table = difflib.HtmlDiff(tabsize=2, wrapcolumn=90).make_table(
                other.source.splitlines(),
                version.source.splitlines(),
                fromdesc=str(other),
                todesc=str(version),
                context=False,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Diff of {version}",
            "version": version,
            "other": other,
            "siblings": [v for v in siblings if v.pk != version.pk],
            "diff_table": mark_safe(table) if table else None,  # noqa: S308 - difflib escapes
        }
        return TemplateResponse(request, "admin/rules/rulesetversion/diff.html", context)

    # --- governance actions -----------------------------------------------------------
    def _run(self, request, queryset, verb: str, call) -> None:
        for version in queryset:
            try:
                call(version)
            except DomainError as exc:
                self.message_user(
                    request, f"{version}: not {verb}: {exc.message}", level=messages.ERROR
                )
            else:
                self.message_user(request, f"{version}: {verb}.", level=messages.SUCCESS)

    @admin.action(description="Submit for review (embedded tests must pass)")
    def submit(self, request, queryset):
        self._run(
            request,
            queryset,
            "submitted",
            lambda v: services.ruleset_version_submit(version=v, actor=request.user),
        )

    @admin.action(description="Approve (four eyes)")
    def approve(self, request, queryset):
        self._run(
            request,
            queryset,
            "approved",
            lambda v: services.ruleset_version_approve(version=v, approver=request.user),
        )


@admin.register(SimulationReport)
class SimulationReportAdmin(admin.ModelAdmin):
    """Simulation reports are written by the service only; here they are read."""

    list_display = ["__str__", "plant", "baseline", "events_evaluated", "events_changed"]
    list_filter = ["plant"]
    fields = [
        "version",
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Report")
    def report(self, obj):
        return simulation_html(obj)

    @admin.display(description="Changed events")
    def changed_events(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    c["event_id"],
                    c["event_type"],
                    ", ".join(f"+{a['action']} ({a['rule']})" for a in c["added"])
                    + (f" +error: {c['error']}" if c.get("error") else ""),
                    ", ".join(f"-{a['action']} ({a['rule']})" for a in c["removed"])
                    + (f" -error: {c['baseline_error']}" if c.get("baseline_error") else ""),
                    ", ".join(c["baseline_actions"]) + " → " + ", ".join(c["actions"]),
                )
                for c in obj.changes
            ),
        )
        return format_html(
            "<table><thead><tr><th>event</th><th>type</th><th>gains</th><th>loses</th>"
            "<th>actions (live → this version)</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


admin.site.register(RuleSet, SimpleHistoryAdmin)
admin.site.register(Activation, SimpleHistoryAdmin)
admin.site.register(ScheduledPublish)
