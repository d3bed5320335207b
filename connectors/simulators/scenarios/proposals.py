"""Planning decides an exposure's proposals (scenarios 7 and 8), as a person would.

The planner of the plant finds the approval ``approve_proposals`` asked for in the trace of
the event, approves it through the API with their login, and the player waits until the
ERP applied what the approval posts (``stock.transfer`` or ``order.reroute``).
"""

from __future__ import annotations

from . import Played, ScenarioFailed, Stage


def _approval(node):
    """The first ``approve_proposals`` outcome (with its approval request) in a trace."""
    if isinstance(node, dict):
        if node.get("action") == "approve_proposals" and "approval" in node:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _approval(child)
            if found is not None:
                return found
    return None


def approve(stage: Stage, played: Played, *, correlation: str, message: str) -> list[dict]:
    """Planning approves the proposals of the event ``correlation``; the ERP's ledger
    entries of ``message`` the approval posted (none when nothing was proposed: no spare
    stock, no alternate routing)."""
    planner = f"{stage.plant.lower()}-planner"
    try:
        found = stage.wait_for(
            "planning's approval request",
            lambda: _approval(stage.api("GET", f"trace/{correlation}", user=planner)[1]),
            timeout=min(stage.timeout, 30.0),
        )
    except ScenarioFailed:  # waited in vain: the rules proposed nothing to approve
        stage.say("nothing was proposed (no spare stock or alternate): nothing to approve", played)
        return []
    status, body = stage.api(
        "POST",
        f"approvals/{found['approval']}/decide",
        {"approve": True, "reason": "approved in the demo: go ahead"},
        user=planner,
    )
    if status != 200:
        raise ScenarioFailed(f"{planner} could not approve: {status} {body}")
    stage.say(f"{planner} approved the proposals ({found.get('proposals', '')})", played)

    def applied():
        entries = stage.sim("erp", "GET", "_ledger")["entries"]
        return [e for e in entries if e["type"] == message and e["correlation_id"] == correlation]

    return stage.wait_for(f"the ERP to apply {message}", applied)
