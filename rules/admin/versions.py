"""The rule set version page: author in a YAML editor, then govern with buttons.

The editor is ACE (served from the django-ace package, no CDN) in YAML mode with two-space
indentation. Problems (schema or CEL, each with line and column) are marked *in* the
editor as gutter annotations and underlines, both after a save and live while typing
(the page asks ``POST /api/v1/rules/validate``). Versions that can no longer change show
their document in the same editor, read-only, with highlighting and indentation.

Every button posts to ``<id>/govern/<operation>/``, which calls one service of
:mod:`rules.services` with ``request.user`` as the actor, exactly as the API does. A
refusal (the four-eyes rule, failing tests, a missing permission, a wrong state) is shown
as an error message and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_ace import AceWidget
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from interlock.errors import DomainError
from plants.auth import plant_ids_for
from plants.models import Plant, SiteParameter, SiteParameterOverride

from .. import services
from ..choices import VersionState
from ..compiler import check_ruleset
from ..models import Activation, RuleSetVersion, VersionDecision
from ..selectors import version_simulations
from .common import (
    EDITOR_CSS,
    EDITOR_JS,
    PARAMETER_RE,
    HistoryWithoutRevert,
    ReadOnlyInline,
    simulation_html,
)

#: What the editor starts with on "Add": a complete, valid rule set to edit.
STARTER = """\
schema: interlock/ruleset/v1
ruleset: my-rule-set
description: What this rule set decides, in one sentence
owner: governance-board
rules:
  - id: large_confirmation
    description: Large confirmations hold the goods receipt
    owner: governance-board
    on: [operation.confirmed]
    when: event.qty > 100.0
    then:
      - action: hold_gate
        params: {gate: goods_receipt}
tests:
  - name: a large confirmation holds the gate
    event_type: operation.confirmed
    event: {qty: 101.0}
    expect: {actions: [hold_gate]}
