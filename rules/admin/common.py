"""Pieces the rules ModelAdmins share: the read-only contract and report rendering."""

from __future__ import annotations

import re

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from ..models import SimulationReport

#: The editor's assets: ACE from the django-ace package (served locally, no CDN) and ours.
EDITOR_JS = (
    "django_ace/ace/ace.js",
    "django_ace/ace/mode-yaml.js",
    "interlock/rules-editor.js",
)
EDITOR_CSS = ("interlock/rules-admin.css",)

#: ``plant["scrap.spike_threshold_pct"]`` (or single quotes) in a CEL expression.
PARAMETER_RE = re.compile(r"""plant\s*\[\s*["']([^"']+)["']\s*\]""")


class HistoryWithoutRevert(SimpleHistoryAdmin):
    """History pages to read; "revert" would write an old row back around the services
    (an old state, an old activation), so it is never offered, whatever the permissions."""

    def revert_disabled(self, request, obj=None):
        return True

    def has_change_history_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """A governed model written only by its services: listed and read, never added,
    changed or deleted in the admin (the service buttons live on the version page)."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown beside their parent, never added, changed or deleted from there."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def event_link(report_urls: dict[str, str], event_id: str) -> str:
    url = report_urls.get(event_id)
    if url:
        return format_html('<a href="{}">{}</a>', url, event_id)
    return format_html("{}", event_id)


def _groups_table(title: str, groups: list[dict], urls: dict[str, str]) -> str:
    if not groups:
        return format_html('<h4 class="rules-sim-title">{}</h4><p>none</p>', title)
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td class='rules-num'>{}</td><td>{}</td></tr>",
        (
            (
                g["key"],
                g["events"],
                mark_safe(", ".join(event_link(urls, e) for e in g["examples"])),  # noqa: S308
            )
            for g in groups
        ),
    )
    return format_html(
        '<h4 class="rules-sim-title">{}</h4><table class="rules-table"><thead><tr>'
        "<th>group</th><th>events</th><th>examples (links to the events)</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        title,
        rows,
    )


def simulation_html(report: SimulationReport, *, link: bool = True) -> str:
    """A report as HTML: the headline count, how faithful the rebuilt context was, then
    the changes grouped by rule, by action difference and by event type."""
    summary = report.summary or {}
    urls = summary.get("urls") or {}
    url = reverse("admin:rules_simulationreport_change", args=[report.pk])
    head = format_html(
        '<p class="rules-sim-head"><strong>{} of {} events</strong> would get different '
        "actions at {} (against {}). {}</p>",
        report.events_changed,
        report.events_evaluated,
        report.plant.code,
        summary.get("baseline") or "nothing live",
        format_html('<a href="{}">Full report #{}</a>', url, report.pk) if link else "",
    )
    fidelity = summary.get("fidelity") or {}
    if fidelity.get("checked"):
        missed = fidelity["checked"] - fidelity["reproduced"]
        head += format_html(
            '<p class="rules-sim-fidelity">Context rebuilt as of each event: the live version '
            "reproduces what was recorded for {} of {} events it judged{}.</p>",
            fidelity["reproduced"],
            fidelity["checked"],
            mark_safe(  # noqa: S308 - built with format_html
                format_html(
                    " (not for: {})",
                    mark_safe(", ".join(event_link(urls, e) for e in fidelity["examples"])),  # noqa: S308
                )
            )
            if missed
            else "",
        )
    return mark_safe(  # noqa: S308 - every part is built with format_html
        head
        + _groups_table("By rule", summary.get("by_rule", []), urls)
        + _groups_table("By action difference", summary.get("by_action", []), urls)
        + _groups_table("By event type", summary.get("by_event_type", []), urls)
    )
