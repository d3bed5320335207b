"""Environment promotion: a bundle exported here and imported into an empty rules database
behaves the same after the four-eyes approval, and nothing in between goes live."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from plants.choices import Role
from rules import services
from rules.bundles import content_hash
from rules.choices import VersionState
from rules.models import (
    Activation,
    RuleSet,
    RuleSetVersion,
    ScheduledPublish,
    SimulationReport,
    VersionDecision,
)
from tests.factories import make_member
from tests.factories_rules import board, published, threshold_doc

pytestmark = pytest.mark.django_db

SCRAP_DOC = """\
schema: interlock/ruleset/v1
ruleset: scrap-alert
owner: governance-board
rules:
  - id: big_scrap
    description: Large scrap alerts quality
    owner: quality
    on: [scrap.declared]
    when: event.qty > 5.0
    then:
      - action: notify_role
        params: {role: quality_lead, message: large scrap}
tests:
  - name: large scrap notifies
    event_type: scrap.declared
    event: {qty: 6.0}
    expect: {actions: [notify_role]}
"""
PROBES = [
    ("operation.confirmed", {"event": {"qty": 50.0}}),
    ("scrap.declared", {"event": {"qty": 9.0}}),
]


def behaviour(*plants) -> dict:
    """The actions every probe event gets at each plant."""
    return {
        (plant.code, event_type): [
            a.action
            for a in services.evaluate(plant=plant, event_type=event_type, context=ctx).actions
        ]
        for plant in plants
        for event_type, ctx in PROBES
    }


@pytest.fixture
def people():
    return board("alice"), board("bob")


@pytest.fixture
def live(people, plant_p1, plant_p2):
    alice, bob = people
    published(threshold_doc(100), author=alice, approver=bob)
    published(SCRAP_DOC, author=alice, approver=bob)
    p1_admin = make_member(Role.PLANT_ADMIN, plant_p1, username="p1-admin")
    override = services.ruleset_version_create(
        source=threshold_doc(10), author=p1_admin, plant=plant_p1
    )
    services.ruleset_version_submit(version=override, actor=p1_admin)
    services.ruleset_version_approve(version=override, approver=bob)
    services.ruleset_version_publish(version=override, actor=p1_admin)
    # A later draft is not live and is not exported by default.
    services.ruleset_version_create(source=threshold_doc(70), author=alice)
    return behaviour(plant_p1, plant_p2)


def wipe_rules() -> None:
    """An empty rules database (the plants stay: they are configured per environment)."""
    for model in (ScheduledPublish, SimulationReport, Activation, VersionDecision):
        model.objects.all().delete()
    RuleSetVersion.objects.all().delete()
    RuleSet.objects.all().delete()


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_bundle_imported_on_an_empty_database_behaves_the_same_after_approval(
    live, people, plant_p1, plant_p2
):
    alice, bob = people
    assert live[("P1", "operation.confirmed")] == ["hold_gate"]  # the override
    assert live[("P2", "operation.confirmed")] == []
    exported = api(alice).get("/api/v1/rules/bundle")
    assert exported.status_code == 200
    bundle = exported.json()
    assert bundle["content_hash"] == content_hash(bundle["rulesets"])
    versions = [
        (rs["key"], v["plant"] or "", v["live_at"])
        for rs in bundle["rulesets"]
        for v in rs["versions"]
    ]
    assert sorted(versions) == [
        ("receipt-gate", "", ["global"]),
        ("receipt-gate", "P1", ["P1"]),
        ("scrap-alert", "", ["global"]),
    ]

    wipe_rules()
    assert behaviour(plant_p1, plant_p2) != live

    imported = api(alice).post("/api/v1/rules/bundle/import", {"bundle": bundle}, format="json")
    assert imported.status_code == 200, imported.content
    assert imported.json()["created"] == 3
    drafts = list(RuleSetVersion.objects.select_related("plant"))
    assert {v.state for v in drafts} == {VersionState.DRAFT}
    assert {v.author_id for v in drafts} == {alice.pk}
    # Imported, not live: nothing changes until the board has approved.
    assert not Activation.objects.exists()

    for version in drafts:
        services.ruleset_version_submit(version=version, actor=alice)
        with pytest.raises(Exception, match="author cannot approve"):
            services.ruleset_version_approve(version=version, approver=alice)
        services.ruleset_version_approve(version=version, approver=bob)
        services.ruleset_version_publish(
            version=version, actor=bob, plants=[version.plant] if version.plant else None
        )
    assert behaviour(plant_p1, plant_p2) == live

    again = api(alice).post("/api/v1/rules/bundle/import", {"bundle": bundle}, format="json")
    assert (again.json()["created"], again.json()["skipped"]) == (0, 3)


def test_a_changed_bundle_is_refused_naming_the_hash(live, people):
    alice, _ = people
    bundle = api(alice).get("/api/v1/rules/bundle").json()
    bundle["rulesets"][0]["versions"][0]["source"] += "\n# edited by hand\n"
    response = api(alice).post("/api/v1/rules/bundle/import", {"bundle": bundle}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "bundle_invalid"
    assert body["details"][0]["code"] == "hash_mismatch"
    assert (
        RuleSetVersion.objects.filter(state=VersionState.DRAFT).count() == 1
    )  # only the old draft


def test_importing_needs_the_right_to_author(live, plant_p1):
    auditor = make_member(Role.AUDITOR, username="auditor")
    bundle = api(auditor).get("/api/v1/rules/bundle").json()  # reading is fine
    response = api(auditor).post("/api/v1/rules/bundle/import", {"bundle": bundle}, format="json")
    assert response.status_code == 403
    assert "rules.add_rulesetversion" in response.json()["message"]


def test_bundle_command_exports_to_a_file_and_imports_it(live, people, tmp_path, plant_p1):
    alice, _ = people
    path = tmp_path / "rules.json"
    call_command("rules_bundle", "export", "--ruleset", "scrap-alert", "-o", str(path))
    bundle = json.loads(path.read_text())
    assert [rs["key"] for rs in bundle["rulesets"]] == ["scrap-alert"]
    wipe_rules()
    call_command("rules_bundle", "import", str(path), "--author", alice.username, "--dry-run")
    assert not RuleSetVersion.objects.exists()
    call_command("rules_bundle", "import", str(path), "--author", alice.username)
    assert list(RuleSetVersion.objects.values_list("ruleset__key", "state")) == [
        ("scrap-alert", VersionState.DRAFT)
    ]
