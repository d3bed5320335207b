"""Optional fields: ``has(event.x)`` tests presence instead of reading the value."""

from __future__ import annotations

import pytest

from rules.cel import CelCompileError, environment, rewrite_has
from rules.compiler import check_ruleset

ENV = environment("operation.confirmed")


def evaluate(source: str, event: dict):
    return ENV.compile(source, expect="BOOL").evaluate(ENV.activation({"event": event}))


def test_has_is_true_for_a_present_field_and_false_for_an_absent_one():
    assert evaluate("has(event.scrap_qty)", {"scrap_qty": 0.0}) is True
    assert evaluate("has(event.scrap_qty)", {"qty": 5.0}) is False


def test_has_of_a_boolean_field_tests_presence_not_the_value():
    # Without the rewrite CEL resolves has(event.final) to the value of event.final.
    assert evaluate("has(event.final)", {"final": False}) is True


def test_has_guards_an_optional_field():
    source = "has(event.scrap_qty) && event.scrap_qty > 1.0"
    assert evaluate(source, {"qty": 5.0}) is False  # no error for the absent field
    assert evaluate(source, {"scrap_qty": 3.0}) is True


def test_positions_after_has_still_point_into_the_authors_text():
    with pytest.raises(CelCompileError) as info:
        ENV.compile("has(event.qty) && event.qtty > 1.0")
    [issue] = info.value.issues
    assert (issue.code, issue.column) == ("cel_unknown_field", 24)


def test_has_of_an_unknown_field_is_refused():
    with pytest.raises(CelCompileError) as info:
        ENV.compile("has(event.nope)")
    assert info.value.issues[0].code == "cel_unknown_field"


def test_strings_and_undeclared_names_are_left_alone():
    assert rewrite_has('"has(event.qty)" == "x"', {"event.qty"}) == (
        '"has(event.qty)" == "x"',
        False,
    )
    assert rewrite_has("has(plant.x)", {"event.qty"}) == ("has(plant.x)", False)


def test_a_rule_set_can_test_an_optional_field():
    compiled, problems = check_ruleset(
        """\
schema: interlock/ruleset/v1
ruleset: optional
rules:
  - id: scrap_reported
    description: Scrap, when the MES sends it at all
    owner: quality
    on: [operation.confirmed]
    when: has(event.scrap_qty) && event.scrap_qty > 0.0
    then:
      - action: notify_role
        params: {role: quality_lead, message: scrap}
tests:
  - name: without scrap_qty nothing happens
    event_type: operation.confirmed
    event: {qty: 5.0}
    expect: {actions: []}
  - name: with scrap it notifies
    event_type: operation.confirmed
    event: {qty: 5.0, scrap_qty: 1.0}
    expect: {actions: [notify_role]}
"""
    )
    assert problems == []
    assert all(r.passed for r in compiled.run_tests())
