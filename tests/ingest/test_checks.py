"""``POST /api/v1/checks/{check}``: allow/deny with reasons, from the ingest checks, recorded."""

import pytest

from orchestrator.models import CheckRecord
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def ask(api_client, world):
    def send(check, body, key="mes_key"):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world[key]}")
        return api_client.post(f"/api/v1/checks/{check}", body, format="json")

    return send


@pytest.fixture
def running(world, post):
    steel_lot(world)
    for key, body in run()[:2]:
        post(world[key], body)


ISSUE = {
    "plant": "P1",
    "order": "WO-1001",
    "lot": "L-77",
    "item": "000000000000002000",
    "qty": 20,
    "uom": "LB",
}


def test_material_issue_is_allowed_and_recorded(running, ask):
    response = ask("material-issue", {**ISSUE, "correlation_id": "ask-1"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["allowed"], body["reasons"], body["correlation_id"]) == (True, [], "ask-1")
    # Judged by the rules live at the plant (none published here: the shipped packs).
    explanation = body["explanation"]
    assert explanation["rule_set"] == "DEFAULT_RULE_SET"
    judged = {r["ruleset"]: r for r in explanation["rulesets"]}
    assert judged["material-gates"]["decided_by"] == []
    assert "component_not_reserved" in judged["material-gates"]["evaluated"]
    record = CheckRecord.objects.get()
    assert record.explanation == explanation
    assert (record.check_name, record.allowed, record.system.code) == (
        "material-issue",
        True,
        "MES-P1",
    )
    assert record.request["lot"] == "L-77"


def test_material_issue_of_an_unknown_lot_is_denied_with_reasons(running, ask):
    body = ask("material-issue", {**ISSUE, "lot": "L-404"}).json()
    assert body["allowed"] is False
    assert [r["code"] for r in body["reasons"]] == ["lot_unknown"]
    assert CheckRecord.objects.get().allowed is False


def test_operation_start_checks_the_routing_revision(running, ask):
    ok = ask(
        "operation-start",
        {"plant": "P1", "order": "WO-1001", "operation": "0010", "routing_revision": "R1"},
    ).json()
    assert ok["allowed"] is True
    bad = ask(
        "operation-start",
        {"plant": "P1", "order": "WO-1001", "operation": "0010", "routing_revision": "R0"},
    ).json()
    assert bad["allowed"] is False
    assert bad["reasons"][0]["code"] == "revision_mismatch"
    assert (bad["reasons"][0]["expected"], bad["reasons"][0]["found"]) == ("R1", "R0")


def test_checks_are_plant_scoped_and_named(running, ask):
    assert ask("material-issue", {**ISSUE, "plant": "P2"}).status_code == 403
    assert ask("no-such-check", ISSUE).status_code == 404


def test_a_refusal_names_the_rule_its_condition_and_the_facts(world, post, ask):
    from orchestrator.models import Lot

    Lot.objects.filter(pk=steel_lot(world).pk).update(status="blocked")
    for key, body in run()[:2]:
        post(world[key], body)
    body = ask("material-issue", ISSUE).json()
    assert body["allowed"] is False
    [reason] = body["reasons"]
    assert (reason["code"], reason["path"]) == ("lot_blocked", "payload.lot")
    rule = reason["rule"]
    assert (rule["ruleset"], rule["rule"]) == ("material-gates", "lot_restricted")
    assert 'lot.status in ["available"]' in rule["condition"]["when"]
    assert rule["facts"] == {"lot.status": "blocked"}
    assert CheckRecord.objects.get().reasons == body["reasons"]
