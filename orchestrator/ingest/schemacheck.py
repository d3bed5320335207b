"""A fast yes/no check of a JSON Schema, for the happy path of ingest.

``jsonschema`` walks a schema through its generic machinery (about 0.3 ms for an event
payload): at thousands of events per second, twice per event (envelope and payload), that
was the largest cost of the whole pipeline. Almost every message is valid, so the pipeline
first asks this compiled predicate "is it valid?" and only runs ``jsonschema`` (which lists
*every* problem with its path) when the answer is no.

The compiler understands exactly the keywords our schemas use, with Draft 2020-12
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


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or not set(schema) <= _SUPPORTED:
        raise _Unsupported
    checks: list[Check] = []

    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else kind
        if not all(k in _TYPES for k in kinds):
            raise _Unsupported
        if len(kinds) == 1:
            checks.append(_TYPES[kinds[0]])
        else:
            tests = [_TYPES[k] for k in kinds]
            checks.append(lambda v, tests=tests: any(t(v) for t in tests))

    if "enum" in schema:
        options = schema["enum"]
        # Only string enums: jsonschema's equality (1 vs True vs 1.0) needs no copying then.
        if not all(isinstance(o, str) for o in options):
            raise _Unsupported
        allowed = frozenset(options)
        checks.append(lambda v: isinstance(v, str) and v in allowed)

    for keyword, compare in (
        ("minimum", lambda v, b: v >= b),
        ("exclusiveMinimum", lambda v, b: v > b),
        ("maximum", lambda v, b: v <= b),
        ("exclusiveMaximum", lambda v, b: v < b),
    ):
        if keyword in schema:
            bound = schema[keyword]
            if not _is_number(bound):
                raise _Unsupported
            checks.append(lambda v, b=bound, c=compare: not _is_number(v) or c(v, b))

    if "minLength" in schema or "maxLength" in schema:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        checks.append(
            lambda v: not isinstance(v, str) or (len(v) >= low and (high is None or len(v) <= high))
        )

    if "format" in schema:
        fmt = schema["format"]
        if fmt not in _FORMATS.checkers:
            raise _Unsupported
        # The same checker functions jsonschema's FormatChecker() runs.
        checks.append(lambda v, fmt=fmt: _FORMATS.conforms(v, fmt))

    if "items" in schema:
        item_check = _compile(schema["items"])
        checks.append(lambda v: not isinstance(v, list) or all(item_check(i) for i in v))
    if "minItems" in schema or "maxItems" in schema:
        low_items, high_items = schema.get("minItems", 0), schema.get("maxItems")
        checks.append(
            lambda v: (
                not isinstance(v, list)
                or (len(v) >= low_items and (high_items is None or len(v) <= high_items))
            )
        )

    properties = schema.get("properties", {})
    required = tuple(schema.get("required", ()))
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        raise _Unsupported
    if properties or required or extra is False:
        compiled = tuple((name, _compile(sub)) for name, sub in properties.items())
        known = frozenset(properties)
        closed = extra is False

        def check_object(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for name in required:
                if name not in v:
                    return False
            if closed and not known.issuperset(v):
                return False
            for name, sub in compiled:  # noqa: SIM110 - a plain loop is the fastest form here
                if name in v and not sub(v[name]):
                    return False
            return True

        checks.append(check_object)

    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    checks_tuple = tuple(checks)
    return lambda v: all(c(v) for c in checks_tuple)


def compile_check(schema: dict[str, Any]) -> Check | None:
    """A predicate that is true exactly when ``schema`` accepts the instance, or ``None``
    when the schema uses a keyword this compiler does not know."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None
