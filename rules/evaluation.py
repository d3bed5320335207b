"""What evaluating a rule set gives (actions, decisions, an explanation) and one compiled
rule: its condition and table, what they read, and its memo of outcomes by exact input
(:mod:`rules.bindings`)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .bindings import MISSING, UNKEYABLE, Bindings, Memo, Unkeyable, freeze, memoisable, slots_of
from .cel import (
    TIME_DEPENDENT_FUNCTIONS,
    CelRuntimeError,
    CompiledExpression,
    evaluation_time,
    to_cel_value,
)
from .celast import Reads
from .definitions import Rule
from .errors import RuleEvaluationError
from .tables import CompiledTable

# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedAction:
    """An action a rule asked for, with the rule (and table row) that asked."""

    action: str
    params: dict[str, Any]
    rule_id: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "params": self.params, "rule": self.rule_id, "row": self.row}


@dataclass(frozen=True)
class Decision:
    """How one rule came out: matched or not, which table rows, which output."""

    rule_id: str
    matched: bool
    rows: tuple[int, ...] = ()
    output: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "matched": self.matched,
            "rows": list(self.rows),
            "output": self.output,
        }


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating a rule set for one event, with its explanation."""

    ruleset: str
    version: str | None
    event_type: str
    actions: tuple[PlannedAction, ...]
    decisions: tuple[Decision, ...]

    @property
    def results(self) -> dict[str, Any]:
        return {d.rule_id: d.output for d in self.decisions}

    def explanation(self) -> dict[str, Any]:
        """Which rule set version, which rules and rows decided: stored with the event."""
        return {
            "ruleset": self.ruleset,
            "version": self.version,
            "event_type": self.event_type,
            "decided_by": [d.as_dict() for d in self.decisions if d.matched],
            "evaluated": [d.rule_id for d in self.decisions],
            "actions": [a.as_dict() for a in self.actions],
        }


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    message: str = ""


# --- one compiled rule ---------------------------------------------------------------------

#: Outcomes kept per compiled rule, and per rule set and event type
#: (``rules.bindings.Memo``): distinct inputs remembered.
MEMO_SIZE = 1024

Outcome = tuple[Decision, tuple[PlannedAction, ...]]

#: A rule set's memo is consulted while it pays: when fewer than one in
#: :data:`PAYING_HITS` of :data:`PROBE` lookups hit (a rule reads a value unique to each
#: event, such as ``event.occurred_at``), it is left out for the next :data:`REST`
#: evaluations, then probed again. The rules' own memos are always consulted.
PROBE = 256
PAYING_HITS = 8
REST = 4096


