"""Handlers: what an accepted canonical event does to the business objects.

One function per event type, registered with :func:`handles` (modules ``orders``,
``production``, ``quality``, ``inventory``). A handler checks master data and
prerequisites and either parks / quarantines the event (returning ``None``) or returns a
:class:`~.base.Step`. :func:`apply_one` then evaluates the rules for the event (see
``rules_bridge``), quarantines it if a rule says so, applies the state change, runs the
rules' actions (``orchestrator.actions``), and finally lets ``sequencing`` apply the
events that were waiting for what just happened.

Handlers must not swallow unexpected errors: the pipeline retries the batch item by item
and quarantines only the item that failed.
"""

from __future__ import annotations

from collections.abc import Callable

from rules.errors import RuleEvaluationError

from ...models import Event
from .. import sequencing
from ..context import BatchContext, TransitionRefused
from ..normalize import Reason
from ..world import Step, preload

Handler = Callable[[BatchContext, Event], Step | None]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for event_type in event_types:
            if event_type in HANDLERS:
                raise RuntimeError(f"two handlers for {event_type}")
            HANDLERS[event_type] = fn
        return fn

    return register


def apply_one(ctx: BatchContext, event: Event) -> None:
    """Check, evaluate rules for, and apply one event (not the events waiting for it)."""
    from ... import actions
    from .. import rules_bridge

    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return
    step = handler(ctx, event)
    if step is None:  # parked or quarantined by the handler
        return
    try:
        evaluation = rules_bridge.evaluate(ctx, event, step)
    except RuleEvaluationError as exc:
        ctx.quarantine(
            event,
            [
                Reason(
                    code="rule_error",
                    path=f"rule:{exc.rule_id}",
                    message=exc.message,
                    expected="a rule that evaluates",
                    found=exc.rule_id,
                )
            ],
        )
        return
    event.rule_pins = evaluation.pins
    event.explanation = evaluation.explanation
    stop = rules_bridge.stop_reasons(evaluation)
    if stop:
        ctx.quarantine(event, stop)
        return
    try:
        step.apply()
    except TransitionRefused as exc:
        # Guards are checked before anything is changed in memory (see the handlers).
        ctx.quarantine(event, [exc.reason()])
        return
    ctx.applied(event, explanation=event.explanation)
    actions.run(ctx, event, step, evaluation.actions)


def apply_events(ctx: BatchContext, events: list[Event]) -> None:
    """Apply ``events`` in order, each followed by the parked events it released, then
    write the batch's changes (:meth:`BatchContext.flush`). Events without a handler stay
    ``accepted`` (recorded, not applied), which the trace shows."""
    if events:
        preload(ctx, events)
    for event in events:
        apply_one(ctx, event)
        sequencing.drain(ctx, apply_one)
    ctx.flush()


# Importing the handler modules registers them.
from . import inventory, orders, production, purchasing, quality  # noqa: E402, F401
