"""A rule set's evaluation plan per event type (``rules.evaluation.RulePlan``): outcomes
memoised per rule set and per rule on the values read, constant outcomes of rules without
condition or table. Every test here would fail if a memo returned a stale outcome."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from rules.bindings import MISSING, UNKEYABLE, Bindings
from rules.cel import environment
from rules.compiler import compile_ruleset
from rules.errors import RuleEvaluationError

ET = "operation.confirmed"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def ruleset(*rules: tuple[str, str | None]):
    """A rule set of ``(id, when)`` rules on ``operation.confirmed`` (``None``: no when)."""
    lines = ["schema: interlock/ruleset/v1", "ruleset: plans", "rules:"]
    for rule_id, when in rules:
        lines += [
            f"  - id: {rule_id}",
            "    description: a rule under test",
            "    owner: quality",
            f"    on: [{ET}]",
            *([f"    when: '{when}'"] if when is not None else []),
            "    then:",
            "      - action: notify_role",
            f"        params: {{role: quality_lead, message: {rule_id}}}",
        ]
    return compile_ruleset("\n".join(lines) + "\n")


def outcome(compiled, event: dict, **context) -> dict[str, bool]:
    evaluation = compiled.evaluate(ET, {"event": event, "now": NOW, **context})
    return {d.rule_id: d.matched for d in evaluation.decisions}


# --- the rule set's memo ----------------------------------------------------------------


def test_events_differing_only_in_a_field_a_condition_reads_get_their_own_outcomes():
    compiled = ruleset(("big", "event.qty > 10.0"), ("line_a", 'event.work_center == "A"'))
    base = {"qty": 50.0, "work_center": "A", "operation": "0010"}
    assert outcome(compiled, base) == {"big": True, "line_a": True}
    # Each differs from a memoised one in one field one rule reads.
    assert outcome(compiled, {**base, "qty": 5.0}) == {"big": False, "line_a": True}
    assert outcome(compiled, {**base, "work_center": "B"}) == {"big": True, "line_a": False}
    # A field no rule reads: the rule set's outcome is reused, not evaluated again.
    plan = compiled.plan(ET)
    before = [r.evaluations for r in plan.rules]
    assert outcome(compiled, {**base, "operation": "0020"}) == {"big": True, "line_a": True}
    assert [r.evaluations for r in plan.rules] == before
    assert plan.memo.hits == 1


def test_a_parameter_read_by_key_is_part_of_the_key_and_the_others_are_not():
    compiled = ruleset(("over", 'event.qty > double(plant["limit"])'))
    plan = compiled.plan(ET)
    assert outcome(compiled, {"qty": 5.0}, plant={"limit": 2.0, "other": 1}) == {"over": True}
    assert outcome(compiled, {"qty": 5.0}, plant={"limit": 9.0, "other": 1}) == {"over": False}
    assert outcome(compiled, {"qty": 5.0}, plant={"limit": 2.0, "other": 2}) == {"over": True}
    assert plan.memo.hits == 1


def test_presence_is_part_of_the_key():
    compiled = ruleset(("scrapped", "has(event.scrap_qty)"))
    assert outcome(compiled, {"qty": 1.0, "scrap_qty": 0.0}) == {"scrapped": True}
    assert outcome(compiled, {"qty": 1.0}) == {"scrapped": False}
    assert outcome(compiled, {"qty": 2.0, "scrap_qty": 3.0}) == {"scrapped": True}


def test_a_subject_field_is_part_of_the_key():
    compiled = ruleset(("released", 'order.status == "released"'))
    assert outcome(compiled, {"qty": 1.0}, order={"status": "released"}) == {"released": True}
    assert outcome(compiled, {"qty": 1.0}, order={"status": "closed"}) == {"released": False}
    assert outcome(compiled, {"qty": 1.0}, order={"status": "released"}) == {"released": True}


def test_results_brought_by_the_context_are_part_of_the_key():
    # (``results.x`` must name an earlier rule; the whole map may hold others' results.)
    compiled = ruleset(("follow", '"upstream" in results && results[string("upstream")]'))
    assert outcome(compiled, {"qty": 1.0}, results={"upstream": True}) == {"follow": True}
    assert outcome(compiled, {"qty": 1.0}, results={"upstream": False}) == {"follow": False}
    assert outcome(compiled, {"qty": 1.0}) == {"follow": False}
    assert outcome(compiled, {"qty": 1.0}, results={"upstream": True}) == {"follow": True}


def test_a_later_rule_sees_the_results_of_this_event_not_of_a_memoised_one():
    compiled = ruleset(
        ("big", "event.qty > 10.0"),
        ("always", None),
        ("big_on_a", 'results.big && event.work_center == "A"'),
    )
    assert outcome(compiled, {"qty": 50.0, "work_center": "A"})["big_on_a"] is True
    assert outcome(compiled, {"qty": 5.0, "work_center": "A"})["big_on_a"] is False
    # The last rule's own memo: same work centre, other result of "big" than last time.
    assert outcome(compiled, {"qty": 60.0, "work_center": "A"})["big_on_a"] is True
    assert outcome(compiled, {"qty": 4.0, "work_center": "A"})["big_on_a"] is False


def test_a_rule_set_memo_that_rarely_hits_rests_and_the_answers_stay_right(monkeypatch):
    from rules import evaluation

    monkeypatch.setattr(evaluation, "PROBE", 4)
    monkeypatch.setattr(evaluation, "REST", 6)
    compiled = ruleset(("big", "event.qty > 10.0"), ("line_a", 'event.work_center == "A"'))
    plan = compiled.plan(ET)
    # Every event another qty: the rule set's memo never hits; "line_a"'s own memo does.
    answers = [outcome(compiled, {"qty": float(q), "work_center": "A"}) for q in range(4, 14)]
    assert answers == [{"big": q > 10, "line_a": True} for q in range(4, 14)]
    assert (plan.memo.misses, len(plan.memo)) == (4, 4)  # 4 probed (qty 4 to 7), 6 rested
    assert plan.rules[0].evaluations == 10
    assert plan.rules[1].evaluations == 1
    # Probing again: an input seen while probing is found; one seen while resting is not.
    assert outcome(compiled, {"qty": 5.0, "work_center": "A"}) == {"big": False, "line_a": True}
    assert outcome(compiled, {"qty": 12.0, "work_center": "B"}) == {"big": True, "line_a": False}
    assert (plan.memo.hits, plan.memo.misses) == (1, 5)


def test_a_rule_set_reading_the_time_has_no_memo_and_follows_the_clock():
    compiled = ruleset(
        ("recent", 'within(event.occurred_at, duration("1h"))'),
        ("big", "event.qty > 10.0"),
    )
    plan = compiled.plan(ET)
    assert plan.memo is None
    assert plan.rules[0].memo is None
    assert plan.rules[1].memo is not None
    event = {"qty": 50.0, "occurred_at": "2026-03-01T11:30:00Z"}
    assert outcome(compiled, event) == {"recent": True, "big": True}
    later = NOW + dt.timedelta(hours=2)
    assert outcome(compiled, event, now=later) == {"recent": False, "big": True}
    assert outcome(compiled, event) == {"recent": True, "big": True}
    assert plan.rules[0].evaluations == 3
    assert plan.rules[1].evaluations == 1  # memoised on its own


def test_a_rule_reading_now_is_never_memoised():
    compiled = ruleset(("late", "event.occurred_at < now"))
    assert compiled.plan(ET).memo is None
    event = {"occurred_at": "2026-03-01T11:30:00Z"}
    assert outcome(compiled, event) == {"late": True}
    assert outcome(compiled, event, now=NOW - dt.timedelta(hours=1)) == {"late": False}


def test_a_failed_evaluation_is_not_memoised():
    compiled = ruleset(("scrap", "event.scrap_qty > 1.0"))
    for _ in range(2):
        with pytest.raises(RuleEvaluationError) as info:
            outcome(compiled, {"qty": 1.0})
        assert info.value.rule_id == "scrap"
    plan = compiled.plan(ET)
    assert (len(plan.memo), plan.rules[0].evaluations) == (0, 2)


def test_a_value_the_key_does_not_know_is_never_part_of_a_key():
    class Odd(str):  # freeze() knows str, not its subclasses (nor does CEL)
        pass

    env = environment(ET)
    bindings = Bindings(env, {"event": {"qty": 1.0}, "plant": {"odd": Odd("x"), "ok": 1}})
    parts = bindings.frozen(("event.qty", ("plant", "odd"), ("plant", "ok"), ("plant", "no")))
    assert parts == [(float, 1.0), UNKEYABLE, (int, 1), MISSING]
    assert bindings.unkeyable
    compiled = ruleset(("odd", 'plant["odd"] == "x"'))
    plan = compiled.plan(ET)
    for _ in range(2):
        with pytest.raises(RuleEvaluationError):
            outcome(compiled, {"qty": 1.0}, plant={"odd": Odd("x")})
    assert (len(plan.memo), len(plan.rules[0].memo), plan.rules[0].evaluations) == (0, 0, 2)


# --- constant outcomes ------------------------------------------------------------------


def test_rules_without_condition_give_one_constant_evaluation_and_read_nothing():
    compiled = ruleset(("first", None), ("second", None))
    plan = compiled.plan(ET)
    assert plan.constant is not None
    assert plan.memo is None

    class Untouchable(dict):
        def get(self, *a):  # pragma: no cover - must not be read
            raise AssertionError("a constant rule set read the context")

    evaluation = compiled.evaluate(ET, Untouchable())
    assert evaluation is plan.constant
    assert [a.params["message"] for a in evaluation.actions] == ["first", "second"]
    assert evaluation.explanation() == {
        "ruleset": "plans",
        "version": None,
        "event_type": ET,
        "decided_by": [
            {"rule": "first", "matched": True, "rows": [], "output": None},
            {"rule": "second", "matched": True, "rows": [], "output": None},
        ],
        "evaluated": ["first", "second"],
        "actions": [
            {
                "action": "notify_role",
                "params": {"role": "quality_lead", "message": m},
                "rule": m,
                "row": None,
            }
            for m in ("first", "second")
        ],
    }


# --- memoised equals fresh --------------------------------------------------------------


def _shipped():
    from rules.services import rule_pack_paths

    return [p.read_text(encoding="utf-8") for p in rule_pack_paths()]


def _contexts():
    """Events of the shipped packs' types over a small grid of the values they read."""
    lots = [
        {"number": "L-1", "item": "STEEL", "status": s, "qty": 5.0, **extra}
        for s, extra in itertools.product(
            ("available", "blocked", "expired"),
            ({}, {"expires_at": dt.datetime(2026, 5, 1, tzinfo=dt.UTC)}),
        )
    ]
    plant = {
        "completion.threshold_pct": 98.0,
        "scrap.spike_threshold_pct": 5.0,
        "downtime.risk_minutes": 30.0,
        "count.variance_pct": 2.0,
    }
    for n, (lot, item, reserved, minute) in enumerate(
        itertools.product(lots, ("STEEL", "OTHER"), (True, False), (0, 40 * 24 * 60))
    ):
        occurred = dt.datetime(2026, 4, 20, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
        yield (
            "material.issued",
            {
                "event": {
                    "order": "WO-1",
                    "item": item,
                    "lot": "L-1",
                    "qty": 1.0,
                    "uom": "KG",
                    "reserved": reserved,
                    "occurred_at": occurred,
                },
                "lot": lot,
                "plant": plant,
                "now": NOW,
            },
        )
        order = {
            "number": "WO-1",
            "target_qty": 100.0,
            "confirmed_qty": float(n % 3),
            "status": "x",
        }
        yield (
            "production.completed",
            {
                "event": {"order": "WO-1", "lot": "FG", "qty": float(90 + n % 12), "uom": "EA"},
                "order": order,
                "plant": plant,
                "now": NOW,
            },
        )
        yield (
            "scrap.declared",
            {
                "event": {"order": "WO-1", "qty": 1.0, "uom": "EA", "window_qty": float(n % 7)},
                "order": order,
                "plant": plant,
                "now": NOW,
            },
        )


def _answers(compiled_sets, event_type, context):
    out = []
    for compiled in compiled_sets:
        try:
            evaluation = compiled.evaluate(event_type, context)
        except RuleEvaluationError as exc:  # errors must match too
            out.append(("error", exc.rule_id, str(exc)))
            continue
        out.append(json.dumps(evaluation.explanation(), sort_keys=True, default=str))
    return out


def test_memoised_answers_equal_fresh_ones_for_the_shipped_packs():
    """The same packs, warm (memos filled by every earlier context, twice over) and
    compiled afresh for each context (no memo at all), answer every context alike."""
    texts = _shipped()
    warm = [compile_ruleset(t) for t in texts]
    fresh = [compile_ruleset(t) for t in texts]
    for compiled in fresh:  # no memo at all: every rule evaluated for every context
        for event_type, rules in compiled.by_event.items():
            for rule in rules:
                rule.memo = None
            compiled.plan(event_type).memo = None
    contexts = list(_contexts())
    for event_type, context in contexts + contexts[::-1]:
        assert _answers(warm, event_type, context) == _answers(fresh, event_type, context)
    plans = [p for c in warm for p in c._plans.values()]
    assert sum(p.memo.hits for p in plans if p.memo) > len(contexts)
    assert sum(r.memo.hits for p in plans for r in p.rules if r.memo) > 0
