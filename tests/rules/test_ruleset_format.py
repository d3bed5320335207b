"""A rule set document is refused with every mistake positioned (pointer, line, column)."""

from __future__ import annotations

import json

import pytest

from rules.cel import MAX_EXPRESSION_LENGTH
from rules.compiler import check_ruleset, compile_ruleset, ruleset_schema
from rules.errors import RuleSetInvalid
from tests.rules.samples import GOOD

HEADER = "schema: interlock/ruleset/v1\nruleset: tests\nowner: board\nrules:\n"
# Line numbers below: the rule starts on line 5 ("  - id: r1"), `when` is line 9.
RULE = """\
  - id: r1
    description: d
    owner: o
    on: [operation.confirmed]
    when: event.qty > 10.0
    then:
      - action: notify_role
        params: {role: operator, message: hi}
"""


def problems_of(text: str):
    compiled, problems = check_ruleset(text)
    assert compiled is None, "the document should have been refused"
    return problems


def find(problems, code):
    matching = [p for p in problems if p.code == code]
    assert matching, f"no {code!r} among {[str(p) for p in problems]}"
    return matching[0]


def test_good_document_compiles_and_its_embedded_tests_pass():
    compiled = compile_ruleset(GOOD, version="quality-gates@1")
    assert compiled.event_types == ["inspection.recorded", "scrap.declared"]
    assert all(result.passed for result in compiled.run_tests())


def test_the_key_on_stays_a_string_not_yaml_1_1_boolean():
    compiled = compile_ruleset(HEADER + RULE)
    assert compiled.definition.rules[0].on == ("operation.confirmed",)


def test_unknown_key_is_reported_at_the_key():
    text = HEADER + RULE.replace("    owner: o\n", "    owner: o\n    colour: red\n")
    problem = find(problems_of(text), "unknown_key")
    assert (problem.path, problem.line, problem.column) == ("/rules/0/colour", 8, 5)
    assert "colour" in problem.message


def test_missing_id_names_the_rule_object():
    text = HEADER + RULE.replace("  - id: r1\n    description", "  - description")
    problem = find(problems_of(text), "missing_key")
    assert (problem.path, problem.line, problem.column) == ("/rules/0", 5, 5)
    assert "'id'" in problem.message


def test_duplicate_rule_id_points_at_the_second_id():
    problem = find(problems_of(HEADER + RULE + RULE), "duplicate_rule_id")
    assert (problem.path, problem.line, problem.column) == ("/rules/1/id", 13, 9)


def test_wrong_type_gives_pointer_and_line():
    text = HEADER + RULE.replace("on: [operation.confirmed]", "on: operation.confirmed")
    problem = find(problems_of(text), "wrong_type")
    assert (problem.path, problem.line, problem.column) == ("/rules/0/on", 8, 9)


def test_bad_yaml_indentation_is_a_syntax_error_with_position():
    text = HEADER + RULE.replace("    owner: o\n", "   owner: o\n")
    [problem] = problems_of(text)
    assert problem.code == "yaml_syntax"
    assert problem.line == 7
    assert problem.column > 0


def test_duplicate_yaml_key_is_not_silently_overwritten():
    text = HEADER + RULE.replace("    owner: o\n", "    owner: o\n    owner: p\n")
    problem = find(problems_of(text), "duplicate_key")
    assert (problem.path, problem.line) == ("/rules/0/owner", 8)


def test_unknown_event_type():
    text = HEADER + RULE.replace("operation.confirmed", "operation.confirmd")
    problem = find(problems_of(text), "unknown_event_type")
    assert (problem.path, problem.line, problem.column) == ("/rules/0/on/0", 8, 10)


def test_misspelt_cel_field_has_expression_and_document_positions():
    text = HEADER + RULE.replace("event.qty > 10.0", "event.qtty > 10.0")
    problem = find(problems_of(text), "cel_unknown_field")
    assert (problem.expr_line, problem.expr_column) == (1, 6)
    assert (problem.path, problem.line, problem.column) == ("/rules/0/when", 9, 16)
    assert "event.qtty" in problem.message


def test_cel_type_mismatch():
    text = HEADER + RULE.replace("event.qty > 10.0", "event.qty > 'ten'")
    problem = find(problems_of(text), "cel_type_mismatch")
    assert (problem.expr_line, problem.expr_column, problem.line, problem.column) == (1, 11, 9, 21)


