"""Scenario 1 end to end in a demo-like run: every order on every plant is financially
posted, with a three-way ledger.

``manage.py demo --check --max-orders-per-plant 2`` in a subprocess (SQLite, filesystem
broker, a temporary ``INTERLOCK_VAR_DIR``, free ports): web, worker, beat and the three
simulators; the MES sends duplicates and out-of-order steps, QMS passes or releases
conditionally (no failures, so every order can be posted). The check waits until every
order is financially posted and every outbox row delivered. Then the three ledgers are
read from the files the run left behind:

* what the simulators were told: every event Interlock answered was accepted or a
  duplicate (never quarantined, rejected or in conflict);
* what Interlock holds: every order financially posted, every event applied, every outbox
  row delivered;
* what the simulators applied: exactly the outbox rows, each once (by idempotency key),
  and per order one goods receipt and one settlement in ERP.

About 40–60 s.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.test_demo import ROOT, SERVER_VARS, _demo, _free_port, free_sim_port

ORDERS_PER_PLANT = 2
PLANTS = ("P1", "P2", "P3")


def _rows(path: Path, sql: str, params=()) -> list[sqlite3.Row]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql, params).fetchall()


def _run(var: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS}
    env |= {
        "DEBUG": "1",
        "INTERLOCK_VAR_DIR": str(var),
        "PYTHONUNBUFFERED": "1",
        "INTERLOCK_SIM_MES_DUPLICATE_RATE": "0.2",
        "INTERLOCK_SIM_MES_OUT_OF_ORDER_RATE": "0.5",
        "INTERLOCK_SIM_MES_STEP_DELAY": "0.2",
        "INTERLOCK_SIM_MES_SEED": "3",
        "INTERLOCK_SIM_QMS_DELAY_SECONDS": "1",
        "INTERLOCK_SIM_QMS_FAIL_RATIO": "0",
    }
    started = time.monotonic()
    result = subprocess.run(
        _demo(
            "--check",
            "--port",
            str(_free_port()),
            "--sim-port",
            str(free_sim_port()),
            "--orders-per-plant",
            str(ORDERS_PER_PLANT),
            "--max-orders-per-plant",
            str(ORDERS_PER_PLANT),
            "--release-every",
            "2",
            "--flow-timeout",
            "75",
        ),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    output = result.stdout + result.stderr
    return {
        "var": var,
        "output": output,
        "rc": result.returncode,
        "took": time.monotonic() - started,
    }


@pytest.mark.scenario
def test_scenario_1_posts_every_order_on_every_plant_with_a_three_way_ledger(tmp_path):
    """One test, not four: the run is the expensive part, and pytest-xdist would start it
    once per worker that gets a test of this module."""
    run = _run(tmp_path)
    try:
        _every_order_is_financially_posted(run)
        _what_the_simulators_were_told(run)
        _what_interlock_holds(run)
        _what_the_simulators_applied_is_the_outbox_each_once(run)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n--- demo output (tail) ---\n{run['output'][-5000:]}\n"
            f"--- events not applied ---\n{_unapplied(run)}"
        ) from exc


def _unapplied(run) -> str:
    try:
        rows = _rows(
            run["var"] / "interlock.sqlite3",
            "SELECT event_type, status, reasons, waiting_for FROM orchestrator_event "
            "WHERE status != 'applied'",
        )
    except sqlite3.Error as exc:
        return repr(exc)
    return "\n".join(str(tuple(r)) for r in rows[:20])


def _every_order_is_financially_posted(run):
    assert run["rc"] == 0, "demo --check failed"
    assert "check scenario 1: every order financially posted at P1, P2, P3" in run["output"]
    assert run["took"] < 150, run["took"]
    orders = _rows(
        run["var"] / "interlock.sqlite3",
        "SELECT p.code, o.number, o.state FROM orchestrator_productionorder o "
        "JOIN plants_plant p ON p.id = o.plant_id",
    )
    assert Counter(r["code"] for r in orders) == dict.fromkeys(PLANTS, ORDERS_PER_PLANT)
    assert {r["state"] for r in orders} == {"financially_posted"}


def _what_the_simulators_were_told(run):
    sim = run["var"] / "sim"
    answers: Counter[str] = Counter()
    for row in _rows(sim / "mes.sqlite3", "SELECT status, answers, duplicates FROM runs"):
        assert row["status"] == "done"
        answers.update(json.loads(row["answers"]))
    assert set(answers) <= {"accepted", "parked", "duplicate"}, answers
    assert answers["duplicate"] > 0  # the MES did send copies, and was told so
    qms = _rows(sim / "qms.sqlite3", "SELECT requested_status, recorded_status FROM inspections")
    assert len(qms) == ORDERS_PER_PLANT * len(PLANTS)
    assert {(r["requested_status"], r["recorded_status"]) for r in qms} == {
        ("accepted", "accepted")
    }
    releases = _rows(sim / "erp.sqlite3", "SELECT sent_status FROM orders")
    assert [r["sent_status"] for r in releases] == ["accepted"] * len(qms)


def _what_interlock_holds(run):
    db = run["var"] / "interlock.sqlite3"
    events = Counter(r["status"] for r in _rows(db, "SELECT status FROM orchestrator_event"))
    assert set(events) == {"applied"}, events
    parked_then_applied = _rows(
        db, "SELECT COUNT(*) AS n FROM orchestrator_event WHERE parked_at IS NOT NULL"
    )[0]["n"]
    assert parked_then_applied > 0  # out-of-order steps waited for their predecessors
    outbox = Counter(
        r["status"] for r in _rows(db, "SELECT status FROM orchestrator_outboxmessage")
    )
    assert set(outbox) == {"delivered"}, outbox


def _what_the_simulators_applied_is_the_outbox_each_once(run):
    db, sim = run["var"] / "interlock.sqlite3", run["var"] / "sim"
    for target in ("erp", "mes", "qms"):
        expected = sorted(
            r["idempotency_key"]
            for r in _rows(
                db,
                "SELECT idempotency_key FROM orchestrator_outboxmessage WHERE target_system = ?",
                (target,),
            )
        )
        applied = [
            r["idempotency_key"] for r in _rows(sim / f"{target}.sqlite3", "SELECT * FROM ledger")
        ]
        assert sorted(applied) == expected, target  # the ledger's key is unique: once each
    ledger = _rows(sim / "erp.sqlite3", "SELECT plant, type, payload, reference FROM ledger")
    per_order = Counter(
        (r["plant"], json.loads(r["payload"])["order"], r["type"])
        for r in ledger
        if r["type"] in ("goods_receipt", "order.settle")
    )
    orders = _rows(sim / "erp.sqlite3", "SELECT plant, number, settled FROM orders")
    assert {(o["plant"], o["number"]) for o in orders} == {(p, n) for p, n, _ in per_order}
    assert set(per_order.values()) == {1}
    assert all(o["settled"] for o in orders)
    # The goods receipt's document number is the one Interlock posted the order with.
    receipts = {r["reference"] for r in ledger if r["type"] == "goods_receipt"}
    documents = {
        r["erp_document"] for r in _rows(db, "SELECT erp_document FROM orchestrator_goodsreceipt")
    }
    assert documents == receipts
