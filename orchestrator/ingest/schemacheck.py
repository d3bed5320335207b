"""A fast yes/no check of a JSON Schema, for the happy path of ingest.

``jsonschema`` walks a schema through its generic machinery (about 0.3 ms for an event
payload): at thousands of events per second, twice per event (envelope and payload), that
was the largest cost of the whole pipeline. Almost every message is valid, so the pipeline
first asks this compiled predicate "is it valid?" and only runs ``jsonschema`` (which lists
*every* problem with its path) when the answer is no.

The schema is compiled to the source of one Python function (like fastjsonschema, in a
page of code and without its dependency). The compiler understands exactly the keywords
our schemas use, with Draft 2020-12
semantics (``integer`` accepts ``1.0``, booleans are not numbers, formats through the same
:class:`~jsonschema.FormatChecker`). Any other keyword makes :func:`compile_check` return
``None``, and the caller validates with ``jsonschema`` alone: the predicate can be
incomplete, never wrong. ``tests/ingest/test_schemacheck.py`` holds it to ``jsonschema``'s
answer over generated payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema import FormatChecker

Check = Callable[[Any], bool]

#: Keywords that do not constrain the instance.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples"}
)
_SUPPORTED = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "items",
    "minItems",
    "maxItems",
    "format",
}


class _Unsupported(Exception):
    pass


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}

_FORMATS = FormatChecker()


def _inline_number(var: str) -> str:
    """``_is_number(var)`` written inline: no call per quantity field."""
    return f"(isinstance({var}, (int, float)) and not isinstance({var}, bool))"


class _Emitter:
    """Writes the predicate as straight-line Python: one function, no closures to call per
    keyword (about four times faster than composing closures)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.name("K")
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def schema(self, schema: Any, var: str, depth: int) -> None:
        """Lines that ``return False`` when ``var`` does not satisfy ``schema``.

        After a single ``type`` test has returned for every other kind, the lines below it
        know ``var``'s kind and leave out the ``isinstance`` guards that would repeat it."""
        if schema is True:
            return
        if schema is False:
            self.emit(depth, "return False")
            return
        if not isinstance(schema, dict) or not set(schema) <= _SUPPORTED:
            raise _Unsupported
        kind = schema.get("type")
        known: str | None = None  # the one kind ``var`` has past the type test
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            if not kinds or not all(k in _TYPES for k in kinds):
                raise _Unsupported
            tests = " or ".join(f"{self.const(_TYPES[k])}({var})" for k in kinds)
            if kinds == ["string"]:
                tests = f"isinstance({var}, str)"
            elif kinds == ["object"]:
                tests = f"isinstance({var}, dict)"
            elif kinds == ["array"]:
                tests = f"isinstance({var}, list)"
            elif kinds == ["number"]:
                tests = _inline_number(var)
            self.emit(depth, f"if not ({tests}): return False")
            if len(kinds) == 1:
                known = kinds[0]
        if "enum" in schema:
            options = schema["enum"]
            # Only string enums: jsonschema's equality (1 vs True vs 1.0) needs no copy then.
            if not all(isinstance(o, str) for o in options):
                raise _Unsupported
            allowed = self.const(frozenset(options))
            if known == "string":
                self.emit(depth, f"if {var} not in {allowed}: return False")
            else:
                self.emit(
                    depth, f"if not (isinstance({var}, str) and {var} in {allowed}): return False"
                )
        bounds = [
            (k, op)
            for k, op in (
                ("minimum", ">="),
                ("exclusiveMinimum", ">"),
                ("maximum", "<="),
                ("exclusiveMaximum", "<"),
            )
            if k in schema
        ]
        if bounds:
            inner = depth
            if known not in ("number", "integer"):  # both exclude booleans
                self.emit(depth, f"if {_inline_number(var)}:")
                inner = depth + 1
            for keyword, op in bounds:
                bound = schema[keyword]
                if not _is_number(bound):
                    raise _Unsupported
                self.emit(inner, f"if not ({var} {op} {bound!r}): return False")
        if "minLength" in schema or "maxLength" in schema:
            low, high = schema.get("minLength", 0), schema.get("maxLength")
            cond = f"{int(low)} <= len({var})" + (f" <= {int(high)}" if high is not None else "")
            guard = "" if known == "string" else f"isinstance({var}, str) and "
            self.emit(depth, f"if {guard}not ({cond}): return False")
        if "format" in schema:
            fmt = schema["format"]
            if fmt not in _FORMATS.checkers:
                raise _Unsupported
            # The same checker functions jsonschema's FormatChecker() runs; one that raises
            # nothing it expects is called directly (``conforms`` is ``bool(func(value))``).
            func, raises = _FORMATS.checkers[fmt]
            if raises:
                test = f"{self.const(_FORMATS.conforms)}({var}, {fmt!r})"
            else:
                test = f"{self.const(func)}({var})"
            self.emit(depth, f"if not {test}: return False")
        if "minItems" in schema or "maxItems" in schema:
            low, high = schema.get("minItems", 0), schema.get("maxItems")
            cond = f"{int(low)} <= len({var})" + (f" <= {int(high)}" if high is not None else "")
            guard = "" if known == "array" else f"isinstance({var}, list) and "
            self.emit(depth, f"if {guard}not ({cond}): return False")
        if "items" in schema:
            element = self.name("e")
            inner = depth
            if known != "array":
                self.emit(depth, f"if isinstance({var}, list):")
                inner = depth + 1
            self.emit(inner, f"for {element} in {var}:")
            before = len(self.lines)
            self.schema(schema["items"], element, inner + 1)
            if len(self.lines) == before:
                self.emit(inner + 1, "pass")
        properties = schema.get("properties", {})
        required = list(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        if extra not in (True, False):
            raise _Unsupported
        if properties or required or extra is False:
            inner = depth
            if known != "object":
                self.emit(depth, f"if isinstance({var}, dict):")
                inner = depth + 1
                self.emit(inner, "pass")
            for name in required:
                self.emit(inner, f"if {name!r} not in {var}: return False")
            if extra is False:
                known_names = self.const(frozenset(properties))
                self.emit(inner, f"if not {known_names}.issuperset({var}): return False")
            for name, sub in properties.items():
                value = self.name("v")
                if name in required:  # present: checked above
                    self.emit(inner, f"{value} = {var}[{name!r}]")
                    self.schema(sub, value, inner)
                    continue
                self.emit(inner, f"{value} = {var}.get({name!r}, _MISSING)")
                self.emit(inner, f"if {value} is not _MISSING:")
                before = len(self.lines)
                self.schema(sub, value, inner + 1)
                if len(self.lines) == before:
                    self.emit(inner + 1, "pass")


_MISSING = object()


def _compile(schema: Any) -> Check:
    emitter = _Emitter()
    emitter.emit(0, "def check(v0):")
    emitter.schema(schema, "v0", 1)
    emitter.emit(1, "return True")
    namespace: dict[str, Any] = {"_MISSING": _MISSING, **emitter.constants}
    # Generated from our own schema files only (names, numbers and constants by reference).
    exec("\n".join(emitter.lines), namespace)  # noqa: S102
    return namespace["check"]


def compile_check(schema: dict[str, Any]) -> Check | None:
    """A predicate that is true exactly when ``schema`` accepts the instance, or ``None``
    when the schema uses a keyword this compiler does not know."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None
