"""The operator's workbench page: every open exception at their plants on one page, grouped,
and what they do about a group.

- **Workbench** (``/admin/orchestrator/inboundmessage/workbench/``): one row per group of
  (kind, reason code, plant, system, event type, rule version) with its count and oldest
  age; each row links to the group.
- **Group page**: the items (each linking to its own page and trace), and one form to
  replay or discard the whole group with a reason (``services.replay.group_act``: per-item
  permission checks, a cap per action and a rate limit per person).
- **Edit and replay** (a button on a message): the body as JSON in a text box; saving
  records the diff and replays a copy (``message_edit``), or leaves it for a second
  operator's approval where the plant asks for four eyes (``Payload edits`` list,
  action *Approve and replay*). The original message is never changed.
"""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from interlock.errors import DomainError
from plants.admin_scoping import PlantScopedAdminMixin
from plants.selectors import scope_queryset

from ..models import Event, InboundMessage, PayloadEdit
from ..selectors_workbench import decode_key, workbench_group, workbench_groups
from ..services import replay as services
from ..services import replay_version
from ..services.replay_version import replay_version_choices


class GroupActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("replay", "Replay every item (after a fix)"), ("discard", "Discard every item")],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
        max_length=services.REASON_MAX,
        help_text="Why: kept with your name on every item and in the audit trail.",
    )


class VersionReplayForm(forms.Form):
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
        max_length=services.REASON_MAX,
        help_text="Why this version: kept with your name, the version and every item's audit.",
    )


class EditForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 22, "cols": 90, "spellcheck": "false", "style": "font-family:monospace"}
        ),
        help_text="The whole envelope as JSON. The original stays as it was received.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 90}),
        max_length=services.REASON_MAX,
        help_text="What was wrong and what you changed.",
    )

    def clean_body(self):
        try:
            body = json.loads(self.cleaned_data["body"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        if not isinstance(body, dict):
            raise forms.ValidationError("The envelope must be a JSON object.")
        return body


def _age(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} days"


def item_url(item) -> str:
    opts = item._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[item.pk])


def version_replay_button(**query) -> dict:
    """The "Replay with a rule version…" button for an event, a message or a group."""
    url = reverse("admin:orchestrator_workbench_version_replay")
    return {"label": "Replay with a rule version…", "url": f"{url}?{urlencode(query)}"}


class OperatorWorkbenchMixin:
    """Mix into the stored-message admin: the workbench pages hang off its URLs."""

    change_list_template = "admin/orchestrator/workbench_change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("workbench/", view(self.workbench_view), name="orchestrator_workbench"),
            path(
                "workbench/replay-with-version/",
                view(self.version_replay_view),
                name="orchestrator_workbench_version_replay",
            ),
            path(
                "workbench/<str:key>/",
                view(self.workbench_group_view),
                name="orchestrator_workbench_group",
            ),
            path(
                "<path:object_id>/edit-replay/",
                view(self.edit_replay_view),
                name="orchestrator_inboundmessage_edit_replay",
            ),
            *super().get_urls(),
        ]

    def extra_buttons(self, request, obj) -> list[dict]:
        buttons = super().extra_buttons(request, obj)
        if obj.status in services.MESSAGE_OPEN and request.user.has_perm(self.replay_perm, obj):
            buttons.append(
                {
                    "label": "Edit and replay…",
                    "url": reverse("admin:orchestrator_inboundmessage_edit_replay", args=[obj.pk]),
                }
            )
            event = obj.event if obj.event_id else None
            if event is not None and event.status in services.EVENT_REPLAYABLE:
                buttons.append(version_replay_button(message=obj.pk))
        return buttons

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "workbench_url": reverse("admin:orchestrator_workbench"),
        }
        return super().changelist_view(request, extra_context)

    def workbench_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        groups = workbench_groups(user=request.user, now=now)
        rows = [
            {
                "group": g,
                "age": _age(g.age(now)),
                "url": reverse("admin:orchestrator_workbench_group", args=[g.key]),
            }
            for g in groups
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Operator workbench",
            "rows": rows,
            "total": sum(g.count for g in groups),
        }
        return TemplateResponse(request, "admin/orchestrator/workbench.html", context)

    def workbench_group_view(self, request, key: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            decode_key(key)
        except LookupError as exc:
            raise Http404(str(exc)) from exc
        back = reverse("admin:orchestrator_workbench")
        group = workbench_group(user=request.user, key=key)
        if group is None:
            messages.success(request, "Nothing in that group is open any more.")
            return HttpResponseRedirect(back)
        form = GroupActionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                done, refused = services.group_act(
                    items=group.items,
                    action=form.cleaned_data["action"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                verb = "Replayed" if form.cleaned_data["action"] == "replay" else "Discarded"
                if done:
                    messages.success(request, f"{verb} {len(done)} of {group.count}.")
                for text in refused[:20]:
                    messages.error(request, text)
                return HttpResponseRedirect(back)
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{group.kind_label}: {group.reason or '—'} · {group.plant}",
            "group": group,
            "age": _age(group.age(now)),
            "items": [{"obj": item, "url": item_url(item)} for item in group.items[:500]],
            "form": form,
            "back": back,
            "can_act": group.kind in ("message", "event", "parked", "dead"),
            "version_url": version_replay_button(group=group.key)["url"]
            if group.kind in ("message", "event", "parked")
            else None,
        }
        return TemplateResponse(request, "admin/orchestrator/workbench_group.html", context)

    # --- replay with a chosen rule version ---------------------------------------------------
    def _version_items(self, request) -> tuple[list, str, str]:
        """``(items, back url, what they are)`` from ``?group=`` or ``?event=``/``?message=``."""
        key = request.GET.get("group", "")
        if key:
            try:
                decode_key(key)
            except LookupError as exc:
                raise Http404(str(exc)) from exc
            group = workbench_group(user=request.user, key=key)
            if group is None:
                raise Http404("Nothing in that group is open any more.")
            back = reverse("admin:orchestrator_workbench_group", args=[key])
            return group.items, back, f"{group.kind_label}: {group.reason or '—'} · {group.plant}"
        items: list = []
        for model, name in ((Event, "event"), (InboundMessage, "message")):
            ids = [i for i in request.GET.getlist(name) if i.isdigit()]
            found = scope_queryset(
                model.objects.filter(pk__in=ids),
                user=request.user,
                perm=f"orchestrator.view_{model._meta.model_name}",
            )
            items += list(found.order_by("pk"))
        if not items:
            raise Http404("No event or message that you may see.")
        back = item_url(items[0]) if len(items) == 1 else reverse("admin:orchestrator_workbench")
        return items, back, ", ".join(str(i) for i in items[:5])

    def version_replay_view(self, request):
        """Pick a version, look at the dry run, confirm with a reason (``replay_version``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        items, back, subject = self._version_items(request)
        choices = replay_version_choices(items=items, actor=request.user)
        wanted = request.GET.get("version", "")
        version = next((v for v in choices if str(v.pk) == wanted), None)
        if wanted and version is None:
            messages.error(request, "That version may not be replayed with here.")
        form = VersionReplayForm(request.POST or None)
        if version is not None and request.method == "POST" and form.is_valid():
            try:
                _, done, refused = replay_version.version_replay(
                    items=items,
                    version=version,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    fingerprint=form.cleaned_data["fingerprint"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                outcomes = Counter(e.status for e in done)
                summary = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
                messages.success(
                    request,
                    f"Replayed {len(done)} event{pluralize(len(done))} with {version.label}"
                    + (f": {summary}." if done else "."),
                )
                for text in refused[:20]:
                    messages.error(request, text)
                return HttpResponseRedirect(reverse("admin:orchestrator_workbench"))
        dry = (
            replay_version.version_dry_run(items=items, version=version, actor=request.user)
            if version is not None
            else None
        )
        if dry is not None and (request.method != "POST" or form.is_valid()):
            # A fresh form carries the fingerprint of the dry run shown now.
            form = VersionReplayForm(
                initial={"fingerprint": dry.fingerprint, "reason": form.data.get("reason", "")}
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Replay with a rule version",
            "subject": subject,
            "count": len(items),
            "back": back,
            "choices": choices,
            "version": version,
            "dry": dry,
            "rows": [
                {"p": p, "url": item_url(p.event), "trace": p.event.correlation_id}
                for p in (dry.previews if dry else [])
            ],
            "form": form,
            "query": [
                (name, value)
                for name in ("group", "event", "message")
                for value in request.GET.getlist(name)
            ],
        }
        return TemplateResponse(
            request, "admin/orchestrator/workbench_version_replay.html", context
        )

    def edit_replay_view(self, request, object_id):
        message = self.get_object(request, unquote(object_id))  # plant-scoped
        if message is None:
            raise Http404(f"No message {object_id} that you may see.")
        if not request.user.has_perm(self.replay_perm, message):
            raise PermissionDenied(f"You may not replay {message}.")
        change_url = reverse("admin:orchestrator_inboundmessage_change", args=[message.pk])
        initial = {"body": json.dumps(message.body, indent=2, sort_keys=True, ensure_ascii=False)}
        form = EditForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                edit = services.message_edit(
                    message=message,
                    body=form.cleaned_data["body"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                if edit.replay_id:
                    messages.success(
                        request,
                        f"Fixed and replayed as message {edit.replay_id}: {edit.replay.status}.",
                    )
                    return HttpResponseRedirect(
                        reverse("admin:orchestrator_inboundmessage_change", args=[edit.replay_id])
                    )
                messages.warning(
                    request,
                    "Saved. This plant asks for four eyes: a second operator approves and "
                    "replays it on the Payload edits list.",
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": message,
            "title": f"Edit and replay {message}",
            "form": form,
            "change_url": change_url,
            "reasons": message.reasons,
            "edits": list(message.payload_edits.all()[:20]),
        }
        return TemplateResponse(request, "admin/orchestrator/edit_replay.html", context)


@admin.action(description="Approve and replay selected edits (second operator)")
def approve_edits(modeladmin, request, queryset):
    done = 0
    for edit in queryset.select_related("message__plant", "message__system"):
        try:
            services.message_edit_approve(edit=edit, actor=request.user)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{edit}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{done} edit(s) approved and replayed.")


@admin.register(PayloadEdit)
class PayloadEditAdmin(PlantScopedAdminMixin, admin.ModelAdmin):
    """Edited bodies: who changed what and why, who approved, and the replay it became."""

    list_display = ["edited_at", "message", "plant", "edited_by", "state", "approved_by", "replay"]
    list_filter = ["state", "plant"]
    actions = [approve_edits]
    fields = [
        "message",
        "plant",
        "state",
        "reason",
        "changes",
        "edited_by",
        "edited_at",
        "approved_by",
        "approved_at",
        "replay",
    ]
    readonly_fields = fields

    @admin.display(description="changes")
    def changes(self, obj):
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            ((d["path"], json.dumps(d["before"]), json.dumps(d["after"])) for d in obj.diff or []),
        )
        return format_html(
            "<table><thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def has_add_permission(self, request, obj=None):
        return False  # edits come from message_edit()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
