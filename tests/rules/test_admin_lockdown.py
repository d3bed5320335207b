"""Governance cannot be bypassed in the rules admin: every registered rules ModelAdmin is
read-only or writes through a service. Walked for a superuser (the most a person can hold):
no form offers an actor field (``*_by``, ``actor``, ``approver``) or a state field for
writing, nothing governed is deleted, and only a version can be added (through
``ruleset_version_create``, with ``request.user`` as the author)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from rules.models import Activation, RuleSetVersion
from tests.factories_rules import board, published, threshold_doc

pytestmark = pytest.mark.django_db

ACTOR_OR_STATE = re.compile(r"(_by|^actor|^approver|^state|^status)$")
#: The one add that exists: it calls rules.services.ruleset_version_create.
ADD_THROUGH_A_SERVICE = {RuleSetVersion}


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def objects(superuser, plant_p1):
    """One of each governed record, so change pages have something to show."""
    alice, bob = board("alice"), board("bob")
    version = published(threshold_doc(100), author=alice, approver=bob, plants=[plant_p1])
    return {RuleSetVersion: version, Activation: Activation.objects.get()}


def rules_admins():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "rules"
    ]


def writable_fields(model_admin, request, obj) -> set[str]:
    if obj is not None and not model_admin.has_change_permission(request, obj):
        return set()
    if obj is None and not model_admin.has_add_permission(request):
        return set()
    form = model_admin.get_form(request, obj, change=obj is not None)
    readonly = set(model_admin.get_readonly_fields(request, obj))
    return set(form.base_fields) - readonly


def test_every_rules_admin_is_walked():
    names = {model.__name__ for model, _ in rules_admins()}
    assert {
        "RuleSet",
        "RuleSetVersion",
        "Activation",
        "ScheduledPublish",
        "SimulationReport",
    } <= names


@pytest.mark.parametrize("state", ["draft", "published"])
def test_no_rules_admin_writes_an_actor_or_state_or_deletes(superuser, objects, state):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    draft = RuleSetVersion.objects.create(
        ruleset=objects[RuleSetVersion].ruleset,
        number=2,
        source=threshold_doc(10),
        author=superuser,
    )
    for model, model_admin in rules_admins():
        obj = model.objects.first()
        if model is RuleSetVersion:
            obj = draft if state == "draft" else objects[RuleSetVersion]
        for target in (None, obj):
            offered = writable_fields(model_admin, request, target)
            assert not {f for f in offered if ACTOR_OR_STATE.search(f)}, (model, target, offered)
            assert not model_admin.has_delete_permission(request, target), (model, target)
        if model not in ADD_THROUGH_A_SERVICE:
            assert not model_admin.has_add_permission(request), model
        assert "delete_selected" not in model_admin.get_actions(request), model
        for inline in model_admin.get_inline_instances(request, obj):
            assert not inline.has_add_permission(request, obj), inline
            assert not inline.has_delete_permission(request, obj), inline
        if hasattr(model_admin, "revert_disabled"):
            assert model_admin.revert_disabled(request, obj), model  # no history "revert"


def test_activation_add_and_delete_are_refused_over_http(client, superuser, objects):
    client.force_login(superuser)
    activation = objects[Activation]
    assert client.get("/admin/rules/activation/add/").status_code == 403
    assert client.post(f"/admin/rules/activation/{activation.pk}/delete/").status_code == 403
    response = client.post(
        f"/admin/rules/activation/{activation.pk}/change/",
        {"activated_by": superuser.pk, "version": objects[RuleSetVersion].pk},
    )
    assert response.status_code == 403
    activation.refresh_from_db()
    assert activation.activated_by.username == "bob"
    version = objects[RuleSetVersion]
    assert client.post(f"/admin/rules/rulesetversion/{version.pk}/delete/").status_code == 403
    assert client.post(f"/admin/rules/ruleset/{version.ruleset_id}/delete/").status_code == 403
