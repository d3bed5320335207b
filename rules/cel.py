"""The one adapter around ``cel-expr-python`` (pinned ``==0.1.3``); no other module imports it.

What it does for the rest of the app:

* **Typed declarations per event type.** CEL's checker only knows field types of protobuf
  messages, and we have JSON Schemas, not protos. CEL resolves a dotted name such as
  ``event.lot.status`` as a *qualified identifier* when a variable of that exact name is
  declared, so we declare one typed variable per leaf of the schema (``event.qty: double``,
  ``event.occurred_at: timestamp``…). A misspelt field is then an "undeclared reference"
  and a type mismatch a "no matching overload", both with line:column, at save time.
  The activation supplies the same flattened names.
* **Compile once, evaluate many times.** :class:`CompiledExpression` keeps the checked
  program and what it can read (``reads``, from its AST: :mod:`rules.celast`); a rule set
  binds only those variables of an event, each once (:mod:`rules.bindings`).
  :meth:`CelEnvironment.activation` binds every declared variable (tests, benchmarks).
* **Errors are errors.** A CEL error value (missing field, division by zero, a custom
  function that raised) raises :class:`CelRuntimeError`; the caller names the rule.
* **Caps.** cel-expr-python 0.1.3 exposes no runtime cost tracker or evaluation budget, so
  the cost is bounded at compile time: source length (:data:`MAX_EXPRESSION_LENGTH`),
  AST size (:data:`MAX_AST_NODES`) and comprehension nesting
  (:data:`MAX_COMPREHENSION_DEPTH`), read from the serialized checked AST (``celast``). With those, an
  evaluation is linear in the size of the event's lists (quadratic at most at depth 2).
* **Domain functions.** ``within(timestamp, duration)`` and ``to_uom(qty, from, to)``.
* **Optional fields.** ``has(event.scrap_qty)`` is CEL's presence test, but on our
  flattened names the checker resolves ``event.scrap_qty`` as the variable itself, so
  ``has()`` would quietly return the *value* (and fail when absent). :func:`rewrite_has`
  turns ``has(<declared name>)`` into ``_["<declared name>"]``, a lookup in a presence
  map bound with every event, written to the *same length* so that CEL's line:column of
  any other problem still points into the author's text.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cel_expr_python import cel as _cel
from cel_expr_python.ext import ext_bindings as _ext_bindings
from cel_expr_python.ext import ext_strings as _ext_strings

from . import event_schemas
from .celast import AstCost, Reads, ast_cost, reads_of

#: Longest CEL expression (characters) a rule may contain.
MAX_EXPRESSION_LENGTH = 2000
#: Largest checked AST (node count, macros expanded) of one expression.
MAX_AST_NODES = 400
#: Deepest nesting of comprehensions (``all``/``exists``/``map``/``filter``).
MAX_COMPREHENSION_DEPTH = 2

T = _cel.Type

#: Map of declared name → present in this evaluation; what ``has(event.x)`` reads.
PRESENCE_VARIABLE = "_"
_HAS = re.compile(r"\bhas\(\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\)")


def _inside_string(source: str, index: int) -> bool:
    """Is ``index`` inside a quoted CEL string literal? (enough for ``has(`` detection)"""
    quote = None
    i = 0
    while i < index:
        char = source[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        i += 1
    return quote is not None


def rewrite_has(source: str, declared: set[str] | dict[str, Any]) -> tuple[str, bool]:
    """``has(event.x)`` → ``_["event.x"]`` (padded to the same length) for declared names.

    Names that are not declared stay as written, so the checker reports them ("undeclared
    reference") and ``has(plant.x)`` keeps its native map meaning. Returns the new source
    and whether anything was rewritten.
    """
    changed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        name = match[1]
        if name not in declared or _inside_string(source, match.start()):
            return match[0]
        changed = True
        text = f'{PRESENCE_VARIABLE}["{name}"]'
        return text + " " * (len(match[0]) - len(text))

    return _HAS.sub(replace, source), changed


#: Variables every event type sees besides ``event.*`` and the context objects.
FIXED_VARIABLES: dict[str, Any] = {
    "plant": T.Map(T.STRING, T.DYN),  # site parameters of the plant (plants.SiteParameter)
    "results": T.Map(T.STRING, T.DYN),  # outputs of earlier rules, by rule id
    "now": T.TIMESTAMP,  # evaluation time (the event's time in simulations)
    PRESENCE_VARIABLE: T.Map(T.STRING, T.BOOL),  # has(event.x): see rewrite_has()
}


# --- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CelIssue:
    """One compile problem, positioned inside the expression (1-based line and column)."""

    code: str
    message: str
    line: int = 1
    column: int = 1


class CelCompileError(Exception):
    """The expression was refused; ``issues`` says why and where."""

    def __init__(self, issues: list[CelIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.line}:{i.column}: {i.message}" for i in issues))


class CelRuntimeError(Exception):
    """Evaluation produced a CEL error value (or the library raised)."""


_ISSUE = re.compile(
    r"ERROR: <input>:(\d+):(\d+): (.*?)(?:\n \|[^\n]*)*(?=\nERROR: |\s*\[\w+\]$|$)", re.S
)


def _classify(message: str) -> tuple[str, str]:
    if message.startswith("undeclared reference to"):
        name = message.split("'")[1] if "'" in message else ""
        hint = ""
        if name.startswith(("event.", "order.", "lot.", "inspection.")):
            hint = " (not a field of this event type's schema)"
        return "cel_unknown_field", f"{message.split(' (in container')[0]}{hint}"
    if message.startswith("found no matching overload"):
        hint = ""
        if "(double, int)" in message or "(int, double)" in message:
            hint = "; CEL does not mix int and double: write 10.0 instead of 10, or double(x)"
        return "cel_type_mismatch", message + hint
    if message.startswith("Syntax error"):
        return "cel_syntax", message
    return "cel_invalid", message


def _parse_issues(text: str) -> list[CelIssue]:
    issues = []
    for match in _ISSUE.finditer(text):
        code, message = _classify(match.group(3).strip())
        issues.append(CelIssue(code, message, int(match.group(1)), int(match.group(2))))
    return issues or [CelIssue("cel_invalid", text)]


# --- domain functions -------------------------------------------------------------------

_now: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("cel_now", default=None)

#: Canonical unit → (dimension, factor to the dimension's base unit). Plant-native units are
#: mapped to canonical ones by plants/ before rules see an event; this table converts
#: between canonical units of one dimension.
UOM_FACTORS: dict[str, tuple[str, float]] = {
    "EA": ("count", 1.0),
    "PC": ("count", 1.0),
    "DZ": ("count", 12.0),
    "KG": ("mass", 1.0),
    "G": ("mass", 0.001),
    "T": ("mass", 1000.0),
    "LB": ("mass", 0.45359237),
    "M": ("length", 1.0),
    "MM": ("length", 0.001),
    "CM": ("length", 0.01),
    "KM": ("length", 1000.0),
    "L": ("volume", 1.0),
    "ML": ("volume", 0.001),
    "M3": ("volume", 1000.0),
    "S": ("time", 1.0),
    "MIN": ("time", 60.0),
    "H": ("time", 3600.0),
}


def _to_uom(qty: float, source: str, target: str) -> float:
    try:
        dim_from, factor_from = UOM_FACTORS[source.upper()]
        dim_to, factor_to = UOM_FACTORS[target.upper()]
    except KeyError as exc:
        raise ValueError(f"to_uom: unknown unit {exc.args[0]!r}") from None
    if dim_from != dim_to:
        raise ValueError(f"to_uom: cannot convert {source} ({dim_from}) to {target} ({dim_to})")
    return float(qty) * factor_from / factor_to


def _within(moment: dt.datetime, span: dt.timedelta) -> bool:
    now = _now.get() or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return abs(now - moment) <= span


_FUNCTIONS = [
    _cel.FunctionDecl(
        "within",
        [
            _cel.Overload(
                "within_timestamp_duration", T.BOOL, [T.TIMESTAMP, T.DURATION], impl=_within
            )
        ],
    ),
    _cel.FunctionDecl(
        "to_uom",
        [
            _cel.Overload(
                "to_uom_double_string_string",
                T.DOUBLE,
                [T.DOUBLE, T.STRING, T.STRING],
                impl=_to_uom,
            )
        ],
    ),
]

#: Functions whose result depends on more than their arguments (``within`` reads the
#: evaluation time): a rule calling one is never memoised (``rules.bindings``).
TIME_DEPENDENT_FUNCTIONS = frozenset({"within"})
#: Variables likewise: a rule reading one is never memoised.
TIME_DEPENDENT_VARIABLES = frozenset({"now"})

FUNCTION_DOCS = {
    "within(timestamp, duration) -> bool": "true when the moment is at most that far from now",
    "to_uom(double, string, string) -> double": "convert a quantity between canonical units "
    "of one dimension (EA/DZ, KG/G/T/LB, M/MM/CM/KM, L/ML/M3, S/MIN/H); other pairs are errors",
}


class evaluation_time:
    """``with evaluation_time(now): ...`` — the instant ``within()`` compares against."""

    def __init__(self, now: dt.datetime | None) -> None:
        self.now = now

    def __enter__(self) -> None:
        self._token = _now.set(self.now)

    def __exit__(self, *exc: object) -> None:
        _now.reset(self._token)


# --- schema → declarations ----------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """One typed CEL variable and where its value comes from in the context data."""

    name: str
    type: Any
    root: str
    path: tuple[str, ...]
    kind: str  # how to convert the JSON value: str, int, double, bool, timestamp, dyn, list


def _leaf(schema: Mapping[str, Any]) -> tuple[Any, str] | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["number", "null"]: nullable, declared as the non-null type
        kind = next((k for k in kind if k != "null"), None)
    if kind == "string":
        if schema.get("format") == "date-time":
            return T.TIMESTAMP, "timestamp"
        return T.STRING, "str"
    if kind == "integer":
        return T.INT, "int"
    if kind == "number":
        return T.DOUBLE, "double"
    if kind == "boolean":
        return T.BOOL, "bool"
    if kind == "array":
        item = _leaf(schema.get("items") or {})
        element = item[0] if item else T.Map(T.STRING, T.DYN)
        return T.List(element), "list"
    if kind == "object" and not schema.get("properties"):
        return T.Map(T.STRING, T.DYN), "dyn"
    if kind is None:
        return T.DYN, "dyn"
    return None


def declarations_for(root: str, schema: Mapping[str, Any]) -> list[Declaration]:
    """Flatten an object schema into ``root.a.b`` typed variables (see module docstring)."""
    out: list[Declaration] = []

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for name, child in (node.get("properties") or {}).items():
            here = (*path, name)
            if child.get("type") == "object" and child.get("properties"):
                walk(child, here)
                continue
            leaf = _leaf(child)
            if leaf is not None:
                out.append(Declaration(".".join((root, *here)), leaf[0], root, here, leaf[1]))

    walk(schema, ())
    return out


def _parse_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def to_cel_value(value: Any) -> Any:
    """Plain JSON-ish Python → values CEL accepts (Decimal → float, date → timestamp,
    timedelta → seconds as a double: cel-expr-python refuses a ``timedelta`` inside a
    ``dyn`` map such as ``plant``, so duration parameters read as seconds in rules)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): to_cel_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_cel_value(v) for v in value]
    if isinstance(value, dt.datetime):
        return _parse_timestamp(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


_CONVERT = {
    "str": str,
    "int": int,
    "double": float,
    "bool": bool,
    "timestamp": _parse_timestamp,
    "dyn": to_cel_value,
    "list": to_cel_value,
}


# --- environments -------------------------------------------------------------------------


class CompiledExpression:
    """A checked CEL program, evaluated many times against activations of its environment."""

    __slots__ = ("_program", "cost", "reads", "return_type", "source", "type")

    def __init__(self, source: str, program: Any, cost: AstCost, reads: Reads) -> None:
        self.source = source
        self._program = program
        self.cost = cost
        #: The variables (and map keys) it can read: what an event must bind for it.
        self.reads = reads
        self.type = program.return_type()
        self.return_type = self.type.name()

    def evaluate(self, activation: Any) -> Any:
        """The plain Python value; raises :class:`CelRuntimeError` on a CEL error value."""
        try:
            value = self._program.eval(activation)
        except RuntimeError as exc:  # the library raises for some failures, e.g. bad types
            raise CelRuntimeError(str(exc)) from exc
        if value.type() == T.ERROR:
            raise CelRuntimeError(str(value.value()))
        return value.plain_value()


class CelEnvironment:
    """The CEL variables and functions for one event type (or none: ``event_type=None``)."""

    def __init__(self, event_type: str | None, extra: Mapping[str, Any] | None = None) -> None:
        self.event_type = event_type
        decls: list[Declaration] = []
        if event_type is not None:
            schema = event_schemas.event_schema(event_type)
            if schema is None:
                raise KeyError(event_type)
            decls += declarations_for("event", schema)
        for name in event_schemas.CONTEXT_OBJECTS:
            decls += declarations_for(name, event_schemas.object_schema(name))
        self.declarations = decls
        by_root: dict[str, list[tuple[str, tuple[str, ...], Any]]] = {}
        for d in decls:
            by_root.setdefault(d.root, []).append((d.name, d.path, _CONVERT[d.kind]))
        self._by_root = [(root, tuple(items)) for root, items in by_root.items()]
        #: Declared name → (root, path, conversion): how to bind one variable alone.
        self.sources = {d.name: (d.root, d.path, _CONVERT[d.kind]) for d in decls}
        variables = {d.name: d.type for d in decls}
        variables.update(FIXED_VARIABLES)
        variables.update(extra or {})
        self.variables = variables
        self._env = _cel.NewEnv(
            variables=variables,
            functions=_FUNCTIONS,
            extensions=[_ext_bindings.ExtBindings(), _ext_strings.ExtStrings()],
        )
        self._derived: dict[tuple[str, ...], CelEnvironment] = {}
        self._names = tuple(d.name for d in decls)
        #: Set once an expression uses ``has()``: only then is the presence map bound.
        self.uses_presence = False

    def with_variables(self, extra: Mapping[str, Any]) -> CelEnvironment:
        """This environment plus more variables (a decision table cell's input), cached."""
        key = tuple(sorted(f"{k}:{v.name()}" for k, v in extra.items()))
        if key not in self._derived:
            self._derived[key] = CelEnvironment(self.event_type, extra)
        return self._derived[key]

    def compile(
        self, source: str, *, expect: str | None = None, limit_cost: bool = True
    ) -> CompiledExpression:
        """Parse and type-check ``source``; ``expect`` a CEL type name such as ``"BOOL"``."""
        if len(source) > MAX_EXPRESSION_LENGTH:
            raise CelCompileError(
                [
                    CelIssue(
                        "cel_too_long",
                        f"expression is {len(source)} characters; the limit is "
                        f"{MAX_EXPRESSION_LENGTH}",
                    )
                ]
            )
        declared = {d for d in self.variables if "." in d}
        rewritten, uses_has = rewrite_has(source, declared)
        if uses_has:
            self.uses_presence = True
        try:
            program = self._env.compile(rewritten)
        except RuntimeError as exc:
            raise CelCompileError(_parse_issues(str(exc))) from None
        serialized = program.serialize()
        cost = ast_cost(serialized)
        if limit_cost and cost.nodes > MAX_AST_NODES:
            raise CelCompileError(
                [
                    CelIssue(
                        "cel_too_costly",
                        f"expression has {cost.nodes} nodes; the limit is {MAX_AST_NODES}",
                    )
                ]
            )
        if limit_cost and cost.comprehension_depth > MAX_COMPREHENSION_DEPTH:
            raise CelCompileError(
                [
                    CelIssue(
                        "cel_too_costly",
                        f"comprehensions nested {cost.comprehension_depth} "
                        f"deep; the limit is {MAX_COMPREHENSION_DEPTH}",
                    )
                ]
            )
        compiled = CompiledExpression(source, program, cost, reads_of(serialized, self.variables))
        if expect is not None and compiled.return_type not in (expect, "DYN"):
            raise CelCompileError(
                [
                    CelIssue(
                        "cel_wrong_type",
                        f"expression must be {expect.lower()}, "
                        f"it is {compiled.return_type.lower()}",
                    )
                ]
            )
        return compiled

    def activation(self, context: Mapping[str, Any]) -> Any:
        """Variables of one evaluation as a CEL activation (see :meth:`bind`)."""
        return self._env.Activation(self.bind(context))

    def activation_from(self, data: Mapping[str, Any]) -> Any:
        """An activation from variables already bound by :meth:`bind` (and updated)."""
        return self._env.Activation(data)

    def bind(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Variables of one evaluation, built once and shared by every rule of a rule set.

        ``context`` holds ``event``, optionally ``order``/``lot``/``inspection`` (plain
        dicts), ``plant`` (parameter map), ``results`` and ``now``. A field that is absent
        is not bound: a rule that reads it fails with an error naming it.
        """
        data: dict[str, Any] = {}
        for root, decls in self._by_root:
            top = context.get(root)
            if not top:  # no order/lot/inspection for this event: skip its declarations
                continue
            for name, path, convert in decls:
                node = top
                for part in path:
                    node = node.get(part) if isinstance(node, Mapping) else None
                    if node is None:
                        break
                if node is not None:
                    data[name] = convert(node)
        if self.uses_presence:
            data[PRESENCE_VARIABLE] = {name: name in data for name in self._names}
        plant, results = context.get("plant"), context.get("results")
        data["plant"] = to_cel_value(plant) if plant else {}
        data["results"] = to_cel_value(results) if results else {}
        data["now"] = _parse_timestamp(context.get("now") or dt.datetime.now(dt.UTC))
        return data


_environments: dict[tuple[str | None, int], CelEnvironment] = {}


def environment(event_type: str | None) -> CelEnvironment:
    """The cached environment of ``event_type``; raises ``KeyError`` for an unknown type."""
    key = (event_type, event_schemas.registry_version())
    env = _environments.get(key)
    if env is None:
        env = _environments[key] = CelEnvironment(event_type)
    return env


def type_of(name: str) -> Any:
    """A CEL type by the name a decision table output declares."""
    return {"string": T.STRING, "int": T.INT, "double": T.DOUBLE, "bool": T.BOOL}[name]
