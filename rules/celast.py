"""What a compiled CEL expression costs and what it reads, from its serialized checked AST.

``cel-expr-python`` gives a program's checked AST only as serialized bytes (a
``google.protobuf.Any`` holding a ``cel.expr.CheckedExpr``). A minimal wire-format reader
is enough for the two things the rules engine needs from it:

* :func:`ast_cost`: node count and comprehension nesting (the compile-time caps of
  :mod:`rules.cel`).
* :func:`reads_of`: every variable the expression can read, for binding only those per
  event and for memoising a rule on exactly its inputs (:mod:`rules.bindings`). Map
  variables (``plant``, ``results`` and the presence map ``_``) read only through constant
  keys (``plant["x"]``, ``results.rule``, ``has(plant.x)``) are narrowed to those keys;
  any other use (``size(plant)``, ``"x" in plant``, a computed key, a macro over the map)
  reads the whole map. The analysis over-approximates, never under: a comprehension
  variable that shadows a variable's name counts as a read of that variable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    """Minimal protobuf wire-format reader: yields ``(field number, value)``."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:  # groups are not used by cel.expr protos
            raise ValueError(f"unexpected wire type {wire}")
        yield number, value


# Expr fields (cel/expr/syntax.proto) and the sub-messages holding further Expr nodes.
_ID, _CONST, _IDENT, _SELECT, _CALL, _LIST, _STRUCT, _COMPREHENSION = 2, 3, 4, 5, 6, 7, 8, 9
_CHILD_EXPRS = {_SELECT: {1}, _CALL: {1, 3}, _LIST: {1}, _COMPREHENSION: {2, 4, 5, 6, 7}}
_STRING_CONSTANT = 6  # Constant.string_value


def _checked_root(serialized: bytes) -> tuple[bytes, bytes]:
    """``(CheckedExpr, its root Expr)`` of a serialized ``Any``."""
    checked = next((v for n, v in _fields(serialized) if n == 2), b"")
    root = next((v for n, v in _fields(checked) if n == 4), b"")
    return checked, root


@dataclass(frozen=True)
class AstCost:
    nodes: int
    comprehension_depth: int


def ast_cost(serialized: bytes) -> AstCost:
    """Node count and comprehension nesting of a compiled expression."""
    _, root = _checked_root(serialized)
    nodes = 0
    deepest = 0
    stack = [(root, 0)]
    while stack:
        expr, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        for number, value in _fields(expr):
            if number in _CHILD_EXPRS:
                inner = depth + (1 if number == _COMPREHENSION else 0)
                stack.extend(
                    (child, inner) for n, child in _fields(value) if n in _CHILD_EXPRS[number]
                )
            elif number == _STRUCT:
                for n, entry in _fields(value):
                    if n == 2:
                        stack.extend((c, depth) for m, c in _fields(entry) if m in (3, 4))
    return AstCost(nodes=nodes, comprehension_depth=deepest)


# --- reads ----------------------------------------------------------------------------------

#: Map variables whose reads are narrowed to constant keys when possible.
MAP_VARIABLES = ("plant", "results", "_")


@dataclass(frozen=True)
class Reads:
    """What an expression (or a rule, or a rule set: :meth:`union`) can read.

    ``names``: plain variables (``event.qty``, ``lot.status``, ``now``), sorted.
    ``maps``: ``(map variable, keys)`` sorted by variable; ``keys`` is a sorted tuple of the
    constant keys read, or ``None`` when the whole map can be read.
    ``functions``: the functions called (by name), e.g. ``within``.
    """

    names: tuple[str, ...] = ()
    maps: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    functions: frozenset[str] = frozenset()

    def union(self, other: Reads) -> Reads:
        maps: dict[str, set[str] | None] = {}
        for variable, keys in (*self.maps, *other.maps):
            if variable in maps and maps[variable] is None:
                continue
            if keys is None:
                maps[variable] = None
            else:
                maps.setdefault(variable, set()).update(keys)  # type: ignore[union-attr]
        return Reads(
            tuple(sorted(set(self.names) | set(other.names))),
            tuple((v, None if k is None else tuple(sorted(k))) for v, k in sorted(maps.items())),
            self.functions | other.functions,
        )

    def map_keys(self, variable: str) -> tuple[str, ...] | bool | None:
        """The keys of ``variable`` read, ``None`` for the whole map, ``False`` if unread."""
        for name, keys in self.maps:
            if name == variable:
                return keys
        return False


def _ident(expr: bytes) -> str | None:
    for number, value in _fields(expr):
        if number == _IDENT:
            return next((v.decode() for n, v in _fields(value) if n == 1), "")
    return None


def _string_constant(expr: bytes) -> str | None:
    for number, value in _fields(expr):
        if number == _CONST:
            for n, v in _fields(value):
                if n == _STRING_CONSTANT:
                    return v.decode()
    return None


def reads_of(serialized: bytes, variables: Collection[str]) -> Reads:
    """Every variable of ``variables`` the checked expression can read (module docstring)."""
    checked, root = _checked_root(serialized)
    names: set[str] = set()
    functions: set[str] = set()
    maps: dict[str, set[str] | None] = {}

    def read_map(variable: str, key: str | None) -> None:
        if key is None:
            maps[variable] = None
        elif variable not in maps:
            maps[variable] = {key}
        elif maps[variable] is not None:
            maps[variable].add(key)  # type: ignore[union-attr]

    # The reference map names what each identifier (or qualified select) resolved to.
    for number, entry in _fields(checked):
        if number != 2:
            continue
        reference = next((v for n, v in _fields(entry) if n == 2), b"")
        parts = list(_fields(reference))
        name = next((v.decode() for n, v in parts if n == 1), "")
        if any(n == 3 for n, _ in parts):  # overload ids: a function
            functions.add(name)
        elif name in MAP_VARIABLES:
            pass  # narrowed by the tree walk below, which sees every identifier node
        elif name in variables:
            names.add(name)

    stack = [root]
    while stack:
        expr = stack.pop()
        for number, value in _fields(expr):
            if number == _IDENT:
                name = next((v.decode() for n, v in _fields(value) if n == 1), "")
                if name in MAP_VARIABLES:
                    read_map(name, None)  # a bare use: the whole map
                elif name in variables:
                    names.add(name)
            elif number == _SELECT:
                parts = list(_fields(value))
                operand = next((v for n, v in parts if n == 1), b"")
                variable = _ident(operand)
                if variable in MAP_VARIABLES:
                    read_map(variable, next((v.decode() for n, v in parts if n == 2), ""))
                else:
                    stack.append(operand)
            elif number == _CALL:
                parts = list(_fields(value))
                function = next((v.decode() for n, v in parts if n == 2), "")
                functions.add(function)
                args = [v for n, v in parts if n == 3]
                target = [v for n, v in parts if n == 1]
                if function == "_[_]" and not target and len(args) == 2:
                    variable, key = _ident(args[0]), _string_constant(args[1])
                    if variable in MAP_VARIABLES and key is not None:
                        read_map(variable, key)
                        continue
                stack.extend(target)
                stack.extend(args)
            elif number in _CHILD_EXPRS:
                stack.extend(v for n, v in _fields(value) if n in _CHILD_EXPRS[number])
            elif number == _STRUCT:
                for n, entry in _fields(value):
                    if n == 2:
                        stack.extend(c for m, c in _fields(entry) if m in (3, 4))
    return Reads(
        tuple(sorted(names)),
        tuple((v, None if k is None else tuple(sorted(k))) for v, k in sorted(maps.items())),
        frozenset(functions),
    )
