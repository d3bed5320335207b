"""Scenario 4: finished goods release.

Customer service has entered a backorder of the plant's product in the ERP. The ERP
releases an order; the MES runs it, and its finished goods wait in QC with a shipment hold
in the WMS; the QMS passes the final inspection. The player waits for the WMS to release
the hold and the ERP to say the backorder can ship (customer service's task is in the
admin). Should the QMS fail the lot this time (its ``fail_ratio``), play again.
"""

from __future__ import annotations

from ..world import load_world
from . import Played, ScenarioFailed, Stage

NUMBER = 4
TITLE = "Finished goods release"
RULE_PACK = "finished-goods-release"
SYSTEMS = ("erp", "mes", "qms", "wms")


def play(stage: Stage) -> Played:
    played, plant = Played(), stage.plant
    product = load_world()[plant].products[0]
    backorder = stage.sim(
        "erp", "POST", f"_backorders?plant={plant}&item={product.item}&qty=5&customer=ACME"
    )["backorder"]
    stage.say(
        f"Customer service entered backorder {backorder}: 5 {product.uom} of {product.item}", played
    )
    [order] = stage.sim("erp", "POST", f"_release?plant={plant}&count=1")["orders"]
    lot = f"FG-{order}"
    stage.say(f"ERP released order {order}; the MES will report lot {lot}", played)

    stage.wait_for(
        f"the WMS to hold {lot} from shipping",
        lambda: [
            h
            for h in stage.sim("wms", "GET", f"_shipments?plant={plant}")["shipments"]
            if h["lot"] == lot
        ],
    )
    stage.say(f"WMS holds {lot} in QC: no shipping before the final inspection", played)

    def inspected():
        rows = stage.results("inspections", system="ERP", plant=plant, lot=lot)
        done = [r for r in rows if r.get("state") in ("passed", "conditionally_released", "failed")]
        if done and done[0]["state"] == "failed":
            raise ScenarioFailed(f"the QMS failed {lot} this time; play again")
        return done

    [inspection] = stage.wait_for(f"the final inspection of {lot}", inspected)
    stage.say(f"QMS: {inspection['number']} {inspection['state']}", played)
    [released] = stage.wait_for(
        f"the WMS to release {lot}",
        lambda: [
            h
            for h in stage.sim("wms", "GET", f"_shipments?plant={plant}")["shipments"]
            if h["lot"] == lot and h["status"] == "released"
        ],
    )
    stage.say(f"WMS released the shipment hold ({released['released_by']})", played)
    [covered] = stage.wait_for(
        f"the ERP to cover {backorder}",
        lambda: [
            b
            for b in stage.sim("erp", "GET", "_backorders")["backorders"]
            if b["number"] == backorder and b["status"] == "can_ship"
        ],
    )
    stage.say(f"ERP ATP update {covered['released_by']}: backorder {backorder} can ship", played)
    played.facts.update(order=order, lot=lot, backorder=backorder)
    played.links["tasks"] = stage.admin("orchestrator/task/?role=customer_service")
    played.links["ERP backorders"] = f"{stage.sim_urls['erp']}/_backorders"
    played.links["WMS holds"] = f"{stage.sim_urls['wms']}/_shipments?plant={plant}"
    return played
