"""Admin support for lifecycle models: the state picture, transition buttons, audit trail.

A lifecycle model's change page shows its state picture (generated from the declared
transitions by ``interlock.fsm_graph``) with the current state highlighted, a button per
transition that may proceed now *and* that the user may trigger on this object (the
permission is checked against the object, so it is plant-scoped), and the object's audit
records. A button leads to a small form asking for the reason, which posts to
``transition_apply``, the same service ingest and the API use.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from interlock.errors import DomainError
from interlock.fsm_graph import render_svg
from plants.auth import plant_ids_for
from plants.roles import ROLE_GRANTS, role_allows

from ..selectors import audit_trail
from ..services.lifecycle import (
    available_transitions,
    fsm_field,
    model_transitions,
    transition_apply,
    transition_method,
    transition_permission,
)

AUDIT_ROWS_SHOWN = 50


class TransitionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Why: kept in the audit trail with your name.",
    )


def transition_label(name: str) -> str:
    """``pass_inspection`` → ``pass inspection``: what a person reads on a button or an edge."""
    return name.replace("_", " ")


def _guard_text(condition) -> str:
    doc = (getattr(condition, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].rstrip(".")
    return getattr(condition, "__name__", "a condition").lstrip("_").replace("_", " ")


def _roles_granting(perm: str) -> list[str]:
    from plants.choices import Role

    return [Role(role).label for role in ROLE_GRANTS if role_allows(role, perm)]


def blocked_transitions(obj, *, user, hidden: set[str] = frozenset()) -> list[dict]:
    """The transitions declared from ``obj``'s state that this user cannot trigger now,
    each with why: a guard that is not met, a role the user lacks, or a plant their role
    does not cover."""
    model = type(obj)
    field = fsm_field(model)
    state = getattr(obj, field.name)
    out: dict[str, dict] = {}
    for t in model_transitions(model, field):
        if t.name in hidden or t.name in out or t.source not in (state, "*", "+"):
            continue
        perm = transition_permission(model, t.name)
        failing = [c for c in t.conditions if not c(obj)]
        if failing:
            why = "guard: needs " + "; ".join(_guard_text(c) for c in failing)
        elif user.has_perm(perm, obj):
            continue  # it applies: it is a button, not a reason
        elif plant_ids_for(user, perm):
            why = "plant: your role allows it at other plants, not at this object's plant"
        else:
            roles = _roles_granting(perm)
            why = "role: only " + (", ".join(roles) if roles else "the system") + " may do it"
        out[t.name] = {"name": t.name, "label": transition_label(t.name), "why": why}
    return list(out.values())


class LifecycleAdminMixin:
    """Mix into the ModelAdmin of a model with one protected FSM field."""

    change_form_template = "admin/orchestrator/lifecycle_change_form.html"
    change_list_template = "admin/orchestrator/lifecycle_change_list.html"
    #: Transitions that are steps of a service (shown on the picture, never as a button).
    hidden_transitions: set[str] = set()

    def object_buttons(self, request, obj) -> list[dict]:
        """Buttons above the object (``{"label", "url", "cls"}``); admins add their own."""
        # The newest step that came with a correlation id (a person's own step may not).
        trail = audit_trail(obj=obj).exclude(correlation_id="")[:1]
        correlation = trail[0].correlation_id if trail else ""
        if not correlation:
            return []
        url = reverse("admin:orchestrator_inboundmessage_trace", args=[correlation])
        return [{"label": "Trace", "url": url, "cls": "trace"}]

    def related_groups(self, request, obj) -> list[dict]:
        """Links to the objects around this one (``{"title", "items": [(label, url)]}``)."""
        return []

    def apply_transition(self, request, obj, name: str, reason: str):
        """Run transition ``name`` as ``request.user``; admins whose transitions have a
        service of their own (the gate override) call it instead."""
        return transition_apply(obj=obj, transition=name, actor=request.user, reason=reason)

    def _state_field(self) -> str:
        return fsm_field(self.model).name

    def get_readonly_fields(self, request, obj=None):
        # The state is protected: a form must never try to write it.
        extra = [self._state_field(), "state_changed_at"]
        if any(f.name == "held_from" for f in self.model._meta.fields):
            extra.append("held_from")
        return [*super().get_readonly_fields(request, obj), *extra]

    def _url_name(self, suffix: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{suffix}"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("lifecycle/", view(self.lifecycle_view), name=self._url_name("lifecycle")),
            path(
                "<path:object_id>/transition/<str:name>/",
                view(self.transition_view),
                name=self._url_name("transition"),
            ),
            *super().get_urls(),
        ]

    # --- pages --------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "lifecycle_url": reverse(f"admin:{self._url_name('lifecycle')}"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        extra_context = dict(extra_context or {})
        if obj is not None:
            extra_context.update(self._lifecycle_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context)

    def _lifecycle_context(self, request, obj) -> dict:
        transitions = [
            {
                "name": name,
                "label": transition_label(name),
                "doc": (transition_method(self.model, name).__doc__ or "").strip(),
                "url": reverse(f"admin:{self._url_name('transition')}", args=[obj.pk, name]),
            }
            for name in available_transitions(obj, user=request.user)
            if name not in self.hidden_transitions
        ]
        state_field = self._state_field()
        return {
            "lifecycle_svg": mark_safe(render_svg(self.model, instance=obj)),  # noqa: S308 - text escaped by fsm_graph
            "lifecycle_state": getattr(obj, f"get_{state_field}_display")(),
            "lifecycle_transitions": transitions,
            "lifecycle_blocked": blocked_transitions(
                obj, user=request.user, hidden=self.hidden_transitions
            ),
            "lifecycle_audit": audit_trail(obj=obj)[:AUDIT_ROWS_SHOWN],
            "object_buttons": self.object_buttons(request, obj),
            "related_groups": self.related_groups(request, obj),
        }

    def lifecycle_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{self.model._meta.verbose_name.capitalize()} lifecycle",
            "lifecycle_svg": mark_safe(render_svg(self.model)),  # noqa: S308 - escaped by fsm_graph
        }
        return TemplateResponse(request, "admin/orchestrator/lifecycle.html", context)

    def transition_view(self, request, object_id, name):
        obj = self.get_object(request, unquote(object_id))  # plant-scoped queryset
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id} that you may see.")
        try:
            permission = transition_permission(self.model, name)
        except DomainError as exc:
            raise Http404(exc.message) from exc
        if not request.user.has_perm(permission, obj) or name in self.hidden_transitions:
            raise PermissionDenied(f"You may not {name} {obj}.")
        change_url = reverse(
            f"admin:{self._url_name('change')}", args=[obj.pk], current_app=self.admin_site.name
        )
        form = TransitionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                self.apply_transition(request, obj, name, form.cleaned_data["reason"])
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request, f"{obj}: {name} done, now {getattr(obj, self._state_field())}."
                )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"{transition_label(name).capitalize()}: {obj}",
            "transition": transition_label(name),
            "doc": (transition_method(self.model, name).__doc__ or "").strip(),
            "form": form,
            "change_url": change_url,
            "lifecycle_svg": mark_safe(render_svg(self.model, instance=obj, available={name})),  # noqa: S308
        }
        return TemplateResponse(request, "admin/orchestrator/transition.html", context)
