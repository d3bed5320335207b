"""Scenario 6: scrap spike.

The ERP releases an order; the player, as the plant's MES, confirms good quantity on the
order's last operation and then declares a burst of scrap on its first line, over the
plant's spike threshold within the window (scrap is summed per plant, line and item).
Interlock alerts quality and maintenance (a task each to investigate), asks planning to
review, and flags the item's replenishment plan in the ERP's planning worklist (through
the outbox): the player waits for that flag in the ERP simulator.
"""

from __future__ import annotations

import json
import uuid

from ..world import load_world
from . import Played, ScenarioFailed, Stage

NUMBER = 6
TITLE = "Scrap spike on a line alerts quality and maintenance, flags replenishment"
RULE_PACK = "scrap-spike"
SYSTEMS = ("erp", "mes")


def play(stage: Stage) -> Played:
    played = Played()
    plant = load_world(None)[stage.plant]
    mes = f"MES-{stage.plant}"
    [number] = stage.sim("erp", "POST", f"_release?plant={stage.plant}&count=1")["orders"]
    orders = stage.sim("erp", "GET", f"_orders?plant={stage.plant}")["orders"]
    release = next(o for o in orders if o["number"] == number)["envelope"]["payload"]
    operations = [op["operation"] for op in release["operations"]]
    qty, uom = release["qty"], release["uom"]
    stage.say(f"ERP released order {number} ({qty} {uom}) at {stage.plant}", played)
    correlation = f"s6-{stage.unique}-{uuid.uuid4().hex[:6]}"

    good = {"order": number, "operation": operations[-1], "sequence": 9001, "qty": qty, "uom": uom}
    [confirmed] = stage.post_events(
        mes,
        [stage.envelope(mes, "operation.confirmed", good, correlation_id=correlation)],
    )
    stage.say(f"MES confirmed {qty} {uom} good on {operations[-1]}: {confirmed['status']}", played)
    # The threshold is a share of the good quantity the order confirmed so far: a
    # confirmation parked until the release reaches Interlock would leave the burst
    # measured against nothing (and the spike unseen), so wait until it is booked.
    stage.wait_for(
        f"the good quantity of order {number} to be booked",
        lambda: [
            o
            for o in stage.results("orders", system="ERP", plant=stage.plant, number=number)
            if float(o["confirmed_qty"]) >= float(qty)
        ],
    )
    scrap = max(1, round(qty * 0.2))
    burst = {
        "order": number,
        "operation": operations[0],
        "qty": scrap,
        "uom": uom,
        "reason": plant.scrap_reasons[0],
    }
    [declared] = stage.post_events(
        mes, [stage.envelope(mes, "scrap.declared", burst, correlation_id=correlation)]
    )
    if declared["status"] not in ("accepted", "parked"):
        raise ScenarioFailed(f"the scrap declaration was {declared['status']}: {declared}")
    stage.say(f"MES declared {scrap} {uom} scrap on {operations[0]} (20 %)", played)

    def flagged():
        rows = stage.sim("erp", "GET", f"_planning?plant={stage.plant}")["planning"]
        return [
            r
            for r in rows
            if r["type"] == "replenishment.flag" and r["detail"].get("order") == number
        ]

    [flag] = stage.wait_for("the replenishment flag in the ERP's planning", flagged)
    detail = flag["detail"]
    stage.say(
        f"ERP planning: replenishment of {flag['subject']} flagged (line {detail.get('line')}, "
        f"{detail.get('window_qty')} scrapped in the window)",
        played,
    )
    played.facts.update(order=number, flag=json.loads(json.dumps(detail)))
    played.links["alerts and notifications"] = stage.admin(
        f"orchestrator/notification/?q={correlation}"
    )
    played.links["ERP planning worklist"] = f"{stage.sim_urls['erp']}/_planning?plant={stage.plant}"
    return played
