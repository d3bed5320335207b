"""Scenario 2: incoming inspection failure.

A supplier shipment arrives (``asn.received`` from the ERP, for the plant's first
component), the ERP posts the goods receipt of its lot (``supplier_receipt.posted``: the
purchased lot, with the quantity received), which passes the QMS's receiving check; the ERP releases an order and the MES,
besides its own issues, takes some of the new lot for it; then the QMS's lab test of the
lot fails. The player waits
for the lot to be blocked in Interlock and in the ERP, and for the WMS's move-to-hold
task; the tasks for planning, procurement and quality are in the admin.
"""

from __future__ import annotations

from ..world import load_world
from . import Played, Stage

NUMBER = 2
TITLE = "Incoming inspection failure"
RULE_PACK = "incoming-inspection"
SYSTEMS = ("erp", "mes", "qms", "wms")

RUNNING = ("acknowledged", "in_process", "partially_confirmed")


def play(stage: Stage) -> Played:
    played, plant = Played(), stage.plant
    world = load_world()[plant]
    component = world.lots[0]
    lot = f"SUP-{stage.unique}"
    asn, receipt = f"ASN-{stage.unique}", f"GR-{stage.unique}"
    answer, booked = stage.post_events(
        "ERP",
        [
            stage.envelope(
                "ERP",
                "asn.received",
                {
                    "asn": asn,
                    "supplier": "SUP-300",
                    "lines": [{"item": component.item, "qty": 5000, "uom": component.uom}],
                },
            ),
            stage.envelope(
                "ERP",
                "supplier_receipt.posted",
                {
                    "receipt": receipt,
                    "supplier": "SUP-300",
                    "asn": asn,
                    "item": component.item,
                    "lot": lot,
                    "qty": 4800,
                    "uom": component.uom,
                },
            ),
        ],
    )
    stage.say(f"ERP received {asn} from SUP-300: {answer['status']}", played)
    stage.say(
        f"ERP posted goods receipt {receipt} of supplier lot {lot} (4800 {component.uom}): "
        f"{booked['status']}",
        played,
    )

    qms, world_pass = f"QMS-{plant}", world.outcome_code("pass")
    check = stage.post_events(
        qms,
        [
            stage.envelope(qms, "inspection.requested", {"inspection": f"QV-{lot}", "lot": lot}),
            stage.envelope(
                qms,
                "inspection.recorded",
                {
                    "inspection": f"QV-{lot}",
                    "lot": lot,
                    "result": world_pass,
                    "inspector": "receiving",
                },
            ),
        ],
    )
    stage.say(
        f"QMS receiving check QV-{lot} passed ({check[1]['status']}): the lot may be used", played
    )

    [order] = stage.sim("erp", "POST", f"_release?plant={plant}&count=1")["orders"]
    stage.say(f"ERP released order {order}; waiting for the MES to start it", played)
    stage.wait_for(
        f"order {order} to run",
        lambda: [
            o
            for o in stage.results("orders", system="ERP", plant=plant, number=order)
            if o["state"] in RUNNING
        ],
    )
    [issue] = stage.post_events(
        f"MES-{plant}",
        [
            stage.envelope(
                f"MES-{plant}",
                "material.issued",
                {
                    "order": order,
                    "operation": "0010",
                    "item": component.item,
                    "lot": lot,
                    "qty": 10,
                    "uom": component.uom,
                },
            )
        ],
    )
    stage.say(f"MES issued 10 {component.uom} of {lot} to {order}: {issue['status']}", played)

    inspection, fail = f"QI-{lot}", world.outcome_code("fail")
    answers = stage.post_events(
        qms,
        [
            stage.envelope(qms, "inspection.requested", {"inspection": inspection, "lot": lot}),
            stage.envelope(
                qms,
                "inspection.recorded",
                {
                    "inspection": inspection,
                    "lot": lot,
                    "result": fail,
                    "inspector": "incoming-lab",
                    "results": [
                        {"characteristic": "hardness HV", "value": 181.5, "ok": False},
                        {"characteristic": "thickness mm", "value": 2.01, "ok": True},
                    ],
                },
            ),
        ],
    )
    stage.say(f"QMS lab test {inspection} failed ({fail}): {answers[1]['status']}", played)

    blocked = stage.wait_for(
        f"lot {lot} to be blocked",
        lambda: [
            x
            for x in stage.results("lots", system="ERP", plant=plant, number=lot)
            if x["status"] == "blocked"
        ],
    )
    stage.say(f"Interlock blocked lot {lot}", played)
    stage.wait_for(
        f"the ERP to block {lot}",
        lambda: [
            e
            for e in stage.sim("erp", "GET", f"_ledger?plant={plant}")["entries"]
            if e["type"] == "lot.status_change" and e["payload"].get("lot") == lot
        ],
    )
    stage.say(f"ERP blocked lot {lot}", played)
    [task] = stage.wait_for(
        f"the WMS's move-to-hold task for {lot}",
        lambda: [
            t for t in stage.sim("wms", "GET", f"_tasks?plant={plant}")["tasks"] if t["lot"] == lot
        ],
    )
    stage.say(f"WMS task {task['number']}: move {lot} from {task['from_location']} to HOLD", played)
    played.facts.update(lot=lot, order=order, correlation_id=answers[1]["correlation_id"])
    played.links["lot"] = stage.admin(f"orchestrator/lot/{blocked[0]['id']}/change/")
    played.links["tasks"] = stage.admin("orchestrator/task/")
    played.links["trace"] = stage.admin(
        f"orchestrator/inboundmessage/trace/?correlation_id={answers[1]['correlation_id']}"
    )
    played.links["WMS tasks"] = f"{stage.sim_urls['wms']}/_tasks?plant={plant}"
    return played
