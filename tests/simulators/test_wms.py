"""The WMS simulator: move-to-hold tasks, pick pause and resume, shipment holds, counts,
exactly-once effects and fault controls."""

from __future__ import annotations

from connectors.simulators.wms import WmsSimulator
from tests.simulators.conftest import call, message


def _rows(url, what, plant="P1"):
    return call(f"{url}/_{what}?plant={plant}")[1][what]


def test_a_move_to_hold_creates_one_task_and_blocks_the_lot_from_picking(start):
    _sim, base = start(WmsSimulator)
    url = f"{base}/P1"
    hold = message("lot.move_to_hold", "h-1", {"lot": "CH4711-0001", "reason": "failed QI"})
    first = call(f"{url}/messages", hold, headers={"Idempotency-Key": "h-1"})
    again = call(f"{url}/messages", hold, headers={"Idempotency-Key": "h-1"})
    assert first[1]["status"] == "applied"
    assert first[1]["reference"] == "MTH-P1-000001"
    assert again[1] == {**first[1], "status": "duplicate"}
    [task] = _rows(base, "tasks")
    assert task["number"] == "MTH-P1-000001"
    assert (task["kind"], task["lot"], task["status"]) == ("move_to_hold", "CH4711-0001", "open")
    assert (task["from_location"], task["to_location"]) == ("A-01", "HOLD")
    stock = {r["lot"]: r for r in _rows(base, "stock")}
    assert stock["CH4711-0001"]["status"] == "hold"
    # the worker moves it
    done = call(f"{base}/_tasks/MTH-P1-000001/complete", b"", method="POST")[1]
    assert done["status"] == "done"
    assert {r["lot"]: r for r in _rows(base, "stock")}["CH4711-0001"]["location"] == "HOLD"
    assert call(f"{base}/_tasks/NOPE/complete", b"", method="POST")[0] == 404


def test_picks_pause_and_resume_per_item_and_count(start):
    _sim, base = start(WmsSimulator)
    url = f"{base}/P1"
    paused = {"item": "000000000010004711", "lot": "CH4711-0001", "count": "CC-1", "reason": "x"}
    call(f"{url}/messages", message("pick.pause", "p-1", paused))
    call(f"{url}/messages", message("pick.pause", "p-2", {**paused, "count": "CC-2"}))
    [hold1, hold2] = _rows(base, "picks")
    assert {hold1["status"], hold2["status"]} == {"paused"}
    resumed = call(
        f"{url}/messages",
        message("pick.resume", "r-1", {"item": "000000000010004711", "count": "CC-1"}),
    )[1]
    assert resumed["reference"] == "PR-P1-000001"
    picks = {r["count"]: r for r in _rows(base, "picks")}
    assert picks["CC-1"]["status"] == "resumed"
    assert picks["CC-1"]["resumed_by"] == "PR-P1-000001"
    assert picks["CC-2"]["status"] == "paused"


def test_a_shipment_hold_is_released_and_the_release_names_it(start):
    _sim, base = start(WmsSimulator)
    url = f"{base}/P2"
    lot = {"lot": "FG-WO-2-1", "item": "BRKT-ASSY", "qty": 10, "order": "WO-2-1"}
    call(f"{url}/messages", message("shipment.hold", "s-1", lot, plant="P2"))
    assert _rows(base, "shipments", "P2")[0]["status"] == "held"
    answer = call(f"{url}/messages", message("shipment.release_hold", "s-2", lot, plant="P2"))
    assert answer[1]["status"] == "applied"
    [hold] = _rows(base, "shipments", "P2")
    assert (hold["status"], hold["released_by"]) == ("released", answer[1]["reference"])
    ledger = call(f"{base}/_ledger?plant=P2")[1]["entries"]
    assert ledger[-1]["effect"]["released"] == [hold["reference"]]


def test_a_message_for_another_plant_or_of_an_unknown_type_is_rejected(start):
    _sim, base = start(WmsSimulator)
    wrong = call(f"{base}/P1/messages", message("lot.move_to_hold", "x-1", {"lot": "L"}, "P2"))
    assert wrong[0] == 422
    assert "not this system's plant" in wrong[1]["error"]
    unknown = call(f"{base}/P1/messages", message("goods_issue", "x-2", {"lot": "L"}))
    assert unknown[0] == 422
    missing = call(f"{base}/P1/messages", message("pick.pause", "x-3", {}))
    assert "pick.pause needs item" in missing[1]["error"]
    assert call(f"{base}/_ledger")[1]["count"] == 0


def test_the_fail_control_answers_500_before_applying(start):
    _sim, base = start(WmsSimulator)
    call(f"{base}/_control", {"fail_rate": 1.0})
    status, _, _ = call(f"{base}/P1/messages", message("pick.pause", "f-1", {"item": "X"}))
    assert status == 500
    assert call(f"{base}/_ledger")[1]["count"] == 0


def test_a_count_is_reported_to_interlock_with_the_wms_book_quantity(start, interlock):
    _sim, base = start(WmsSimulator)
    status, body, _ = call(
        f"{base}/_count?plant=P3&lot=WR-4711-0001&counted=99990&count=CC-7", b"", method="POST"
    )
    assert status == 200, body
    [env] = interlock.envelopes("cycle_count.recorded")
    assert env["source"] == "WMS-P3"
    assert env["payload"] == {
        "count": "CC-7",
        "item": "P3-4711",
        "lot": "WR-4711-0001",
        "location": "A-01",
        "counted_qty": 99990,
        "system_qty": 100000,
        "uom": "BX12",
    }
    assert body["interlock"] == [{"status": "accepted"}]
    assert call(f"{base}/_count?plant=P3&lot=NOPE&counted=1", b"", method="POST")[0] == 404


def test_a_lot_stored_without_its_item_learns_it_from_a_later_message(start):
    _sim, base = start(WmsSimulator)
    url = f"{base}/P1"
    call(f"{url}/messages", message("shipment.hold", "s-1", {"lot": "FG-W1", "qty": 5}))
    assert call(f"{base}/_ledger?plant=P1")[1]["count"] == 1
    release = {"lot": "FG-W1", "item": "000000000010001000"}
    call(f"{url}/messages", message("shipment.release_hold", "s-2", release))
    [row] = [r for r in _rows(base, "stock") if r["lot"] == "FG-W1"]
    assert row["item"] == "000000000010001000"
