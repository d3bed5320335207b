"""The ERP simulator: the wire contract, exactly-once effects, faults, the release driver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time

from connectors.simulators.erp import ErpSimulator
from tests.simulators.conftest import call, message, wait_until


def stock(url, plant, item):
    rows = call(f"{url}/_inventory")[1]["stock"]
    return next((r["qty"] for r in rows if r["plant"] == plant and r["item"] == item), None)


def test_a_repeated_key_is_applied_once_and_answers_the_first_reference(start):
    _sim, url = start(ErpSimulator)
    before = stock(url, "P1", "CMP-4711")
    issue = message(
        "goods_issue", "k-1", {"order": "W1", "item": "CMP-4711", "qty": 5, "uom": "EA"}
    )
    first = call(f"{url}/messages", issue, headers={"Idempotency-Key": "k-1"})
    again = call(f"{url}/messages", issue, headers={"Idempotency-Key": "k-1"})
    assert first[0] == again[0] == 200
    assert first[1]["status"] == "applied"
    assert again[1] == {**first[1], "status": "duplicate"}
    assert float(stock(url, "P1", "CMP-4711")) == float(before) - 5
    ledger = call(f"{url}/_ledger")[1]
    assert [e["idempotency_key"] for e in ledger["entries"]] == ["k-1"]


def test_a_batch_answers_each_message_in_order_and_deduplicates_within_it(start):
    _, url = start(ErpSimulator)
    receipt = message(
        "goods_receipt", "gr-1", {"order": "W9", "lot": "FG-W9", "qty": 12}, plant="P2"
    )
    status, body, _ = call(
        f"{url}/messages/batch",
        {
            "messages": [
                receipt,
                message("no.such.type", "x-1", {}),
                receipt,
                message("scrap", "s-1", {"order": "W9", "item": "CMP-4711", "qty": 1}, plant="P2"),
            ]
        },
    )
    assert status == 200
    results = body["results"]
    assert [r["idempotency_key"] for r in results] == ["gr-1", "x-1", "gr-1", "s-1"]
    assert [r["status"] for r in results] == ["applied", "rejected", "duplicate", "applied"]
    assert results[0]["reference"] == results[2]["reference"] == "GR-P2-000001"
    assert "no.such.type" in results[1]["error"]
    assert results[1]["reference"] is None
    assert float(stock(url, "P2", "W9")) == 12  # an order ERP never released: its own number
    assert call(f"{url}/_ledger")[1]["count"] == 2


def test_goods_receipts_get_document_numbers_per_plant_and_book_the_order_product(start):
    sim, url = start(ErpSimulator, background=False)
    [number] = sim.create_orders("P1", 1)
    order = call(f"{url}/_orders")[1]["orders"][0]
    assert order["item"] == "FG-1000"
    assert order["number"] == number
    answers = [
        call(f"{url}/messages", message("goods_receipt", f"gr-{n}", {"order": number}))[1]
        for n in range(2)
    ]
    assert [a["reference"] for a in answers] == ["GR-P1-000001", "GR-P1-000002"]
    assert float(stock(url, "P1", "FG-1000")) == 2 * float(order["qty"])
    settle = call(f"{url}/messages", message("order.settle", "st-1", {"order": number}))[1]
    assert settle["reference"] == "SET-P1-000001"
    assert call(f"{url}/_orders")[1]["orders"][0]["settled"] == 1


def test_a_rejected_message_leaves_no_trace_so_a_corrected_replay_applies(start):
    _, url = start(ErpSimulator)
    bad = message("goods_issue", "k-7", {"order": "W1", "qty": 3})  # no item
    status, body, _ = call(f"{url}/messages", bad)
    assert status == 422
    assert body["status"] == "rejected"
    assert "item" in body["error"]
    fixed = message("goods_issue", "k-7", {"order": "W1", "item": "CMP-4711", "qty": 3})
    assert call(f"{url}/messages", fixed)[1]["status"] == "applied"
    assert call(f"{url}/_ledger")[1]["count"] == 1


def test_a_header_key_that_differs_from_the_body_is_refused(start):
    _, url = start(ErpSimulator)
    msg = message("goods_issue", "k-1", {"item": "CMP-4711", "qty": 1})
    assert call(f"{url}/messages", msg, headers={"Idempotency-Key": "other"})[0] == 400


def test_told_to_fail_it_answers_500_and_applies_nothing(start):
    _, url = start(ErpSimulator)
    assert call(f"{url}/_control", {"fail_rate": 1})[1]["fail_rate"] == 1
    msg = message("goods_issue", "k-1", {"item": "CMP-4711", "qty": 1})
    assert call(f"{url}/messages", msg)[0] == 500
    assert call(f"{url}/messages/batch", {"messages": [msg]})[0] == 500
    assert call(f"{url}/_ledger")[1]["count"] == 0
    call(f"{url}/_control", {"fail_rate": 0})
    assert call(f"{url}/messages", msg)[1]["status"] == "applied"
    stats = call(f"{url}/_stats")[1]
    assert stats["failed_500"] == 2
    assert stats["message_applied"] == 1


def test_told_to_throttle_it_answers_429_with_retry_after_beyond_the_rate(start):
    _, url = start(ErpSimulator)
    call(f"{url}/_control", {"throttle_rps": 3})
    answers = [
        call(f"{url}/messages", message("goods_issue", f"k-{n}", {"item": "I", "qty": 1}))
        for n in range(6)
    ]
    codes = [status for status, _, _ in answers]
    assert codes[:3] == [200, 200, 200]
    assert set(codes[3:]) == {429}
    assert all(int(h["Retry-After"]) >= 1 for s, _, h in answers if s == 429)
    assert call(f"{url}/_ledger")[1]["count"] == 3
    assert call(f"{url}/_stats")[1]["peak_requests_per_second"] <= 3
    time.sleep(1.05)  # the window has moved on
    assert call(f"{url}/messages", message("goods_issue", "k-9", {"item": "I", "qty": 1}))[0] == 200


def test_told_to_be_slow_it_answers_late(start):
    _, url = start(ErpSimulator)
    call(f"{url}/_control", {"latency_ms": 300})
    began = time.monotonic()
    assert call(f"{url}/messages", message("goods_issue", "k", {"item": "I", "qty": 1}))[0] == 200
    assert time.monotonic() - began >= 0.3


def test_a_held_back_answer_was_applied_and_the_retry_is_a_duplicate(start):
    _, url = start(ErpSimulator)
    call(f"{url}/_control", {"timeout_rate": 1, "timeout_seconds": 2})
    msg = message("goods_issue", "k-1", {"item": "CMP-4711", "qty": 4})
    try:
        call(f"{url}/messages", msg, timeout=0.5)
        raise AssertionError("expected the client to time out")
    except TimeoutError:
        pass
    call(f"{url}/_control", {"timeout_rate": 0})
    assert call(f"{url}/messages", msg)[1]["status"] == "duplicate"
    assert call(f"{url}/_ledger")[1]["count"] == 1


def test_bad_controls_are_refused(start):
    _, url = start(ErpSimulator)
    assert call(f"{url}/_control", {"fail_rate": 2})[0] == 400
    assert call(f"{url}/_control", {"explode": 1})[0] == 400


def test_concurrent_copies_of_one_message_have_one_effect(start):
    _, url = start(ErpSimulator)
    msg = message("goods_issue", "same", {"item": "CMP-4711", "qty": 1})
    answers = []

    def send():
        answers.append(call(f"{url}/messages", msg)[1]["status"])

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["applied"] + ["duplicate"] * 19
    assert call(f"{url}/_ledger")[1]["count"] == 1


def test_it_checks_the_callers_credentials_when_it_has_them(start, keys_file):
    data = json.loads(keys_file.read_text())
    data["_outbound"] = {
        "ERP": {"auth": "bearer", "secret": "s3cret"},
        "MES-P2": {"auth": "hmac", "secret": "sign"},
        "MES-P3": {"auth": "basic", "secret": "pw"},
    }
    keys_file.write_text(json.dumps(data))
    _, url = start(ErpSimulator)
    msg = message("goods_issue", "k", {"item": "I", "qty": 1})
    assert call(f"{url}/messages", msg)[0] == 401
    assert call(f"{url}/messages", msg, headers={"Authorization": "Bearer nope"})[0] == 401
    assert call(f"{url}/messages", msg, headers={"Authorization": "Bearer s3cret"})[0] == 200

    from connectors.simulators.base import authorized

    body = b'{"x": 1}'
    signature = "sha256=" + hmac.new(b"sign", body, hashlib.sha256).hexdigest()
    assert authorized(data["_outbound"]["MES-P2"], {"X-Interlock-Signature": signature}, body)
    assert not authorized(data["_outbound"]["MES-P2"], {"X-Interlock-Signature": signature}, b"{}")
    basic = "Basic " + base64.b64encode(b"pw").decode()
    assert authorized(data["_outbound"]["MES-P3"], {"Authorization": basic}, body)


def test_the_release_driver_releases_in_plant_codes_once_per_order(start, interlock):
    _sim, url = start(ErpSimulator, release_every=0.2, orders_per_plant=1, max_orders_per_plant=2)
    wait_until(lambda: len(interlock.envelopes()) >= 6)
    time.sleep(0.5)  # the maximum is reached: nothing more is released
    releases = interlock.envelopes("production_order.released")
    assert len(releases) == 6
    keys = {key for key, _ in interlock.received}
    assert keys == {"Api-Key key-ERP"}
    by_plant = {}
    for env in releases:
        assert env["source"] == "ERP"
        by_plant.setdefault(env["plant"], []).append(env["payload"])
    p1, p2, p3 = by_plant["P1"][0], by_plant["P2"][0], by_plant["P3"][0]
    # Each plant in its own codes: SAP numbers at P1, readable codes at P2, boxes at P3.
    assert p1["item"] == "000000000010001000"
    assert p1["uom"] == "EA"
    assert p1["revision"] == p1["routing_revision"] == "B"  # ECN-2291 since 2026-10-01
    assert [op["work_center"] for op in p1["operations"]] == ["PRESS_1", "LINE_A"]
    assert p1["order"].startswith("1000")
    assert len(p1["order"]) == 10
    assert p2["item"] in ("BRKT-ASSY", "ENCL-CTO")
    assert p2["uom"] == "PCS"
    assert p3["item"] == "P3-1000"
    assert p3["uom"] == "SZT"
    assert {c["item"] for c in p3["components"]} == {"P3-4711", "P3-0200"}
    orders = call(f"{url}/_orders")[1]["orders"]
    assert len(orders) == 6
    assert {o["sent_status"] for o in orders} == {"accepted"}
    assert len({(o["plant"], o["number"]) for o in orders}) == 6


def test_an_approved_reallocation_moves_stock_between_plants_once(start):
    _sim, url = start(ErpSimulator)
    p1, p3 = float(stock(url, "P1", "CMP-4711")), float(stock(url, "P3", "CMP-4711"))
    transfer = message(
        "stock.transfer",
        "t-1",
        # In the receiving plant's codes (P3-4711 is CMP-4711 at P3).
        {
            "item": "P3-4711",
            "qty": 60,
            "uom": "EA",
            "from_plant": "P1",
            "to_plant": "P3",
            "order": "ZP3-1",
            "approved_by": "p1-planner",
        },
        plant="P3",
    )
    first = call(f"{url}/messages", transfer)[1]
    assert (first["status"], first["reference"]) == ("applied", "TR-P3-000001")
    assert call(f"{url}/messages", transfer)[1]["status"] == "duplicate"
    assert float(stock(url, "P1", "CMP-4711")) == p1 - 60
    assert float(stock(url, "P3", "CMP-4711")) == p3 + 60
    [row] = call(f"{url}/_transfers")[1]["transfers"]
    assert (row["item"], row["from_plant"], row["to_plant"], row["approved_by"]) == (
        "CMP-4711",
        "P1",
        "P3",
        "p1-planner",
    )
    same = message(
        "stock.transfer", "t-2", {"item": "P3-4711", "qty": 1, "from_plant": "P3", "to_plant": "P3"}
    )
    assert call(f"{url}/messages", same)[1]["status"] == "rejected"
    # More than the sending plant has on hand: refused, and no stock moves.
    left = float(stock(url, "P1", "CMP-4711"))
    too_much = message(
        "stock.transfer",
        "t-3",
        {"item": "P3-4711", "qty": left + 1, "uom": "EA", "from_plant": "P1", "to_plant": "P3"},
        plant="P3",
    )
    refused = call(f"{url}/messages", too_much)[1]
    assert refused["status"] == "rejected"
    assert "on hand" in refused["error"]
    assert float(stock(url, "P1", "CMP-4711")) == left
    assert float(stock(url, "P3", "CMP-4711")) == p3 + 60


def test_an_approved_move_replans_a_released_order_at_the_alternate(start):
    sim, url = start(ErpSimulator)
    [number] = sim.create_orders("P1", 1)
    reroute = message(
        "order.reroute",
        "r-1",
        {
            "order": number,
            "order_plant": "P1",
            "work_center": "PRESS_1",
            "operations": ["0010"],
            "to_work_center": "P3-ASSY-01",
            "to_plant": "P3",
        },
    )
    answer = call(f"{url}/messages", reroute)[1]
    assert answer["status"] == "applied"
    [order] = call(f"{url}/_orders?plant=P1")[1]["orders"]
    assert order["routing"] == {
        "0010": {"plant": "P3", "work_center": "MONT-01", "reference": answer["reference"]}
    }
    unknown = message("order.reroute", "r-2", {**reroute["payload"], "order": "NOPE"})
    assert call(f"{url}/messages", unknown)[1]["status"] == "rejected"
