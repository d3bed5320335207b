"""The MES and QMS simulators against a stand-in of Interlock's inbound API."""

from __future__ import annotations

from collections import Counter

from connectors.simulators.mes import MesControls, MesSimulator
from connectors.simulators.qms import QmsControls, QmsSimulator
from tests.simulators.conftest import call, message, wait_until

#: A release as Interlock's outbox carries it: canonical codes (the MES answers in its own).
RELEASE_P3 = {
    "order": "ZP3-000001",
    "item": "FG-1000",
    "revision": "B",
    "routing_revision": "B",
    "bom_revision": "B",
    "qty": 48,
    "uom": "EA",
    "operations": [{"operation": "0010", "work_center": "P3-ASSY-01", "qty": 48}],
    "components": [
        {"item": "CMP-4711", "qty": 96, "uom": "EA"},
        {"item": "RAW-ST-200", "qty": 40.8, "uom": "KG"},
    ],
}
RELEASE_P1 = {
    "order": "1000000001",
    "item": "FG-1000",
    "routing_revision": "B",
    "bom_revision": "B",
    "qty": 100,
    "uom": "EA",
    "operations": [
        {"operation": "0010", "work_center": "P1-PRESS-01", "qty": 100},
        {"operation": "0020", "work_center": "P1-ASSY-01", "qty": 100},
    ],
    "components": [{"item": "CMP-4711", "qty": 200, "uom": "EA"}],
}


def release(plant, payload, key="rel-1"):
    return message("production_order.release", key, payload, plant=plant, correlation_id="c-1")


def test_mes_runs_a_released_order_in_the_plants_own_codes(start, interlock):
    _sim, url = start(MesSimulator, controls=MesControls(step_delay=0.01, scrap_rate=1))
    answer = call(f"{url}/P3/messages", release("P3", RELEASE_P3))[1]
    assert answer["status"] == "applied"
    assert answer["reference"] == "MES-P3-ZP3-000001"
    wait_until(lambda: interlock.envelopes("production.completed"))
    sent = interlock.envelopes()
    assert {key for key, _ in interlock.received} == {"Api-Key key-MES-P3"}
    assert all(e["source"] == "MES-P3" and e["plant"] == "P3" for e in sent)
    assert all(e["correlation_id"] == "c-1" for e in sent)
    types = [e["type"] for e in sent]
    assert types == [
        "production_order.acknowledged",
        "operation.started",
        "material.issued",
        "material.issued",
        "operation.confirmed",
        "operation.confirmed",
        "scrap.declared",
        "production.completed",
    ]
    ack, start_op, issue_box, issue_kg, conf1, conf2, scrap, done = (e["payload"] for e in sent)
    assert ack == {"order": "ZP3-000001", "routing_revision": "B", "bom_revision": "B"}
    assert start_op["work_center"] == "MONT-01"
    # 96 pieces are 8 boxes of 12; the lots are the plant's own.
    assert issue_box == {
        "order": "ZP3-000001",
        "item": "P3-4711",
        "lot": "WR-4711-0001",
        "qty": 8,
        "uom": "BX12",
        "operation": "0010",
    }
    assert issue_kg["item"] == "P3-0200"
    assert issue_kg["qty"] == 40.8
    assert (conf1["sequence"], conf1["qty"], conf1["uom"]) == (1, 28, "SZT")
    assert (conf2["sequence"], conf2["qty"], conf2["final"]) == (2, 20, True)
    assert scrap["reason"] == "BRAK-01"
    assert done == {"order": "ZP3-000001", "lot": "FG-ZP3-000001", "qty": 48, "uom": "SZT"}
    runs = call(f"{url}/_runs")[1]["runs"]
    wait_until(lambda: call(f"{url}/_runs")[1]["runs"][0]["status"] == "done")
    assert runs[0]["order"] == "ZP3-000001"


def test_mes_takes_a_release_once_and_runs_the_order_once(start, interlock):
    _sim, url = start(MesSimulator, controls=MesControls(step_delay=0.01))
    first = call(f"{url}/P1/messages", release("P1", RELEASE_P1))[1]
    again = call(f"{url}/P1/messages", release("P1", RELEASE_P1))[1]
    other_key = call(f"{url}/P1/messages", release("P1", RELEASE_P1, key="rel-2"))[1]
    assert (first["status"], again["status"], other_key["status"]) == (
        "applied",
        "duplicate",
        "applied",
    )
    wait_until(lambda: call(f"{url}/_runs")[1]["runs"][0]["status"] == "done")
    assert call(f"{url}/_runs")[1]["count"] == 1
    assert len(interlock.envelopes("production.completed")) == 1
    assert len(interlock.envelopes("operation.started")) == 2
    assert interlock.envelopes("operation.started")[0]["payload"]["work_center"] == "PRESS_1"
    assert interlock.envelopes("material.issued")[0]["payload"]["item"] == "000000000010004711"


def test_mes_refuses_a_release_for_another_plant_or_without_operations(start):
    _, url = start(MesSimulator, background=False)
    wrong_plant = call(f"{url}/P1/messages", release("P2", RELEASE_P1))
    assert wrong_plant[0] == 422
    assert "plant" in wrong_plant[1]["error"]
    no_ops = call(f"{url}/P1/messages", release("P1", {**RELEASE_P1, "operations": []}))
    assert no_ops[0] == 422
    other_type = call(f"{url}/P1/messages", message("goods_receipt", "g", {"order": "x"}))
    assert other_type[0] == 422