def test_int_double_mismatch_explains_how_to_fix_it():
    text = HEADER + RULE.replace("event.qty > 10.0", "event.qty > 10")
    problem = find(problems_of(text), "cel_type_mismatch")
    assert "10.0" in problem.message


def test_cel_syntax_error():
    text = HEADER + RULE.replace("event.qty > 10.0", "event.qty >")
    problem = find(problems_of(text), "cel_syntax")
    assert (problem.expr_line, problem.expr_column, problem.line) == (1, 12, 9)


def test_cel_error_in_block_scalar_maps_to_the_document_line():
    block = "when: |\n      event.qty > 10.0 &&\n        event.oder == 'x'\n"
    text = HEADER + RULE.replace("when: event.qty > 10.0\n", block)
    problem = find(problems_of(text), "cel_unknown_field")
    # The block is indented 6; its second line 2 more, so CEL sees column 8 (the dot).
    assert (problem.expr_line, problem.expr_column) == (2, 8)
    assert (problem.line, problem.column) == (11, 14)


def test_condition_must_be_boolean():
    text = HEADER + RULE.replace("event.qty > 10.0", "event.qty")
    find(problems_of(text), "cel_wrong_type")


def test_expression_too_long():
    long = " || ".join(["event.qty > 10.0"] * (MAX_EXPRESSION_LENGTH // 16))
    text = HEADER + RULE.replace("event.qty > 10.0", long)
    problem = find(problems_of(text), "cel_too_long")
    assert problem.line == 9


def test_deeply_nested_comprehensions_are_too_costly():
    nested = "'[1].all(a, [2].all(b, [3].all(c, a + b < c)))'"
    text = HEADER + RULE.replace("event.qty > 10.0", nested)
    find(problems_of(text), "cel_too_costly")


def test_unknown_action():
    text = HEADER + RULE.replace("action: notify_role", "action: notify_rol")
    problem = find(problems_of(text), "unknown_action")
    assert (problem.path, problem.line, problem.column) == ("/rules/0/then/0/action", 11, 17)


def test_bad_action_params_point_into_params():
    text = HEADER + RULE.replace("role: operator", "role: pilot")
    problem = find(problems_of(text), "bad_action_params")
    assert problem.path == "/rules/0/then/0/params/role"
    assert problem.line == 12


def test_unknown_action_param_points_at_its_key():
    text = HEADER + RULE.replace("message: hi}", "message: hi, urgent: true}")
    problem = find(problems_of(text), "bad_action_params")
    assert problem.path == "/rules/0/then/0/params/urgent"
    assert "urgent" in problem.message


def test_results_of_a_later_rule_cannot_be_read():
    text = HEADER + RULE.replace("event.qty > 10.0", "results.r2 == true")
    problem = find(problems_of(text), "results_forward_reference")
    assert problem.path == "/rules/0/when"


def test_rule_needs_then_or_table():
    text = HEADER + RULE.split("    then:")[0]
    find(problems_of(text), "missing_key")


def test_embedded_test_event_is_validated_against_the_event_schema():
    text = (
        HEADER
        + RULE
        + "tests:\n  - name: t\n    event_type: operation.confirmed\n"
        + "    event: {qty: many}\n    expect: {actions: [notify_role]}\n"
    )
    problem = find(problems_of(text), "test_event_invalid")
    assert problem.path == "/tests/0/event/qty"
    assert (problem.line, problem.column) == (16, 18)


def test_json_documents_get_positions_too():
    data = json.loads(
        json.dumps({"schema": "interlock/ruleset/v1", "ruleset": "tests", "rules": []})
    )
    text = json.dumps(data, indent=2)
    problem = find(problems_of(text), "schema")
    assert problem.path == "/rules"
    assert problem.line == 4


def test_compile_ruleset_raises_with_all_problems_in_the_error_envelope():
    text = HEADER + RULE.replace("event.qty", "event.qtty").replace("notify_role", "nope")
    with pytest.raises(RuleSetInvalid) as info:
        compile_ruleset(text)
    codes = {p.code for p in info.value.problems}
    assert codes == {"cel_unknown_field", "unknown_action"}
    assert info.value.details[0].found["line"] > 0


def test_schema_file_is_draft_2020_12_and_forbids_unknown_keys():
    schema = ruleset_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["rule"]["additionalProperties"] is False
