"""Simulation on a real, prepared history: the events are posted through the API and
judged by the pipeline, then a draft is simulated over them. The draft doubles the scrap
spike threshold; which alerts that removes depends on the order's confirmed quantity at
the time, on the scrap summed over the window and on the plant's threshold as it was
then (it is lowered half-way through). Only a context rebuilt as of each event gets the
count right."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from orchestrator.models import Event
from plants.models import SiteParameter, SiteParameterOverride
from rules import services
from tests.factories_rules import board
from tests.ingest.conftest import envelope, release

pytestmark = pytest.mark.django_db

SPIKE = (
    'event.window_qty * 100.0 / order.confirmed_qty > double(plant["scrap.spike_threshold_pct"])'
)
DOUBLED = (
    "event.window_qty * 100.0 / order.confirmed_qty > "
    '2.0 * double(plant["scrap.spike_threshold_pct"])'
)


def pack_source() -> str:
    [path] = [p for p in services.rule_pack_paths() if p.name == "scrap-spike.yaml"]
    return path.read_text(encoding="utf-8")


@pytest.fixture
def packs():
    """Every shipped pack published as the global default (board1 authors, board2 approves)."""
    author, approver = board("author"), board("approver")
    for path in services.rule_pack_paths():
        services.rule_pack_load(
            source=path.read_text(encoding="utf-8"), author=author, approver=approver
        )
    return author


def scrap(order: str, n: int, qty: float, at: str) -> dict:
    return envelope(
        "scrap.declared",
        {"order": order, "operation": "0020", "qty": qty, "uom": "ST", "reason": f"R{n}"},
        occurred_at=at,
    )


def confirm(order: str, op: str, seq: int, qty: int, at: str, **extra) -> dict:
    payload = {"order": order, "operation": op, "sequence": seq, "qty": qty, "uom": "ST"}
    return envelope("operation.confirmed", {**payload, **extra}, occurred_at=at)


@pytest.fixture
def history(world, post, packs):
    """Returns the scrap events by name, as the pipeline judged them."""
    base = timezone.now() - dt.timedelta(minutes=40)

    def at(minute: int) -> str:
        return (base + dt.timedelta(minutes=minute)).isoformat()

    def send(key: str, body: dict) -> str:
        response = post(world[key], body)
        assert response.status_code == 202, response.json()
        assert response.json()["status"] == "accepted", response.json()
        return str(response.json()["event_id"])

    o = "WO-1"
    send(
        "erp_key",
        envelope("production_order.released", release(o), source="ERP", occurred_at=at(0)),
    )
    ack = {"order": o, "routing_revision": "R1", "bom_revision": "B1"}
    send("mes_key", envelope("production_order.acknowledged", ack, occurred_at=at(1)))
    send("mes_key", confirm(o, "0010", 1, 100, at(2), final=True))
    send("mes_key", confirm(o, "0020", 1, 50, at(3)))  # the order's confirmed qty: 50
    # Threshold 5 % of the confirmed quantity (the shipped default); the window sums scrap.
    events = {
        "s1": send("mes_key", scrap(o, 1, 1, at(5))),  # window 1 = 2 %: no alert
        "s2": send("mes_key", scrap(o, 2, 1, at(6))),  # 2 = 4 %: no alert
        "s3": send("mes_key", scrap(o, 3, 1, at(7))),  # 3 = 6 %: alert; not over 10 %
        "s4": send("mes_key", scrap(o, 4, 2, at(8))),  # 5 = 10 %: alert; not over 10 %
    }
    send("mes_key", confirm(o, "0020", 2, 50, at(9)))  # confirmed qty now 100
    events["s5"] = send("mes_key", scrap(o, 5, 1, at(10)))  # 6 = 6 %: alert; not over 10 %
    # The plant lowers its threshold to 2 %: from here on the draft alerts over 4 %.
    SiteParameterOverride.objects.create(
        parameter=SiteParameter.objects.get(key="scrap.spike_threshold_pct"),
        plant=world["p1"],
        value="2.0",
        reason="tighter after a customer complaint",
    )
    events["s6"] = send("mes_key", scrap(o, 6, 1, at(11)))  # 7 %: alert either way
    events["s7"] = send("mes_key", scrap(o, 7, 1, at(12)))  # 8 %: alert either way
    return events


def alerted(event_id: str) -> bool:
    explanation = Event.objects.get(pk=event_id).explanation
    return any(
        a["action"] == "threshold_alert" for r in explanation["rulesets"] for a in r["actions"]
    )


def test_doubling_the_threshold_changes_exactly_the_three_alerts_it_should(history, world, packs):
    # What the pipeline really did: alerts from s3 on.
    assert [alerted(history[n]) for n in sorted(history)] == [
        False, False, True, True, True, True, True,
    ]  # fmt: skip
    source = pack_source()
    assert SPIKE in source
    draft = services.ruleset_version_create(source=source.replace(SPIKE, DOUBLED), author=packs)

    report = services.ruleset_version_simulate(
        version=draft, plant=world["p1"], actor=board("reviewer")
    )

    changed = {history[n] for n in ("s3", "s4", "s5")}
    assert report.events_changed == 3
    assert {c["event_id"] for c in report.changes} == changed
    summary = report.summary
    assert {g["key"]: g["events"] for g in summary["by_rule"]} == {"scrap_spike": 3}
    assert {g["key"]: g["events"] for g in summary["by_action"]} == {
        "-threshold_alert": 3,
        "-flag_replenishment": 3,
        "-notify_role": 3,
    }
    # Every judged event of the plant was evaluated; the baseline, on the rebuilt
    # context, reproduces what the pipeline recorded for all seven scrap events.
    assert report.events_evaluated == Event.objects.filter(plant=world["p1"]).count()
    assert summary["fidelity"] == {"checked": 7, "reproduced": 7, "examples": []}
    # Each changed event links to its page in the admin.
    assert {summary["urls"][e] for e in changed} == {
        f"/admin/orchestrator/event/{e}/change/" for e in changed
    }
    assert f"3 of {report.events_evaluated} events would change" in draft.decisions.last().text


def test_the_rebuilt_context_is_the_one_of_the_time(history, world):
    from orchestrator.simulation.history import PlantHistory

    rebuilt = PlantHistory(world["p1"])
    s4 = rebuilt.context(Event.objects.get(pk=history["s4"]))
    s7 = rebuilt.context(Event.objects.get(pk=history["s7"]))
    assert (s4["order"]["confirmed_qty"], s4["event"]["window_qty"]) == (50.0, 5.0)
    assert (s7["order"]["confirmed_qty"], s7["event"]["window_qty"]) == (100.0, 8.0)
    assert s4["plant"]["scrap.spike_threshold_pct"] == 5.0
    assert s7["plant"]["scrap.spike_threshold_pct"] == 2.0
    assert s4["order"]["status"] == "partially_confirmed"
