"""The bridge from ingest to the rules engine: which rule sets apply, with which facts.

For each applied event the published rule sets live at the event's plant are evaluated
(``rules.services.live_versions``: plant override first, then the global default) with the
context the packs expect: ``event`` (canonical payload, envelope fields and derived facts
such as ``reserved`` or ``window_qty``), ``order`` / ``lot`` / ``inspection`` as plain
dicts, ``plant`` (the site parameter map) and ``now``. The versions used are pinned on the
event (``rule_pins``) and the explanation is stored with it.

``DEFAULT_RULE_SET``: when *no* rule set is published at all for a plant (a fresh
installation, most tests), the shipped packs in ``rules/packs/*.yaml`` are compiled
in-process and used instead. That is the one place the default gate conditions come from;
there is no fallback logic in handlers or services. Its evaluations carry no pins (they
are not stored versions) and say ``"rule_set": "DEFAULT_RULE_SET"`` in the explanation.

Live versions and parameters come from per-process caches invalidated on change
(``caches``: a publish or rollback applies to the next batch of this process at once, to
other processes within ``INTERLOCK_MAPPING_CACHE_SECONDS``); within a batch the first
value read is kept (``ctx.cache``), so every event of a batch sees the same versions.
Compiled rule sets are cached per process, so evaluating costs no query per event.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from rules.bindings import Bindings
from rules.cel import environment
from rules.compiler import CompiledRuleSet, Evaluation, PlannedAction, RulePlan, compile_ruleset
from rules.explain import explain_rule
from rules.services import compiled_version, rule_pack_paths

from ..models import Event
from . import caches
from .context import BatchContext
from .normalize import Reason
from .world import Step, inspection_facts, lot_facts, order_facts

DEFAULT_RULE_SET_NAME = "DEFAULT_RULE_SET"


@cache
def default_rule_set() -> tuple[CompiledRuleSet, ...]:
    """``DEFAULT_RULE_SET``: the shipped packs, compiled once per process."""
    return tuple(
        compile_ruleset(path.read_text(encoding="utf-8"), version="shipped")
        for path in rule_pack_paths()
    )


@dataclass(frozen=True)
class BridgeEvaluation:
    """What the rules decided for one event: actions, pins and explanation; with the
    compiled rule sets, their evaluations and the context, to explain a rule's decision
    (:func:`stop_reasons`). The context is empty when every rule evaluated has neither
    condition nor table: such a rule reads no facts, so none are gathered for it."""

    actions: tuple[PlannedAction, ...]
    pins: dict[str, int]
    explanation: dict[str, Any]
    evaluated: tuple[tuple[CompiledRuleSet, Evaluation], ...] = ()
    context: dict[str, Any] = field(default_factory=dict)

    def explain(self, rule_id: str) -> dict[str, Any]:
        """Rule set, version, condition and facts of the rule ``rule_id`` that matched."""
        for compiled, evaluation in self.evaluated:
            if any(d.rule_id == rule_id for d in evaluation.decisions):
                return explain_rule(compiled, evaluation, rule_id, self.context)
        return {"rule": rule_id}


def stop_reasons(evaluation: BridgeEvaluation) -> list[Reason]:
    """The reasons of the rules that asked to quarantine the event (``quarantine_event``),
    each with its code and path as the rule set names them, and its explanation. Ingest
    quarantines with them; a synchronous check answers "not allowed" with them."""
    return [
        Reason(
            code=a.params.get("code") or "rule_quarantine",
            path=a.params.get("path") or f"rule:{a.rule_id}",
            message=a.params.get("reason", "quarantined by rule"),
            found=a.rule_id,
            rule=evaluation.explain(a.rule_id),
        )
        for a in evaluation.actions
        if a.action == "quarantine_event"
    ]


def _plain(value: Any) -> Any:
    # CEL knows no Decimal or duration: numbers become floats, durations seconds.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def plant_parameters(ctx: BatchContext, plant) -> dict[str, Any]:
    """The plant's site parameters as rules read them, once per batch."""
    params = ctx.cache.setdefault("plant_parameters", {})
    if plant.pk not in params:
        params[plant.pk] = _plain_parameters(plant.pk)
    return params[plant.pk]


def parameters_of(plant) -> dict[str, Any]:
    """The plant's site parameters as rules read them (outside a batch: a check)."""
    return _plain_parameters(plant.pk)


_plain_lock = threading.Lock()
_plain_memo: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


