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
    assert response.json() == {"allowed": True, "reasons": [], "correlation_id": "ask-1"}
    record = CheckRecord.objects.get()
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
