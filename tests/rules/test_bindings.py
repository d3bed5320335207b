"""Per-event bindings and memoised rule outcomes (``rules.celast``, ``rules.bindings``).

An event binds only what its rules read, each variable once; a rule whose inputs equal
those of an earlier evaluation reuses its outcome, and one that reads the time never does.
"""

from __future__ import annotations

import datetime as dt

import pytest

from rules.bindings import MISSING, Bindings, Memo, freeze
from rules.cel import environment
from rules.compiler import compile_ruleset
from rules.errors import RuleEvaluationError

ENV = environment("operation.confirmed")
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def reads(source: str):
    return ENV.compile(source).reads


def ruleset(when: str, *, on: str = "operation.confirmed", extra: str = "") -> object:
    return compile_ruleset(
        f"""\
schema: interlock/ruleset/v1
ruleset: memo
rules:
  - id: check
    description: the rule under test
    owner: quality
    on: [{on}]
    when: '{when}'
    then:
      - action: notify_role
        params: {{role: quality_lead, message: hit}}
{extra}"""
    )


def matched(compiled, event: dict, **context) -> bool:
    evaluation = compiled.evaluate("operation.confirmed", {"event": event, "now": NOW, **context})
    return evaluation.decisions[0].matched


# --- what an expression reads -----------------------------------------------------------


def test_reads_names_the_fields_and_the_constant_parameter_keys():
    got = reads('event.qty > 1.0 && plant["scrap.limit"] > 0.0 && order.status == "x"')
    assert got.names == ("event.qty", "order.status")
    assert got.maps == (("plant", ("scrap.limit",)),)
    assert "now" not in got.names
    assert "within" not in got.functions


def test_a_map_used_other_than_by_constant_key_is_read_whole():
    assert reads('size(plant) > 0 && plant["a"] == 1').map_keys("plant") is None
    assert reads('"a" in plant').map_keys("plant") is None
    assert reads("plant[event.work_center] == 1").map_keys("plant") is None
    assert reads("event.qty > 0.0").map_keys("plant") is False


def test_a_comprehension_variable_shadowing_a_map_counts_as_reading_it_whole():
    assert reads("[1, 2].exists(plant, plant > 1)").map_keys("plant") is None


def test_results_presence_and_time_are_seen():
    got = reads('results.a == true && has(event.scrap_qty) && results["b"] == 1')
    assert got.map_keys("results") == ("a", "b")
    assert got.map_keys("_") == ("event.scrap_qty",)
    assert "within" in reads('within(event.occurred_at, duration("1h"))').functions
    assert "now" in reads("event.occurred_at < now").names


# --- bindings ---------------------------------------------------------------------------


def test_bindings_convert_only_what_is_read():
    context = {
        "event": {"qty": 3, "occurred_at": "not a timestamp", "work_center": "WC"},
        "plant": {"a": 1, "b": dt.timedelta(minutes=2)},
        "now": NOW,
    }
    bindings = Bindings(ENV, context)
    data = bindings.data(reads('event.qty > 1.0 && plant["b"] > 0.0'), {})
    # qty converted to the declared double; the unread (and unparsable) timestamp untouched.
    assert data == {"event.qty": 3.0, "plant": {"b": 120.0}}
    assert bindings.value("event.scrap_qty") is MISSING


def test_a_broken_unread_field_does_not_fail_the_rules_that_do_not_read_it():
    compiled = ruleset("event.qty > 1.0")
    assert matched(compiled, {"qty": 5.0, "occurred_at": "garbage"}) is True


def test_a_missing_field_a_rule_reads_still_fails_naming_the_rule():
    compiled = ruleset("event.scrap_qty > 1.0")
    with pytest.raises(RuleEvaluationError) as info:
        matched(compiled, {"qty": 5.0})
    assert info.value.rule_id == "check"


# --- memo -------------------------------------------------------------------------------


def test_a_rule_is_evaluated_once_per_distinct_input_and_reused_after():
    compiled = ruleset('event.qty > plant["limit"]')
    rule = compiled.by_event["operation.confirmed"][0]
    plant = {"limit": 2.0, "unrelated": "x"}
    assert matched(compiled, {"qty": 5.0}, plant=plant) is True
    assert matched(compiled, {"qty": 1.0}, plant=plant) is False
    assert rule.evaluations == 2
    # Equal inputs: the earlier outcome, without evaluating.
    assert matched(compiled, {"qty": 5.0, "work_center": "other"}, plant=plant) is True
    assert matched(compiled, {"qty": 1.0}, plant={"limit": 2.0, "unrelated": "y"}) is False
    assert rule.evaluations == 2
    assert compiled.plan("operation.confirmed").memo.hits == 2  # the rule set's outcome
    # A parameter it reads changed: evaluated again, with the new answer.
    assert matched(compiled, {"qty": 5.0}, plant={"limit": 9.0}) is False
    assert rule.evaluations == 3


