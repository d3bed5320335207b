"""Rule outcomes are memoised per process (``rules.evaluation.RulePlan``), across batches
and requests: an event differing from an earlier one only in a fact a rule reads must get
its own answer, never the earlier one's."""

import pytest

from orchestrator.models import Event, Lot
from tests.ingest.conftest import envelope
from tests.ingest.flow import at, run, steel_lot

pytestmark = pytest.mark.django_db


def _issue(world, post, equipment: str) -> Event:
    # Equal but for the equipment (part of the business key; no rule reads it).
    body = {
        "order": "WO-1001",
        "item": "000000000000002000",
        "lot": "L-77",
        "qty": 20,
        "uom": "LB",
        "equipment": equipment,
    }
    answer = post(world["mes_key"], envelope("material.issued", body, occurred_at=at(2)))
    assert answer.status_code == 202
    return Event.objects.get(pk=answer.json()["event_id"])


def test_an_issue_gets_the_answer_of_its_lot_status_not_of_an_equal_earlier_issue(world, post):
    lot = steel_lot(world)
    for key, body in run()[:2]:
        assert post(world[key], body).json()["status"] == "accepted"
    statuses = []
    for n, status in enumerate(["available", "blocked", "available", "blocked"]):
        Lot.objects.filter(pk=lot.pk).update(status=status)
        event = _issue(world, post, f"SCALE-{n}")
        statuses.append(event.status)
        if event.status == "quarantined":
            [reason] = event.reasons
            assert (reason["code"], reason["found"]) == ("lot_blocked", "lot_restricted")
            assert reason["rule"]["facts"]["lot.status"] == "blocked"
        else:
            decided = [d["rule"] for r in event.explanation["rulesets"] for d in r["decided_by"]]
            assert decided == ["post_consumption"]
    assert statuses == ["applied", "quarantined", "applied", "quarantined"]


def test_explanations_of_memoised_and_evaluated_issues_are_alike(world, post):
    steel_lot(world)
    for key, body in run()[:2]:
        assert post(world[key], body).json()["status"] == "accepted"
    first, again = _issue(world, post, "SCALE-A"), _issue(world, post, "SCALE-B")
    assert (first.status, again.status) == ("applied", "applied")
    # What the actions did names their own rows; what the rules decided is the same.
    decided = [
        {k: v for k, v in e.explanation.items() if k != "actions_done"} for e in (first, again)
    ]
    assert decided[0] == decided[1]
    assert decided[0]["rulesets"]
    assert first.rule_pins == again.rule_pins
