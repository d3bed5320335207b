"""The operator's exception workbench in the admin: stored messages and canonical events.

Both lists open on what needs a person (quarantined, rejected, conflicting messages whose
replay has not succeeded yet; quarantined or escalated events), scoped to the operator's
plants. A row shows its reasons as a table, the body exactly as received (pretty-printed)
and a link to the trace of its correlation id. Replay and discard (with a reason) are
actions on the list and buttons on the row; both go through
``orchestrator.services.replay``, which checks the permission on each object (so a P2
operator cannot act on P1's messages even by forging a POST) and writes the audit record.
Everything else is read-only: a stored message is evidence.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from interlock.errors import DomainError
from plants.admin_scoping import PlantScopedAdminMixin

from ..models import Event, EventStatus, InboundMessage, MessageStatus
from ..selectors_trace import trace_get, trace_timeline
from ..selectors_workbench import open_messages
from ..services import replay as services
from .auditor import with_folds
from .operator import OperatorWorkbenchMixin, version_replay_button

REASON_COLUMNS = ("code", "path", "message", "expected", "found")


# --- rendering helpers ----------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def reasons_table(reasons: list[dict] | None):
    """Machine-readable reasons as a readable table (one row per reason)."""
    if not reasons:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((c,) for c in REASON_COLUMNS))
    rows = format_html_join(
        "",
        "<tr>" + "<td>{}</td>" * len(REASON_COLUMNS) + "</tr>",
        (tuple(_cell(r.get(c)) for c in REASON_COLUMNS) for r in reasons if isinstance(r, dict)),
    )
    return format_html(
        '<table class="workbench-reasons"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        rows,
    )


def pretty_json(value: Any):
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="workbench-json" style="white-space:pre-wrap">{}</pre>', text)


def trace_url(correlation_id: str) -> str:
    return reverse("admin:orchestrator_inboundmessage_trace", args=[correlation_id])


def trace_link(correlation_id: str):
    return format_html('<a href="{}">{}</a>', trace_url(correlation_id), correlation_id)


class DiscardForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=services.REASON_MAX,
        help_text="Why it is set aside: kept with your name and in the audit trail.",
    )


# --- the default "needs attention" filter ----------------------------------------------------
class NeedsAttentionFilter(admin.SimpleListFilter):
    """Status filter whose default (no parameter) is "needs attention", not "all"."""

    title = "status"
    parameter_name = "status"
    ATTENTION = "attention"
    ALL = "all"
    open_statuses: tuple[str, ...] = ()
    choices_enum: Any = None

    def lookups(self, request, model_admin):
        return [
            (self.ATTENTION, "Needs attention"),
            (self.ALL, "All"),
            *self.choices_enum.choices,
        ]

    def _selected(self) -> str:
        return self.value() or self.ATTENTION

    def choices(self, changelist):
        selected = self._selected()
        for lookup, title in self.lookup_choices:
            yield {
                "selected": selected == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def attention(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status__in=self.open_statuses)

    def queryset(self, request, queryset):
        selected = self._selected()
        if selected == self.ALL:
            return queryset
        if selected == self.ATTENTION:
            return self.attention(queryset)
        return queryset.filter(status=selected)


class MessageAttentionFilter(NeedsAttentionFilter):
    open_statuses = services.MESSAGE_OPEN
    choices_enum = MessageStatus

    def attention(self, queryset):
        # A message whose replay went through (or whose event was re-applied) is handled:
        # it keeps its status as history.
        return open_messages(queryset)


class EventAttentionFilter(NeedsAttentionFilter):
    open_statuses = services.EVENT_REPLAYABLE
    choices_enum = EventStatus


# --- shared admin behaviour ------------------------------------------------------------------
class WorkbenchAdminMixin:
    """Read-only list and page, replay/discard actions and buttons, through services."""

    change_form_template = "admin/orchestrator/workbench_change_form.html"
    replay_perm = ""
    discard_perm = ""
    open_statuses: tuple[str, ...] = ()
    discardable_statuses: tuple[str, ...] = ()
    actions = ["replay_selected", "discard_selected"]

    # services, set per model
    def _replay(self, obj, user):  # pragma: no cover - overridden
        raise NotImplementedError

    def _discard(self, obj, user, reason):  # pragma: no cover - overridden
        raise NotImplementedError

    # read-only everywhere
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # action permissions (the object-level check happens in the service, per row)
    def has_replay_permission(self, request):
        return request.user.has_perm(self.replay_perm)

    def has_discard_permission(self, request):
        return request.user.has_perm(self.discard_perm)

    def _name(self, suffix: str) -> str:
        return f"orchestrator_{self.model._meta.model_name}_{suffix}"

    def extra_buttons(self, request, obj) -> list[dict]:
        """More buttons on an object's page (edit and replay, for messages)."""
        return []

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/replay/", view(self.replay_view), name=self._name("replay")),
            path("<path:object_id>/discard/", view(self.discard_view), name=self._name("discard")),
            *super().get_urls(),
        ]

    # --- list actions -----------------------------------------------------------------------
    def _report(self, request, done: list, refused: list[str], verb: str) -> None:
        if done:
            messages.success(request, f"{verb} {len(done)}: " + ", ".join(done))
        for text in refused:
            messages.error(request, text)

    @admin.action(description="Replay selected (after a fix)", permissions=["replay"])
    def replay_selected(self, request, queryset):
        done, refused = [], []
        for obj in queryset:
            try:
                result = self._replay(obj, request.user)
            except DomainError as exc:
                refused.append(f"{obj}: {exc.message}")
            else:
                done.append(f"{obj} → {result.status}")
        self._report(request, done, refused, "Replayed")

    @admin.action(description="Discard selected, with a reason", permissions=["discard"])
    def discard_selected(self, request, queryset):
        form = DiscardForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done, refused = [], []
            for obj in queryset:
                try:
                    self._discard(obj, request.user, form.cleaned_data["reason"])
                except DomainError as exc:
                    refused.append(f"{obj}: {exc.message}")
                else:
                    done.append(str(obj))
            self._report(request, done, refused, "Discarded")
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Discard {queryset.count()} {self.model._meta.verbose_name_plural}",
            "objects": list(queryset[:200]),
            "form": form,
            "action": "discard_selected",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/orchestrator/workbench_discard.html", context)

    # --- per-object pages -------------------------------------------------------------------
    def _object_or_404(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))  # plant-scoped queryset
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id} that you may see.")
        return obj

    def _change_url(self, obj) -> str:
        return reverse(f"admin:{self._name('change')}", args=[obj.pk])

    def replay_view(self, request, object_id):
        obj = self._object_or_404(request, object_id)
        if not request.user.has_perm(self.replay_perm, obj):
            raise PermissionDenied(f"You may not replay {obj}.")
        if request.method == "POST":
            try:
                result = self._replay(obj, request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
                return HttpResponseRedirect(self._change_url(obj))
            messages.success(request, f"{obj} replayed: {result}.")
            return HttpResponseRedirect(self._change_url(result))
        return self._confirm(request, obj, "replay", form=None)

    def discard_view(self, request, object_id):
        obj = self._object_or_404(request, object_id)
        if not request.user.has_perm(self.discard_perm, obj):
            raise PermissionDenied(f"You may not discard {obj}.")
        form = DiscardForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                self._discard(obj, request.user, form.cleaned_data["reason"])
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"{obj} discarded.")
            return HttpResponseRedirect(self._change_url(obj))
        return self._confirm(request, obj, "discard", form=form)

    def _confirm(self, request, obj, verb: str, *, form):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"{verb.capitalize()} {obj}",
            "verb": verb,
            "form": form,
            "change_url": self._change_url(obj),
            "reasons": reasons_table(obj.reasons),
        }
        return TemplateResponse(request, "admin/orchestrator/workbench_confirm.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        extra = dict(extra_context or {})
        if obj is not None:
            user = request.user
            extra["workbench_buttons"] = [
                {"label": "Trace", "url": trace_url(obj.correlation_id)},
                *(
                    [
                        {
                            "label": "Replay",
                            "url": reverse(f"admin:{self._name('replay')}", args=[obj.pk]),
                        }
                    ]
                    if obj.status in self.open_statuses and user.has_perm(self.replay_perm, obj)
                    else []
                ),
                *(
                    [
                        {
                            "label": "Discard…",
                            "url": reverse(f"admin:{self._name('discard')}", args=[obj.pk]),
                        }
                    ]
                    if obj.status in self.discardable_statuses
                    and user.has_perm(self.discard_perm, obj)
                    else []
                ),
                *self.extra_buttons(request, obj),
            ]
        return super().change_view(request, object_id, form_url, extra)

    # --- computed columns -------------------------------------------------------------------
    @admin.display(description="reasons")
    def reasons_display(self, obj):
        return reasons_table(obj.reasons)

    @admin.display(description="first reason")
    def reason_summary(self, obj):
        reasons = obj.reasons or []
        if not reasons or not isinstance(reasons[0], dict):
            return ""
        first = reasons[0]
        more = f" (+{len(reasons) - 1})" if len(reasons) > 1 else ""
        return f"{first.get('code', '')} {first.get('path', '')}: {first.get('message', '')}{more}"

    @admin.display(description="trace", ordering="correlation_id")
    def trace(self, obj):
        return trace_link(obj.correlation_id)


# --- messages --------------------------------------------------------------------------------
@admin.register(InboundMessage)
class InboundMessageAdmin(
    OperatorWorkbenchMixin, WorkbenchAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin
):
    """Messages as received; the default list is what an operator must look at."""

    replay_perm = "orchestrator.replay_inboundmessage"
    discard_perm = "orchestrator.discard_inboundmessage"
    open_statuses = services.MESSAGE_OPEN
    discardable_statuses = services.MESSAGE_OPEN
    list_display = [
        "id",
        "received_at",
        "status",
        "plant",
        "system",
        "event_type",
        "reason_summary",
        "trace",
    ]
    list_filter = [MessageAttentionFilter, "plant", "event_type", "system"]
    list_select_related = ["plant", "system"]
    search_fields = ["=correlation_id", "=message_id", "=event__idempotency_key"]
    search_help_text = "Correlation id, message id or idempotency key (exact)."
    date_hierarchy = "received_at"
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["status", "reasons_display", "trace", "replay_chain", "event_link"]}),
        ("As received", {"fields": ["body_pretty"]}),
        (
            "Envelope",
            {
                "fields": [
                    "received_at",
                    "processed_at",
                    "system",
                    "plant",
                    "source",
                    "plant_code",
                    "event_type",
                    "message_id",
                    "correlation_id",
                    "request_id",
                    "position",
                    "handled_by",
                    "handled_reason",
                ]
            },
        ),
    ]

    def _replay(self, obj, user):
        return services.message_replay(message=obj, actor=user)

    def _discard(self, obj, user, reason):
        return services.message_discard(message=obj, actor=user, reason=reason)

    def get_readonly_fields(self, request, obj=None):
        computed = ["reasons_display", "trace", "replay_chain", "event_link", "body_pretty"]
        return [f.name for f in self.model._meta.fields] + computed

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("trace/", view(self.trace_view), name="orchestrator_inboundmessage_trace_search"),
            path(
                "trace/<path:correlation_id>/",
                view(self.trace_view),
                name="orchestrator_inboundmessage_trace",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="body (as received)")
    def body_pretty(self, obj):
        return pretty_json(obj.body)

    @admin.display(description="replays")
    def replay_chain(self, obj):
        parts = []
        if obj.replay_of_id:
            parts.append(
                format_html(
                    'replay of <a href="{}">message {}</a>',
                    self._change_url(obj.replay_of),
                    obj.replay_of_id,
                )
            )
        for replay in obj.replays.order_by("pk"):
            parts.append(
                format_html(
                    'replayed as <a href="{}">message {}</a> ({})',
                    self._change_url(replay),
                    replay.pk,
                    replay.status,
                )
            )
        return format_html_join(" · ", "{}", ((p,) for p in parts)) if parts else "—"

    @admin.display(description="event")
    def event_link(self, obj):
        if not obj.event_id:
            return "—"
        url = reverse("admin:orchestrator_event_change", args=[obj.event_id])
        return format_html('<a href="{}">event {}</a>', url, obj.event_id)

    def trace_view(self, request, correlation_id: str | None = None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        correlation_id = correlation_id or request.GET.get("correlation_id", "").strip()
        if not correlation_id:
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Trace a correlation id",
                "trace": None,
            }
            return TemplateResponse(request, "admin/orchestrator/trace.html", context)
        trace = trace_get(correlation_id=correlation_id, user=request.user)
        if trace.empty:
            raise Http404(f"No trace {correlation_id!r} at your plants.")
        rows = with_folds(trace_timeline(trace))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Trace {correlation_id}",
            "trace": trace,
            "rows": rows,
            "counts": Counter(r.kind for r in rows),
            "people": sum(1 for r in rows if r.human),
        }
        return TemplateResponse(request, "admin/orchestrator/trace.html", context)


