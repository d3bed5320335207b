"""Scenario 5: cycle count discrepancy.

The WMS counts the plant's first component lot: first 0.1 % short, within every plant's
tolerance (posted to the ERP at once), then 5 % short, over it: picks pause in the WMS and
the plant's supervisor (demo login ``<plant>-super``) approves the count through the API,
after which the ERP adjustment posts and picks resume.
"""

from __future__ import annotations

from decimal import Decimal

from ..world import load_world
from . import Played, ScenarioFailed, Stage

NUMBER = 5
TITLE = "Cycle count discrepancy"
RULE_PACK = "cycle-count"
SYSTEMS = ("wms", "erp")


def _find(node, action: str):
    """The first ``actions_done`` entry of ``action`` anywhere in a trace answer."""
    if isinstance(node, dict):
        if node.get("action") == action and "approval" in node:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _find(child, action)
            if found is not None:
                return found
    return None


def _adjusted(stage: Stage, count: str):
    return [
        e
        for e in stage.sim("erp", "GET", f"_ledger?plant={stage.plant}")["entries"]
        if e["type"] == "inventory.adjustment" and e["payload"].get("count") == count
    ]


def play(stage: Stage) -> Played:
    played, plant = Played(), stage.plant
    lot = load_world()[plant].lots[0]
    book = lot.qty
    small, large = f"CC-{stage.unique}-1", f"CC-{stage.unique}-2"

    counted = (book * Decimal("0.999")).to_integral_value()
    answer = stage.sim(
        "wms", "POST", f"_count?plant={plant}&lot={lot.number}&counted={counted}&count={small}"
    )
    stage.say(
        f"WMS counted {counted} of {book} {lot.uom} in {lot.number} ({small}): "
        f"{answer['interlock'][0]['status']}",
        played,
    )
    stage.wait_for(f"the ERP adjustment of {small}", lambda: _adjusted(stage, small))
    stage.say(f"Within tolerance: ERP adjustment of {small} posted at once", played)

    counted = (book * Decimal("0.95")).to_integral_value()
    answer = stage.sim(
        "wms", "POST", f"_count?plant={plant}&lot={lot.number}&counted={counted}&count={large}"
    )
    result = answer["interlock"][0]
    stage.say(f"WMS counted {counted} of {book} {lot.uom} ({large}): {result['status']}", played)
    stage.wait_for(
        f"picks of {lot.number} to pause",
        lambda: [
            h
            for h in stage.sim("wms", "GET", f"_picks?plant={plant}")["picks"]
            if h["count"] == large and h["status"] == "paused"
        ],
    )
    stage.say(f"Over tolerance: the WMS paused picks of {lot.number}", played)

    supervisor = f"{plant.lower()}-super"
    status, trace = stage.api("GET", f"trace/{result['correlation_id']}", user=supervisor)
    hold = _find(trace, "hold_count_for_approval") if status == 200 else None
    if hold is None:
        raise ScenarioFailed(f"no approval request in the trace of {large} ({status})")
    status, body = stage.api(
        "POST",
        f"approvals/{hold['approval']}/decide",
        {"approve": True, "reason": "recount confirmed the shortfall"},
        user=supervisor,
    )
    if status != 200:
        raise ScenarioFailed(f"{supervisor} could not approve: {status} {body}")
    stage.say(f"{supervisor} approved count {large}", played)
    stage.wait_for(f"the ERP adjustment of {large}", lambda: _adjusted(stage, large))
    stage.wait_for(
        "picks to resume",
        lambda: [
            h
            for h in stage.sim("wms", "GET", f"_picks?plant={plant}")["picks"]
            if h["count"] == large and h["status"] == "resumed"
        ],
    )
    stage.say(f"ERP adjustment of {large} posted; the WMS resumed picks", played)
    played.facts.update(counts=[small, large], approval=hold["approval"])
    played.links["counts"] = stage.admin("orchestrator/cyclecount/")
    played.links["tasks"] = stage.admin("orchestrator/task/?role=supervisor")
    played.links["WMS picks"] = f"{stage.sim_urls['wms']}/_picks?plant={plant}"
    return played
