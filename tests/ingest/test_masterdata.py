"""Master-data checks of ingest: invalid issues and acknowledgments are quarantined with
machine-readable reasons, and nothing is lost (the event and its message stay)."""

import datetime as dt

import pytest

from orchestrator.models import Event, InboundMessage, MaterialIssue
from tests.ingest.conftest import envelope, release
from tests.ingest.flow import at, run, steel_lot

pytestmark = pytest.mark.django_db


def _released_and_acknowledged(world, post):
    for key, body in run()[:2]:
        assert post(world[key], body).json()["status"] == "accepted"


def _issue(world, post, **payload):
    body = {
        "order": "WO-1001",
        "item": "000000000000002000",
        "lot": "L-77",
        "qty": 20,
        "uom": "LB",
        **payload,
    }
    answer = post(world["mes_key"], envelope("material.issued", body, occurred_at=at(2)))
    assert answer.status_code == 202
    return Event.objects.get(pk=answer.json()["event_id"]), answer.json()


@pytest.mark.parametrize(
    ("lot_kwargs", "code", "rule", "facts"),
    [
        (
            {"expires_on": dt.date(2026, 5, 1)},
            "lot_expired",
            "lot_expired",
            {"lot.expires_at": "2026-05-01T00:00:00Z", "event.occurred_at": "2026-05-10T08:02:00Z"},
        ),
        ({"status": "blocked"}, "lot_blocked", "lot_restricted", {"lot.status": "blocked"}),
    ],
)
def test_invalid_lot_is_quarantined_with_its_reason(world, post, lot_kwargs, code, rule, facts):
    """The material-gates pack decides; the reason names its rule, condition and facts."""
    status = lot_kwargs.pop("status", None)
    lot = steel_lot(world, **lot_kwargs)
    if status:
        from orchestrator.models import Lot

        Lot.objects.filter(pk=lot.pk).update(status=status)
    _released_and_acknowledged(world, post)
    event, _ = _issue(world, post)
    assert event.status == "quarantined"
    [reason] = event.reasons
    assert (reason["code"], reason["path"], reason["found"]) == (code, "payload.lot", rule)
    explained = reason["rule"]
    assert (explained["ruleset"], explained["rule"]) == ("material-gates", rule)
    assert explained["condition"]["when"]
    assert facts.items() <= explained["facts"].items()
    assert not MaterialIssue.objects.exists()
    assert InboundMessage.objects.filter(event=event).exists()  # nothing lost


def test_unknown_lot_is_quarantined(world, post):
    _released_and_acknowledged(world, post)
    event, _ = _issue(world, post, lot="L-404")
    assert event.status == "quarantined"
    assert event.reasons[0]["code"] == "lot_unknown"
    assert event.reasons[0]["found"] == "L-404"


def test_component_not_reserved_is_quarantined(world, post):
    from plants.models import Item

    steel_lot(world)
    _released_and_acknowledged(world, post)
    # the finished good itself is no component of its own order
    fg_lot = steel_lot(world, number="L-FG", item=Item.objects.get(code="FG-1000"))
    event, _ = _issue(world, post, lot=fg_lot.number, item="000000000000001000", uom="ST")
    assert event.status == "quarantined"
    codes = {r["code"]: r for r in event.reasons}
    facts = codes["component_not_reserved"]["rule"]["facts"]
    assert facts == {"event.reserved": False}
    assert codes["component_not_reserved"]["path"] == "payload.item"


def test_valid_issue_is_applied_and_linked(world, post):
    steel_lot(world)
    _released_and_acknowledged(world, post)
    event, _ = _issue(world, post)
    assert event.status == "applied", event.reasons
    issue = MaterialIssue.objects.get()
    assert (issue.lot.number, issue.order.number, str(issue.qty)) == ("L-77", "WO-1001", "9.072000")


def test_revision_mismatch_on_acknowledgment_is_quarantined(world, post):
    post(world["erp_key"], run()[0][1])
    answer = post(
        world["mes_key"],
        envelope(
            "production_order.acknowledged",
            {"order": "WO-1001", "routing_revision": "R0", "bom_revision": "B1"},
            occurred_at=at(1),
        ),
    )
    event = Event.objects.get(pk=answer.json()["event_id"])
    assert event.status == "quarantined"
    assert event.reasons == [
        {
            "code": "revision_mismatch",
            "path": "payload.routing_revision",
            "message": "order WO-1001 was released with routing revision R1, not R0",
            "expected": "R1",
            "found": "R0",
        }
    ]
    from orchestrator.models import ProductionOrder

    assert ProductionOrder.objects.get().state == "released"


def test_unmapped_code_is_quarantined_before_any_handler(world, post):
    _released_and_acknowledged(world, post)
    answer = post(
        world["mes_key"],
        envelope(
            "material.issued",
            {"order": "WO-1001", "item": "NOPE", "lot": "L-77", "qty": 1, "uom": "LB"},
        ),
    )
    body = answer.json()
    assert body["status"] == "quarantined"
    assert body["reasons"][0]["code"] == "mapping_missing"
    assert InboundMessage.objects.filter(status="quarantined").count() == 1


def test_client_is_told_quarantined_when_a_handler_quarantines(world, post):
    """The answer and the stored message follow the event: not 'accepted'."""
    post(world["erp_key"], envelope("production_order.released", release(), source="ERP"))
    response = post(
        world["mes_key"],
        envelope(
            "production_order.acknowledged",
            {"order": "WO-1001", "routing_revision": "R9", "bom_revision": "B1"},
        ),
    )
    body = response.json()
    assert body["status"] == "quarantined", body
    assert body["event_id"] is not None
    assert body["reasons"][0]["code"] == "revision_mismatch"
    assert InboundMessage.objects.get(pk=body["message_id"]).status == "quarantined"


def test_issue_of_a_lot_without_expiry_date_is_applied(world, post):
    """No expiry date means the lot does not expire (raw materials): not a rule error."""
    steel_lot(world, expires_on=None)
    _released_and_acknowledged(world, post)
    event, answer = _issue(world, post)
    assert answer["status"] == "accepted", answer
    assert event.status == "applied", event.reasons
    assert MaterialIssue.objects.filter(lot__number="L-77").count() == 1