@dataclass
class _CompiledRule:
    rule: Rule
    condition: CompiledExpression | None
    table: CompiledTable | None
    reads_results: bool
    #: Everything its condition and table can read (from the checked CEL ASTs).
    reads: Reads = field(init=False)
    #: The same without ``results``, as memo key slots (``rules.bindings.slots_of``).
    slots: tuple[Any, ...] = field(init=False)
    #: Outcome ``(decision, planned actions)`` by exact input; ``None``: never memoised.
    #: Both are immutable (frozen, and nothing writes to an action's params), so they are
    #: shared by the evaluations that reuse them.
    memo: Memo | None = field(init=False)
    #: The outcome of a rule with neither condition nor table: it always applies, the
    #: same way for every event, so it is built once (and never evaluated).
    static: Outcome | None = field(init=False)
    #: The ``results`` it reads: keys, ``None`` for all of them, ``False`` for none.
    results_keys: tuple[str, ...] | bool | None = field(init=False)
    #: Calls a function that reads the evaluation time (``within``).
    timed: bool = field(init=False)
    evaluations: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        reads = Reads()
        for program in (self.condition, self.table and self.table.program):
            if program is not None:
                reads = reads.union(program.reads)
        self.reads = reads
        self.slots = slots_of(reads)
        self.results_keys = reads.map_keys("results")
        self.reads_results = self.reads_results or self.results_keys is not False
        self.timed = bool(reads.functions & TIME_DEPENDENT_FUNCTIONS)
        self.static = None
        if self.condition is None and self.table is None:
            rule = self.rule
            planned = tuple(PlannedAction(a.action, dict(a.params), rule.id) for a in rule.then)
            self.static = (Decision(rule.id, True, (), None), planned)
        self.memo = Memo(MEMO_SIZE) if self.static is None and memoisable(reads) else None

    def decide(self, activation: Any) -> Outcome:
        """Evaluate: how the rule came out and the actions it asks for."""
        if self.static is not None:
            return self.static
        matched, rows, output = self.run(activation)
        rule = self.rule
        if not matched:
            return Decision(rule.id, False, rows, output), ()
        row = rows[0] if len(rows) == 1 else None
        planned = tuple(PlannedAction(a.action, dict(a.params), rule.id, row) for a in rule.then)
        return Decision(rule.id, True, rows, output), planned

    def run(self, activation: Any) -> tuple[bool, tuple[int, ...], Any]:
        """Evaluate condition, then table: ``(matched, table rows, output)``."""
        self.evaluations += 1
        rows: tuple[int, ...] = ()
        output: Any = None
        matched = True  # a rule without 'when' or 'table' always applies
        if self.condition is not None:
            try:
                value = self.condition.evaluate(activation)
            except CelRuntimeError as exc:
                raise RuleEvaluationError(str(exc), rule_id=self.rule.id) from exc
            if not isinstance(value, bool):
                raise RuleEvaluationError(
                    f"condition gave {value!r}, not a boolean", rule_id=self.rule.id
                )
            matched = output = value
        if self.table is not None and (self.condition is None or matched):
            outcome = self.table.evaluate(activation)
            matched, rows, output = outcome.matched, outcome.rows, outcome.output
        return matched, rows, output


# --- one rule set for one event type -------------------------------------------------------


def _picker(indices: tuple[int, ...]) -> Callable[[list[Any]], Any]:
    """Selects a rule's own key parts from its rule set's: always the same shape per rule."""
    if not indices:
        return lambda parts: ()
    return operator.itemgetter(*indices)


def _results_part(keys: tuple[str, ...] | None, results: Mapping[str, Any]) -> Any:
    """The key part of the ``results`` an expression reads (``keys``; ``None``: all)."""
    if keys is None:
        return freeze(to_cel_value(dict(results)))
    return tuple(freeze(results.get(k, MISSING)) for k in keys)


