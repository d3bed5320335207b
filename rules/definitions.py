"""Typed, frozen view of a rule set document (after JSON Schema validation).

The JSON Schema (``rules/schemas/ruleset.v1.json``) already refuses unknown keys; the
builders here refuse them again so that code constructing definitions from dicts can never
smuggle a key the schema does not know (the same belt-and-braces the Read the Docs config
parser uses).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SCHEMA_ID = "interlock/ruleset/v1"


def _only(data: dict[str, Any], cls: type, *, where: str) -> None:
    allowed = {f.name for f in fields(cls)} | set(getattr(cls, "_aliases", {}))
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")


@dataclass(frozen=True)
class ActionCall:
    """One action a rule asks for: a catalogue name and its parameters."""

    action: str
    params: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionCall:
        _only(data, cls, where="action")
        return cls(action=data["action"], params=dict(data.get("params") or {}))


@dataclass(frozen=True)
class TableInput:
    name: str
    expr: str


@dataclass(frozen=True)
class TableOutput:
    name: str
    type: str


@dataclass(frozen=True)
class TableRow:
    """``when`` has one cell (a unary test) per input; ``then`` one value per output."""

    when: tuple[Any, ...]
    then: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class DecisionTable:
    hit_policy: str
    inputs: tuple[TableInput, ...]
    outputs: tuple[TableOutput, ...]
    rows: tuple[TableRow, ...]
    aggregation: str | None = None
    default: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionTable:
        _only(data, cls, where="table")
        rows = []
        for row in data["rows"]:
            _only(row, TableRow, where="table row")
            rows.append(TableRow(tuple(row["when"]), dict(row["then"]), row.get("description", "")))
        return cls(
            hit_policy=data["hit_policy"],
            inputs=tuple(TableInput(i["name"], i["expr"]) for i in data["inputs"]),
            outputs=tuple(TableOutput(o["name"], o["type"]) for o in data["outputs"]),
            rows=tuple(rows),
            aggregation=data.get("aggregation"),
            default=data.get("default"),
        )


@dataclass(frozen=True)
class Rule:
    """A rule: on these event types, when the condition holds (or the table decides), do."""

    id: str
    description: str
    owner: str
    on: tuple[str, ...]
    when: str | None = None
    table: DecisionTable | None = None
    then: tuple[ActionCall, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        _only(data, cls, where="rule")
        return cls(
            id=data["id"],
            description=data["description"],
            owner=data["owner"],
            on=tuple(data["on"]),
            when=data.get("when"),
            table=DecisionTable.from_dict(data["table"]) if "table" in data else None,
            then=tuple(ActionCall.from_dict(a) for a in data.get("then") or ()),
        )


@dataclass(frozen=True)
class RuleTest:
    """An example event and what the rule set must do with it."""

    name: str
    event_type: str
    event: dict[str, Any]
    expect: dict[str, Any]
    context: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleTest:
        _only(data, cls, where="test")
        return cls(
            name=data["name"],
            event_type=data["event_type"],
            event=dict(data["event"]),
            expect=dict(data["expect"]),
            context=dict(data.get("context") or {}),
        )


@dataclass(frozen=True)
class RuleSetDefinition:
    """A whole rule set document."""

    schema: str
    ruleset: str
    rules: tuple[Rule, ...]
    description: str = ""
    owner: str = ""
    tests: tuple[RuleTest, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleSetDefinition:
        _only(data, cls, where="rule set")
        return cls(
            schema=data["schema"],
            ruleset=data["ruleset"],
            description=data.get("description", ""),
            owner=data.get("owner", ""),
            rules=tuple(Rule.from_dict(r) for r in data["rules"]),
            tests=tuple(RuleTest.from_dict(t) for t in data.get("tests") or ()),
        )
