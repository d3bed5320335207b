"""No admin form writes around a service (issue 8, item 3).

Walks every registered ModelAdmin (every app, inlines included) as a superuser, who sees
the most, and fails when

- a form offers an actor field (``*_by``, ``actor``, ``approver``) for writing: the actor
  is always ``request.user``, set by the service;
- a form offers a state field (an FSM field, ``state``, ``status``) for writing: states
  change only by transition;
- a model whose only writer is a service (governed and lifecycle records: events,
  messages, outbox rows, audit records, gates, approvals, orders, lots, inspections,
  nonconformances, dispositions, rule versions, activations...) can be added or deleted
  through the admin, or its change form offers any field for writing.

A new model is governed when it has an FSM field or is listed in ``GOVERNED``; a new
admin of a governed model must therefore be read-only (actions and buttons call the
services) or the test fails.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.test import RequestFactory
from django_fsm import FSMFieldMixin

pytestmark = pytest.mark.django_db

ACTOR_FIELD = re.compile(r"(^|_)(actor|approver)$|_by$")
STATE_NAMES = {"state", "status"}

#: Models only a service writes (besides every model with an FSM field). Configuration
#: (mappings, parameters, plans, master data) is edited in the admin and is not listed.
GOVERNED = {
    "orchestrator.auditrecord",
    "orchestrator.event",
    "orchestrator.inboundmessage",
    "orchestrator.outboxmessage",
    "orchestrator.deliveryattempt",
    "orchestrator.approvalrequest",
    "orchestrator.notification",
    "orchestrator.checkrecord",
    "orchestrator.disposition",
    "orchestrator.inspectionresult",
    "orchestrator.lotgenealogy",
    "orchestrator.lotorderlink",
    "orchestrator.materialissue",
    "orchestrator.operationconfirmation",
    "orchestrator.scrapdeclaration",
    "orchestrator.machinedowntime",
    "orchestrator.orderrevision",
    "orchestrator.ordercomponent",
    "orchestrator.asnline",
    "orchestrator.payloadedit",
    "orchestrator.reconciliationrun",
    "orchestrator.exposure",
    "orchestrator.exposureline",
    "rules.rulesetversion",
    "rules.versiondecision",
    "rules.activation",
    "rules.scheduledpublish",
    "rules.simulationreport",
}

#: Admins whose add page is not the model form but a view that calls a service.
SERVICE_ADD_VIEWS = {
    "plants.apikey": "the add page issues a key through api_key_issue and shows it once",
}

#: Governed admins whose form is saved by a service (``save_model`` calls it with
#: ``request.user`` as the actor): the fields they may write, and why.
SERVICE_FORMS = {
    "rules.rulesetversion": (
        {"source", "plant"},
        "a draft's YAML: ruleset_version_create / ruleset_version_update, author request.user",
    ),
}


def label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def is_governed(model) -> bool:
    return label(model) in GOVERNED or any(
        isinstance(f, FSMFieldMixin) for f in model._meta.get_fields()
    )


def state_fields(model) -> set[str]:
    names = {f.name for f in model._meta.fields if isinstance(f, FSMFieldMixin)}
    return names | {f.name for f in model._meta.fields if f.name in STATE_NAMES}


@pytest.fixture
def su_request(db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("walker", "w@example.com", "x")
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def writable_fields(ma, request, obj) -> set[str]:
    """The model fields the admin's form (or inline formset) lets a person write."""
    form = ma.get_form(request, obj) if not isinstance(ma, InlineModelAdmin) else None
    if form is None:
        form = ma.get_formset(request, obj).form
    readonly = set(ma.get_readonly_fields(request, obj))
    model_fields = {f.name for f in ma.model._meta.get_fields()}
    return {name for name in form.base_fields if name in model_fields and name not in readonly}


