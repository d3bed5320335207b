"""Decision tables: every hit policy, UNIQUE violations, per-cell errors, the one program."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.compiler import check_ruleset, compile_ruleset
from rules.errors import RuleEvaluationError
from rules.tables import overlapping_rows, parse_cell

HEADER = "schema: interlock/ruleset/v1\nruleset: tests\nrules:\n"


def table_doc(policy: str, rows: str, *, aggregation: str = "", outputs: str = "") -> str:
    outputs = outputs or "[{name: action, type: string}]"
    agg = f"      aggregation: {aggregation}\n" if aggregation else ""
    return (
        HEADER
        + "  - id: t1\n    description: d\n    owner: o\n    on: [inspection.recorded]\n"
        + "    table:\n"
        + f"      hit_policy: {policy}\n{agg}"
        + "      inputs:\n"
        + "        - {name: result, expr: event.result}\n"
        + "        - {name: defects, expr: event.defects}\n"
        + f"      outputs: {outputs}\n"
        + "      rows:\n"
        + rows
    )


ROWS = (
    "        - {when: [failed, '> 5'], then: {action: scrap}}\n"
    "        - {when: [failed, '-'], then: {action: rework}}\n"
    "        - {when: ['in [\"passed\", \"conditionally_released\"]', '-'], then: {action: use}}\n"
)


def decide(text, result, defects):
    compiled = compile_ruleset(text)
    event = {"result": result, "defects": defects}
    evaluation = compiled.evaluate("inspection.recorded", {"event": event})
    return evaluation.decisions[0]


def test_first_returns_the_first_matching_row():
    decision = decide(table_doc("FIRST", ROWS), "failed", 7)
    assert (decision.rows, decision.output) == ((1,), {"action": "scrap"})
    decision = decide(table_doc("FIRST", ROWS), "failed", 2)
    assert (decision.rows, decision.output) == ((2,), {"action": "rework"})


def test_no_match_gives_the_default_or_nothing():
    text = table_doc("FIRST", ROWS) + "      default: {action: none}\n"
    decision = decide(text, "unknown", 0)
    assert (decision.matched, decision.rows, decision.output) == (False, (), {"action": "none"})
    assert decide(table_doc("FIRST", ROWS), "unknown", 0).output is None


def test_table_compiles_to_one_program_returning_a_flag_per_row():
    compiled = compile_ruleset(table_doc("FIRST", ROWS))
    table = compiled.by_event["inspection.recorded"][0].table
    assert table.program.return_type == "LIST<BOOL>"
    assert table.program.source.count("cel.bind") == 2  # each input evaluated once


def test_unique_with_two_matching_rows_is_a_runtime_error_naming_both():
    rows = (
        "        - {when: [failed, '> int(plant.limit)'], then: {action: scrap}}\n"
        "        - {when: [failed, '< 10'], then: {action: rework}}\n"
    )
    text = table_doc("UNIQUE", rows)
    compiled = compile_ruleset(text)
    with pytest.raises(RuleEvaluationError) as info:
        compiled.evaluate(
            "inspection.recorded",
            {"event": {"result": "failed", "defects": 5}, "plant": {"limit": 3}},
        )
    assert info.value.rows == (1, 2)
    assert info.value.code == "unique_violation"
    assert "1, 2" in info.value.message
    ok = compiled.evaluate(
        "inspection.recorded", {"event": {"result": "failed", "defects": 20}, "plant": {"limit": 3}}
    )
    assert ok.decisions[0].rows == (1,)


def test_unique_overlap_is_reported_at_save_time_when_detectable():
    rows = (
        "        - {when: [failed, '[1..10]'], then: {action: scrap}}\n"
        "        - {when: [failed, '>= 10'], then: {action: rework}}\n"
        "        - {when: [passed, '-'], then: {action: use}}\n"
    )
    compiled, problems = check_ruleset(table_doc("UNIQUE", rows))
    assert compiled is None
    [problem] = problems
    assert problem.code == "table_overlap"
    assert "rows 1 and 2" in problem.message
    assert problem.path == "/rules/0/table/rows/1"
    assert problem.line == 16


def test_unique_without_overlap_compiles():
    rows = (
        "        - {when: [failed, '[1..10)'], then: {action: scrap}}\n"
        "        - {when: [failed, '>= 10'], then: {action: rework}}\n"
    )
    assert check_ruleset(table_doc("UNIQUE", rows))[1] == []


def test_any_accepts_equal_outputs_and_refuses_different_ones():
    rows = (
        "        - {when: [failed, '> 5'], then: {action: scrap}}\n"
        "        - {when: [failed, '> 8'], then: {action: scrap}}\n"
        "        - {when: ['-', '> 9'], then: {action: rework}}\n"
    )
    text = table_doc("ANY", rows)
    assert decide(text, "failed", 9).output == {"action": "scrap"}
    with pytest.raises(RuleEvaluationError, match="different outputs"):
        decide(text, "failed", 10)


def test_rule_order_lists_every_hit_in_order():
    decision = decide(table_doc("RULE_ORDER", ROWS), "failed", 7)
    assert decision.rows == (1, 2)
    assert decision.output == [{"action": "scrap"}, {"action": "rework"}]


@pytest.mark.parametrize(
    ("aggregation", "expected"), [("SUM", 5.5), ("MIN", 1.5), ("MAX", 4), ("COUNT", 2)]
)
def test_collect_aggregations(aggregation, expected):
    rows = (
        "        - {when: [failed, '-'], then: {score: 1.5}}\n"
        "        - {when: ['-', '> 2'], then: {score: 4}}\n"
        "        - {when: [passed, '-'], then: {score: 100}}\n"
    )
    text = table_doc(
        "COLLECT", rows, aggregation=aggregation, outputs="[{name: score, type: double}]"
    )
    assert decide(text, "failed", 3).output == expected


def test_collect_without_aggregation_lists_outputs():
    assert decide(table_doc("COLLECT", ROWS), "passed", 0).output == [{"action": "use"}]


def test_bad_cell_names_row_and_column():
    rows = "        - {when: [failed, '> \"many\"'], then: {action: scrap}}\n"
    compiled, problems = check_ruleset(table_doc("FIRST", rows))
    assert compiled is None
    [problem] = problems
    assert problem.code == "cel_type_mismatch"
    assert problem.path == "/rules/0/table/rows/0/when/1"
    assert "row 1, column 'defects'" in problem.message
    assert problem.line == 15


def test_row_with_wrong_number_of_cells_and_bad_output():
    rows = "        - {when: [failed], then: {action: 3, colour: red}}\n"
    _, problems = check_ruleset(table_doc("FIRST", rows))
    messages = " | ".join(p.message for p in problems)
    assert "has 1 cells" in messages
    assert "'colour' is not an output" in messages


def test_aggregation_only_with_collect():
    text = table_doc("FIRST", ROWS, aggregation="SUM")
    _, problems = check_ruleset(text)
    assert any(p.code == "bad_table" and p.path.endswith("aggregation") for p in problems)


def test_table_actions_fire_with_the_deciding_row():
    text = table_doc("FIRST", ROWS).replace(
        "    table:\n",
        "    then: [{action: notify_role, params: {role: quality_lead, message: m}}]\n    table:\n",
    )
    evaluation = compile_ruleset(text).evaluate(
        "inspection.recorded", {"event": {"result": "failed", "defects": 1}}
    )
    [action] = evaluation.actions
    assert (action.rule_id, action.row) == ("t1", 2)
    assert evaluation.explanation()["decided_by"][0]["rows"] == [2]


def test_cells_translate_to_unary_tests():
    assert parse_cell("-", "INT").is_any
    assert parse_cell(None, "INT").is_any
    assert parse_cell("> 0", "DOUBLE").test("x") == "x > (0.0)"
    assert parse_cell("available", "STRING").test("x") == 'x == "available"'
    assert parse_cell('in ["hold","quarantine"]', "STRING").domain == (
        "set",
        frozenset({"hold", "quarantine"}),
    )
    assert parse_cell("(1..5]", "INT").test("x") == "x > (1) && x <= (5)"


@settings(max_examples=40, deadline=None)
@given(
    op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    threshold=st.integers(-5, 5),
    value=st.integers(-6, 6),
)
def test_comparison_cells_agree_with_python(op, threshold, value):
    rows = f"        - {{when: ['-', '{op} {threshold}'], then: {{action: hit}}}}\n"
    decision = decide(table_doc("FIRST", rows), "x", value)
    expected = eval(f"{value} {op} {threshold}")  # noqa: S307 - operators from a fixed list
    assert decision.matched is expected


@settings(max_examples=40, deadline=None)
@given(
    a=st.tuples(st.integers(0, 9), st.integers(0, 9)),
    b=st.tuples(st.integers(0, 9), st.integers(0, 9)),
)
def test_static_overlap_is_sound_for_integer_ranges(a, b):
    (a_lo, a_hi), (b_lo, b_hi) = sorted(a), sorted(b)
    cells = [[parse_cell(f"[{a_lo}..{a_hi}]", "INT")], [parse_cell(f"[{b_lo}..{b_hi}]", "INT")]]
    really = any(a_lo <= v <= a_hi and b_lo <= v <= b_hi for v in range(10))
    assert (overlapping_rows(cells) == [(0, 1)]) is really


def test_twenty_rows_compile_to_one_program():
    rows = "".join(
        f"        - {{when: [failed, '[{i * 10}..{i * 10 + 9}]'], then: {{action: a{i}}}}}\n"
        for i in range(20)
    )
    decision = decide(table_doc("UNIQUE", rows), "failed", 195)
    assert (decision.rows, decision.output) == ((20,), {"action": "a19"})
