"""Scenario 7 (supplier ASN delay across plants): a delayed ASN of a critical component
finds the orders at every plant that need it before it arrives (need dates from master
data), records one exposure, tells the ERP each order date at risk, asks quality for a
substitution and planning for the inter-plant reallocation Interlock proposes, and
tells customer service which orders and dates are at risk. Planning's approval moves
the stock between the plants in the ERP (``stock.transfer``); a rejection posts
nothing and closes the proposals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from orchestrator.models import (
    ApprovalRequest,
    AuditRecord,
    Event,
    Exposure,
    Notification,
    OutboxMessage,
    Task,
)
from orchestrator.services.audit_chain import audit_verify
from tests.scenarios.plant_world import deliver, demo, envelope, erp, ledger, post, release

__all__ = ["demo", "erp"]
pytestmark = pytest.mark.django_db


def _delay(api_client, demo, *, asn: str, item: str, days: int) -> Event:
    now = timezone.now()
    payload = {
        "asn": asn,
        "supplier": "SUP-100",
        "expected_at": (now + dt.timedelta(days=days)).isoformat(),
        "previous_expected_at": (now + dt.timedelta(days=1)).isoformat(),
        "reason": "port strike",
        "lines": [{"item": item, "qty": 5000, "uom": "EA"}],
    }
    [result] = post(api_client, demo["ERP"], [envelope("P1", "asn.delayed", payload, source="ERP")])
    assert result["status"] == "accepted", result
    return Event.objects.get(pk=result["event_id"])


@pytest.mark.scenario
def test_scenario_7_a_late_critical_component_puts_orders_at_every_plant_at_risk(
    demo, erp, api_client
):
    # Orders due in 14 days at P1 and P3 build with CMP-4711 (critical, needed 2 days
    # before the due date); the supplier's bracket shipment slips to day 20.
    p1 = release(api_client, demo, erp, "P1")["order"]
    p3 = release(api_client, demo, erp, "P3")["order"]
    event = _delay(api_client, demo, asn="ASN-7001", item="000000000010004711", days=20)
    assert event.status == "applied", event.reasons
    facts = event.explanation["rulesets"]
    decided = {r["ruleset"]: [d["rule"] for d in r["decided_by"]] for r in facts}
    assert decided["supply-risk"] == ["critical_supply_late", "propose_reallocation"]

    exposure = Exposure.objects.get(event=event)
    assert exposure.kind == "supply_delay"
    assert exposure.plants_at_risk == ["P1", "P3"]
    lines = {line.order.number: line for line in exposure.lines.select_related("order")}
    assert set(lines) == {p1, p3}
    for line in lines.values():
        assert line.need_date == line.due_date - dt.timedelta(days=2)
        assert line.item.code == "CMP-4711"
        assert line.proposal == "reallocation"
        assert line.from_plant is not None
        assert line.from_plant_id != line.plant_id
        assert line.proposal_qty > 0
    # The plants at risk wait for the same supply: neither lends to the other, the spare
    # stock comes from P2, which has no order at risk.
    assert {line.from_plant.code for line in lines.values()} == {"P2"}

    # People: quality decides a substitution, planning the reallocation, customer service
    # is told the orders and their dates.
    asks = set(ApprovalRequest.objects.filter(event=event).values_list("role", "escalate_to"))
    assert asks == {("engineering", "quality_lead"), ("planning", "supervisor")}
    told = Notification.objects.filter(event=event, role="customer_service")
    assert {(n.plant.code, o["order"]) for n in told for o in n.details["orders"]} == {
        ("P1", p1),
        ("P3", p3),
    }
    assert {n.details["exposure"] for n in told} == {exposure.pk}
    # Tasks: approvals for engineering and planning, a review for customer service at
    # each plant at risk, linked to the exposure.
    tasks = set(Task.objects.filter(event=event).values_list("role", "kind", "plant__code"))
    assert tasks == {
        ("engineering", "approve", "P1"),
        ("planning", "approve", "P1"),
        ("customer_service", "review", "P1"),
        ("customer_service", "review", "P3"),
    }
    review = Task.objects.get(event=event, role="customer_service", plant__code="P3")
    assert review.subject == exposure
    # The delay was reported at P1; customer service at P3 (an order at risk there) opens
    # the consolidated page from that task and sees every line, with quantities as people
    # write them. P2 has nothing at risk: its customer service does not get the page.
    _exposure_page_seen_by(exposure, "p3-cs", [p1, p3])
    _exposure_page_hidden_from(exposure, "p2-cs")

    # The ERP's planning gets each order date at risk, at the order's own plant.
    deliver("ERP")
    at_risk = ledger(erp, "order.date_at_risk")
    assert sorted((e["effect"]["plant"], e["payload"]["order"]) for e in at_risk) == [
        ("P1", p1),
        ("P3", p3),
    ]
    worklist = erp.extra_routes("GET", ["_planning"], {"plant": "P3"}).body["planning"]
    assert [w["subject"] for w in worklist] == [p3]
    assert AuditRecord.objects.filter(
        transition="record", object_id=str(exposure.pk), correlation_id=event.correlation_id
    ).exists()
    assert audit_verify().ok

    # Nothing is transferred before planning decides.
    assert ledger(erp, "stock.transfer") == []
    exposure.refresh_from_db()
    assert exposure.proposal_state == "proposed"
    stock_before = _erp_stock(erp)

    # Planning at P1 approves the reallocation through the API: the ERP moves the stock.
    ask = ApprovalRequest.objects.get(event=event, role="planning")
    assert exposure.approval == ask
    planner = get_user_model().objects.get(username="p1-planner")
    _decide(api_client, planner, ask, approve=True, reason="P2 can spare it this week")
    deliver("ERP")
    transfers = {e["payload"]["order"]: e for e in ledger(erp, "stock.transfer")}
    assert set(transfers) == {p1, p3}
    moved: dict[tuple[str, str], Decimal] = {}
    for order, line in lines.items():
        entry = transfers[order]
        assert entry["effect"]["item"] == "CMP-4711"
        assert (entry["effect"]["from_plant"], entry["effect"]["to_plant"]) == (
            line.from_plant.code,
            line.plant.code,
        )
        assert Decimal(entry["effect"]["qty"]) == line.proposal_qty
        assert entry["payload"]["approved_by"] == "p1-planner"
        assert entry["correlation_id"] == event.correlation_id
        for plant, sign in ((line.from_plant.code, -1), (line.plant.code, 1)):
            moved[(plant, "CMP-4711")] = (
                moved.get((plant, "CMP-4711"), 0) + sign * line.proposal_qty
            )
    stock_after = _erp_stock(erp)
    for key, delta in moved.items():
        assert stock_after[key] - stock_before.get(key, Decimal(0)) == delta
    rows = {
        row["order_number"]: row
        for row in erp.extra_routes("GET", ["_transfers"], {}).body["transfers"]
    }
    assert set(rows) == {p1, p3}

    exposure.refresh_from_db()
    assert exposure.proposal_state == "approved"
    [approved] = AuditRecord.objects.for_object(exposure).filter(transition="approve")
    assert approved.actor == planner
    assert "stock.transfer" in approved.reason
    # The engineering substitution is a different decision: it posts nothing more.
    substitution = ApprovalRequest.objects.get(event=event, role="engineering")
    engineer = get_user_model().objects.get(username="p1-eng")
    _decide(api_client, engineer, substitution, approve=False, reason="no approved substitute")
    assert OutboxMessage.objects.filter(message_type="stock.transfer").count() == 2
    assert audit_verify().ok


def _exposure_page_seen_by(exposure, username: str, orders: list[str]) -> None:
    from django.test import Client

    browser = Client()
    browser.force_login(get_user_model().objects.get(username=username))
    page = browser.get(f"/admin/orchestrator/exposure/{exposure.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert all(order in html for order in orders)
    assert ".000000" not in html
    listing = browser.get("/admin/orchestrator/exposure/").content.decode()
    assert f"/admin/orchestrator/exposure/{exposure.pk}/change/" in listing


def _exposure_page_hidden_from(exposure, username: str) -> None:
    from django.test import Client

    browser = Client()
    browser.force_login(get_user_model().objects.get(username=username))
    page = browser.get(f"/admin/orchestrator/exposure/{exposure.pk}/change/")
    assert page.status_code in (302, 403, 404)
    assert (
        exposure.title
        not in browser.get(page.url if page.status_code == 302 else "/admin/").content.decode()
    )
    listing = browser.get("/admin/orchestrator/exposure/").content.decode()
    assert f"/admin/orchestrator/exposure/{exposure.pk}/change/" not in listing


def _erp_stock(erp) -> dict[tuple[str, str], Decimal]:
    rows = erp.extra_routes("GET", ["_inventory"], {}).body["stock"]
    return {(r["plant"], r["item"]): Decimal(r["qty"]) for r in rows}


def _decide(api_client, user, request, *, approve: bool, reason: str) -> None:
    api_client.force_authenticate(user)
    answer = api_client.post(
        f"/api/v1/approvals/{request.pk}/decide",
        {"approve": approve, "reason": reason},
        format="json",
    )
    api_client.force_authenticate(None)
    assert answer.status_code == 200, answer.content


def test_a_rejected_reallocation_posts_nothing_and_closes_the_proposals(demo, erp, api_client):
    release(api_client, demo, erp, "P1")
    event = _delay(api_client, demo, asn="ASN-7003", item="000000000010004711", days=20)
    exposure = Exposure.objects.get(event=event)
    assert exposure.proposal_state == "proposed"
    ask = ApprovalRequest.objects.get(event=event, role="planning")
    planner = get_user_model().objects.get(username="p1-planner")
    _decide(api_client, planner, ask, approve=False, reason="the supplier's air freight is faster")
    deliver("ERP")
    assert ledger(erp, "stock.transfer") == []
    assert not OutboxMessage.objects.filter(message_type="stock.transfer").exists()
    exposure.refresh_from_db()
    assert exposure.proposal_state == "rejected"
    [closed] = AuditRecord.objects.for_object(exposure).filter(transition="reject")
    assert closed.actor == planner
    assert "the supplier's air freight is faster" in closed.reason


def test_a_late_component_nobody_needs_in_time_is_no_exposure(demo, erp, api_client):
    release(api_client, demo, erp, "P1")
    # Arrives on day 5, before the day-12 need date.
    event = _delay(api_client, demo, asn="ASN-7002", item="000000000010004711", days=5)
    assert event.status == "applied"
    assert not Exposure.objects.exists()
    assert not ApprovalRequest.objects.filter(event=event).exists()
