"""The CEL adapter: typed variables per event type, runtime errors, caps, domain functions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rules import event_schemas
from rules.cel import (
    CelCompileError,
    CelRuntimeError,
    ast_cost,
    environment,
    evaluation_time,
)
from rules.compiler import compile_ruleset
from rules.errors import RuleEvaluationError

HEADER = "schema: interlock/ruleset/v1\nruleset: tests\nrules:\n"


def rule(when: str, on: str = "operation.confirmed") -> str:
    return (
        HEADER
        + f"  - id: r1\n    description: d\n    owner: o\n    on: [{on}]\n"
        + f"    when: '{when}'\n"
        + "    then: [{action: notify_role, params: {role: operator, message: m}}]\n"
    )


def test_event_fields_are_typed_from_the_event_schema():
    env = environment("operation.confirmed")
    assert env.compile("event.qty > 1.0").return_type == "BOOL"
    assert env.compile("event.sequence + 1").return_type == "INT"
    with pytest.raises(CelCompileError) as info:
        env.compile("event.sequence > 'a'")
    assert info.value.issues[0].code == "cel_type_mismatch"


def test_a_field_of_another_event_type_is_unknown():
    env = environment("operation.confirmed")
    with pytest.raises(CelCompileError) as info:
        env.compile("event.defects > 1")  # a field of inspection.recorded
    assert info.value.issues[0].code == "cel_unknown_field"


def test_registered_schema_replaces_the_default(monkeypatch):
    # Keep the registry clean for other tests: restore the default afterwards.
    original = event_schemas.event_schema("machine.downtime")
    try:
        event_schemas.register_event_schema(
            "machine.downtime",
            {"type": "object", "properties": {"line": {"type": "string"}}},
        )
        env = environment("machine.downtime")
        assert env.compile("event.line == 'L1'").return_type == "BOOL"
        with pytest.raises(CelCompileError):
            env.compile("event.equipment == 'x'")
    finally:
        event_schemas.register_event_schema("machine.downtime", original)


def test_timestamps_decimals_and_context_objects_are_converted():
    env = environment("asn.delayed")
    program = env.compile(
        "event.new_eta - event.expected_at > duration('24h') && lot.qty > 1.5 && plant.tol > 0.1"
    )
    activation = env.activation(
        {
            "event": {
                "expected_at": "2026-05-01T00:00:00Z",
                "new_eta": dt.datetime(2026, 5, 3, tzinfo=dt.UTC),
            },
            "lot": {"qty": Decimal("2.5")},
            "plant": {"tol": Decimal("0.2")},
        }
    )
    assert program.evaluate(activation) is True


def test_runtime_error_value_raises_and_never_reads_as_false():
    env = environment("operation.confirmed")
    activation = env.activation({"event": {"qty": 1.0}})
    with pytest.raises(CelRuntimeError, match=r"event\.order"):
        env.compile("event.order == 'WO-1'").evaluate(activation)
    with pytest.raises(CelRuntimeError, match="divide by zero"):
        env.compile("1 / (event.qty > 0.0 ? 0 : 1) == 1").evaluate(activation)


def test_rule_evaluation_error_names_the_rule():
    compiled = compile_ruleset(rule('event.order == "WO-1"'))
    with pytest.raises(RuleEvaluationError) as info:
        compiled.evaluate("operation.confirmed", {"event": {"qty": 1.0}})
    assert info.value.rule_id == "r1"
    assert "r1" in info.value.message


def test_ast_cost_counts_nodes_and_comprehension_depth():
    env = environment(None)
    flat = env.compile("1 + 2 == 3", limit_cost=False)
    nested = env.compile("[1, 2].all(a, [3].exists(b, a < b))", limit_cost=False)
    assert ast_cost(flat._program.serialize()).nodes == 5
    assert flat.cost.comprehension_depth == 0
    assert nested.cost.comprehension_depth == 2


def test_within_compares_with_the_evaluation_time():
    compiled = compile_ruleset(rule('within(event.occurred_at, duration("1h"))'))
    context = {"event": {"occurred_at": "2026-05-10T08:00:00Z"}}
    inside = compiled.evaluate("operation.confirmed", {**context, "now": "2026-05-10T08:30:00Z"})
    outside = compiled.evaluate("operation.confirmed", {**context, "now": "2026-05-10T10:00:00Z"})
    assert [a.action for a in inside.actions] == ["notify_role"]
    assert outside.actions == ()


def test_within_uses_explicit_evaluation_time_context():
    env = environment("operation.confirmed")
    program = env.compile("within(event.occurred_at, duration('10m'))")
    activation = env.activation({"event": {"occurred_at": "2026-01-01T00:00:00Z"}})
    with evaluation_time(dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)):
        assert program.evaluate(activation) is True
    with evaluation_time(dt.datetime(2026, 1, 2, tzinfo=dt.UTC)):
        assert program.evaluate(activation) is False


def test_to_uom_converts_within_a_dimension_and_refuses_across():
    env = environment("operation.confirmed")
    activation = env.activation({"event": {"qty": 24.0, "uom": "EA"}})
    assert env.compile("to_uom(event.qty, event.uom, 'DZ') == 2.0").evaluate(activation)
    with pytest.raises(CelRuntimeError, match="cannot convert"):
        env.compile("to_uom(event.qty, event.uom, 'KG') > 1.0").evaluate(activation)


def test_results_of_earlier_rules_are_visible_to_later_rules():
    text = (
        HEADER
        + "  - id: big\n    description: d\n    owner: o\n    on: [operation.confirmed]\n"
        + "    when: event.qty > 100.0\n    then: [{action: hold_gate, params: {gate: gr}}]\n"
        + "  - id: follow\n    description: d\n    owner: o\n    on: [operation.confirmed]\n"
        + "    when: results.big == true\n"
        + "    then: [{action: notify_role, params: {role: supervisor, message: m}}]\n"
    )
    compiled = compile_ruleset(text)
    big = compiled.evaluate("operation.confirmed", {"event": {"qty": 500.0}})
    small = compiled.evaluate("operation.confirmed", {"event": {"qty": 5.0}})
    assert [a.action for a in big.actions] == ["hold_gate", "notify_role"]
    assert small.actions == ()
