"""Scenario 8: line stoppage.

The ERP releases an order at the plant; its first operation runs on the plant's
constrained line (master data; P1's press line, P2's welding cell). The player, as the
MES, reports a four-hour stoppage of that line (``machine.downtime``). Interlock records
the exposure with the orders still to run there and the alternate routing or plant
master data offers, sends the lost capacity to the ERP's planning (``capacity.update``
through the outbox), asks planning to approve the move and tells customer service which
order dates are at risk. The player waits for the capacity update in the ERP; then the
plant's planner approves the move and the player waits for the ERP to re-plan the orders.
"""

from __future__ import annotations

import datetime as dt
import uuid

from .. import base
from . import Played, ScenarioFailed, Stage, proposals

NUMBER = 8
TITLE = "Line stoppage on a constrained line asks planning to move the orders"
RULE_PACK = "line-stoppage"
SYSTEMS = ("erp", "mes")


def play(stage: Stage) -> Played:
    played = Played()
    mes = f"MES-{stage.plant}"
    [number] = stage.sim("erp", "POST", f"_release?plant={stage.plant}&count=1")["orders"]
    orders = stage.sim("erp", "GET", f"_orders?plant={stage.plant}")["orders"]
    release = next(o for o in orders if o["number"] == number)["envelope"]["payload"]
    line = release["operations"][0]["work_center"]
    stage.say(f"ERP released order {number} at {stage.plant}; it starts on {line}", played)
    start = base.utcnow() - dt.timedelta(minutes=5)
    correlation = f"s8-{stage.unique}-{uuid.uuid4().hex[:6]}"
    stop = {
        "work_center": line,
        "equipment": f"{line}-HYD",
        "started_at": base.iso(start),
        "ended_at": base.iso(start + dt.timedelta(hours=4)),
        "reason": "hydraulic leak",
    }
    [answer] = stage.post_events(
        mes, [stage.envelope(mes, "machine.downtime", stop, correlation_id=correlation)]
    )
    stage.say(f"MES: {line} stopped for 4 h ({answer['status']})", played)

    def capacity():
        entries = stage.sim("erp", "GET", f"_ledger?plant={stage.plant}")["entries"]
        return [
            e
            for e in entries
            if e["type"] == "capacity.update" and e["correlation_id"] == correlation
        ]

    try:
        [update] = stage.wait_for(
            "the capacity update in the ERP (only a constrained line sends one)",
            capacity,
            timeout=min(stage.timeout, 30.0),
        )
    except ScenarioFailed:  # waited in vain: the line is not constrained at this plant
        stage.say(f"{line} is not a constrained line here: no exposure, nothing to move", played)
        return played
    payload = update["payload"]
    stage.say(
        f"ERP planning: {payload['work_center']} loses {payload['lost_hours']} h; orders at "
        f"risk: {', '.join(payload['orders_at_risk']) or 'none'}",
        played,
    )
    played.facts.update(order=number, capacity=payload)
    moves = proposals.approve(stage, played, correlation=correlation, message="order.reroute")
    for move in moves:
        effect = move["effect"]
        stage.say(
            f"ERP {move['reference']}: order {effect['order']} re-planned from "
            f"{effect['from_work_center']} to {effect['to_work_center']} at {effect['to_plant']}",
            played,
        )
    played.facts["reroutes"] = {m["effect"]["order"]: m["effect"] for m in moves}
    played.links["ERP re-planned orders"] = f"{stage.sim_urls['erp']}/_reroutes"
    played.links["exposure (consolidated view)"] = stage.admin(
        f"orchestrator/exposure/?q={correlation}"
    )
    played.links["planning's approval"] = stage.admin(
        f"orchestrator/approvalrequest/?q={correlation}"
    )
    return played
