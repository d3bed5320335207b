"""Model instances without ``Model.__init__``, for rows the batch handles by the thousand.

``Model.from_db`` runs ``Model.__init__`` (two signals, a ``setattr`` through a descriptor
per field) and, for lifecycle models, django-fsm's ``ConcurrentTransitionMixin.__init__``
(a ``DeferredAttribute`` per state field read): most of the preload's CPU before this
module. :func:`loader` builds the very same instance directly: the field values in the
instance's ``__dict__``, a ``ModelState`` (``adding=False``, ``db=alias``) and the
mixin's record of the state fields as loaded (what its concurrency check compares a
``save()`` against). :func:`maker` does the same for new rows (``Model(**values)``).

Identical by construction, and only where that holds: a model with its own ``__init__``
or ``from_db``, with a ``pre_init``/``post_init`` receiver, or with a field descriptor
that does more on assignment than store the value (a django-fsm state proxy, a custom
descriptor) gets the ORM's constructor instead. ``tests/ingest/test_instances.py``
compares both paths attribute by attribute.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, models, router
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
    ForwardManyToOneDescriptor,
)
from django.db.models.signals import post_init, pre_init
from django_fsm import ConcurrentTransitionMixin, FSMFieldDescriptor, FSMFieldMixin
from psycopg.adapt import Loader
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

#: Where ``ConcurrentTransitionMixin`` keeps the state fields' values as loaded (name-mangled).
INITIAL_STATES = "_ConcurrentTransitionMixin__initial_states"
#: Classes whose ``__init__`` the fast path reproduces.
_KNOWN_INITS = (models.Model, ConcurrentTransitionMixin, object)

_new = object.__new__


@cache
def _plan(model: type[models.Model]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``(attnames of the concrete fields, attnames of the fsm state fields)`` of ``model``,
    or ``None`` when its instances need the ORM's constructor."""
    if any("__init__" in vars(k) and k not in _KNOWN_INITS for k in model.__mro__):
        return None
    if model.from_db.__func__ is not models.Model.from_db.__func__:
        return None
    names = []
    for f in model._meta.concrete_fields:
        descriptor = inspect.getattr_static(model, f.attname, None)
        if hasattr(type(descriptor), "__set__"):
            # Both store the value in __dict__ (the first also drops a cached related
            # object, which a new instance has none of); django-fsm's may swap the class.
            plain_fk = type(descriptor) is ForeignKeyDeferredAttribute
            plain_fsm = isinstance(descriptor, FSMFieldDescriptor) and not f.state_proxy
            if not (plain_fk or plain_fsm):
                return None
        names.append(f.attname)
    states = ()
    if issubclass(model, ConcurrentTransitionMixin):
        states = tuple(f.attname for f in model._meta.fields if isinstance(f, FSMFieldMixin))
    return tuple(names), states


def _signalled(model: type[models.Model]) -> bool:
    return pre_init.has_listeners(model) or post_init.has_listeners(model)


def loader(model: type[models.Model], alias: str) -> Callable[[Sequence[Any]], models.Model]:
    """A function ``values → instance`` equal to ``model.from_db(alias, attnames, values)``,
    ``values`` holding every concrete field in ``_meta.concrete_fields`` order."""
    plan = _plan(model)
    if plan is None or _signalled(model):
        names = tuple(f.attname for f in model._meta.concrete_fields)
        return lambda values: model.from_db(alias, names, values)
    names, states = plan

    def load(values: Sequence[Any]) -> models.Model:
        obj = _new(model)
        state = _new(ModelState)
        state.adding = False
        state.db = alias
        data = dict(zip(names, values, strict=True))
        data["_state"] = state
        if states:
            data[INITIAL_STATES] = {name: data[name] for name in states}
        obj.__dict__ = data
        return obj

    return load