def test_a_rule_that_reads_the_time_is_never_memoised():
    for when in ("event.occurred_at < now", 'within(event.occurred_at, duration("1h"))'):
        compiled = ruleset(when)
        rule = compiled.by_event["operation.confirmed"][0]
        assert rule.memo is None
        event = {"qty": 1.0, "occurred_at": "2026-03-01T11:30:00Z"}
        later = NOW + dt.timedelta(hours=2)
        first = matched(compiled, event)
        second = matched(compiled, event, now=later)
        assert rule.evaluations == 2
        assert (first, second) == ((True, False) if "within" in when else (True, True))


def test_a_rule_reading_results_is_keyed_on_them():
    compiled = ruleset(
        "event.qty > 1.0",
        extra="""\
  - id: follow
    description: reads the first rule's result
    owner: quality
    on: [operation.confirmed]
    when: results.check && event.work_center == "WC-1"
    then:
      - action: notify_role
        params: {role: quality_lead, message: follow}
""",
    )
    follow = compiled.by_event["operation.confirmed"][1]
    outcomes = [
        compiled.evaluate("operation.confirmed", {"event": e, "now": NOW}).decisions[1].matched
        for e in (
            {"qty": 5.0, "work_center": "WC-1"},
            {"qty": 0.5, "work_center": "WC-1"},
            {"qty": 7.0, "work_center": "WC-1"},
        )
    ]
    assert outcomes == [True, False, True]
    assert follow.evaluations == 2  # the third has the first's inputs (results.check true)


def test_memo_keys_tell_apart_what_cel_tells_apart():
    assert len({freeze(1), freeze(True), freeze(1.0), freeze("1")}) == 4
    assert freeze(0.0) != freeze(-0.0)
    # Zero's key holds its sign: it must still differ from every other number's.
    assert len({freeze(0.0), freeze(1.0), freeze(-0.0), freeze(-1.0), freeze(0)}) == 5
    assert freeze({"a": 1, "b": 2}) != freeze({"b": 2, "a": 1})  # map iteration order
    assert freeze([1, [2.0]]) == freeze([1, [2.0]])
    assert freeze(MISSING) != freeze(None)


def test_memo_is_bounded_and_evicts_the_least_recently_used():
    memo = Memo(size=2)
    memo.put(("a",), 1)
    memo.put(("b",), 2)
    assert memo.get(("a",)) == 1  # a is now the most recently used
    memo.put(("c",), 3)
    assert memo.get(("b",)) is MISSING
    assert (memo.get(("a",)), memo.get(("c",)), len(memo)) == (1, 3, 2)


def test_memoised_outcomes_equal_fresh_ones_for_the_shipped_packs():
    from rules.services import rule_pack_paths

    for path in rule_pack_paths():
        compiled = compile_ruleset(path.read_text(encoding="utf-8"))
        first = [(r.name, r.passed, r.message) for r in compiled.run_tests()]
        again = [(r.name, r.passed, r.message) for r in compiled.run_tests()]  # memo hits
        assert first == again
        assert all(passed for _, passed, _ in first), (path.name, first)


def test_a_zero_and_a_one_are_different_inputs():
    """0.0 and 1.0 once had the same key: a rule memoised on 0.0 answered 1.0 alike."""
    compiled = ruleset("event.qty > 0.5")
    assert matched(compiled, {"qty": 0.0}) is False
    assert matched(compiled, {"qty": 1.0}) is True
    assert matched(compiled, {"qty": -0.0}) is False
    assert matched(compiled, {"qty": -1.0}) is False


def test_subject_facts_are_built_only_when_a_rule_reads_them():
    from orchestrator.ingest.rules_bridge import Facts

    built = []

    def order_facts(order):
        built.append(order)
        return {"status": order}

    compiled = ruleset("event.qty > 1.0")
    context = {"event": {"qty": 5.0}, "order": Facts(order_facts, "released"), "now": NOW}
    assert compiled.evaluate("operation.confirmed", context).decisions[0].matched is True
    assert built == []
    reading = ruleset('order.status == "released"')
    assert reading.evaluate("operation.confirmed", context).decisions[0].matched is True
    assert dict(context["order"]) == {"status": "released"}
    assert built == ["released"]  # built once, on the first read
