"""Set-wise writes for PostgreSQL: one statement per step, whatever the number of rows.

``bulk_create`` and ``bulk_update`` instantiate a model per row and build one SQL fragment
per value (``bulk_update`` a ``CASE WHEN`` per field and row: most of a bulk ingest
request's time before this module). Here each step is one statement of constant text with
a single parameter, the rows as one JSON document (serialised by orjson in C, read by
``jsonb_to_recordset`` in C): nothing on the Python side grows per value. Arrays per column
(``unnest``) were tried first; psycopg's quoting of every array element cost more than the
SQL saved.

The statements go through :func:`bound_cursor`: the parameter travels beside the text
(server-side binding). Django's cursors bind on the client, so the document used to be
inlined into the statement as a literal that PostgreSQL's SQL lexer read. The document is
``jsonb``, parsed once: as ``json`` it was read three times (the cast's check,
``json_to_recordset``, then each ``jsonb`` column's value again).

Callers keep an ORM path for SQLite (the embedded default); :func:`bulk_update` does that
choice itself and is a drop-in for ``Model.objects.bulk_update(objs, fields)``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache
from operator import attrgetter
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, models


def _record_type(field: models.Field) -> str:
    kind = field.db_type(connection)
    return "text" if kind.startswith("varchar") else kind


@cache
def _insert_sql(model: type[models.Model], columns: tuple[str, ...], tail: str) -> str:
    fields = {f.column: f for f in model._meta.concrete_fields}
    ops = connection.ops
    names = ", ".join(ops.quote_name(c) for c in columns)
    selects = ", ".join(f"u.c{i}" for i in range(len(columns)))
    record = ", ".join(f"c{i} {_record_type(fields[c])}" for i, c in enumerate(columns))
    # Only quoted identifiers and column types are interpolated; values are the parameter.
    return (
        f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({names}) "  # noqa: S608
        f"SELECT {selects} FROM jsonb_to_recordset(%s::jsonb) AS u({record}) {tail}"
    )


@cache
def _update_sql(model: type[models.Model], columns: tuple[str, ...]) -> str:
    fields = {f.column: f for f in model._meta.concrete_fields}
    ops = connection.ops
    sets = ", ".join(f"{ops.quote_name(c)} = u.c{i}" for i, c in enumerate(columns))
    record = ", ".join(f"c{i} {_record_type(fields[c])}" for i, c in enumerate(columns))
    table = ops.quote_name(model._meta.db_table)
    pk = ops.quote_name(model._meta.pk.column)
    pk_type = _record_type(model._meta.pk)
    return (
        f"UPDATE {table} AS t SET {sets} "  # noqa: S608
        f"FROM jsonb_to_recordset(%s::jsonb) AS u(pk {pk_type}, {record}) WHERE t.{pk} = u.pk"
    )


@cache
def _bound_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class BoundCursor(ServerBindingCursor):
        """Binds on the server, never prepares (see :func:`bound_cursor`)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=False, binary=binary)

    return BoundCursor


def bound_cursor():
    """A cursor of Django's connection (its wrappers, debug log and execute wrappers
    included) whose statements bind their parameters on the server: the document travels
    beside the text instead of inside it.

    Not prepared. Preparing them (psycopg's threshold on this connection; Django sets it to
    ``None``, under which nothing is prepared even when asked) saved PostgreSQL 8-15 % per
    event in process, but single events lost a fifth of their throughput after a few
    seconds of load (``bench peer``, second rounds 1,419-1,525 against 1,973-2,170 events/s):
    a flush's ``WITH`` text varies with the batch's mix, so a connection kept preparing
    texts that rarely came back."""
    connection.ensure_connection()
    return connection._prepare_cursor(_bound_cursor_class()(connection.connection))


def rows_json(columns: Sequence[Sequence[Any]], first: str = "c0") -> str:
    """The rows (given column by column) as a JSON array of objects ``{c0: …, c1: …}``;
    jsonb columns hold the value itself, not its text."""
    keys = [f"c{i}" for i in range(len(columns))]
    if first == "pk":
        keys = ["pk", *keys[:-1]]
    rows = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
    try:
        return orjson.dumps(rows).decode()
    except TypeError:  # what orjson refuses (Decimal, huge integers, non-string keys)
        return json.dumps(rows, default=str)


