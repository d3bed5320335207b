"""Scenario 3: invalid material issue.

The ERP releases an order; the MES first asks Interlock whether it may issue one of the
plant's component lots under the *other* component's item code (a mix-up at the line).
The synchronous check answers no, naming the ``material-gates`` rule, its condition and
the facts it read. The MES posts the issue anyway: Interlock quarantines it with the same
reason for the operator workbench (never silently dropped), while the correct issue of
the same lot is accepted and posted to the ERP as a goods issue.
"""

from __future__ import annotations

from ..world import load_world
from . import Played, ScenarioFailed, Stage

NUMBER = 3
TITLE = "Invalid material issue is quarantined with its reason"
RULE_PACK = "material-gates"
SYSTEMS = ("erp", "mes")


def play(stage: Stage) -> Played:
    played = Played()
    plant = load_world(None)[stage.plant]
    if len(plant.lots) < 2:
        raise ScenarioFailed(f"{stage.plant} has fewer than two component lots in the fixtures")
    mes = f"MES-{stage.plant}"
    [number] = stage.sim("erp", "POST", f"_release?plant={stage.plant}&count=1")["orders"]
    stage.say(f"ERP released order {number} at {stage.plant}", played)
    lot, other = plant.lots[0], plant.lots[1]
    wrong = {"order": number, "lot": lot.number, "item": other.item, "qty": 1, "uom": other.uom}

    status, answer = stage.api(
        "POST", "checks/material-issue", {"plant": stage.plant, **wrong}, system=mes
    )
    if status != 200 or answer["allowed"]:
        raise ScenarioFailed(f"the check should refuse lot {lot.number} as {other.item}: {answer}")
    for reason in answer["reasons"]:
        rule = reason.get("rule") or {}
        stage.say(
            f"check: not allowed ({reason['code']}): rule {rule.get('ruleset')}/"
            f"{rule.get('rule')} {rule.get('version') or ''}, facts {rule.get('facts')}",
            played,
        )

    [result] = stage.post_events(mes, [stage.envelope(mes, "material.issued", wrong)])
    if result["status"] != "quarantined":
        raise ScenarioFailed(f"the wrong issue should be quarantined, got {result}")
    codes = [r["code"] for r in result["reasons"]]
    stage.say(f"MES posted it anyway: quarantined with {', '.join(codes)}", played)
    right = {**wrong, "item": lot.item, "uom": lot.uom}
    [ok] = stage.post_events(mes, [stage.envelope(mes, "material.issued", right)])
    stage.say(f"the correct issue of lot {lot.number}: {ok['status']}", played)

    def goods_issue():
        entries = stage.sim("erp", "GET", f"_ledger?plant={stage.plant}")["entries"]
        return [
            e
            for e in entries
            if e["type"] == "goods_issue"
            and e["payload"].get("order") == number
            and e["payload"].get("lot") == lot.number
        ]

    [posted] = stage.wait_for(f"the ERP goods issue of order {number}", goods_issue)
    stage.say(f"ERP booked goods issue {posted['reference']}", played)
    played.facts.update(order=number, quarantined=result["event_id"], reasons=codes)
    played.links["quarantined event"] = stage.admin(
        f"orchestrator/event/{result['event_id']}/change/"
    )
    played.links["operator workbench"] = stage.admin(
        "orchestrator/inboundmessage/?status=quarantined"
    )
    played.links["checks asked"] = stage.admin("orchestrator/checkrecord/")
    return played