def _plain_parameters(plant_id: int) -> dict[str, Any]:
    # The plain map is rebuilt only when the cached parameters are a new snapshot. Rules
    # only read it (CEL gets a copy of nothing it could change), so batches share it.
    typed = caches.site_parameters.get(plant_id)
    memo = _plain_memo.get(plant_id)
    if memo is not None and memo[0] is typed:
        return memo[1]
    plain = {k: _plain(v) for k, v in typed.items()}
    with _plain_lock:
        _plain_memo[plant_id] = (typed, plain)
    return plain


def live_rule_sets(plant) -> tuple[dict[str, int], tuple[CompiledRuleSet, ...]]:
    """``(pins, compiled rule sets)`` live at ``plant`` now (the shipped packs when none
    is published), from the process cache."""
    versions = caches.rule_versions.get(plant.pk)
    if versions:
        keys = sorted(versions)
        return (
            {k: versions[k].pk for k in keys},
            tuple(compiled_version(versions[k]) for k in keys),
        )
    return ({}, default_rule_set())


def rule_sets(ctx: BatchContext, plant) -> tuple[dict[str, int], tuple[CompiledRuleSet, ...]]:
    """``(pins, compiled rule sets)`` live at ``plant``, once per batch."""
    cached = ctx.cache.setdefault("rule_sets", {})
    if plant.pk not in cached:
        cached[plant.pk] = live_rule_sets(plant)
    return cached[plant.pk]


def pin_version(ctx: BatchContext, plant, version) -> None:
    """Evaluate ``version`` (a stored ``RuleSetVersion``) instead of whatever version of its
    rule set is live at ``plant``, for the rest of this batch: an operator's replay with a
    chosen version (``services.replay_version``). The other rule sets stay as they are
    live; the pins written on the event name the chosen version."""
    pins, compiled = rule_sets(ctx, plant)
    key = version.ruleset.key
    chosen = compiled_version(version)
    kept = [c for c in compiled if c.definition.ruleset != key]
    pins = {**pins, key: version.pk}
    ordered = tuple(sorted([*kept, chosen], key=lambda c: c.definition.ruleset))
    ctx.cache["rule_sets"][plant.pk] = (pins, ordered)


def event_facts(event: Event, derived: dict[str, Any]) -> dict[str, Any]:
    """The event as rules see it: envelope fields beside the canonical payload."""
    return {
        **event.payload,
        **derived,
        "type": event.event_type,
        "plant": event.plant.code,
        "source": event.system.code,
        "occurred_at": event.occurred_at,
        "correlation_id": event.correlation_id,
    }


def context_for(ctx: BatchContext, event: Event, step: Step) -> dict[str, Any]:
    context: dict[str, Any] = {
        "event": event_facts(event, step.derived),
        "plant": plant_parameters(ctx, event.plant),
        "now": ctx.now,
    }
    if step.order is not None:
        context["order"] = Facts(order_facts, step.order)
    if step.lot is not None:
        context["lot"] = Facts(lot_facts, step.lot)
    if step.inspection is not None:
        context["inspection"] = Facts(inspection_facts, step.inspection)
    return context


class Facts(Mapping):
    """An order's, lot's or inspection's facts, built on first read: most rule sets read
    none of them for most events (and a memoised rule reads nothing at all)."""

    __slots__ = ("_build", "_facts", "_subject")

    def __init__(self, build: Callable[[Any], dict[str, Any]], subject: Any) -> None:
        self._build, self._subject, self._facts = build, subject, None

    def _all(self) -> dict[str, Any]:
        if self._facts is None:
            self._facts = self._build(self._subject)
        return self._facts

    def __getitem__(self, key: str) -> Any:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


Relevant = tuple[tuple[CompiledRuleSet, RulePlan], ...]


def _relevant(compiled: tuple[CompiledRuleSet, ...], event_type: str) -> Relevant:
    """The rule sets of ``compiled`` with rules for ``event_type``, each with its plan."""
    out = []
    for c in compiled:
        plan = c.plan(event_type)
        if plan is not None:
            out.append((c, plan))
    return tuple(out)


def relevant_rule_sets(
    ctx: BatchContext, compiled: tuple[CompiledRuleSet, ...], event_type: str
) -> Relevant:
    """:func:`_relevant`, once per batch for the same rule sets and event type."""
    cached = ctx.cache.setdefault("relevant_rule_sets", {})
    # The entry holds ``compiled``, so no other tuple can have its id while it is cached.
    slot = (id(compiled), event_type)
    entry = cached.get(slot)
    if entry is None or entry[0] is not compiled:
        entry = cached[slot] = (compiled, _relevant(compiled, event_type))
    return entry[1]