def pg_insert(
    model: type[models.Model], columns: tuple[str, ...], values: Sequence[Sequence[Any]], tail: str
) -> list[tuple]:
    """``INSERT … SELECT … FROM jsonb_to_recordset(…) <tail>``; returns what ``tail``'s
    ``RETURNING`` returns. ``values`` holds one list per column, in ``columns`` order."""
    with bound_cursor() as cursor:
        cursor.execute(_insert_sql(model, columns, tail), [rows_json(values)])
        return cursor.fetchall() if cursor.description else []


def pg_update(model: type[models.Model], pks: Sequence[Any], columns: dict[str, list]) -> None:
    """``UPDATE … FROM jsonb_to_recordset(…)``: one statement for every row.
    ``columns`` maps a column name to its values, in ``pks`` order."""
    with bound_cursor() as cursor:
        cursor.execute(
            _update_sql(model, tuple(columns)), [rows_json([pks, *columns.values()], "pk")]
        )


# --- values as the ORM would send them, prepared a column at a time ----------------------
# ``get_prep_value`` of these Django fields returns a value of this exact type unchanged
# (keyed by the implementation of it and of the ``to_python`` it calls, so a subclass that
# overrides either gets its own method called): such values go through as they are, any
# other value (a lazy string, an int for a decimal, a naive datetime) through the field.
_UNCHANGED: dict[tuple[Any, Any], type] = {
    (models.CharField.get_prep_value, models.CharField.to_python): str,
    (models.TextField.get_prep_value, models.TextField.to_python): str,
    (models.IntegerField.get_prep_value, models.IntegerField.to_python): int,
    (models.BooleanField.get_prep_value, models.BooleanField.to_python): bool,
    (models.DateField.get_prep_value, models.DateField.to_python): dt.date,
    (models.DateTimeField.get_prep_value, models.DateTimeField.to_python): dt.datetime,
    (models.DecimalField.get_prep_value, models.DecimalField.to_python): Decimal,
    (models.UUIDField.get_prep_value, models.UUIDField.to_python): uuid.UUID,
}


def _target(field: models.Field) -> models.Field:
    """The field whose ``get_prep_value`` a foreign key's delegates to."""
    while type(field).get_prep_value is models.ForeignKey.get_prep_value:
        field = field.target_field
    return field


@cache
def _prepare(field: models.Field) -> Callable[[list], list]:
    """``values → the values to serialise`` for ``field``: ``field.get_prep_value(value)``
    (``None`` and JSON values as they are), decimals as their text because one would make
    orjson give up on the whole document (numeric reads the text). Decided once per field;
    per value only a type check is left."""
    if field.get_internal_type() == "JSONField":
        return lambda values: values
    prep = field.get_prep_value

    def slow(value: Any) -> Any:
        value = prep(value)
        return str(value) if isinstance(value, Decimal) else value

    target = _target(field)
    kind = _UNCHANGED.get((type(target).get_prep_value, type(target).to_python))
    if kind is Decimal:
        return lambda values: [
            str(v) if type(v) is Decimal else (v if v is None else slow(v)) for v in values
        ]
    if kind is dt.datetime and settings.USE_TZ:
        # Only aware datetimes pass unchanged (a naive one gets the field's warning).
        return lambda values: [
            v if v is None or (type(v) is dt.datetime and v.utcoffset() is not None) else slow(v)
            for v in values
        ]
    if kind is not None:
        return lambda values: [v if v is None or type(v) is kind else slow(v) for v in values]
    return lambda values: [v if v is None else slow(v) for v in values]


@cache
def _reads_plainly(field: models.Field, add: bool) -> bool:
    """``field.pre_save(obj, add)`` is ``getattr(obj, field.attname)`` (no ``auto_now``)."""
    pre_save = type(field).pre_save
    if pre_save is models.Field.pre_save:
        return True
    dates = (models.DateField.pre_save, models.DateTimeField.pre_save)
    return pre_save in dates and not (field.auto_now or (field.auto_now_add and add))


