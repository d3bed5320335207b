"""Implementations of the rules' action catalogue (``rules.actions``) in the orchestrator.

One function per action name, registered with :func:`implements`; :func:`run` executes a
rule evaluation's planned actions for an applied event, inside the batch (buffered rows,
in-memory transitions with audit records). ``quarantine_event`` is not here: the handler
registry acts on it *before* the state change (``ingest.handlers.apply_one``).

What each action leaves behind:

- ``hold_gate`` / ``release_gate``: a :class:`~orchestrator.models.Gate` of the event's
  order (else lot), created closed, or moved closed ⇄ open through its lifecycle;
  opening one releases the events parked for it.
- ``open_nonconformance``: a :class:`~orchestrator.models.Nonconformance` with the event
  as evidence.
- ``change_lot_status``: the lot through the transition leading to the status.
- ``notify_role`` / ``threshold_alert`` / ``open_supplier_case``: a
  :class:`~orchestrator.models.Notification` and a :class:`~orchestrator.models.Task`
  for the role (review, investigate, reply).
- ``require_approval``: an :class:`~orchestrator.models.ApprovalRequest` and its
  ``approve`` task.
- ``open_task``: a :class:`~orchestrator.models.Task` for the role at the plant.
- ``post_to_system``: a pending :class:`~orchestrator.models.OutboxMessage`.
- ``reevaluate_allocations`` / ``contain_consumption`` (``exposure``, scenario 2): an
  audit flag on each reserving order and tasks for planning; a containment task listing
  the consuming orders and the lots made from the lot (genealogy).
- ``post_stock_adjustment`` / ``hold_count_for_approval`` (``stock``, scenario 5): the
  cycle count accepted and posted with an ERP ``inventory.adjustment``; or held in
  ``approval_pending`` with an approval request and its task.
- ``flag_replenishment`` / ``record_supply_exposure`` / ``record_line_stoppage`` /
  ``approve_proposals`` (``planning``, scenarios 6 to 8): planning messages to the ERP,
  the :class:`~orchestrator.models.Exposure` of a delay or stoppage, and its proposals
  held for approval (deciding it posts them or closes them, ``services.proposals``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rules.compiler import PlannedAction

from ..ingest.context import BatchContext
from ..ingest.world import Step
from ..models import Event


@dataclass
class ActionContext:
    """One action to carry out: the batch, the applied event, its subjects, the rule."""

    ctx: BatchContext
    event: Event
    step: Step
    action: PlannedAction

    @property
    def rule(self) -> str:
        return self.action.rule_id


Implementation = Callable[[ActionContext], dict]
ACTIONS: dict[str, Implementation] = {}


def implements(name: str) -> Callable[[Implementation], Implementation]:
    def register(fn: Implementation) -> Implementation:
        ACTIONS[name] = fn
        return fn

    return register


def run(ctx: BatchContext, event: Event, step: Step, planned: Iterable[PlannedAction]) -> None:
    """Carry out ``planned`` for ``event``; what each did is added to its explanation."""
    done = []
    for action in planned:
        if action.action == "quarantine_event":
            continue
        fn = ACTIONS.get(action.action)
        if fn is None:
            done.append({"action": action.action, "rule": action.rule_id, "result": "unknown"})
            continue
        outcome = fn(ActionContext(ctx, event, step, action))
        done.append({"action": action.action, "rule": action.rule_id, **outcome})
    if done:
        event.explanation = {**(event.explanation or {}), "actions_done": done}


from . import exposure, gates, planning, records, stock  # noqa: E402, F401
