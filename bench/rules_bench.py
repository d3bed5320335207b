"""Rules engine throughput, side by side with GoRules zen-engine on the same inputs.

Measures, on one core (this process):

1. a compiled CEL condition against a prepared activation (the pipeline binds an event once
   and evaluates every rule of the rule set against it), and the same including binding;
2. a 20-row decision table (FIRST and UNIQUE hit policies) — one CEL program per table;
3. zen-engine evaluating the same condition (``zen.compile_expression``) and the same
   table (a JDM decision graph with a ``decisionTableNode``).

Targets (issue 5): ≥150k condition evals/s, ≥50k table decisions/s.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

from rules.cel import environment
from rules.compiler import compile_ruleset

SECONDS = 1.0

CONDITION_CEL = 'event.qty > 10.0 && event.work_center == "WC-1" && event.sequence >= 10'
CONDITION_ZEN = 'event.qty > 10 and event.work_center == "WC-1" and event.sequence >= 10'

RESULTS = ["passed", "failed", "conditionally_released", "pending"]


def _rows() -> list[tuple[str, int, int, str]]:
    """20 disjoint rows: result x defect band → action."""
    rows = []
    for index in range(20):
        result = RESULTS[index % 4]
        lo = (index // 4) * 10
        rows.append((result, lo, lo + 9, f"action_{index}"))
    return rows


def _table_yaml(policy: str) -> str:
    lines = [
        "schema: interlock/ruleset/v1",
        "ruleset: bench",
        "rules:",
        "  - id: table",
        "    description: 20-row table",
        "    owner: bench",
        "    on: [inspection.recorded]",
        "    then: [{action: notify_role, params: {role: quality_lead, message: decided}}]",
        "    table:",
        f"      hit_policy: {policy}",
        "      inputs:",
        "        - {name: result, expr: event.result}",
        "        - {name: defects, expr: event.defects}",
        "      outputs: [{name: action, type: string}]",
        "      rows:",
    ]
    for result, lo, hi, action in _rows():
        lines.append(f"        - {{when: [{result}, '[{lo}..{hi}]'], then: {{action: {action}}}}}")
    return "\n".join(lines) + "\n"


def _zen_table() -> dict:
    rules = [
        {"_id": f"r{i}", "i1": json.dumps(r), "i2": f"[{lo}..{hi}]", "o1": json.dumps(a)}
        for i, (r, lo, hi, a) in enumerate(_rows())
    ]
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {
                "id": "t",
                "type": "decisionTableNode",
                "name": "Table",
                "position": {"x": 0, "y": 0},
                "content": {
                    "hitPolicy": "first",
                    "inputs": [
                        {"id": "i1", "name": "result", "field": "event.result"},
                        {"id": "i2", "name": "defects", "field": "event.defects"},
                    ],
                    "outputs": [{"id": "o1", "name": "action", "field": "action"}],
                    "rules": rules,
                },
            },
            {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 0, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "t", "type": "edge"},
            {"id": "e2", "sourceId": "t", "targetId": "out", "type": "edge"},
        ],
    }


def _rate(fn: Callable[[int], object], items: list) -> float:
    """Calls per second of ``fn`` over ``items`` (cycled) for about ``SECONDS``."""
    for item in items[:50]:  # warm up
        fn(item)
    count = 0
    cycle = itertools.cycle(items)
    start = time.perf_counter()
    deadline = start + SECONDS
    while True:
        for _ in range(1000):
            fn(next(cycle))
        count += 1000
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _events() -> list[dict]:
    return [{"result": RESULTS[i % 4], "defects": (i * 7) % 50, "lot": f"L{i}"} for i in range(200)]


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench rules")
    parser.add_argument("--quick", action="store_true", help="0.3 s per figure instead of 1 s")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    global SECONDS
    if args.quick:
        SECONDS = 0.3
    try:
        import zen
    except ImportError:  # pragma: no cover - bench extra not installed
        zen = None
        print("zen-engine not installed (pip install -e .[bench]); showing our figures only")

    rows: list[tuple[str, float, float | None]] = []

    # 1. condition
    env = environment("operation.confirmed")
    condition = env.compile(CONDITION_CEL)
    events = [
        {"qty": float(i % 30), "work_center": "WC-1" if i % 3 else "WC-2", "sequence": i % 20}
        for i in range(200)
    ]
    activations = [env.activation({"event": e}) for e in events]
    ours = _rate(condition.evaluate, activations)
    ours_bound = _rate(lambda e: condition.evaluate(env.activation({"event": e})), events)
    theirs = None
    if zen:
        expression = zen.compile_expression(CONDITION_ZEN)
        contexts = [{"event": e} for e in events]
        assert [expression.evaluate(c) for c in contexts] == [
            condition.evaluate(a) for a in activations
        ], "zen and CEL disagree on the condition"
        theirs = _rate(expression.evaluate, contexts)
    rows.append(("condition, prepared activation", ours, theirs))
    rows.append(("condition, bind event + eval", ours_bound, theirs))

    # 2. 20-row decision table
    table_events = _events()
    zen_decision = zen.ZenEngine().create_decision(json.dumps(_zen_table())) if zen else None
    for policy in ("FIRST", "UNIQUE"):
        compiled = compile_ruleset(_table_yaml(policy))
        table = compiled.by_event["inspection.recorded"][0].table
        tenv = environment("inspection.recorded")
        tacts = [tenv.activation({"event": e}) for e in table_events]
        ours_table = _rate(table.evaluate, tacts)
        ours_full = _rate(
            lambda e, c=compiled: c.evaluate("inspection.recorded", {"event": e}), table_events
        )
        theirs_table = None
        if zen_decision is not None:
            for e, a in zip(table_events, tacts, strict=True):
                got = zen_decision.evaluate({"event": e})["result"].get("action")
                outcome = table.evaluate(a).output
                assert got == (outcome or {}).get("action"), "zen and our table disagree"
            theirs_table = _rate(lambda e: zen_decision.evaluate({"event": e}), table_events)
        rows.append((f"20-row table {policy}, prepared activation", ours_table, theirs_table))
        rows.append((f"20-row table {policy}, full rule set evaluate()", ours_full, theirs_table))

    print(f"{'benchmark':<48}{'interlock/s':>14}{'zen/s':>14}{'ratio':>8}")
    for name, ours_rate, zen_rate in rows:
        zen_text = f"{zen_rate:>14,.0f}" if zen_rate else f"{'-':>14}"
        ratio = f"{ours_rate / zen_rate:>7.2f}x" if zen_rate else f"{'-':>8}"
        print(f"{name:<48}{ours_rate:>14,.0f}{zen_text}{ratio}")
    print("targets: condition ≥150,000/s, 20-row table ≥50,000/s (one core)")
    if args.json:
        from bench.report import emit, figures, result

        def pair(name: str, rate: float, zen_rate: float | None) -> tuple[dict, dict | None]:
            # One core, in process: CPU-ms per evaluation is the inverse of the rate.
            nan = float("nan")
            ours_f = figures(
                f"Interlock CEL: {name}",
                events_per_s=rate,
                p50_ms=nan,
                p99_ms=nan,
                cpu_ms_per_event=1000 / rate,
            )
            zen_f = (
                figures(
                    f"zen-engine: {name}",
                    events_per_s=zen_rate,
                    p50_ms=nan,
                    p99_ms=nan,
                    cpu_ms_per_event=1000 / zen_rate,
                )
                if zen_rate
                else None
            )
            return ours_f, zen_f

        head = pair(*rows[0])
        emit(
            result(
                "rules",
                head[0],
                head[1],
                command="python -m bench rules " + " ".join(argv),
                rows=[dict(zip(("product", "baseline"), pair(*r), strict=True)) for r in rows],
            )
        )
    return 0
