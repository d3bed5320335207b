"""One event's CEL variables, converted lazily, and rule outcomes memoised on their inputs.

Evaluating a rule set used to convert the whole context (every declared field of the
event and its order, lot and inspection, the whole plant parameter map) for each rule set
of each event. Here:

* :class:`Bindings` converts a variable the first time a rule reads it, at most once per
  event, and is shared by every rule of every rule set evaluated for that event.
* What a rule can read comes from its checked CEL AST (:func:`rules.celast.reads_of`):
  declared names, and for ``plant`` / ``results`` / ``_`` the constant keys read (the
  whole map only when an expression uses it otherwise). :meth:`Bindings.data` binds just
  that for a rule set.
* :class:`Memo` keeps a rule's outcome (and a rule set's: ``rules.evaluation.RulePlan``)
  per exact input: the key holds every value the expressions can read (frozen once per
  event, :meth:`Bindings.frozen`), each with its type (``1``, ``1.0`` and ``true`` are three
  keys, so are ``0.0`` and ``-0.0``), or "absent". A rule that reads ``now`` or calls a
  time-dependent function (``within``) is never memoised, nor is an evaluation that
  failed, nor one whose input holds a value of a type the key does not know.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Mapping
from typing import Any

from .cel import (
    PRESENCE_VARIABLE,
    TIME_DEPENDENT_FUNCTIONS,
    TIME_DEPENDENT_VARIABLES,
    CelEnvironment,
    _parse_timestamp,
    to_cel_value,
)
from .celast import Reads

#: A variable (or map key) the event does not have.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


class Unkeyable(Exception):
    """A value of a type the memo key does not know: evaluate without the memo."""


def freeze(value: Any) -> Any:
    """A hashable key equal for two values exactly when CEL cannot tell them apart."""
    kind = value.__class__
    if kind is str:
        return value
    if kind is float:
        if value == 0.0:  # 0.0 == -0.0, but 1.0 / x tells them apart; three parts: no
            return (float, 0.0, math.copysign(1.0, value))  # other float's key is equal
        return (float, value)
    if kind is bool or kind is int or kind is dt.datetime or kind is bytes:
        return (kind, value)  # True == 1 == 1.0 in Python, not in CEL
    if value is None or value is MISSING:
        return value
    if kind is list or kind is tuple:
        return (list, tuple(freeze(v) for v in value))
    if kind is dict:  # order kept: iterating a map (``.map()``, ``.all()``) follows it
        return (dict, tuple((k, freeze(v)) for k, v in value.items()))
    raise Unkeyable(kind.__name__)


#: Not computed yet (a cache miss), distinct from :data:`MISSING` (computed: absent).
_UNSET: Any = object()
#: A slot whose value :func:`freeze` does not know: no memo key holding it can be built.
UNKEYABLE: Any = type("Unkeyable", (), {"__repr__": lambda self: "UNKEYABLE"})()

#: One value an expression can read, as a memo key part (:meth:`Bindings.frozen`): a
#: declared name (``"event.qty"``), ``(map, key)`` for an entry of ``plant``, ``(map,
#: None)`` for a whole map, ``("_", name)`` for whether ``name`` is present (``has()``),
#: ``("_", None)`` for the whole presence map. ``results`` is no slot: it changes while
#: a rule set runs (``rules.evaluation.RulePlan``).
Slot = Any


def slots_of(reads: Reads) -> tuple[Slot, ...]:
    """The slots of everything ``reads`` covers except ``results``, in a fixed order."""
    slots: list[Slot] = list(reads.names)
    for variable, keys in reads.maps:
        if variable == "results":
            continue
        if keys is None:
            slots.append((variable, None))
        else:
            slots.extend((variable, k) for k in keys)
    return tuple(slots)


class Bindings:
    """The variables of one evaluation context (see ``CelEnvironment.bind``), converted on
    first read and kept for the other rules and rule sets of the same event."""

    __slots__ = ("_frozen", "_now", "_values", "context", "env", "unkeyable")

    def __init__(self, env: CelEnvironment, context: Mapping[str, Any]) -> None:
        self.env = env
        self.context = context
        self._now: dt.datetime | None = None
        self._values: dict[Any, Any] = {}
        self._frozen: dict[Any, Any] = {}
        #: Some slot froze to :data:`UNKEYABLE` (then keys are checked for it).
        self.unkeyable = False

    @property
    def now(self) -> dt.datetime:
        """The evaluation time: the context's ``now``, else the clock at the first read."""
        if self._now is None:
            self._now = _parse_timestamp(self.context.get("now") or dt.datetime.now(dt.UTC))
        return self._now

    def value(self, name: str) -> Any:
        """The CEL value of a declared variable (``event.qty``), or :data:`MISSING`."""
        value = self._values.get(name, _UNSET)
        if value is not _UNSET:
            return value
        if name == "now":
            value = self.now
        else:
            source = self.env.sources.get(name)
            value = MISSING
            if source is not None:
                root, path, convert = source
                node = self.context.get(root)
                # No order/lot/inspection for this event: nothing of it is bound. (Not
                # ``if node``: that would ask a lazily built ``Facts`` for its length.)
                if node is not None:
                    for part in path:
                        node = node.get(part) if isinstance(node, Mapping) else None
                        if node is None:
                            break
                    if node is not None:
                        value = convert(node)
        self._values[name] = value
        return value

    def entry(self, variable: str, key: str) -> Any:
        """One entry of the ``plant`` map (or of the context's ``results``), converted."""
        slot = (variable, key)
        value = self._values.get(slot, _UNSET)
        if value is not _UNSET:
            return value
        top = self.context.get(variable) or {}
        value = to_cel_value(top[key]) if key in top else MISSING
        self._values[slot] = value
        return value

    def whole(self, variable: str) -> dict[str, Any]:
        slot = (variable, None)
        if slot not in self._values:
            top = self.context.get(variable)
            self._values[slot] = to_cel_value(top) if top else {}
        return self._values[slot]

    def presence(self, keys: tuple[str, ...] | None) -> dict[str, bool]:
        """The ``_`` map that ``has(event.x)`` reads (``rules.cel.rewrite_has``)."""
        names = self.env.sources if keys is None else [k for k in keys if k in self.env.sources]
        return {name: self.value(name) is not MISSING for name in names}

    def results_map(
        self, keys: tuple[str, ...] | None, results: Mapping[str, Any]
    ) -> dict[str, Any]:
        if keys is None:
            return to_cel_value(dict(results))
        return {k: to_cel_value(results[k]) for k in keys if k in results}

    def data(self, reads: Reads, results: Mapping[str, Any] | None) -> dict[str, Any]:
        """The activation variables that expressions with ``reads`` can read."""
        data: dict[str, Any] = {}
        for name in reads.names:
            value = self.value(name)
            if value is not MISSING:
                data[name] = value
        for variable, keys in reads.maps:
            if variable == PRESENCE_VARIABLE:
                data[variable] = self.presence(keys)
            elif variable == "results" and results is not None:
                data[variable] = self.results_map(keys, results)
            elif keys is None:
                data[variable] = self.whole(variable)
            else:
                entries = {k: self.entry(variable, k) for k in keys}
                data[variable] = {k: v for k, v in entries.items() if v is not MISSING}
        return data

    def frozen(self, slots: tuple[Slot, ...]) -> list[Any]:
        """The memo key part of each slot (:func:`freeze` of its value), computed once per
        event; :data:`UNKEYABLE` for a value :func:`freeze` does not know."""
        known = self._frozen
        out = []
        for slot in slots:
            part = known.get(slot, _UNSET)
            if part is _UNSET:
                part = known[slot] = self._freeze_slot(slot)
            out.append(part)
        return out

    def _freeze_slot(self, slot: Slot) -> Any:
        try:
            if slot.__class__ is str:
                return freeze(self.value(slot))
            variable, key = slot
            if variable == PRESENCE_VARIABLE:
                if key is None:
                    return tuple(self.presence(None).items())
                # Absent and undeclared both read as false: the map holds no undeclared name.
                return self.value(key) is not MISSING
            if key is None:
                return freeze(self.whole(variable))
            return freeze(self.entry(variable, key))
        except Unkeyable:
            self.unkeyable = True
            return UNKEYABLE


def memoisable(reads: Reads) -> bool:
    """May outcomes of expressions with ``reads`` be reused for equal inputs?"""
    return not (
        reads.functions & TIME_DEPENDENT_FUNCTIONS
        or TIME_DEPENDENT_VARIABLES.intersection(reads.names)
    )


class Memo:
    """A bounded map of input key → outcome, least recently used evicted first.

    Shared by the threads of a process: a lost race costs one evaluation, never a wrong
    answer (a value is only ever stored under its own key)."""

    __slots__ = ("_entries", "_lock", "hits", "misses", "size")

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: dict[Any, Any] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any) -> Any:
        value = self._entries.pop(key, MISSING)
        if value is MISSING:
            self.misses += 1
            return MISSING
        self._entries[key] = value  # most recently used last
        self.hits += 1
        return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            entries = self._entries
            while len(entries) >= self.size:
                try:
                    del entries[next(iter(entries))]
                except (KeyError, RuntimeError, StopIteration):  # a concurrent get moved it
                    break
            entries[key] = value
