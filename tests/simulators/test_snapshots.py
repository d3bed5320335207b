"""The simulators' reconciliation snapshots (``GET …/snapshot?plant=``, scenario 9) and the
ERP's hand reversal control (``POST /erp/_reverse``)."""

from __future__ import annotations

import json

from connectors.simulators.erp import ErpSimulator
from connectors.simulators.mes import MesControls, MesSimulator
from connectors.simulators.qms import QmsSimulator

from .conftest import call, message


def test_erp_snapshot_sums_what_was_posted_per_order_and_a_reversal_removes_it(start):
    _erp, url = start(ErpSimulator, background=False)
    for key, type_, payload in [
        (
            "c1",
            "operation.confirmation",
            {"order": "WO-1", "operation": "0010", "qty": 6, "uom": "ST"},
        ),
        (
            "c2",
            "operation.confirmation",
            {"order": "WO-1", "operation": "0020", "qty": 4, "uom": "ST"},
        ),
        (
            "c3",
            "operation.confirmation",
            {"order": "WO-1", "operation": "0020", "qty": 5, "uom": "ST"},
        ),
        ("s1", "scrap", {"order": "WO-1", "qty": 2, "uom": "ST"}),
        ("l1", "lot.status_change", {"lot": "L-1", "status": "BLOC"}),
        ("g1", "goods_receipt", {"order": "WO-1", "qty": 9}),
        ("t1", "order.settle", {"order": "WO-1"}),
        # A planning note at P1 about P2's order (scenario 7) is no order of P1.
        ("r1", "order.date_at_risk", {"order": "WO-2", "order_plant": "P2", "exposure": 1}),
    ]:
        status, body, _ = call(f"{url}/messages", message(type_, key, payload))
        assert status == 200, body
    status, snap, _ = call(f"{url}/snapshot?plant=P1")
    assert status == 200
    assert snap["orders"]["WO-1"] == {
        "status": "settled",
        "produced_qty": "9",  # the last operation's yield
        "scrapped_qty": "2",
        "received_qty": "0",
        "uom": "ST",
    }
    assert "WO-2" not in snap["orders"]
    assert snap["lots"] == {"L-1": {"status": "BLOC"}}
    assert call(f"{url}/snapshot")[0] == 400
    status, body, _ = call(f"{url}/_reverse?plant=P1&order=WO-1&type=scrap", {})
    assert (status, body["removed"]) == (200, 1)
    assert call(f"{url}/snapshot?plant=P1")[1]["orders"]["WO-1"]["scrapped_qty"] == "0"
    assert call(f"{url}/_reverse?plant=P1&order=WO-1&type=nonsense", {})[0] == 400


def test_mes_snapshot_counts_only_sent_steps_and_each_duplicate_once(tmp_path):
    mes = MesSimulator(
        db_path=tmp_path / "mes.sqlite3",
        seed=1,
        controls=MesControls(duplicate_rate=1.0, scrap_rate=1.0, step_delay=0),
    )
    plan = [
        [
            {
                "type": "operation.confirmed",
                "payload": {"order": "WO-1", "operation": "0010", "qty": 6, "uom": "ST"},
            }
        ],
        [
            {
                "type": "operation.confirmed",
                "payload": {"order": "WO-1", "operation": "0010", "qty": 6, "uom": "ST"},
            },
            {
                "type": "scrap.declared",
                "payload": {"order": "WO-1", "operation": "0010", "qty": 1, "uom": "ST"},
            },
        ],
        [
            {
                "type": "production.completed",
                "payload": {"order": "WO-1", "lot": "FG-WO-1", "qty": 6},
            }
        ],
    ]
    with mes.transaction() as db:
        db.execute(
            "INSERT INTO runs (plant, number, plan, next_step, due_at, status, received_at)"
            " VALUES ('P1', 'WO-1', ?, 2, 0, 'running', '2026-01-01')",
            (json.dumps(plan),),
        )
    snap = mes.snapshot("P1")
    assert snap["orders"]["WO-1"] == {
        "status": "in_process",
        "produced_qty": 6,
        "scrapped_qty": 1,
        "uom": "ST",
    }
    mes.shutdown()


def test_qms_snapshot_lists_recorded_results_with_counts(start):
    qms, url = start(QmsSimulator, background=False)
    with qms.transaction() as db:
        for number, code, recorded in [("QI-1", "A", "accepted"), ("QI-2", "R", None)]:
            db.execute(
                "INSERT INTO inspections (plant, number, request_key, lot, outcome, result_code,"
                " due_at, requested_status, recorded_status, created_at)"
                " VALUES ('P1', ?, ?, 'L', 'pass', ?, 0, 'accepted', ?, '2026-01-01')",
                (number, number, code, recorded),
            )
    status, snap, _ = call(f"{url}/P1/snapshot?plant=P1")
    assert status == 200
    assert snap["inspections"]["QI-1"]["result"] == "A"
    assert snap["inspections"]["QI-2"]["status"] == "requested"
    assert snap["counts"] == {"A": 1}