def _column(field: models.Field, objs: Sequence[models.Model], *, add: bool) -> list:
    """The prepared values of ``field`` for ``objs`` (``pre_save`` first when inserting,
    as ``bulk_create`` does: ``auto_now(_add)`` fields get their time then)."""
    if not add or _reads_plainly(field, add):
        values = list(map(attrgetter(field.attname), objs))
    else:
        values = [field.pre_save(o, add) for o in objs]
    return _prepare(field)(values)


#: One data-modifying statement: its text (one ``%s``) and its parameter.
Statement = tuple[str, str]


def update_statement(objs: Sequence[models.Model], fields: Sequence[str]) -> Statement:
    """The ``UPDATE … FROM jsonb_to_recordset`` of :func:`bulk_update` (PostgreSQL)."""
    model = type(objs[0])
    columns: dict[str, list] = {}
    for name in fields:
        field = model._meta.get_field(name)
        columns[field.column] = _column(field, objs, add=False)
    pks = [o.pk for o in objs]
    return _update_sql(model, tuple(columns)), rows_json([pks, *columns.values()], "pk")


def insert_statement(objs: Sequence[models.Model], *, ignore_conflicts: bool = False) -> Statement:
    """The ``INSERT … SELECT … FROM jsonb_to_recordset`` of :func:`bulk_insert` (PostgreSQL,
    a model without multi-table inheritance: :func:`inserts_in_one`)."""
    fields = _insert_fields(type(objs[0]))
    columns = tuple(f.column for f in fields)
    values = [_column(f, objs, add=True) for f in fields]
    tail = "ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return _insert_sql(type(objs[0]), columns, tail), rows_json(values)


def inserts_in_one(model: type[models.Model]) -> bool:
    """Whether :func:`insert_statement` can write ``model``'s rows (else ``bulk_create``)."""
    return connection.vendor == "postgresql" and not model._meta.parents


def execute_together(statements: Sequence[Statement]) -> None:
    """Run data-modifying statements in one round trip: each but the last as a ``WITH``
    query of the last. PostgreSQL runs every one of them to completion, on one snapshot,
    so none may depend on another's effect: they must touch different rows (the batch's
    updates and inserts do: one statement per model and field set, new rows apart from
    stored ones), and foreign keys between their rows are checked at commit (Django
    creates them ``DEFERRABLE INITIALLY DEFERRED``)."""
    if not statements:
        return
    *withs, (last, last_param) = statements
    text = "".join(
        ("WITH " if i == 0 else ", ") + f"w{i} AS ({sql})" for i, (sql, _) in enumerate(withs)
    )
    with bound_cursor() as cursor:
        cursor.execute(f"{text} {last}".lstrip(), [p for _, p in withs] + [last_param])


def bulk_update(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """``Model.objects.bulk_update(objs, fields)`` in one ``UPDATE … FROM`` on PostgreSQL."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        type(objs[0])._base_manager.bulk_update(objs, list(fields))
        return
    execute_together([update_statement(objs, fields)])


@cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    pk = model._meta.pk
    return tuple(
        f
        for f in model._meta.concrete_fields
        if not (f is pk and isinstance(f, models.AutoField | models.BigAutoField))
    )


def bulk_insert(objs: Sequence[models.Model], *, ignore_conflicts: bool = False) -> None:
    """``bulk_create(objs, ignore_conflicts=…)`` in one ``INSERT … SELECT`` on PostgreSQL,
    for rows whose primary keys are not needed afterwards (they are not set on ``objs``).
    Multi-table inheritance is not supported; SQLite keeps the ORM path."""
    if not objs:
        return
    model = type(objs[0])
    if not inserts_in_one(model):
        model._base_manager.bulk_create(objs, batch_size=1000, ignore_conflicts=ignore_conflicts)
        return
    execute_together([insert_statement(objs, ignore_conflicts=ignore_conflicts)])
