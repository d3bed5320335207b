"""From document text to a compiled, evaluable rule set — or a list of positioned problems.

Pipeline (STYLE.md §6): YAML/JSON text → safe load keeping positions
(:mod:`rules.documents`) → JSON Schema ``ruleset.v1.json`` → typed definitions
(:mod:`rules.definitions`) → semantic checks (duplicate ids, event types, action catalogue,
parameters) → CEL compilation per event type (:mod:`rules.cel`) and decision tables
(:mod:`rules.tables`). Every problem carries a JSON pointer, the document line/column and,
for CEL, the position inside the expression.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from . import actions, event_schemas
from .bindings import Bindings
from .cel import CelCompileError, CelEnvironment, environment
from .celast import Reads
from .definitions import DecisionTable, Rule, RuleSetDefinition
from .documents import Document, load_document, pointer
from .errors import Problem, RuleEvaluationError, RuleSetInvalid
from .evaluation import (  # noqa: F401  (re-exported: callers import them from here)
    MEMO_SIZE,
    Decision,
    Evaluation,
    PlannedAction,
    RulePlan,
    TestResult,
    _CompiledRule,
)
from .tables import (
    Cell,
    CompiledTable,
    cell_environment,
    input_var,
    output_type_ok,
    overlapping_rows,
    parse_cell,
    table_source,
)

SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_FILE = SCHEMA_DIR / "ruleset.v1.json"
_RESULTS_REF = re.compile(r"\bresults\s*(?:\.\s*([a-z][a-z0-9_]*)|\[\s*[\"']([^\"']+)[\"']\s*\])")


@functools.cache
def ruleset_schema() -> dict[str, Any]:
    """The published JSON Schema of rule set documents (format version 1)."""
    return json.loads(SCHEMA_FILE.read_text())


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(
        ruleset_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


# --- compiled rule set ----------------------------------------------------------------------


@dataclass
class CompiledRuleSet:
    """A rule set ready to evaluate: per event type, its rules in document order."""

    definition: RuleSetDefinition
    by_event: dict[str, list[_CompiledRule]] = field(default_factory=dict)
    version: str | None = None
    _plans: dict[str, RulePlan] = field(default_factory=dict, repr=False)

    @property
    def event_types(self) -> list[str]:
        return sorted(self.by_event)

    def plan(self, event_type: str) -> RulePlan | None:
        """How the rules for ``event_type`` are evaluated (``None``: there are none)."""
        plan = self._plans.get(event_type)
        if plan is None or plan.version != self.version:
            compiled = self.by_event.get(event_type)
            if not compiled:
                return None
            plan = self._plans[event_type] = RulePlan(
                self.definition.ruleset, self.version, event_type, compiled
            )
        return plan

    def reads(self, event_type: str) -> Reads:
        """What the rules for ``event_type`` can read together: what an event binds."""
        plan = self.plan(event_type)
        return Reads() if plan is None else plan.reads

    def evaluate(
        self, event_type: str, context: dict[str, Any], *, bindings: Bindings | None = None
    ) -> Evaluation:
        """Evaluate every rule for ``event_type`` against ``context`` (see ``CelEnvironment.bind``).

        ``bindings``: the event's variables, shared with the other rule sets evaluated for
        it (``rules.bindings``). An evaluation whose inputs equal those of an earlier one,
        or a rule whose inputs do, reuses its outcome (``rules.evaluation.RulePlan``).
        Raises :class:`RuleEvaluationError` naming the rule when a condition or table fails.
        """
        plan = self.plan(event_type)
        if plan is None:
            return Evaluation(self.definition.ruleset, self.version, event_type, (), ())
        if plan.constant is not None:
            return plan.constant
        if (
            bindings is None
            or bindings.context is not context
            or bindings.env.event_type != event_type
        ):
            bindings = Bindings(environment(event_type), context)
        return plan.evaluate(context, bindings)

    def run_tests(self) -> list[TestResult]:
        """Run the embedded example tests; a version may be submitted only if all pass."""
        out = []
        for test in self.definition.tests:
            context = {**test.context, "event": {"type": test.event_type, **test.event}}
            expect = test.expect
            try:
                evaluation = self.evaluate(test.event_type, context)
            except RuleEvaluationError as exc:
                if expect.get("error") == exc.rule_id:
                    out.append(TestResult(test.name, True))
                else:
                    out.append(TestResult(test.name, False, f"evaluation failed: {exc}"))
                continue
            failures = []
            if "error" in expect:
                failures.append(f"expected rule {expect['error']!r} to fail, it did not")
            if "actions" in expect:
                got = [a.action for a in evaluation.actions]
                want = [a if isinstance(a, str) else a["action"] for a in expect["actions"]]
                if got != want:
                    failures.append(f"actions {got} != expected {want}")
                for wanted, action in zip(expect["actions"], evaluation.actions, strict=False):
                    if (
                        isinstance(wanted, dict)
                        and "params" in wanted
                        and wanted["params"] != action.params
                    ):
                        failures.append(
                            f"{action.action} params {action.params} != {wanted['params']}"
                        )
            for rule_id, value in (expect.get("results") or {}).items():
                got_value = evaluation.results.get(rule_id)
                if got_value != value:
                    failures.append(f"result of {rule_id!r} is {got_value!r}, expected {value!r}")
            out.append(TestResult(test.name, not failures, "; ".join(failures)))
        return out


# --- checking and compiling -----------------------------------------------------------------


class _Checker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, ptr: str, code: str, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(ptr, code, message, key=key))

    def add_cel(self, ptr: str, exc: CelCompileError, *, prefix: str = "", offset: bool = True):
        for issue in exc.issues:
            if offset:
                line, column = self.doc.expression_position(ptr, issue.line, issue.column)
            else:
                line, column = self.doc.position(ptr)
            self.problems.append(
                Problem(
                    ptr,
                    issue.code,
                    prefix + issue.message,
                    line=line,
                    column=column,
                    expr_line=issue.line if offset else None,
                    expr_column=issue.column if offset else None,
                )
            )

    # JSON Schema ---------------------------------------------------------------------
    def schema(self) -> None:
        data = self.doc.data
        for error in sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path)):
            ptr = pointer(list(error.absolute_path))
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = set(error.schema.get("properties", {}))
                for name in sorted(set(error.instance) - known):
                    child = f"{ptr}/{name}"
                    self.add(
                        child,
                        "unknown_key",
                        f"unknown key {name!r}; allowed: {', '.join(sorted(known)) or 'none'}",
                        key=True,
                    )
                if known:
                    continue
            if error.validator == "required":
                self.add(ptr, "missing_key", error.message)
            elif error.validator == "type":
                self.add(ptr, "wrong_type", error.message)
            elif error.validator in ("enum", "const", "pattern"):
                self.add(ptr, f"invalid_{error.validator}", error.message)
            else:
                self.add(ptr, "schema", error.message)

    # semantics -------------------------------------------------------------------------
    def semantics(self, definition: RuleSetDefinition) -> None:
        seen: dict[str, int] = {}
        for index, rule in enumerate(definition.rules):
            base = f"/rules/{index}"
            if rule.id in seen:
                self.add(
                    f"{base}/id",
                    "duplicate_rule_id",
                    f"rule id {rule.id!r} is already used by rule #{seen[rule.id] + 1}",
                )
            seen.setdefault(rule.id, index)
            for k, event_type in enumerate(rule.on):
                if event_schemas.event_schema(event_type) is None:
                    self.add(
                        f"{base}/on/{k}", "unknown_event_type", f"unknown event type {event_type!r}"
                    )
            if rule.table is None and not rule.then:
                self.add(base, "missing_key", "a rule needs 'then' actions or a 'table'")
            for k, call in enumerate(rule.then):
                self.action(f"{base}/then/{k}", call.action, call.params)
        for index, test in enumerate(definition.tests):
            base = f"/tests/{index}"
            schema = event_schemas.event_schema(test.event_type)
            if schema is None:
                self.add(
                    f"{base}/event_type",
                    "unknown_event_type",
                    f"unknown event type {test.event_type!r}",
                )
            else:
                for error in Draft202012Validator(schema).iter_errors(test.event):
                    self.add(
                        pointer([*base.strip("/").split("/"), "event", *error.absolute_path]),
                        "test_event_invalid",
                        error.message,
                    )
            for k, wanted in enumerate(test.expect.get("actions") or ()):
                name = wanted if isinstance(wanted, str) else wanted["action"]
                if actions.get_action(name) is None:
                    self.add(
                        f"{base}/expect/actions/{k}", "unknown_action", f"unknown action {name!r}"
                    )

    def action(self, ptr: str, name: str, params: dict[str, Any]) -> None:
        spec = actions.get_action(name)
        if spec is None:
            known = ", ".join(actions.catalogue())
            self.add(f"{ptr}/action", "unknown_action", f"unknown action {name!r}; known: {known}")
            return
        for error in spec.validator().iter_errors(params):
            where = f"{ptr}/params" + pointer(list(error.absolute_path))
            if error.validator == "additionalProperties":
                allowed = sorted(spec.params_schema["properties"])
                for extra in sorted(set(error.instance) - set(allowed)):
                    self.add(
                        f"{ptr}/params/{extra}",
                        "bad_action_params",
                        f"{name}: unknown parameter {extra!r}; allowed: {', '.join(allowed)}",
                        key=True,
                    )
                continue
            self.add(where, "bad_action_params", f"{name}: {error.message}")

    # CEL -------------------------------------------------------------------------------
    def compile(self, definition: RuleSetDefinition) -> CompiledRuleSet:
        compiled = CompiledRuleSet(definition=definition)
        earlier: dict[str, set[str]] = {}  # rule id → event types it ran for
        for index, rule in enumerate(definition.rules):
            base = f"/rules/{index}"
            reads = self.results_refs(rule, base, earlier)
            for event_type in rule.on:
                try:
                    env = environment(event_type)
                except KeyError:
                    continue  # already reported as unknown_event_type
                suffix = f" (for {event_type})" if len(rule.on) > 1 else ""
                before = len(self.problems)
                condition = None
                if rule.when is not None:
                    try:
                        condition = env.compile(rule.when, expect="BOOL")
                    except CelCompileError as exc:
                        self.add_cel(
                            f"{base}/when", exc, prefix=suffix.strip() + " " if suffix else ""
                        )
                table = None
                if rule.table is not None:
                    table = self.table(f"{base}/table", rule.id, rule.table, env)
                if len(self.problems) == before:
                    compiled.by_event.setdefault(event_type, []).append(
                        _CompiledRule(rule, condition, table, reads)
                    )
            earlier[rule.id] = set(rule.on)
        # A rule on two event types reports the same CEL problem twice: keep one.
        self.problems = list(dict.fromkeys(self.problems))
        return compiled

    def results_refs(self, rule: Rule, base: str, earlier: dict[str, set[str]]) -> bool:
        sources = [(f"{base}/when", rule.when)] if rule.when else []
        if rule.table:
            sources += [
                (f"{base}/table/inputs/{k}/expr", i.expr) for k, i in enumerate(rule.table.inputs)
            ]
        reads = False
        for ptr, source in sources:
            for match in _RESULTS_REF.finditer(source):
                reads = True
                ref = match[1] or match[2]
                if ref not in earlier:
                    self.add(
                        ptr,
                        "results_forward_reference",
                        f"results.{ref}: no earlier rule has that id (rules run in order)",
                    )
                elif not set(rule.on) <= earlier[ref]:
                    missing = sorted(set(rule.on) - earlier[ref])
                    self.add(
                        ptr,
                        "results_forward_reference",
                        f"results.{ref}: rule {ref!r} does not run for {', '.join(missing)}",
                    )
        return reads

    def table(self, ptr: str, rule_id: str, table: DecisionTable, env: CelEnvironment):
        before = len(self.problems)
        if table.aggregation and table.hit_policy != "COLLECT":
            self.add(
                f"{ptr}/aggregation",
                "bad_table",
                "aggregation is only allowed with hit_policy COLLECT",
            )
        numeric_single = len(table.outputs) == 1 and table.outputs[0].type in ("int", "double")
        if table.aggregation in ("SUM", "MIN", "MAX") and not numeric_single:
            self.add(
                f"{ptr}/outputs",
                "bad_table",
                f"{table.aggregation} needs exactly one int or double output",
            )
        names = [o.name for o in table.outputs]
        types = {o.name: o.type for o in table.outputs}
        input_types = []
        for k, item in enumerate(table.inputs):
            try:
                input_types.append(env.compile(item.expr).type)
            except CelCompileError as exc:
                self.add_cel(f"{ptr}/inputs/{k}/expr", exc)
                input_types.append(None)
        cells: list[list[Cell]] = []
        for r, row in enumerate(table.rows):
            row_ptr = f"{ptr}/rows/{r}"
            if len(row.when) != len(table.inputs):
                self.add(
                    f"{row_ptr}/when",
                    "bad_table_cell",
                    f"row {r + 1} has {len(row.when)} cells; the table has "
                    f"{len(table.inputs)} inputs ({', '.join(i.name for i in table.inputs)})",
                )
            parsed = []
            checked = (
                zip(row.when, input_types, strict=False)
                if len(row.when) == len(table.inputs)
                else ()
            )
            for c, (cell, input_type) in enumerate(checked):
                cell_ptr = f"{row_ptr}/when/{c}"
                if input_type is None:
                    parsed.append(Cell("true", None))
                    continue
                column = table.inputs[c].name
                try:
                    parsed_cell = parse_cell(cell, input_type.name())
                    cell_env = cell_environment(env, input_type)
                    cell_env.compile(parsed_cell.test(input_var(0)), expect="BOOL")
                except CelCompileError as exc:
                    self.add_cel(
                        cell_ptr, exc, prefix=f"row {r + 1}, column {column!r}: ", offset=False
                    )
                    parsed_cell = Cell("true", None)
                parsed.append(parsed_cell)
            cells.append(parsed)
            for name in sorted(set(row.then) - set(names)):
                self.add(
                    f"{row_ptr}/then/{name}",
                    "bad_table_cell",
                    f"row {r + 1}: {name!r} is not an output ({', '.join(names)})",
                    key=True,
                )
            for name in names:
                if name not in row.then:
                    self.add(
                        f"{row_ptr}/then",
                        "bad_table_cell",
                        f"row {r + 1}: output {name!r} is missing",
                    )
                elif not output_type_ok(row.then[name], types[name]):
                    self.add(
                        f"{row_ptr}/then/{name}",
                        "bad_table_cell",
                        f"row {r + 1}, output {name!r}: {row.then[name]!r} is not {types[name]}",
                    )
        if table.default is not None:
            for name in sorted(set(table.default) - set(names)):
                self.add(
                    f"{ptr}/default/{name}", "bad_table", f"{name!r} is not an output", key=True
                )
        if len(self.problems) > before:
            return None
        if table.hit_policy == "UNIQUE":
            for i, j in overlapping_rows(cells):
                self.add(
                    f"{ptr}/rows/{j}",
                    "table_overlap",
                    f"UNIQUE table: rows {i + 1} and {j + 1} can both match",
                )
            if len(self.problems) > before:
                return None
        source = table_source(table, cells)
        try:
            program = env.compile(source, limit_cost=False)
        except CelCompileError as exc:  # pragma: no cover - every part compiled alone
            self.add_cel(ptr, exc, offset=False)
            return None
        return CompiledTable(rule_id, _with_double_outputs(table), program)


def _with_double_outputs(table: DecisionTable) -> DecisionTable:
    """Integers written in a double output column become floats (``10`` means ``10.0``)."""
    doubles = {o.name for o in table.outputs if o.type == "double"}
    if not doubles:
        return table
    from dataclasses import replace

    rows = tuple(
        replace(
            row,
            then={
                k: float(v) if k in doubles and v is not None else v for k, v in row.then.items()
            },
        )
        for row in table.rows
    )
    return replace(table, rows=rows)


def check_ruleset(text: str) -> tuple[CompiledRuleSet | None, list[Problem]]:
    """Validate and compile ``text``; return the compiled rule set or the problems found."""
    doc, problems = load_document(text)
    if doc is None:
        return None, problems
    checker = _Checker(doc)
    checker.problems.extend(problems)
    checker.schema()
    if checker.problems:
        return None, checker.problems
    definition = RuleSetDefinition.from_dict(doc.data)
    checker.semantics(definition)
    compiled = checker.compile(definition)
    if checker.problems:
        return None, sorted(checker.problems, key=lambda p: (p.line, p.column))
    return compiled, []


def compile_ruleset(text: str, *, version: str | None = None) -> CompiledRuleSet:
    """Like :func:`check_ruleset` but raises :class:`RuleSetInvalid` on any problem."""
    compiled, problems = check_ruleset(text)
    if problems:
        raise RuleSetInvalid(problems)
    assert compiled is not None
    compiled.version = version
    return compiled


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
