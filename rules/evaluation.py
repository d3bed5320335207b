"""What evaluating a rule set gives (actions, decisions, an explanation) and one compiled
rule: its condition and table, what they read, and its memo of outcomes by exact input
(:mod:`rules.bindings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .bindings import Memo, memoisable
from .cel import CelRuntimeError, CompiledExpression
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

#: Outcomes kept per compiled rule (``rules.bindings.Memo``): distinct inputs remembered.
MEMO_SIZE = 1024


@dataclass
class _CompiledRule:
    rule: Rule
    condition: CompiledExpression | None
    table: CompiledTable | None
    reads_results: bool
    #: Everything its condition and table can read (from the checked CEL ASTs).
    reads: Reads = field(init=False)
    #: Outcome ``(decision, planned actions)`` by exact input; ``None``: never memoised.
    #: Both are immutable (frozen, and nothing writes to an action's params), so they are
    #: shared by the evaluations that reuse them.
    memo: Memo | None = field(init=False)
    evaluations: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        reads = Reads()
        for program in (self.condition, self.table and self.table.program):
            if program is not None:
                reads = reads.union(program.reads)
        self.reads = reads
        self.reads_results = self.reads_results or reads.map_keys("results") is not False
        self.memo = Memo(MEMO_SIZE) if memoisable(reads) else None

    def decide(self, activation: Any) -> tuple[Decision, tuple[PlannedAction, ...]]:
        """Evaluate: how the rule came out and the actions it asks for."""
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
