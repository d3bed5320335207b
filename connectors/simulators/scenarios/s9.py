"""Scenario 9: reconciliation of ERP, MES and QMS with Interlock.

Scenario 1 runs an order to financially posted. The plant's operator reconciles the plant
(``POST /api/v1/reconciliation/runs``): the three systems agree with Interlock. Someone
then reverses the order's confirmations in the ERP by hand (``POST /erp/_reverse``); the
next run finds the difference and opens an exception with a task for the operator, who
corrects it from their inbox (the correcting confirmation goes to the ERP through the
outbox); reconciliation runs again until it finds agreement and closes the exception.
"""

from __future__ import annotations

import time

from . import Played, ScenarioFailed, Stage, s1

NUMBER = 9
TITLE = "Reconciliation of ERP, MES and QMS with Interlock"
RULE_PACK = "order-to-receipt"
SYSTEMS = ("erp", "mes", "qms")
USER = "operator"


def _reconcile(stage: Stage, played: Played) -> dict:
    status, run = stage.api("POST", "reconciliation/runs", {"plant": stage.plant}, user=USER)
    if status != 201:
        raise ScenarioFailed(f"reconciliation of {stage.plant} answered {status}: {run}")
    stage.say(
        f"  reconciliation run {run['id']}: {run['compared']} values compared, "
        f"{run['differences']} difference(s), {run['closed']} closed",
        played,
    )
    return run


def play(stage: Stage) -> Played:
    played = Played()
    stage.say("Scenario 1 first: an order to financially posted", played)
    first = s1.play(stage)
    number = first.facts["order"]
    played.steps += first.steps
    run = _reconcile(stage, played)
    reversed_ = stage.sim(
        "erp", "POST", f"_reverse?plant={stage.plant}&order={number}&type=operation.confirmation"
    )
    stage.say(
        f"Someone reverses {reversed_['removed']} confirmation(s) of {number} in the ERP by hand",
        played,
    )
    run = _reconcile(stage, played)

    def exception():
        rows = stage.results("reconciliation/exceptions", user=USER, plant=stage.plant)
        found = [r for r in rows if r["subject"] == number and r["state"] != "closed"]
        return found[0] if found else None

    found = exception()
    if found is None:
        raise ScenarioFailed(f"run {run['id']} opened no exception for {number}: {run['report']}")
    stage.say(
        f"Exception {found['id']}: ERP {found['field']} {found['system_value']} vs Interlock "
        f"{found['interlock_value']}; task {found['task']} for the operator",
        played,
    )
    task = found["task"]
    for step, body in (
        ("claim", None),
        ("complete", {"outcome": "corrected", "comment": "reversed by mistake in ERP"}),
    ):
        status, answer = stage.api("POST", f"tasks/{task}/{step}", body, user=USER)
        if status != 200:
            raise ScenarioFailed(f"{step} of task {task} answered {status}: {answer}")
    stage.say(f"{USER} corrects it from the inbox: a confirmation goes to the ERP", played)

    def closed():
        time.sleep(max(stage.poll, 2.0))  # one run every few seconds, not a flood
        _reconcile(stage, played)
        rows = stage.results(
            "reconciliation/exceptions", user=USER, plant=stage.plant, state="closed"
        )
        return next((r for r in rows if r["id"] == found["id"]), None)

    stage.wait_for(f"exception {found['id']} to be verified and closed", closed)
    stage.say(f"Exception {found['id']} closed: ERP and Interlock agree again", played)
    played.facts.update(order=number, exception=found["id"], task=task)
    played.links["exception"] = stage.admin(
        f"orchestrator/reconciliationexception/{found['id']}/change/"
    )
    played.links["runs"] = stage.admin("orchestrator/reconciliationrun/")
    played.links["task"] = stage.admin(f"orchestrator/task/{task}/change/")
    played.links["ERP ledger"] = f"{stage.sim_urls['erp']}/_ledger?plant={stage.plant}"
    return played
