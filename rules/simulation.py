"""Simulation: what a draft would do differently from what is live, on real past events.

Rules owns the comparison; the *events* belong to the orchestrator's event log, and rules
must not import orchestrator (dependencies point ``orchestrator → rules``). So the
orchestrator registers an :data:`EventSource` at startup::

    from rules.simulation import register_event_source

    def stored_events(*, plant, last_n, since, until):
        for event in Event.objects.filter(plant=plant, ...).order_by("-received_at")[:last_n]:
            yield (str(event.pk), event.type, event.rule_context())

    register_event_source(stored_events)

and :func:`rules.services.ruleset_version_simulate` asks it for a plant's events (or is
given any iterable of events directly, which is how tests and CI use it).

The comparison itself (:func:`compare`) is pure: each event is evaluated by the candidate
and by the baseline (the version live at the plant), and the action lists are compared as
multisets of ``(action, params)``. A changed event says which actions it would gain and
lose and which rules asked for them; the report groups changes by rule, by action
difference and by event type, with counts and a few example event ids per group.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .compiler import CompiledRuleSet, PlannedAction
from .errors import RuleEvaluationError

#: How many example event ids each group keeps, and how many changed events are stored.
EXAMPLES_PER_GROUP = 5
MAX_STORED_CHANGES = 1000


@dataclass(frozen=True)
class SimEvent:
    """One stored event as rules sees it: its id, type and evaluation context.

    ``context`` is what :meth:`rules.compiler.CompiledRuleSet.evaluate` takes (``event``,
    optional ``order``/``lot``/``inspection``, ``plant`` parameters, ``now``).
    ``recorded`` (optional) is what the pipeline decided then, per rule set key:
    ``{"version": "scrap-spike@3", "actions": ["threshold_alert", ...]}``; when the
    baseline is that same version, the comparison checks that the rebuilt context
    reproduces it (the report's *fidelity*). ``url`` links the event in the admin.
    """

    event_id: str
    event_type: str
    context: Mapping[str, Any]
    recorded: Mapping[str, Mapping[str, Any]] | None = None
    url: str = ""


class EventSource(Protocol):
    """What the orchestrator registers: a plant's stored events, newest first.

    ``last_n`` caps the number; ``since``/``until`` bound ``occurred_at`` (either may be
    ``None``). Items are :class:`SimEvent` or plain ``(event_id, event_type, context)``.
    """

    def __call__(
        self,
        *,
        plant: Any,
        last_n: int | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
    ) -> Iterable[SimEvent | tuple[str, str, Mapping[str, Any]]]: ...


_lock = threading.Lock()
_source: EventSource | None = None


def register_event_source(source: EventSource | None) -> EventSource | None:
    """Install the provider of stored events (``None`` removes it); returns the previous."""
    global _source
    with _lock:
        previous, _source = _source, source
    return previous


def event_source() -> EventSource | None:
    return _source


def as_sim_event(item: SimEvent | tuple[str, str, Mapping[str, Any]]) -> SimEvent:
    if isinstance(item, SimEvent):
        return item
    event_id, event_type, context = item
    return SimEvent(str(event_id), event_type, context)


# --- comparison -------------------------------------------------------------------------


def _key(action: PlannedAction) -> str:
    """An action's identity for comparison: name plus canonical parameters."""
    params = json.dumps(action.params, sort_keys=True, default=str)
    return action.action if params == "{}" else f"{action.action} {params}"


@dataclass(frozen=True)
class Outcome:
    """What one rule set did with one event: its actions, or the rule that failed."""

    actions: tuple[PlannedAction, ...] = ()
    error: str | None = None
    error_rule: str | None = None

    @classmethod
    def of(cls, compiled: CompiledRuleSet | None, event: SimEvent) -> Outcome:
        if compiled is None or event.event_type not in compiled.by_event:
            return cls()
        context = dict(event.context)
        context.setdefault("event", {})
        if "now" not in context:
            # "now" is the event's own time in a simulation: within() must judge the event
            # as it was judged when it arrived, not as of today.
            context["now"] = context["event"].get("occurred_at")
        try:
            return cls(actions=compiled.evaluate(event.event_type, context).actions)
        except RuleEvaluationError as exc:
            return cls(error=exc.message, error_rule=exc.rule_id)


@dataclass
class _Group:
    events: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, event_id: str) -> None:
        self.events += 1
        if len(self.examples) < EXAMPLES_PER_GROUP:
            self.examples.append(event_id)