def test_mes_sends_duplicates_and_out_of_order_steps_at_the_configured_rates(start, interlock):
    _sim, url = start(
        MesSimulator,
        controls=MesControls(step_delay=0.0, duplicate_rate=0.3, out_of_order_rate=0.3),
        background=False,
    )
    for n in range(20):
        payload = {**RELEASE_P1, "order": f"10000000{n:02d}"}
        call(f"{url}/P1/messages", release("P1", payload, key=f"rel-{n}"))
    runs = call(f"{url}/_runs?plan=1")[1]["runs"]
    dups = sum(r["duplicates"] for r in runs)
    swaps = sum(r["swaps"] for r in runs)
    events = sum(len(step) for r in runs for step in r["plan"]) - dups
    assert 0.15 < dups / events < 0.45
    assert swaps > 0
    # Every event of a run is in its plan, the copies are exact copies.
    for run in runs:
        flat = [e for step in run["plan"] for e in step]
        counts = Counter(repr(e) for e in flat)
        assert sum(n - 1 for n in counts.values()) == run["duplicates"]
    # Out of order: some run does not start with its acknowledgment.
    assert any(r["plan"][0][0]["type"] != "production_order.acknowledged" for r in runs)


def test_a_resumed_mes_sends_the_rest_of_the_same_plan(start, interlock, tmp_path):
    db = tmp_path / "mes.sqlite3"
    sim, url = start(MesSimulator, db_path=db, controls=MesControls(step_delay=0), background=False)
    call(f"{url}/P1/messages", release("P1", RELEASE_P1))
    sim.run_due("P1")  # one step (the acknowledgment), then the process "dies"
    sim.stop.set()
    plan = call(f"{url}/_runs?plan=1")[1]["runs"][0]["plan"]
    again, _ = start(MesSimulator, db_path=db, controls=MesControls(step_delay=0), background=False)
    while again.run_due("P1") < 1.0:
        pass
    assert interlock.envelopes() == [e for step in plan for e in step]


def test_qms_opens_the_inspection_and_records_the_plants_result_after_the_delay(start, interlock):
    controls = QmsControls(delay_seconds=0.3, pass_ratio=0, fail_ratio=0, conditional_ratio=1)
    _sim, url = start(QmsSimulator, controls=controls)
    request = message(
        "inspection.request",
        "ir-1",
        {"order": "WO-2-000001", "lot": "FG-WO-2-000001", "qty": 3, "uom": "EA"},
        plant="P2",
        correlation_id="c-9",
    )
    answer = call(f"{url}/P2/messages", request)[1]
    assert answer["status"] == "applied"
    assert answer["reference"] == "QI-FG-WO-2-000001"
    assert call(f"{url}/P2/messages", request)[1]["status"] == "duplicate"
    opened = wait_until(lambda: interlock.envelopes("inspection.requested"))
    assert interlock.envelopes("inspection.recorded") == []  # not before the delay
    recorded = wait_until(lambda: interlock.envelopes("inspection.recorded"))
    assert opened[0]["payload"] == {
        "inspection": "QI-FG-WO-2-000001",
        "lot": "FG-WO-2-000001",
        "order": "WO-2-000001",
        "plan": "FINAL",
    }
    result = recorded[0]["payload"]
    assert result["result"] == "COND"  # P2's code for a conditional release
    assert any(not line["ok"] for line in result["results"])
    assert recorded[0]["source"] == "QMS-P2"
    assert recorded[0]["correlation_id"] == "c-9"
    assert {key for key, _ in interlock.received} == {"Api-Key key-QMS-P2"}


def test_qms_outcomes_follow_the_ratios_and_a_plant_without_conditional_passes(start, interlock):
    controls = QmsControls(delay_seconds=0, pass_ratio=1, fail_ratio=1, conditional_ratio=1)
    _sim, url = start(QmsSimulator, controls=controls, background=False)
    for n in range(60):
        call(
            f"{url}/P3/messages",
            message("inspection.request", f"k{n}", {"lot": f"FG-{n}"}, plant="P3"),
        )
    rows = call(f"{url}/_inspections")[1]["inspections"]
    outcomes = Counter(r["outcome"] for r in rows)
    # P3 has no conditional release: those become passes (about two thirds of all).
    assert outcomes["conditional"] == 0
    assert outcomes["pass"] > outcomes["fail"] > 8
    codes = {(r["outcome"], r["result_code"]) for r in rows}
    assert codes == {("pass", "OK"), ("fail", "NOK")}


def test_a_pass_carries_only_conforming_lines_at_a_plant_without_conditional(start, interlock):
    """A conditional drawn at P3 is recorded as a pass, and a pass with a failing line
    would be quarantined by Interlock as inconsistent (it was, in the demo)."""
    controls = QmsControls(delay_seconds=0, pass_ratio=0, fail_ratio=0, conditional_ratio=1)
    _sim, url = start(QmsSimulator, controls=controls)
    request = message("inspection.request", "ir-p3", {"lot": "FG-1"}, plant="P3")
    call(f"{url}/P3/messages", request)
    recorded = wait_until(lambda: interlock.envelopes("inspection.recorded"))
    payload = recorded[0]["payload"]
    assert payload["result"] == "OK"
    assert all(line["ok"] for line in payload["results"])
