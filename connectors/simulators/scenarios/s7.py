"""Scenario 7: supplier ASN delay across plants.

The ERP releases an order at every plant; all of them build with the critical component
CMP-4711 (master data: critical, needed two days before the due date). The supplier's
shipment to this plant slips by three weeks (``asn.delayed``, sent as the ERP would).
Interlock finds the orders at every plant that need the component before it arrives,
records one exposure (the consolidated page), tells the ERP each order date at risk,
asks quality for a substitution and planning for the inter-plant reallocation it
proposes, and tells customer service which orders and dates are at risk. The player waits
for the dates at risk in the ERP's planning worklist; then the plant's planner approves
the reallocation and the player waits for the ERP's stock transfers between the plants.
"""

from __future__ import annotations

import datetime as dt
import uuid

from .. import base
from ..world import load_world
from . import Played, ScenarioFailed, Stage, proposals

NUMBER = 7
TITLE = "Supplier ASN delay puts orders at every plant at risk"
RULE_PACK = "supply-risk"
SYSTEMS = ("erp",)
COMPONENT = "CMP-4711"


def play(stage: Stage) -> Played:
    played = Played()
    world = load_world(None)
    released = {}
    for code in sorted(world):
        [number] = stage.sim("erp", "POST", f"_release?plant={code}&count=1")["orders"]
        released[number] = code
        stage.say(f"ERP released order {number} at {code}", played)
    here = world[stage.plant]
    now = base.utcnow()
    asn = f"ASN-S7-{stage.unique}"
    correlation = f"s7-{stage.unique}-{uuid.uuid4().hex[:6]}"
    delay = {
        "asn": asn,
        "supplier": "SUP-100",
        "previous_expected_at": base.iso(now + dt.timedelta(days=1)),
        "expected_at": base.iso(now + dt.timedelta(days=21)),
        "reason": "port strike",
        "lines": [{"item": here.native_item(COMPONENT), "qty": 5000, "uom": here.native_uom("EA")}],
    }
    [answer] = stage.post_events(
        "ERP", [stage.envelope("ERP", "asn.delayed", delay, correlation_id=correlation)]
    )
    stage.say(f"supplier: ASN {asn} of {COMPONENT} slips three weeks ({answer['status']})", played)

    def at_risk():
        rows = []
        for code in sorted(world):
            rows += stage.sim("erp", "GET", f"_planning?plant={code}")["planning"]
        return [
            r
            for r in rows
            if r["type"] == "order.date_at_risk" and r["detail"].get("order") in released
        ]

    rows = stage.wait_for("the order dates at risk in the ERP's planning", at_risk)
    try:  # the rows may arrive in more than one delivery: give the others a moment
        rows = stage.wait_for(
            "the order dates at risk at every plant",
            lambda: (lambda r: r if len(r) >= len(released) else None)(at_risk()),
            timeout=min(stage.timeout, 20.0),
        )
    except ScenarioFailed:  # an order not at risk (e.g. a plant without the component)
        rows = at_risk()
    for row in rows:
        detail = row["detail"]
        stage.say(
            f"ERP planning: order {detail['order']} at {row['plant']} at risk "
            f"(needs {COMPONENT} by {detail.get('need_date')}, due {detail.get('due_date')})",
            played,
        )
    played.facts.update(asn=asn, orders=sorted(r["detail"]["order"] for r in rows))

    transfers = proposals.approve(stage, played, correlation=correlation, message="stock.transfer")
    for entry in transfers:
        effect = entry["effect"]
        stage.say(
            f"ERP {entry['reference']}: {effect['qty']} {effect['item']} moved from "
            f"{effect['from_plant']} to {effect['to_plant']} for order {effect['order']}",
            played,
        )
    played.facts["transfers"] = [e["reference"] for e in transfers]
    played.links["ERP stock transfers"] = f"{stage.sim_urls['erp']}/_transfers"
    played.links["exposure (consolidated view)"] = stage.admin(
        f"orchestrator/exposure/?q={correlation}"
    )
    played.links["approvals (substitution, reallocation)"] = stage.admin(
        f"orchestrator/approvalrequest/?q={correlation}"
    )
    played.links["customer service notice"] = stage.admin(
        f"orchestrator/notification/?q={correlation}"
    )
    return played