@dataclass
class SimulationResult:
    """The comparison of a candidate with a baseline over a run of events."""

    evaluated: int = 0
    changed: int = 0
    by_rule: dict[str, _Group] = field(default_factory=dict)
    by_action: dict[str, _Group] = field(default_factory=dict)
    by_event_type: dict[str, _Group] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    #: Events whose recorded outcome came from the baseline version itself, and how many
    #: of them the baseline reproduces on the rebuilt context (see :class:`SimEvent`).
    checked: int = 0
    reproduced: int = 0
    not_reproduced: _Group = field(default_factory=_Group)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        return self.evaluated - self.changed

    def summary(self) -> dict[str, Any]:
        """Counts and groups, sorted by how many events they touch (most first)."""

        def table(groups: dict[str, _Group]) -> list[dict[str, Any]]:
            rows = sorted(groups.items(), key=lambda kv: (-kv[1].events, kv[0]))
            return [{"key": k, "events": g.events, "examples": g.examples} for k, g in rows]

        return {
            "evaluated": self.evaluated,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "by_rule": table(self.by_rule),
            "by_action": table(self.by_action),
            "by_event_type": table(self.by_event_type),
            "truncated": self.truncated,
            "fidelity": {
                "checked": self.checked,
                "reproduced": self.reproduced,
                "examples": self.not_reproduced.examples,
            },
            "urls": self.urls,
        }


def _multiset_diff(
    new: tuple[PlannedAction, ...], old: tuple[PlannedAction, ...]
) -> tuple[list[PlannedAction], list[PlannedAction]]:
    """Actions only in ``new`` (added) and only in ``old`` (removed), counting repeats."""
    remaining = Counter(_key(a) for a in old)
    added = []
    for action in new:
        key = _key(action)
        if remaining[key]:
            remaining[key] -= 1
        else:
            added.append(action)
    leftover = Counter(remaining)
    removed = []
    for action in old:
        key = _key(action)
        if leftover[key]:
            leftover[key] -= 1
            removed.append(action)
    return added, removed


def _check_fidelity(
    result: SimulationResult, baseline: CompiledRuleSet | None, event: SimEvent, old: Outcome
) -> None:
    """Count whether the baseline, on the rebuilt context, does what was recorded then.

    Only events judged by the baseline version itself are checked: an older version's
    record says nothing about the context. A mismatch means the context was not rebuilt
    faithfully for that event (or the event was judged with a failing rule): the reviewer
    sees how far to trust the report.
    """
    if baseline is None or not event.recorded:
        return
    recorded = event.recorded.get(baseline.definition.ruleset)
    if recorded is None or recorded.get("version") != baseline.version:
        return
    result.checked += 1
    if old.error is None and [a.action for a in old.actions] == list(recorded["actions"]):
        result.reproduced += 1
    else:
        result.not_reproduced.add(event.event_id)
        if event.url:
            result.urls[event.event_id] = event.url


def compare(
    *,
    candidate: CompiledRuleSet,
    baseline: CompiledRuleSet | None,
    events: Iterable[SimEvent | tuple[str, str, Mapping[str, Any]]],
    on_event: Callable[[SimEvent, Outcome, Outcome], None] | None = None,
) -> SimulationResult:
    """Evaluate every event with both rule sets and collect where they differ.

    An event *changes* when the multiset of actions differs, when the order of the same
    actions differs, or when exactly one side fails (or both fail on different rules). A
    failure is its own "action" in the groups (``!error <rule>``): a draft that would
    quarantine events it used to pass is the most important thing a reviewer can see.
    """
    result = SimulationResult()
    for item in events:
        event = as_sim_event(item)
        result.evaluated += 1
        new, old = Outcome.of(candidate, event), Outcome.of(baseline, event)
        if on_event is not None:
            on_event(event, new, old)
        _check_fidelity(result, baseline, event, old)
        added, removed = _multiset_diff(new.actions, old.actions)
        reordered = (
            not added
            and not removed
            and [_key(a) for a in new.actions] != [_key(a) for a in old.actions]
        )
        errors_differ = (new.error_rule, new.error) != (old.error_rule, old.error)
        if not (added or removed or reordered or errors_differ):
            continue
        result.changed += 1
        rules: set[str] = set()
        differences: set[str] = set()
        for action in added:
            rules.add(action.rule_id)
            differences.add(f"+{action.action}")
        for action in removed:
            rules.add(action.rule_id)
            differences.add(f"-{action.action}")
        if reordered:
            rules.update(a.rule_id for a in new.actions)
            differences.add("~order")
        if errors_differ:
            if new.error_rule:
                rules.add(new.error_rule)
                differences.add(f"+error {new.error_rule}")
            if old.error_rule:
                rules.add(old.error_rule)
                differences.add(f"-error {old.error_rule}")
        if event.url and len(result.urls) < MAX_STORED_CHANGES:
            result.urls[event.event_id] = event.url
        for rule in rules:
            result.by_rule.setdefault(rule, _Group()).add(event.event_id)
        for difference in differences:
            result.by_action.setdefault(difference, _Group()).add(event.event_id)
        result.by_event_type.setdefault(event.event_type, _Group()).add(event.event_id)
        if len(result.changes) < MAX_STORED_CHANGES:
            result.changes.append(
                {
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "url": event.url,
                    "added": [a.as_dict() for a in added],
                    "removed": [a.as_dict() for a in removed],
                    "reordered": reordered,
                    "error": new.error,
                    "baseline_error": old.error,
                    "actions": [a.action for a in new.actions],
                    "baseline_actions": [a.action for a in old.actions],
                }
            )
        else:
            result.truncated = True
    return result
