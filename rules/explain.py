"""Why a rule decided: the rule, its condition and the facts it read, for people.

An evaluation already says *which* rules matched (``Evaluation.explanation``). A person
answered "no" by a synchronous check, or an operator looking at a quarantined event,
also needs the *why*: the condition as the board wrote it (``when``, or the decision
table's inputs and the row that matched) and the values of the facts that condition
read, taken from the very context the rule was evaluated with.

The facts are found in the rule's CEL source by their roots (``event.x``, ``order.x``,
``lot.x``, ``inspection.x``, ``plant["key"]``, ``now``, ``results.rule``): every context
variable a rule can read is reached through one of them (``rules.cel`` declares no other).
Only matched rules are explained, so a check or an event pays for this only when it is
refused or acted on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from .compiler import CompiledRuleSet, Evaluation
from .definitions import Rule

_FIELD = re.compile(r"\b(event|order|lot|inspection|results)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_PARAMETER = re.compile(r"\bplant\s*\[\s*[\"']([^\"']+)[\"']\s*\]")
_NOW = re.compile(r"(?<![.\w])now\b")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def rule_sources(rule: Rule) -> list[str]:
    """The CEL sources of ``rule``: its condition and its table's inputs."""
    sources = [rule.when] if rule.when else []
    if rule.table is not None:
        sources += [i.expr for i in rule.table.inputs]
    return sources


def facts_read(rule: Rule, context: Mapping[str, Any]) -> dict[str, Any]:
    """``{"lot.status": "blocked", "plant[\\"x\\"]": 5.0, "now": …}``: every fact the rule's
    conditions name, with its value in ``context`` (``None`` when absent)."""
    facts: dict[str, Any] = {}
    for source in rule_sources(rule):
        for root, name in _FIELD.findall(source):
            top = context.get(root) or {}
            facts[f"{root}.{name}"] = _plain(top.get(name) if isinstance(top, Mapping) else None)
        for key in _PARAMETER.findall(source):
            facts[f'plant["{key}"]'] = _plain((context.get("plant") or {}).get(key))
        if _NOW.search(source):
            facts["now"] = _plain(context.get("now"))
    return facts


def condition_text(rule: Rule, rows: tuple[int, ...] = ()) -> dict[str, Any]:
    """The condition as written: ``when``, and for a table its inputs and matched rows."""
    out: dict[str, Any] = {}
    if rule.when:
        out["when"] = " ".join(rule.when.split())
    if rule.table is not None:
        table = rule.table
        out["table"] = {
            "hit_policy": table.hit_policy,
            "inputs": {i.name: i.expr for i in table.inputs},
            "rows": [
                {
                    "row": r + 1,
                    "when": dict(
                        zip((i.name for i in table.inputs), table.rows[r].when, strict=False)
                    ),
                    "then": table.rows[r].then,
                }
                for r in rows
                if 0 <= r < len(table.rows)
            ],
        }
    return out


def explain_rule(
    compiled: CompiledRuleSet,
    evaluation: Evaluation,
    rule_id: str,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Which rule (rule set, version, id, description), which condition, which facts."""
    rule = next((r for r in compiled.definition.rules if r.id == rule_id), None)
    decision = next((d for d in evaluation.decisions if d.rule_id == rule_id), None)
    out: dict[str, Any] = {
        "ruleset": evaluation.ruleset,
        "version": evaluation.version,
        "rule": rule_id,
    }
    if rule is None:
        return out
    rows = decision.rows if decision is not None else ()
    out["description"] = rule.description
    out["condition"] = condition_text(rule, rows)
    out["facts"] = facts_read(rule, {**context, "results": evaluation.results})
    if decision is not None and decision.output is not None and rule.table is not None:
        out["output"] = _plain(decision.output)
    return out