# --- events ----------------------------------------------------------------------------------
@admin.register(Event)
class EventAdmin(WorkbenchAdminMixin, PlantScopedAdminMixin, admin.ModelAdmin):
    """Canonical events; the default list is what is quarantined or escalated."""

    replay_perm = "orchestrator.replay_event"
    discard_perm = "orchestrator.discard_event"
    open_statuses = services.EVENT_REPLAYABLE
    discardable_statuses = services.EVENT_DISCARDABLE
    list_display = [
        "id",
        "received_at",
        "status",
        "plant",
        "system",
        "event_type",
        "waiting_for",
        "reason_summary",
        "trace",
    ]
    list_filter = [EventAttentionFilter, "plant", "event_type", "system"]
    list_select_related = ["plant", "system"]
    search_fields = ["=correlation_id", "=idempotency_key", "=messages__message_id"]
    search_help_text = "Correlation id, idempotency key or message id (exact)."
    date_hierarchy = "received_at"
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["status", "reasons_display", "trace", "waiting_for", "parked_at"]}),
        ("Canonical payload", {"fields": ["payload_pretty"]}),
        (
            "Event",
            {
                "fields": [
                    "plant",
                    "system",
                    "event_type",
                    "occurred_at",
                    "received_at",
                    "applied_at",
                    "correlation_id",
                    "idempotency_key",
                    "payload_hash",
                    "rule_pins_pretty",
                    "explanation_pretty",
                ]
            },
        ),
    ]

    def _replay(self, obj, user):
        return services.event_replay(event=obj, actor=user)

    def extra_buttons(self, request, obj) -> list[dict]:
        buttons = super().extra_buttons(request, obj)
        if obj.status in services.EVENT_REPLAYABLE and request.user.has_perm(self.replay_perm, obj):
            buttons.append(version_replay_button(event=obj.pk))
        return buttons

    def _discard(self, obj, user, reason):
        return services.event_discard(event=obj, actor=user, reason=reason)

    def get_readonly_fields(self, request, obj=None):
        computed = [
            "reasons_display",
            "trace",
            "payload_pretty",
            "rule_pins_pretty",
            "explanation_pretty",
        ]
        return [f.name for f in self.model._meta.fields] + computed

    @admin.display(description="canonical payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    @admin.display(description="rule pins")
    def rule_pins_pretty(self, obj):
        return pretty_json(obj.rule_pins)

    @admin.display(description="explanation")
    def explanation_pretty(self, obj):
        return pretty_json(obj.explanation)