def evaluate(ctx: BatchContext, event: Event, step: Step) -> BridgeEvaluation:
    """Evaluate the rule sets for ``event``; raises ``RuleEvaluationError`` naming the rule."""
    pins, compiled = rule_sets(ctx, event.plant)
    event_type = event.event_type
    relevant = relevant_rule_sets(ctx, compiled, event_type)
    if not relevant:
        return BridgeEvaluation((), pins, {})
    if all(plan.constant is not None for _, plan in relevant):
        context: dict[str, Any] = {}  # only rules without condition or table: no facts read
    else:
        context = context_for(ctx, event, step)
    return _decided(event.plant.code, event_type, context, pins, relevant)


def evaluate_with(
    *,
    plant_code: str,
    event_type: str,
    context: dict[str, Any],
    pins: dict[str, int],
    compiled: tuple[CompiledRuleSet, ...],
) -> BridgeEvaluation:
    """Evaluate ``compiled`` for one event's ``context`` (ingest, or a synchronous check
    asking about an event before it happens)."""
    relevant = _relevant(compiled, event_type)
    if not relevant:
        return BridgeEvaluation((), pins, {})
    return _decided(plant_code, event_type, context, pins, relevant)


def _decided(
    plant_code: str,
    event_type: str,
    context: dict[str, Any],
    pins: dict[str, int],
    relevant: Relevant,
) -> BridgeEvaluation:
    evaluations: list[Evaluation] = []
    bindings = None
    for _, plan in relevant:
        if plan.constant is not None:
            evaluations.append(plan.constant)
            continue
        if bindings is None:
            # One set of converted variables for every rule set: each converted at most once.
            bindings = Bindings(environment(event_type), context)
        evaluations.append(plan.evaluate(context, bindings))
    explanation = {
        "plant": plant_code,
        "event_type": event_type,
        "pins": pins,
        "rule_set": "published" if pins else DEFAULT_RULE_SET_NAME,
        "rulesets": [e.explanation() for e in evaluations],
    }
    actions = tuple(a for e in evaluations for a in e.actions)
    return BridgeEvaluation(
        actions,
        pins,
        explanation,
        tuple((c, e) for (c, _), e in zip(relevant, evaluations, strict=True)),
        context,
    )


# --- schemas for the rules registry (called from OrchestratorConfig.ready) -------------
#: Facts the orchestrator derives for rules besides ``specs``' own ``derived`` ones.
EXTRA_FACTS: dict[str, dict[str, Any]] = {
    "inspection.recorded": {
        "supplier": {"type": "string"},
        "defects": {"type": "integer"},
        # scenario 2: "final" or "incoming"; what a purchased lot's failure reaches
        "inspection_kind": {"type": "string"},
        "consumed_qty": {"type": "number"},
        "open_allocations": {"type": "integer"},
    },
    "cycle_count.recorded": {
        "variance_pct": {"type": "number"},
        "variance_qty": {"type": "number"},
    },
}


caches.connect()


def register_schemas() -> None:
    """Push the canonical event schemas (payload + derived facts + envelope) and the
    context object schemas into the rules registry. The registry's defaults are kept for
    fields the canonical schema lacks, so rule sets written against them still compile."""
    from rules import event_schemas

    from .specs import EVENT_TYPES, rules_schema

    for event_type in EVENT_TYPES:
        schema = rules_schema(event_type)
        default = event_schemas.event_schema(event_type) or {"properties": {}}
        properties = {
            **default.get("properties", {}),
            **schema.get("properties", {}),
            **EXTRA_FACTS.get(event_type, {}),
            **event_schemas.ENVELOPE,
        }
        event_schemas.register_event_schema(
            event_type, {"type": "object", "properties": properties}
        )
    objects = {
        "order": {
            "number": {"type": "string"},
            "item": {"type": "string"},
            "status": {"type": "string"},
            "target_qty": {"type": "number"},
            "confirmed_qty": {"type": "number"},
            "scrap_qty": {"type": "number"},
            "uom": {"type": "string"},
            "routing_revision": {"type": "string"},
            "bom_revision": {"type": "string"},
        },
        "lot": {
            "number": {"type": "string"},
            "item": {"type": "string"},
            "status": {"type": "string"},
            "qty": {"type": "number"},
            "uom": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
        "inspection": {
            "number": {"type": "string"},
            "lot": {"type": "string"},
            "status": {"type": "string"},
            "result": {"type": "string"},
        },
    }
    for name, props in objects.items():
        default = event_schemas.object_schema(name)
        merged = {**default.get("properties", {}), **props}
        event_schemas.register_object_schema(name, {"type": "object", "properties": merged})
