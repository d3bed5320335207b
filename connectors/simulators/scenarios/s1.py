"""Scenario 1: order release to goods receipt with quality hold.

The ERP simulator releases one order at the plant now (``POST /erp/_release``); MES runs it,
QMS inspects the finished-goods lot, and only a pass or a conditional release lets the ERP
goods receipt through, which settles the order. The player follows the order through the
API and reports each state it reaches.
"""

from __future__ import annotations

from . import Played, ScenarioFailed, Stage

NUMBER = 1
TITLE = "Order release to goods receipt with quality hold"
RULE_PACK = "order-to-receipt"
SYSTEMS = ("erp", "mes", "qms")

FINAL = "financially_posted"


def play(stage: Stage) -> Played:
    played = Played()
    released = stage.sim("erp", "POST", f"_release?plant={stage.plant}&count=1")
    [number] = released["orders"]
    stage.say(f"ERP released order {number} at {stage.plant}", played)
    seen: list[str] = []

    def state():
        rows = stage.results("orders", system="ERP", plant=stage.plant, number=number)
        if not rows:
            return None
        order = rows[0]
        if not seen or seen[-1] != order["state"]:
            seen.append(order["state"])
            stage.say(f"  order {number}: {order['state']}", played)
        if order["state"] in ("on_hold", "cancelled"):
            raise ScenarioFailed(f"order {number} went {order['state']}")
        return order if order["state"] == FINAL else None

    order = stage.wait_for(f"order {number} to be {FINAL}", state)
    played.facts.update(order=number, states=seen, id=order["id"])
    played.links["order"] = stage.admin(f"orchestrator/productionorder/{order['id']}/change/")
    played.links["ERP ledger"] = f"{stage.sim_urls['erp']}/_ledger?plant={stage.plant}"
    return played