class RulePlan:
    """How a rule set evaluates one event type, worked out on its first evaluation.

    * Each value its rules read (bar ``results``) is frozen once per event
      (:meth:`rules.bindings.Bindings.frozen`, shared with the event's other rule sets).
    * When no rule reads the time, the whole :class:`Evaluation` is memoised on those
      values and the ``results`` the context brings in: one key per rule set and event,
      not one per rule. Later rules read earlier ones' results, but those follow from the
      same inputs. A memo that rarely hits rests for a while (:data:`PROBE`).
    * Otherwise, or on a miss, the rules run in order; each memoisable rule looks up its
      own outcome by a selection of the same values (plus the results it reads), and only
      a rule missing that is evaluated (with the activation of the rule set's reads).
    * A rule with neither condition nor table has a constant outcome
      (``_CompiledRule.static``); when every rule of the set is such, so is the
      evaluation (:attr:`constant`), and an event needs no bindings at all for it.
    """

    __slots__ = (
        "_hits",
        "_lookups",
        "_rest",
        "constant",
        "event_type",
        "memo",
        "picks",
        "reads",
        "results_keys",
        "rules",
        "ruleset",
        "slots",
        "version",
    )

    def __init__(
        self, ruleset: str, version: str | None, event_type: str, rules: list[_CompiledRule]
    ) -> None:
        self.ruleset, self.version, self.event_type = ruleset, version, event_type
        self.rules = tuple(rules)
        reads = Reads()
        for item in rules:
            reads = reads.union(item.reads)
        #: What the rules for the event type can read together: what an event binds.
        self.reads = reads
        self.slots = tuple(dict.fromkeys(slot for item in rules for slot in item.slots))
        index = {slot: i for i, slot in enumerate(self.slots)}
        self.picks = tuple(_picker(tuple(index[s] for s in item.slots)) for item in rules)
        #: The context ``results`` the rules read: keys, ``None`` for all, ``False``: none.
        self.results_keys = reads.map_keys("results")
        self.constant: Evaluation | None = None
        if all(item.static is not None for item in rules):
            outcomes = [item.static for item in rules]
            self.constant = Evaluation(
                ruleset,
                version,
                event_type,
                tuple(a for _, actions in outcomes for a in actions),  # type: ignore[misc]
                tuple(decision for decision, _ in outcomes),  # type: ignore[misc]
            )
        self.memo = Memo(MEMO_SIZE) if self.constant is None and memoisable(reads) else None
        self._lookups = self._hits = self._rest = 0

    def evaluate(self, context: Mapping[str, Any], bindings: Bindings) -> Evaluation:
        """Evaluate the rules against ``context`` (whose variables ``bindings`` holds)."""
        if self.constant is not None:
            return self.constant
        parts = bindings.frozen(self.slots)
        keyable = not bindings.unkeyable or UNKEYABLE not in parts
        given = context.get("results") or {}
        memo = self.memo
        key: Any = MISSING
        if self._rest:
            self._rest -= 1
        elif memo is not None and keyable:
            key = tuple(parts)
            if self.results_keys is not False:
                try:
                    key = (key, _results_part(self.results_keys, given))
                except Unkeyable:
                    key = MISSING
            if key is not MISSING:
                known = memo.get(key)
                self._paying(known is not MISSING)
                if known is not MISSING:
                    return known
        evaluation = self._run(bindings, parts, dict(given), keyable)
        if key is not MISSING:
            memo.put(key, evaluation)  # type: ignore[union-attr]
        return evaluation

    def _paying(self, hit: bool) -> None:
        # Counts race between threads: a lost count only moves when the memo rests.
        self._lookups += 1
        self._hits += hit
        if self._lookups >= PROBE:
            if self._hits * PAYING_HITS < self._lookups:
                self._rest = REST
            self._lookups = self._hits = 0

    def _run(
        self, bindings: Bindings, parts: list[Any], results: dict[str, Any], keyable: bool
    ) -> Evaluation:
        decisions: list[Decision] = []
        planned: list[PlannedAction] = []
        activation = None
        stale = False
        for item, pick in zip(self.rules, self.picks, strict=True):
            outcome = item.static
            if outcome is None:
                key: Any = MISSING
                memo = item.memo
                if memo is not None:
                    key = self._rule_key(item, pick, parts, results, keyable)
                    if key is not MISSING:
                        outcome = memo.get(key)
                if outcome is None or outcome is MISSING:
                    if activation is None or (item.reads_results and stale):
                        # Built only when a rule is evaluated, and again only for rules that
                        # read results changed since: most events bind once, or never.
                        activation = bindings.env.activation_from(
                            bindings.data(self.reads, results)
                        )
                        stale = False
                    if item.timed:
                        with evaluation_time(bindings.now):
                            outcome = item.decide(activation)
                    else:
                        outcome = item.decide(activation)
                    if key is not MISSING:
                        memo.put(key, outcome)  # type: ignore[union-attr]
            decision, actions = outcome
            decisions.append(decision)
            results[decision.rule_id] = decision.output
            stale = True
            if actions:
                planned.extend(actions)
        return Evaluation(
            self.ruleset, self.version, self.event_type, tuple(planned), tuple(decisions)
        )

    @staticmethod
    def _rule_key(
        item: _CompiledRule,
        pick: Callable[[list[Any]], Any],
        parts: list[Any],
        results: Mapping[str, Any],
        keyable: bool,
    ) -> Any:
        """A rule's memo key: its values (picked from the rule set's) and results read."""
        key = pick(parts)
        if not keyable and UNKEYABLE in (key if isinstance(key, tuple) else (key,)):
            return MISSING
        keys = item.results_keys
        if keys is False:
            return key
        try:
            return (key, _results_part(keys, results))  # type: ignore[arg-type]
        except Unkeyable:
            return MISSING