def problems_of(ma, request, *, parent=None) -> list[str]:
    model = ma.model
    found: list[str] = []
    sample = model()  # an unsaved instance stands in for "a change page"
    governed = is_governed(model)
    where = label(model) + (f" (inline of {label(parent)})" if parent is not None else "")
    for obj, page in ((None, "add"), (sample, "change")):
        if parent is None:
            allowed = (
                ma.has_add_permission(request)
                if obj is None
                else ma.has_change_permission(request, obj)
            )
        else:
            owner = parent() if obj is not None else None
            allowed = (
                ma.has_add_permission(request, owner)
                if obj is None
                else ma.has_change_permission(request, owner)
            )
        if not allowed:
            continue
        if obj is None and parent is None and label(model) in SERVICE_ADD_VIEWS:
            if type(ma).add_view is admin.ModelAdmin.add_view:
                found.append(f"{where}: listed as a service add view but uses the model form")
            continue
        fields = writable_fields(ma, request, obj if parent is None else None)
        for name in sorted(fields):
            if ACTOR_FIELD.search(name):
                found.append(f"{where} {page} form writes the actor field {name!r}")
            if name in state_fields(model):
                found.append(f"{where} {page} form writes the state field {name!r}")
        if label(model) in SERVICE_FORMS and parent is None:
            allowed_fields, _why = SERVICE_FORMS[label(model)]
            if type(ma).save_model is admin.ModelAdmin.save_model:
                found.append(f"{where}: listed as saved by a service but saves the model form")
            if fields - allowed_fields:
                found.append(f"{where} {page} form writes {sorted(fields - allowed_fields)}")
        elif governed:
            if obj is None:
                found.append(f"{where}: a service is the only writer, but the admin may add")
            elif fields:
                found.append(
                    f"{where}: a service is the only writer, but the change form writes "
                    f"{sorted(fields)}"
                )
    if governed:
        owner = parent() if parent is not None else sample
        inline_may_delete = parent is None or getattr(ma, "can_delete", True)
        if inline_may_delete and ma.has_delete_permission(request, owner):
            found.append(f"{where}: governed records must not be deleted in the admin")
    return found


def walk(request) -> dict[str, list[str]]:
    by_model: dict[str, list[str]] = {}
    for model, ma in admin.site._registry.items():
        found = problems_of(ma, request)
        for inline_class in ma.inlines:
            inline = inline_class(model, admin.site)
            found += problems_of(inline, request, parent=model)
        if found:
            by_model[label(model)] = found
    return by_model


def test_no_admin_form_writes_around_a_service(su_request):
    by_model = walk(su_request)
    assert not by_model, "\n".join(p for v in by_model.values() for p in v)


def test_the_walk_covers_every_app_and_catches_a_bypass(su_request):
    """The walk sees the admins of every app, and a raw admin of a governed model fails."""
    apps = {model._meta.app_label for model in admin.site._registry}
    assert {"orchestrator", "plants", "auth"} <= apps

    from orchestrator.models import Disposition, Nonconformance

    for model in (Disposition, Nonconformance):
        raw = admin.ModelAdmin(model, admin.site)
        found = problems_of(raw, su_request)
        assert any("may add" in p for p in found), found
        assert any("must not be deleted" in p for p in found), found
    raw = admin.ModelAdmin(Disposition, admin.site)
    assert any("'decided_by'" in p for p in problems_of(raw, su_request))
    assert any(
        "'state'" in p
        for p in problems_of(admin.ModelAdmin(Nonconformance, admin.site), su_request)
    )


def test_service_forms_are_registered_and_a_raw_one_fails(su_request):
    """Every admin listed as saved by a service is registered, and the same model under a
    plain ModelAdmin (saving the model form itself) fails the walk."""
    from django.apps import apps

    registered = {label(m) for m in admin.site._registry}
    assert set(SERVICE_FORMS) <= registered
    for name in SERVICE_FORMS:
        raw = admin.ModelAdmin(apps.get_model(name), admin.site)
        assert any("saves the model form" in p for p in problems_of(raw, su_request))


def test_fsm_models_count_as_governed():
    from orchestrator.models import Gate, InspectionPlan, Lot, ProductionOrder

    assert all(is_governed(m) for m in (Gate, Lot, ProductionOrder))
    assert not is_governed(InspectionPlan)