"""


def editor(readonly: bool = False) -> AceWidget:
    # The YAML worker of ACE would replace our annotations with its own (syntax only).
    return AceWidget(
        mode="yaml",
        width="100%",
        height="520px",
        tabsize=2,
        fontsize="13px",
        showprintmargin=False,
        useworker=False,
        readonly=readonly,
    )


class VersionForm(forms.ModelForm):
    """Source and (on add) the plant of an override; the services do the rest."""

    class Meta:
        model = RuleSetVersion
        fields = ["source", "plant"]
        widgets = {"source": editor()}
        help_texts = {
            "plant": "Leave empty for a global version; a plant makes it an override "
            "that can only go live at that plant.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.problems: list[dict] = []
        if "source" in self.fields and not self.instance.pk and not self.initial.get("source"):
            self.initial["source"] = STARTER

    def clean_source(self):
        source = self.cleaned_data["source"]
        compiled, problems = check_ruleset(source)
        if (
            not problems
            and self.instance.pk
            and compiled.definition.ruleset != self.instance.ruleset.key
        ):
            line = next(
                (n for n, text in enumerate(source.splitlines(), 1) if text.startswith("ruleset:")),
                0,
            )
            self.problems = [
                {
                    "path": "/ruleset",
                    "code": "ruleset_key_changed",
                    "message": f"a version of {self.instance.ruleset.key} cannot change its "
                    "'ruleset' key; start a new rule set with Add instead",
                    "line": line,
                    "column": 1,
                }
            ]
            raise forms.ValidationError(f"line {line}: {self.problems[0]['message']}")
        if problems:
            self.problems = [p.as_dict() for p in problems]
            raise forms.ValidationError(
                [
                    f"line {p.line}, column {p.column}: {p.path} [{p.code}] {p.message}"
                    for p in problems
                ]
            )
        return source


class DecisionInline(ReadOnlyInline):
    model = VersionDecision
    fields = ["created_at", "kind", "actor", "plant", "text"]
    readonly_fields = fields
    verbose_name_plural = "Decisions and comments"


#: Governance operations: button name → (states it applies to, permission to show it).
OPERATIONS: dict[str, tuple[set[str], str | None]] = {
    "run_tests": ({VersionState.DRAFT}, None),
    "simulate": (set(VersionState.values) - {VersionState.RETIRED}, None),
    "submit": ({VersionState.DRAFT}, None),
    "approve": ({VersionState.IN_REVIEW}, "rules.approve_rulesetversion"),
    "reject": ({VersionState.IN_REVIEW}, "rules.approve_rulesetversion"),
    "publish": ({VersionState.APPROVED, VersionState.PUBLISHED}, "publish"),
    "schedule": ({VersionState.APPROVED, VersionState.PUBLISHED}, "publish"),
    "rollback": ({VersionState.PUBLISHED}, "publish"),
    "new_draft": (set(VersionState.values), None),
}


def _when(value: str) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(HistoryWithoutRevert):
    form = VersionForm
    list_display = ["__str__", "plant", "state", "author", "approved_by", "created_at"]
    list_filter = ["state", "ruleset", "plant"]
    search_fields = ["ruleset__key"]
    change_form_template = "admin/rules/rulesetversion/change_form.html"
    inlines = [DecisionInline]
    actions = ["submit", "approve"]

    class Media:
        js = EDITOR_JS
        css = {"all": EDITOR_CSS}

    # --- which fields, and which may be written ------------------------------------------
    GOVERNANCE_FIELDS = [
        "ruleset",
        "number",
        "state",
        "author",
        "approved_by",
        "submitted_at",
        "approved_at",
        "published_at",
        "live_at",
    ]
    PANELS = ["tests", "parameters_read", "latest_simulation", "compare"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["source", "plant"]})]
        editable = self.has_change_permission(request, obj)
        document = ["source"] if editable else ["document"]
        return [
            ("Document", {"fields": [*document, "scope"]}),
            ("Checks", {"fields": ["tests", "parameters_read"]}),
            ("Simulation", {"fields": ["latest_simulation"]}),
            ("Governance", {"fields": [*self.GOVERNANCE_FIELDS, "compare"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["document", "scope", *self.GOVERNANCE_FIELDS, *self.PANELS]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["fields"] = ["source"] if self.has_change_permission(request, obj) else []
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "plant":
            # Only plants where the user may author an override (a board member: all).
            allowed = plant_ids_for(request.user, "rules.author_plantoverride")
            if allowed is not None:
                kwargs["queryset"] = Plant.objects.filter(pk__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- permissions: drafts change (through the service); nothing is deleted ---------------
    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.state != VersionState.DRAFT:
            return False  # submitted versions are immutable
        return super().has_change_permission(request, obj) or (
            obj is not None and obj.author_id == request.user.pk
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not request.user.has_perm("rules.approve_rulesetversion"):
            actions.pop("approve", None)  # plant admins never see the approval action
        return actions

    def save_model(self, request, obj, form, change):
        try:
            if change:
                saved = services.ruleset_version_update(
                    version=obj, source=obj.source, actor=request.user
                )
            else:
                saved = services.ruleset_version_create(
                    source=obj.source, author=request.user, plant=obj.plant
                )
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc
        # The admin logs and redirects with ``obj``: make it the row the service saved.
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_state")})
        obj._state.adding = False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context.get("adminform").form if context.get("adminform") else None
        context["rule_problems"] = getattr(form, "problems", [])
        context["validate_url"] = reverse("v1:rules:validate")
        if obj is not None:
            context["governance"] = self._governance_context(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- read-only panels ----------------------------------------------------------------
    @admin.display(description="Document")
    def document(self, obj):
        # Shown in the ACE editor, read-only (rules-editor.js); plain <pre> without JS.
        return format_html('<pre class="rules-yaml">{}</pre>', obj.source)

    @admin.display(description="Scope")
    def scope(self, obj):
        if obj.plant_id:
            return f"override for plant {obj.plant.code} only"
        return "global (every plant, unless a plant runs its own version)"

    @admin.display(description="Live at")
    def live_at(self, obj):
        rows = Activation.objects.filter(version=obj).select_related("plant")
        where = sorted(a.plant.code if a.plant_id else "all plants (default)" for a in rows)
        return ", ".join(where) or "nowhere"

    @admin.display(description="Embedded tests")
    def tests(self, obj):
        if not obj.test_results:
            return "not run yet: use “Run tests” (they also run on submit)"
        rows = format_html_join(
            "",
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    "rules-pass" if r["passed"] else "rules-fail",
                    r["name"],
                    "✔ passed" if r["passed"] else "✘ failed",
                    r.get("message", ""),
                )
                for r in obj.test_results
            ),
        )
        return format_html(
            '<table class="rules-table" id="rules-test-results"><thead><tr><th>test</th>'
            "<th>result</th><th>message</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Site parameters it reads")
    def parameters_read(self, obj):
        keys = sorted(set(PARAMETER_RE.findall(obj.source)))
        if not keys:
            return "none"
        plants = list(Plant.objects.order_by("code"))
        parameters = {p.key: p for p in SiteParameter.objects.filter(key__in=keys)}
        overrides = {
            (o.parameter.key, o.plant_id): o.value
            for o in SiteParameterOverride.objects.filter(parameter__key__in=keys).select_related(
                "parameter"
            )
        }
        head = format_html_join("", "<th>{}</th>", ((p.code,) for p in plants))
        body = []
        for key in keys:
            parameter = parameters.get(key)
            if parameter is None:
                body.append(
                    format_html(
                        "<tr><td><code>{}</code></td><td colspan='{}' class='rules-fail'>"
                        "no such site parameter</td></tr>",
                        key,
                        len(plants) + 1,
                    )
                )
                continue
            cells = format_html_join(
                "",
                "<td class='{}'>{}</td>",
                (
                    (
                        ("rules-override", f"{overrides[(key, p.pk)]} {parameter.unit}")
                        if (key, p.pk) in overrides
                        else ("", f"{parameter.default_value} {parameter.unit}")
                    )
                    for p in plants
                ),
            )
            url = reverse("admin:plants_siteparameter_change", args=[parameter.pk])
            body.append(
                format_html(
                    '<tr><td><a href="{}"><code>{}</code></a><br><small>{}</small></td>'
                    "<td>{} {}</td>{}</tr>",
                    url,
                    key,
                    parameter.description,
                    parameter.default_value,
                    parameter.unit,
                    cells,
                )
            )
        return format_html(
            '<table class="rules-table" id="rules-parameters"><thead><tr><th>parameter</th>'
            "<th>default</th>{}</tr></thead><tbody>{}</tbody></table>"
            "<p class='help'>Highlighted: the plant's own value (an override).</p>",
            head,
            mark_safe("".join(body)),  # noqa: S308 - rows built with format_html
        )

    @admin.display(description="Latest simulation")
    def latest_simulation(self, obj):
        report = version_simulations(version=obj).first()
        if report is None:
            return "none yet: choose a plant and press “Simulate” above"
        return simulation_html(report)

    @admin.display(description="Diff")
    def compare(self, obj):
        url = reverse("admin:rules_rulesetversion_diff", args=[obj.pk])
        return format_html('<a href="{}">compare with another version</a>', url)

    # --- governance panel -----------------------------------------------------------------
    def _allowed(self, request, version, operation: str) -> bool:
        states, perm = OPERATIONS[operation]
        if version.state not in states:
            return False
        user = request.user
        if perm == "publish":
            return user.has_perm("rules.publish_rulesetversion", version) or bool(
                version.plant_id and user.has_perm("rules.publish_plantoverride", version)
            )
        if perm is not None:
            return user.has_perm(perm, version)
        if operation in ("run_tests", "submit"):
            return version.author_id == user.pk or self.has_change_permission(request, version)
        if operation == "new_draft":
            return user.has_perm("rules.add_rulesetversion") or bool(
                version.plant_id and user.has_perm("rules.author_plantoverride", version.plant)
            )
        if operation == "simulate":
            return user.has_perm("rules.add_simulationreport") or bool(
                version.plant_id and user.has_perm("rules.author_plantoverride", version.plant)
            )
        return False

    def _governance_context(self, request, version) -> dict:
        plants = [version.plant] if version.plant_id else list(Plant.objects.order_by("code"))
        live = {
            a.plant_id: a
            for a in Activation.objects.filter(ruleset=version.ruleset).select_related(
                "plant", "version"
            )
        }
        return {
            # ".../govern/": the template appends the operation
            "url": reverse("admin:rules_rulesetversion_govern", args=[version.pk, "x"])[:-2],
            "allowed": {op for op in OPERATIONS if self._allowed(request, version, op)},
            "plants": plants,
            "unpublished_plants": [
                p for p in plants if live.get(p.pk) is None or live[p.pk].version_id != version.pk
            ],
            # A plant row without a previous version is a canary: it rolls back to the
            # global default (see services.ruleset_rollback).
            "rollback_targets": [
                (a.plant.code if a.plant_id else "", a.plant.code if a.plant_id else "all plants")
                for a in live.values()
                if a.version_id == version.pk and (a.previous_id or (a.plant_id and None in live))
            ],
            "global_live": live.get(None) is not None and live[None].version_id == version.pk,
            "is_override": bool(version.plant_id),
        }

    def get_urls(self):
        return [
            path(
                "<path:object_id>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="rules_rulesetversion_diff",
            ),
            path(
                "<path:object_id>/govern/<str:operation>/",
                self.admin_site.admin_view(self.govern_view),
                name="rules_rulesetversion_govern",
            ),
            *super().get_urls(),
        ]

    def govern_view(self, request, object_id, operation):
        """POST only: one governance step through its service; back to the version page
        (or to the new draft) with what happened as a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404(f"No rule set version {object_id}.")
        if operation not in OPERATIONS:
            raise Http404(f"No operation {operation!r}.")
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        handler: Callable = getattr(self, f"_op_{operation}")
        back = reverse("admin:rules_rulesetversion_change", args=[version.pk])
        try:
            result = handler(request, version, request.POST)
        except DomainError as exc:
            details = "; ".join(
                f"{d.path}: {d.message}" for d in getattr(exc, "details", None) or []
            )
            text = f"{version}: {operation.replace('_', ' ')} refused: {exc.message}"
            self.message_user(
                request, text + (f" ({details})" if details else ""), level=messages.ERROR
            )
        except (TransitionNotAllowed, ConcurrentTransition) as exc:
            # A stale page (someone else moved the version meanwhile): say so, change nothing.
            self.message_user(
                request,
                f"{version}: {operation.replace('_', ' ')} does not apply: it is "
                f"{version.get_state_display().lower()} now ({exc})",
                level=messages.ERROR,
            )
        except (ValueError, KeyError) as exc:
            self.message_user(request, f"{version}: bad input: {exc}", level=messages.ERROR)
        else:
            if isinstance(result, tuple):
                text, back = result
            else:
                text = result
            self.message_user(request, text, level=messages.SUCCESS)
        return HttpResponseRedirect(back)

    def _plants(self, data, *, required: bool = True) -> list[Plant]:
        codes = data.getlist("plants")
        found = list(Plant.objects.filter(code__in=codes).order_by("code"))
        if len(found) != len(set(codes)):
            missing = sorted(set(codes) - {p.code for p in found})
            raise ValueError(f"no plant {', '.join(missing)}")
        if required and not found:
            raise ValueError("choose at least one plant")
        return found

    def _op_run_tests(self, request, version, data):
        results = services.ruleset_version_run_tests(version=version, actor=request.user)
        failed = [r["name"] for r in results if not r["passed"]]
        if failed:
            raise DomainError(
                message=f"{len(failed)} of {len(results)} tests fail: {', '.join(failed)}",
                code="tests_failed",
            )
        return f"{version}: all {len(results)} embedded tests pass."

    def _op_simulate(self, request, version, data):
        [plant] = self._plants(data)[:1] or [None]
        last_n = int(data.get("last_n") or services.DEFAULT_SIMULATION_EVENTS)
        report = services.ruleset_version_simulate(
            version=version,
            plant=plant,
            actor=request.user,
            last_n=last_n,
            since=_when(data.get("since", "")),
            until=_when(data.get("until", "")),
        )
        return (
            f"{version} simulated at {plant.code}: {report.events_changed} of "
            f"{report.events_evaluated} events would change (against "
            f"{report.summary.get('baseline') or 'nothing live'})."
        )

    def _op_submit(self, request, version, data):
        services.ruleset_version_submit(version=version, actor=request.user)
        return f"{version} submitted for review: its embedded tests pass."

    def _op_approve(self, request, version, data):
        services.ruleset_version_approve(
            version=version, approver=request.user, comment=data.get("comment", "").strip()
        )
        return f"{version} approved."

    def _op_reject(self, request, version, data):
        comment = data.get("comment", "").strip()
        if not comment:
            raise ValueError("say why in the comment when sending a version back")
        services.ruleset_version_reject(version=version, reviewer=request.user, comment=comment)
        return f"{version} sent back to draft."

    def _op_publish(self, request, version, data):
        if data.get("scope") == "global":
            services.ruleset_version_publish(version=version, actor=request.user, plants=None)
            return f"{version} published as the global default."
        plants = self._plants(data)
        services.ruleset_version_publish(version=version, actor=request.user, plants=plants)
        return f"{version} published at {', '.join(p.code for p in plants)} (canary)."

    def _op_schedule(self, request, version, data):
        done = []
        for plant in self._plants(data):
            item = services.ruleset_version_schedule_publish(
                version=version, plant=plant, actor=request.user
            )
            done.append(f"{plant.code} at {item.due_at:%Y-%m-%d %H:%M} UTC")
        return f"{version} scheduled: {', '.join(done)} (the plant's next release window)."

    def _op_rollback(self, request, version, data):
        code = data.get("plant", "")
        plant = Plant.objects.filter(code=code).first() if code else None
        if code and plant is None:
            raise ValueError(f"no plant {code}")
        activation = services.ruleset_rollback(
            ruleset=version.ruleset,
            plant=plant,
            actor=request.user,
            reason=data.get("reason", "").strip() or "rolled back in the admin",
        )
        return f"{version.ruleset} at {code or 'all plants'} is back on {activation.version}."

    def _op_new_draft(self, request, version, data):
        draft = services.ruleset_version_new_draft(version=version, author=request.user)
        url = reverse("admin:rules_rulesetversion_change", args=[draft.pk])
        return f"{draft} created as a draft from {version}: edit it below.", url

    # --- diff page --------------------------------------------------------------------
    def diff_view(self, request, object_id):
        """Side-by-side diff of this version's text with ``?other=<id>`` (default: the
        version before it) of the same rule set."""
        version = self.get_object(request, unquote(object_id))
        if version is None:
            raise Http404(f"No rule set version {object_id}.")
        if not self.has_view_or_change_permission(request, version):
            raise PermissionDenied
        siblings = list(version.ruleset.versions.select_related("plant").order_by("-number"))
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

    # --- list actions (the same services) ---------------------------------------------------
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
