"""DMN-style decision tables compiled to one CEL program.

A cell is a *unary test* on its column's input:

==========================  =========================================================
``-`` (or empty / null)     any value
``> 0``, ``<= 2.5``, ``!= "x"``, ``== plant.limit``   comparison with the input
``in ["hold", "quarantine"]``, ``not in [...]``        membership
``[1..10]``, ``(0..5]``, ``[1..10)``                   inclusive / exclusive ranges
``"available"``, ``10``, ``true``                     equality with a CEL literal
``available`` (a bare word)                           equality with that *string*
==========================  =========================================================

Integer literals in comparisons, ranges and lists are written as doubles when the input is
a double, because CEL refuses ``2.0 > 1`` and a table author should not have to care.

Each cell is compiled *alone* (input bound as a typed variable) so an error names its row
and column. The whole table then compiles to a single CEL program: the inputs are bound
once with ``cel.bind`` and the body is a list literal with one boolean per row; the hit
policy is applied to that list. Every row is evaluated, also under FIRST, so a row that
fails at run time fails the table even when an earlier row matched: an error is never
hidden behind a match.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .cel import CelEnvironment, CelRuntimeError, CompiledExpression
from .definitions import DecisionTable
from .errors import RuleEvaluationError

_COMPARE = re.compile(r"^(<=|>=|==|!=|<|>)\s*(.+)$", re.S)
_IN = re.compile(r"^(not\s+)?in\s+(.+)$", re.S)
_RANGE = re.compile(r"^([\[\(\]])\s*(.+?)\s*\.\.\s*(.+?)\s*([\]\)\[])$", re.S)
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_INT_LITERAL = re.compile(r"(?<![\w.\"'])(-?\d+)(?![\w.])")
_CEL_WORDS = {"true", "false", "null"}


def input_var(index: int) -> str:
    return f"dt_in{index}"


@dataclass(frozen=True)
class Cell:
    """A parsed cell: its CEL test on ``var`` and what is known of the values it accepts."""

    source: str  # CEL test with the placeholder ``{v}`` for the input variable
    domain: tuple | None  # ("any",) | ("set", values) | ("interval", lo, lo_in, hi, hi_in)

    @property
    def is_any(self) -> bool:
        return self.domain == ("any",)

    def test(self, var: str) -> str:
        return self.source.replace("{v}", var)


def _literal(text: str) -> Any:
    """The Python value of a CEL literal, or a sentinel when it is not a plain literal."""
    try:
        return json.loads(text.replace("'", '"'))
    except ValueError:
        return _UNKNOWN


_UNKNOWN = object()


def _doubles(text: str, input_type: str) -> str:
    return _INT_LITERAL.sub(r"\1.0", text) if input_type == "DOUBLE" else text


def _cel_literal(value: Any, input_type: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int) and input_type == "DOUBLE":
        return repr(float(value))
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def parse_cell(cell: Any, input_type: str) -> Cell:
    """Translate one cell into a CEL test (see the module docstring for the grammar)."""
    if cell is None or (isinstance(cell, str) and cell.strip() in ("", "-")):
        return Cell("true", ("any",))
    if not isinstance(cell, str):
        literal = _cel_literal(cell, input_type)
        return Cell(f"{{v}} == {literal}", ("set", frozenset([cell])))
    text = cell.strip()
    if match := _RANGE.match(text):
        lo_text, hi_text = _doubles(match[2], input_type), _doubles(match[3], input_type)
        lo_in, hi_in = match[1] == "[", match[4] == "]"
        low, high = (">=" if lo_in else ">"), ("<=" if hi_in else "<")
        source = f"{{v}} {low} ({lo_text}) && {{v}} {high} ({hi_text})"
        lo, hi = _literal(lo_text), _literal(hi_text)
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi))
        return Cell(source, ("interval", lo, lo_in, hi, hi_in) if numeric else None)
    if match := _COMPARE.match(text):
        op, rest = match[1], _doubles(match[2].strip(), input_type)
        if _BARE.match(rest) and rest not in _CEL_WORDS and "." not in rest:
            rest = json.dumps(rest)  # "!= hold" means the string, as a bare word cell does
        value = _literal(rest)
        domain = None
        if (
            value is not _UNKNOWN
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            domain = {
                "<": ("interval", -math.inf, False, value, False),
                "<=": ("interval", -math.inf, False, value, True),
                ">": ("interval", value, False, math.inf, False),
                ">=": ("interval", value, True, math.inf, False),
                "==": ("set", frozenset([value])),
            }.get(op)
        elif value is not _UNKNOWN and op == "==":
            domain = ("set", frozenset([value]))
        return Cell(f"{{v}} {op} ({rest})", domain)
    if match := _IN.match(text):
        rest = _doubles(match[2].strip(), input_type)
        values = _literal(rest)
        negate = bool(match[1])
        domain = None
        if (
            not negate
            and isinstance(values, list)
            and all(isinstance(v, (str, int, float, bool)) for v in values)
        ):
            domain = ("set", frozenset(values))
        source = f"!({{v}} in {rest})" if negate else f"{{v}} in {rest}"
        return Cell(source, domain)
    if _BARE.match(text) and text not in _CEL_WORDS:
        return Cell(f"{{v}} == {json.dumps(text)}", ("set", frozenset([text])))
    text = _doubles(text, input_type) if re.fullmatch(r"-?\d+", text) else text
    value = _literal(text)
    domain = (
        ("set", frozenset([value]))
        if value is not _UNKNOWN and not isinstance(value, (list, dict))
        else None
    )
    return Cell(f"{{v}} == ({text})", domain)


def _intersects(a: tuple | None, b: tuple | None) -> bool | None:
    """Can some value pass both cells? ``None`` when it cannot be decided statically."""
    if a is None or b is None:
        return None
    if a[0] == "any" or b[0] == "any":
        return True
    if a[0] == "set" and b[0] == "set":
        return bool(a[1] & b[1])
    if a[0] == "set":
        a, b = b, a
    if b[0] == "set":  # a is an interval
        return any(_in_interval(v, a) for v in b[1] if isinstance(v, (int, float)))
    _, lo1, lo1_in, hi1, hi1_in = a
    _, lo2, lo2_in, hi2, hi2_in = b
    lo, lo_in = max((lo1, lo1_in), (lo2, lo2_in), key=lambda t: (t[0], not t[1]))
    hi, hi_in = min((hi1, hi1_in), (hi2, hi2_in), key=lambda t: (t[0], t[1]))
    return lo < hi or (lo == hi and lo_in and hi_in)


def _in_interval(value: float, interval: tuple) -> bool:
    _, lo, lo_in, hi, hi_in = interval
    above = value > lo or (lo_in and value == lo)
    below = value < hi or (hi_in and value == hi)
    return above and below


def overlapping_rows(cells: list[list[Cell]]) -> list[tuple[int, int]]:
    """Pairs of rows (0-based) that certainly both match some input."""
    pairs = []
    for i in range(len(cells)):
        for j in range(i + 1, len(cells)):
            verdicts = [
                _intersects(a.domain, b.domain) for a, b in zip(cells[i], cells[j], strict=True)
            ]
            if all(v is True for v in verdicts):
                pairs.append((i, j))
    return pairs


def table_source(table: DecisionTable, cells: list[list[Cell]]) -> str:
    """The single CEL program of a table: the list of matching rows, or the first one."""
    conditions = []
    for row in cells:
        tests = [f"({c.test(input_var(k))})" for k, c in enumerate(row) if not c.is_any]
        conditions.append(" && ".join(tests) if tests else "true")
    # A flat list literal, one boolean per row: CEL's parser caps nesting at 32 levels, so
    # a 20-row chain of ternaries or list concatenations would not even parse. Python then
    # picks the hits from the list (FIRST takes the first), which costs well under a µs.
    body = "[" + ", ".join(conditions) + "]"
    for index in reversed(range(len(table.inputs))):
        body = f"cel.bind({input_var(index)}, ({table.inputs[index].expr}), {body})"
    return body


@dataclass(frozen=True)
class TableOutcome:
    """What a table decided: the matching rows (1-based, as authors count) and the output."""

    rows: tuple[int, ...]
    output: Any
    matched: bool


class CompiledTable:
    """A decision table ready to evaluate: one compiled CEL program plus its hit policy."""

    def __init__(self, rule_id: str, table: DecisionTable, program: CompiledExpression) -> None:
        self.rule_id = rule_id
        self.table = table
        self.program = program
        self._outputs = [dict(row.then) for row in table.rows]

    def evaluate(self, activation: Any) -> TableOutcome:
        try:
            flags = self.program.evaluate(activation)
        except CelRuntimeError as exc:
            raise RuleEvaluationError(str(exc), rule_id=self.rule_id) from exc
        policy = self.table.hit_policy
        if policy == "FIRST":
            hits = [flags.index(True)] if True in flags else []
        else:
            hits = [index for index, flag in enumerate(flags) if flag]
        rows = tuple(h + 1 for h in hits)
        outputs = [self._outputs[h] for h in hits]
        if not hits:
            default = self.table.default
            empty = (
                [] if policy in ("RULE_ORDER", "COLLECT") and not self.table.aggregation else None
            )
            if policy == "COLLECT" and self.table.aggregation == "COUNT":
                empty = 0
            return TableOutcome((), dict(default) if default is not None else empty, False)
        if policy == "UNIQUE" and len(hits) > 1:
            raise RuleEvaluationError(
                f"UNIQUE table matched {len(hits)} rows: {', '.join(map(str, rows))}",
                rule_id=self.rule_id,
                rows=rows,
                code="unique_violation",
            )
        if policy == "ANY" and any(o != outputs[0] for o in outputs[1:]):
            raise RuleEvaluationError(
                f"ANY table matched rows {', '.join(map(str, rows))} with different outputs",
                rule_id=self.rule_id,
                rows=rows,
                code="any_violation",
            )
        if policy in ("FIRST", "UNIQUE", "ANY"):
            return TableOutcome(rows[:1] if policy == "ANY" else rows, outputs[0], True)
        if policy == "RULE_ORDER" or not self.table.aggregation:
            return TableOutcome(rows, outputs, True)
        aggregation = self.table.aggregation
        if aggregation == "COUNT":
            return TableOutcome(rows, len(hits), True)
        name = self.table.outputs[0].name
        values = [o[name] for o in outputs]
        result = {"SUM": sum, "MIN": min, "MAX": max}[aggregation](values)
        return TableOutcome(rows, result, True)


def output_type_ok(value: Any, declared: str) -> bool:
    if value is None:
        return True
    return {
        "string": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "double": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
    }[declared]


def cell_environment(env: CelEnvironment, input_type: Any) -> CelEnvironment:
    return env.with_variables({input_var(0): input_type})
