"""Scenario 3 (invalid material issue) follows the published ``material-gates`` pack, in
ingest and in the synchronous check alike; a board edit (a new version approved and
published through the rules services, four eyes) changes the outcome of both."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from orchestrator.models import AuditRecord, Event, Lot, MaterialIssue
from orchestrator.services.audit_chain import audit_verify
from plants.models import Item, Plant, UnitOfMeasure
from rules import services as rule_services
from rules.choices import VersionState
from rules.models import RuleSetVersion
from tests.factories_orchestrator import LotFactory
from tests.scenarios.plant_world import deliver, demo, envelope, erp, ledger, post, release

__all__ = ["demo", "erp"]
pytestmark = pytest.mark.django_db

COMPONENT = "000000000010004711"  # CMP-4711 in P1's codes


def _lot(number: str, *, status: str = "available", expires_on=dt.date(2031, 12, 31)) -> Lot:
    lot = LotFactory(
        plant=Plant.objects.get(code="P1"),
        number=number,
        item=Item.objects.get(code="CMP-4711"),
        uom=UnitOfMeasure.objects.get(code="EA"),
        qty=Decimal(5000),
        expires_on=expires_on,
    )
    Lot.objects.filter(pk=lot.pk).update(status=status)
    return lot


def _issue(order: str, lot: str, qty: int = 10) -> dict:
    payload = {"order": order, "item": COMPONENT, "lot": lot, "qty": qty, "uom": "EA"}
    return envelope("P1", "material.issued", payload, source="MES-P1")


def _ask(api_client, demo, order: str, lot: str) -> dict:
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {demo['MES-P1']}")
    body = {"plant": "P1", "order": order, "lot": lot, "item": COMPONENT, "qty": 10, "uom": "EA"}
    response = api_client.post("/api/v1/checks/material-issue", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _board_allows_consigned_stock() -> RuleSetVersion:
    """The board's edit: consigned (vendor-owned) stock may be consumed."""
    users = get_user_model().objects
    author, approver = users.get(username="board1"), users.get(username="board2")
    live = RuleSetVersion.objects.get(
        ruleset__key="material-gates", state=VersionState.PUBLISHED, plant=None
    )
    draft = rule_services.ruleset_version_new_draft(version=live, author=author)
    source = live.source.replace(
        'lot.status in ["available"]', 'lot.status in ["available", "consigned"]'
    )
    assert source != live.source
    draft = rule_services.ruleset_version_update(version=draft, source=source, actor=author)
    rule_services.ruleset_version_submit(version=draft, actor=author)
    rule_services.ruleset_version_approve(version=draft, approver=approver, comment="VMI stock")
    return rule_services.ruleset_version_publish(version=draft, actor=approver)


@pytest.mark.scenario
def test_scenario_3_invalid_issues_are_quarantined_by_the_pack_and_a_board_edit_lets_one_through(
    demo, erp, api_client
):
    order = release(api_client, demo, erp, "P1")["order"]
    _lot("CH4711-OLD", expires_on=dt.date(2025, 1, 31))
    _lot("CH4711-VMI", status="consigned")

    # Asked first, the check refuses both lots and says which rule, condition and facts.
    expired = _ask(api_client, demo, order, "CH4711-OLD")
    assert expired["allowed"] is False
    [reason] = expired["reasons"]
    assert (reason["code"], reason["rule"]["rule"]) == ("lot_expired", "lot_expired")
    assert reason["rule"]["facts"]["lot.expires_at"] == "2025-01-31T00:00:00Z"
    v1 = RuleSetVersion.objects.get(ruleset__key="material-gates", state=VersionState.PUBLISHED)
    assert expired["explanation"]["pins"]["material-gates"] == v1.pk
    consigned = _ask(api_client, demo, order, "CH4711-VMI")
    assert [r["code"] for r in consigned["reasons"]] == ["lot_blocked"]
    assert consigned["reasons"][0]["rule"]["facts"] == {"lot.status": "consigned"}

    # The MES posts them anyway (and one good issue): the bad ones are quarantined with
    # the pack's reasons for the operator workbench, the good one goes to ERP.
    results = post(
        api_client,
        demo["MES-P1"],
        [_issue(order, "CH4711-OLD"), _issue(order, "CH4711-VMI"), _issue(order, "CH4711-0001")],
    )
    assert [r["status"] for r in results] == ["quarantined", "quarantined", "accepted"]
    old, vmi = (Event.objects.get(pk=r["event_id"]) for r in results[:2])
    assert [r["code"] for r in old.reasons] == ["lot_expired"]
    assert vmi.reasons[0]["rule"]["version"] == v1.label
    deliver("ERP")
    issues = ledger(erp, "goods_issue", "P1")
    assert [e["payload"]["lot"] for e in issues] == ["CH4711-0001"]
    assert issues[0]["effect"]["item"] == "CMP-4711"

    # The board publishes a new version: consigned stock may be consumed.
    v2 = _board_allows_consigned_stock()
    allowed = _ask(api_client, demo, order, "CH4711-VMI")
    assert (allowed["allowed"], allowed["reasons"]) == (True, [])
    assert allowed["explanation"]["pins"]["material-gates"] == v2.pk
    assert _ask(api_client, demo, order, "CH4711-OLD")["allowed"] is False  # still expired

    # The operator replays the quarantined issue from the workbench: now it applies.
    operator = get_user_model().objects.get(username="operator")
    api_client.credentials()
    api_client.force_authenticate(operator)
    response = api_client.post(f"/api/v1/events/{vmi.pk}/replay", {}, format="json")
    assert response.status_code == 200, response.content
    vmi.refresh_from_db()
    assert vmi.status == "applied", vmi.reasons
    assert vmi.rule_pins["material-gates"] == v2.pk
    assert MaterialIssue.objects.filter(lot__number="CH4711-VMI").count() == 1
    deliver("ERP")
    assert [e["payload"]["lot"] for e in ledger(erp, "goods_issue", "P1")] == [
        "CH4711-0001",
        "CH4711-VMI",
    ]
    # The audit chain: the replay is recorded with the operator, and the chain verifies.
    assert AuditRecord.objects.filter(correlation_id=vmi.correlation_id).exists()
    assert audit_verify().ok