def maker(
    model: type[models.Model], given: tuple[str, ...], related: tuple[str, ...] = ()
) -> Callable[[Sequence[Any]], models.Model]:
    """A function ``values → new instance`` equal to ``model(**dict(zip(given + related,
    values)))``; ``given`` are attnames of concrete fields, ``related`` names of foreign
    keys given as objects (or ``None``), after ``given`` in ``values``: their ids are set
    and the objects cached, as the ORM's descriptor does. The others get their defaults."""
    plan = _plan(model)
    fks = _plain_foreign_keys(model, related)
    if (
        plan is None
        or fks is None
        or _signalled(model)
        or not set(given) <= set(plan[0])
        or {f.attname for f in fks} & set(given)
    ):
        names = (*given, *related)
        return lambda values: model(**dict(zip(names, values, strict=True)))
    _names, states = plan
    taken = {*given, *(f.attname for f in fks)}
    rest = [f for f in model._meta.concrete_fields if f.attname not in taken]
    # A default that is no callable (nor a database default) is the same object each time.
    constants = {f.attname: f.get_default() for f in rest if not _default_per_call(f)}
    defaults = tuple((f.attname, f.get_default) for f in rest if _default_per_call(f))
    count = len(given)
    # (cache name, attname on this row, attname on the related row, related class) per key.
    links = tuple(
        (f.cache_name, f.attname, f.target_field.attname, f.remote_field.model._meta.concrete_model)
        for f in fks
    )

    def make(values: Sequence[Any]) -> models.Model:
        obj = _new(model)
        state = _new(ModelState)
        data = {"_state": state}
        data.update(zip(given, values[:count], strict=True))
        if links:
            cached = state.fields_cache = {}
            for (name, attname, target, kind), value in zip(links, values[count:], strict=True):
                cached[name] = value
                if value is None:
                    data[attname] = None
                    continue
                # What ForwardManyToOneDescriptor.__set__ does (without database routers).
                if not isinstance(value, kind):
                    raise ValueError(f"{name} must be a {kind.__name__} instance, not {value!r}")
                if state.db is None:
                    state.db = value._state.db or DEFAULT_DB_ALIAS
                if value._state.db is None:
                    value._state.db = state.db
                if value._state.db != state.db:
                    raise ValueError(f"{value!r} is in database {value._state.db}")
                data[attname] = getattr(value, target)
        data.update(constants)
        for name, default in defaults:
            data[name] = default()
        if states:
            data[INITIAL_STATES] = {name: data[name] for name in states}
        obj.__dict__ = data
        return obj

    return make


def relate(obj: models.Model, **related: models.Model) -> None:
    """``obj.<name> = value`` for foreign keys whose ids ``obj`` holds already: only the
    related-object cache is filled, which is all the descriptor would change then. Where it
    would do more (database routers, one-to-one, a custom descriptor, a row of no database
    or of another one, an id that differs) the descriptor does it."""
    fks = _relatable(type(obj), tuple(related))
    db = obj._state.db
    if (
        fks is None
        or db is None
        or any(
            value is None
            or value._state.db != db
            or getattr(obj, field.attname) != getattr(value, field.target_field.attname)
            for field, value in zip(fks, related.values(), strict=True)
        )
    ):
        for name, value in related.items():
            setattr(obj, name, value)
        return
    cache = obj._state.fields_cache
    for field, value in zip(fks, related.values(), strict=True):
        cache[field.cache_name] = value


#: :func:`_plain_foreign_keys` per model and names, for :func:`relate` (called per event;
#: routers and descriptors do not change while a process runs).
_relatable = cache(lambda model, names: _plain_foreign_keys(model, names))


def _default_per_call(field: models.Field) -> bool:
    """Whether ``field.get_default()`` may return a new object per call (a callable
    default, a database default) rather than one constant (``None``, ``""``, a value)."""
    if field.has_default():
        return callable(field.default)
    return field.has_db_default()


def _plain_foreign_keys(
    model: type[models.Model], names: tuple[str, ...]
) -> tuple[models.ForeignKey, ...] | None:
    """The foreign keys ``names`` of ``model``, or ``None`` when assigning one of them an
    object does more than :func:`maker` reproduces (one-to-one, a key of several columns,
    a custom descriptor, database routers)."""
    if names and router.routers:
        return None
    fks = []
    for name in names:
        field = model._meta.get_field(name)
        if (
            not isinstance(field, models.ForeignKey)
            or isinstance(field, models.OneToOneField)
            or len(field.related_fields) != 1
            or type(inspect.getattr_static(model, name, None)) is not ForwardManyToOneDescriptor
        ):
            return None
        fks.append(field)
    return tuple(fks)


# --- timestamps as the driver reads them ----------------------------------------------------
# Django's ``timestamptz`` loader is psycopg's pure-Python one (a regular expression and a
# datetime built field by field, then ``replace(tzinfo=…)``): a third of the preload's CPU.
# ``datetime.fromisoformat`` (C) reads PostgreSQL's ISO output directly; what it cannot
# read (another DateStyle, ``infinity``, years BC or past 9999) goes to Django's loader.
_TIMESTAMPTZ = pg_types["timestamptz"].oid
_fromisoformat = dt.datetime.fromisoformat


@cache
def _iso_loader(previous: type[Loader]) -> type[Loader]:
    class IsoTimestamptzLoader(Loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._previous = previous(oid, context)

        def load(self, data: Any) -> dt.datetime:
            try:
                value = _fromisoformat(str(data, "ascii"))
            except ValueError:
                return self._previous.load(data)
            # Django's value: the same instant, in UTC (its session time zone, see below).
            return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)

    return IsoTimestamptzLoader


def fast_timestamps(cursor: Any) -> None:
    """Read ``timestamptz`` columns on ``cursor`` (Django's, on PostgreSQL) with
    ``fromisoformat``; same values as Django's loader, which assumes the session's time zone
    is its own: used only when both are UTC (``USE_TZ`` and no database ``TIME_ZONE``)."""
    if connection.vendor != "postgresql" or connection.timezone is not dt.UTC:
        return
    raw = cursor.cursor
    previous = raw.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
    if previous is not None:
        raw.adapters.register_loader(_TIMESTAMPTZ, _iso_loader(previous))
