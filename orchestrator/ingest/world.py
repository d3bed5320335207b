"""The batch's world, shared by handlers and actions: preload, lookups, keys, ``Step``.

(It sits below both in the layers that import-linter enforces, see ``pyproject.toml``:
``ingest.handlers`` → ``actions`` → ``ingest.world``.)

**Preload.** Before the first handler runs, the batch's orders, lots and inspections (by
the numbers its payloads name) are read once, with their operations, reserved components,
gates and lot links, locked ``SELECT … FOR UPDATE`` in primary-key order (two batches
touching the same orders lock them in the same order, so they queue instead of
deadlocking). Handlers then find everything in ``ctx.cache``; an object the preload did
not cover (a parked event released later, an order created in this batch) is loaded or
registered on first use.

**Steps.** A handler checks master data and prerequisites first. If the event cannot go
on it parks or quarantines it and returns ``None``. Otherwise it returns a :class:`Step`:
the plain facts rules read (``order``/``lot``/``inspection`` dicts, derived values) and
the ``apply`` callable that makes the state change. The registry evaluates rules between
the two, so a rule's ``quarantine_event`` stops the event *before* anything changed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from operator import attrgetter
from typing import Any

from django.db import connection, models
from psycopg import ClientCursor

from plants.models import Item, Plant, UnitOfMeasure, WorkCenter

from ..choices import OrderState
from ..models import (
    Event,
    Gate,
    Inspection,
    Lot,
    LotOrderLink,
    Nonconformance,
    Operation,
    OrderComponent,
    ProductionOrder,
)
from .context import BatchContext
from .instances import fast_timestamps, loader

#: Progress of an order along its main line: a handler never moves it backwards.
ORDER_RANK = {
    OrderState.CREATED: 0,
    OrderState.RELEASED: 1,
    OrderState.ACKNOWLEDGED: 2,
    OrderState.IN_PROCESS: 3,
    OrderState.PARTIALLY_CONFIRMED: 4,
    OrderState.COMPLETED: 5,
    OrderState.QUALITY_PENDING: 6,
    OrderState.FINANCIALLY_POSTED: 7,
}


def rank(order: ProductionOrder) -> int:
    # Side exits (on hold, cancelled) rank below everything: nothing runs on them.
    return ORDER_RANK.get(order.state, -1)


def dec(value: Any) -> Decimal:
    """JSON number → Decimal without binary float noise (22.68 stays 22.68)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --- prerequisite keys (what a parked event waits for) ---------------------------------
def key_order_released(plant: str, order: str) -> str:
    return f"order-released:{plant}:{order}"


def key_order_acknowledged(plant: str, order: str) -> str:
    return f"order-acknowledged:{plant}:{order}"


def key_operations_confirmed(plant: str, order: str) -> str:
    return f"operations-confirmed:{plant}:{order}"


def key_lot(plant: str, lot: str) -> str:
    return f"lot:{plant}:{lot}"


def key_inspection(plant: str, inspection: str) -> str:
    return f"inspection-requested:{plant}:{inspection}"


def key_gate_open(kind: str, plant: str, order: str) -> str:
    return f"gate-open:{kind}:{plant}:{order}"


def key_nonconformance(plant: str, number: str) -> str:
    return f"nonconformance-opened:{plant}:{number}"


# --- steps ----------------------------------------------------------------------------
@dataclass
class Step:
    """A checked event, ready to apply: facts for rules, the change, and its subjects."""

    apply: Callable[[], None]
    order: ProductionOrder | None = None
    lot: Lot | None = None
    inspection: Inspection | None = None
    #: Facts the pipeline derives for rules (``reserved``, ``window_qty``...).
    derived: dict[str, Any] = field(default_factory=dict)


def nothing() -> None:
    """``apply`` of an event that changes nothing (a late, older report)."""


# --- the batch's view of the database ---------------------------------------------------
@dataclass
class OrderBundle:
    """An order with what handlers touch, all locked by the batch."""

    order: ProductionOrder
    operations: dict[str, Operation]
    components: dict[int, OrderComponent]
    gates: dict[str, Gate]
    links: dict[tuple[int, str], LotOrderLink]


class World:
    """Per-batch cache of business objects (``ctx.cache["world"]``)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[int, str], OrderBundle | None] = {}
        self.lots: dict[tuple[int, str], Lot | None] = {}
        self.inspections: dict[tuple[int, str], Inspection | None] = {}
        self.nonconformances: dict[tuple[int, str], Nonconformance | None] = {}
        self.items: dict[str, Item | None] = {}
        self.uoms: dict[str, UnitOfMeasure | None] = {}
        self.work_centers: dict[tuple[int, str], WorkCenter | None] = {}
        #: Scrap per (plant, line, item) in the spike window (``_scrap_window``).
        self.scrap_window: dict[tuple[int, int | None, int], Decimal] = {}
        #: The batch's plants (from its events): loaded rows share them instead of each
        #: joining and instantiating its own copy.
        self.plants: dict[int, Plant] = {}
        #: Master-data rows joined by the preload (items, units), one instance per row;
        #: ``items`` and ``uoms`` (by code) see them too, so a lookup by code costs no query.
        self.master: dict[tuple[type, int], models.Model] = {}


# --- set-wise reads without the ORM's query compiler --------------------------------------
# The preload's statements are constant text per model (built once per process from the
# models' fields), their rows become instances through ``Model.from_db``'s positional fast
# path, and master data (plants, items, units) is shared by every row of the batch that
# points at it instead of being joined and instantiated once per row.
@cache
def _columns(model: type[models.Model], alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


@cache
def _attnames(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def _rows(sql: str, params: list[Any]) -> list[tuple]:
    if connection.vendor != "postgresql":
        sql, params = _portable(sql, params)
    with connection.cursor() as cursor:
        fast_timestamps(cursor)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rows_each(sqls: list[str], params: list[Any]) -> list[list[tuple]]:
    """The rows of each statement (each taking ``params``), in one round trip on
    PostgreSQL with client-side binding (Django's default): the statements joined by ``;``,
    their results read in turn (``nextset``), their locks taken in their order."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or not isinstance(cursor.cursor, ClientCursor):
            return [_rows(sql, params) for sql in sqls]
        fast_timestamps(cursor)
        cursor.execute("; ".join(sqls), params * len(sqls))
        results = [cursor.fetchall()]
        while cursor.nextset():
            results.append(cursor.fetchall())
    return results


def _portable(sql: str, params: list[Any]) -> tuple[str, list[Any]]:
    """The statement for a database without ``= ANY(array)`` and ``FOR UPDATE`` (SQLite,
    which ``make demo`` runs on): each ``= ANY(%s)`` becomes ``IN (%s, …)`` with the list
    spread into the parameters, and the lock clause goes (SQLite has one writer at a time)."""
    text, spread = "", []
    chunks = sql.removesuffix(" FOR UPDATE OF t").split("%s")
    for chunk, value in zip(chunks, params, strict=False):
        if chunk.endswith(" = ANY(") and isinstance(value, list | tuple):
            text += chunk.removesuffix(" = ANY(") + " IN (" + ", ".join(["%s"] * len(value))
            spread.extend(value)
        else:
            text += chunk + "%s"
            spread.append(value)
    return text + chunks[-1], spread


def _loader(model: type[models.Model]) -> Callable[[tuple], models.Model]:
    """``row → instance`` of ``model`` (``instances.loader``: ``from_db`` without
    ``Model.__init__``), converting values first where the driver does not (SQLite)."""
    load = loader(model, connection.alias)
    if connection.vendor == "postgresql":
        return load
    # psycopg returns Python types; SQLite's driver does not (a decimal comes back an
    # int, a datetime a string), and raw rows skip the converters the ORM would apply.
    converters = _converters(model)
    return lambda values: load(
        [_convert(value, col, conv) for value, (col, conv) in zip(values, converters, strict=True)]
    )


@cache
def _converters(model: type[models.Model]) -> tuple[tuple[Any, list], ...]:
    """Per concrete field, its column expression and the backend's and field's converters
    (what the ORM's compiler applies to each value it reads)."""
    out = []
    for f in model._meta.concrete_fields:
        col = f.get_col(model._meta.db_table)
        out.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
    return tuple(out)


def _convert(value: Any, col: Any, converters: list) -> Any:
    for converter in converters:
        value = converter(value, col, connection)
    return value


@cache
def _select_sql(model: type[models.Model], where: str, joins: tuple[type[models.Model], ...]):
    """``SELECT`` the model's columns (and those of ``joins``, each a master-data table its
    foreign key of the same name points at) ``WHERE where ORDER BY pk FOR UPDATE OF t``."""
    table = model._meta.db_table
    columns = [_columns(model, "t")]
    joined = []
    for i, related in enumerate(joins):
        fk = next(
            f for f in model._meta.concrete_fields if f.is_relation and f.related_model is related
        )
        columns.append(_columns(related, f"j{i}"))
        joined.append(
            f'LEFT JOIN "{related._meta.db_table}" j{i} '
            f'ON j{i}."{related._meta.pk.column}" = t."{fk.column}"'
        )
    # Only quoted identifiers from the models' metadata are interpolated.
    return (
        f'SELECT {", ".join(columns)} FROM "{table}" t {" ".join(joined)} '  # noqa: S608
        f'WHERE {where} ORDER BY t."{model._meta.pk.column}" FOR UPDATE OF t'
    )


def _fetch(
    w: World,
    model: type[models.Model],
    where: str,
    params: list[Any],
    joins: tuple[type[models.Model], ...] = (),
) -> list[models.Model]:
    """Locked rows of ``model`` as instances, their ``joins`` (item, uom) shared per batch."""
    return _instances(w, model, _rows(_select_sql(model, where, joins), params), joins)


def _instances(
    w: World, model: type[models.Model], rows: list[tuple], joins: tuple[type[models.Model], ...]
) -> list[models.Model]:
    """``rows`` of ``_select_sql(model, …, joins)`` as instances, the joined rows shared."""
    width = len(_attnames(model))
    load = _loader(model)
    if not joins:
        return [load(row) for row in rows]
    objs = []
    spans = []
    start = width
    for related in joins:
        end = start + len(_attnames(related))
        # FieldCacheMixin.set_cached_value, inline: the row's cache of the related object.
        spans.append((related, start, end, _fk_of(model, related).cache_name))
        start = end
    loaders = {related: _loader(related) for related in joins}
    for row in rows:
        obj = load(row[:width])
        for related, start, end, cache_name in spans:
            pk = row[start]
            if pk is not None:
                shared = w.master.get((related, pk))
                if shared is None:
                    shared = w.master[(related, pk)] = loaders[related](row[start:end])
                    if related is Item:
                        w.items.setdefault(shared.code, shared)
                    elif related is UnitOfMeasure:
                        w.uoms.setdefault(shared.code, shared)
                obj._state.fields_cache[cache_name] = shared
        objs.append(obj)
    return objs


@cache
def _fk_of(model: type[models.Model], related: type[models.Model]) -> models.ForeignKey:
    return next(
        f for f in model._meta.concrete_fields if f.is_relation and f.related_model is related
    )


def _share_plants(w: World, objs: list[models.Model]) -> None:
    """Point every row at the batch's copy of its plant (loaded once if the batch has none)."""
    missing = {o.plant_id for o in objs} - w.plants.keys()
    if missing:
        w.plants.update(Plant.objects.in_bulk(missing))
    field = _fk_of(type(objs[0]), Plant) if objs else None
    for obj in objs:
        field.set_cached_value(obj, w.plants[obj.plant_id])


def _by_number(wanted: dict[int, set[str]]) -> tuple[str, list[Any]]:
    numbers = sorted(set().union(*wanted.values()))
    return 't."plant_id" = ANY(%s) AND t."number" = ANY(%s)', [sorted(wanted), numbers]


def world(ctx: BatchContext) -> World:
    w = ctx.cache.get("world")
    if w is None:
        w = ctx.cache["world"] = World()
    return w


def _group(events: Iterable[Event], name: str) -> dict[int, set[str]]:
    wanted: dict[int, set[str]] = defaultdict(set)
    for event in events:
        value = event.payload.get(name) if isinstance(event.payload, dict) else None
        if isinstance(value, str):
            wanted[event.plant_id].add(value)
    return wanted


def _load_orders(w: World, wanted: dict[int, set[str]]) -> None:
    wanted = {p: {n for n in ns if (p, n) not in w.orders} for p, ns in wanted.items()}
    wanted = {p: ns for p, ns in wanted.items() if ns}
    if not wanted:
        return
    where, params = _by_number(wanted)
    orders = _fetch(w, ProductionOrder, where, params, (Item, UnitOfMeasure))
    orders = [o for o in orders if o.number in wanted[o.plant_id]]
    _share_plants(w, orders)
    by_pk = {o.pk: o for o in orders}
    for plant_id, ns in wanted.items():
        for number in ns:
            w.orders[(plant_id, number)] = None
    if not orders:
        return
    bundles = {
        o.pk: OrderBundle(order=o, operations={}, components={}, gates={}, links={}) for o in orders
    }
    where, params = 't."order_id" = ANY(%s)', [list(by_pk)]
    # What hangs off the orders, in one round trip. No work center join: handlers never
    # read an operation's work center.
    children = (
        (Operation, ()),
        (OrderComponent, (Item, UnitOfMeasure)),
        (Gate, ()),
        (LotOrderLink, ()),
    )
    results = _rows_each([_select_sql(m, where, joins) for m, joins in children], params)
    ops, comps, gates, links = (
        _instances(w, m, rows, joins) for (m, joins), rows in zip(children, results, strict=True)
    )
    # Each child points at the batch's order (set_cached_value, inline) and is filed in
    # its order's bundle under its key there.
    for model, rows, slot, key in (
        (Operation, ops, "operations", attrgetter("sequence")),
        (OrderComponent, comps, "components", attrgetter("item_id")),
        (Gate, gates, "gates", attrgetter("kind")),
        (LotOrderLink, links, "links", attrgetter("lot_id", "relation")),
    ):
        name = _fk_of(model, ProductionOrder).cache_name
        for row in rows:
            order_id = row.order_id
            row._state.fields_cache[name] = by_pk[order_id]
            getattr(bundles[order_id], slot)[key(row)] = row
    for o in orders:
        w.orders[(o.plant_id, o.number)] = bundles[o.pk]


def _load_lots(w: World, wanted: dict[int, set[str]]) -> None:
    wanted = {p: {n for n in ns if (p, n) not in w.lots} for p, ns in wanted.items()}
    wanted = {p: ns for p, ns in wanted.items() if ns}
    if not wanted:
        return
    for plant_id, ns in wanted.items():
        for number in ns:
            w.lots[(plant_id, number)] = None
    where, params = _by_number(wanted)
    lots = [
        lot
        for lot in _fetch(w, Lot, where, params, (Item, UnitOfMeasure))
        if lot.number in wanted[lot.plant_id]
    ]
    _share_plants(w, lots)
    for lot in lots:
        w.lots[(lot.plant_id, lot.number)] = lot


def _load_inspections(w: World, wanted: dict[int, set[str]]) -> None:
    wanted = {p: {n for n in ns if (p, n) not in w.inspections} for p, ns in wanted.items()}
    wanted = {p: ns for p, ns in wanted.items() if ns}
    if not wanted:
        return
    for plant_id, ns in wanted.items():
        for number in ns:
            w.inspections[(plant_id, number)] = None
    where, params = _by_number(wanted)
    inspections = [
        i for i in _fetch(w, Inspection, where, params) if i.number in wanted[i.plant_id]
    ]
    _share_plants(w, inspections)
    for ins in inspections:
        w.inspections[(ins.plant_id, ins.number)] = ins


def preload(ctx: BatchContext, events: list[Event]) -> None:
    """Read and lock everything ``events`` name, a few queries for the whole batch."""
    w = world(ctx)
    for event in events:
        w.plants.setdefault(event.plant_id, event.plant)
    _load_orders(w, _group(events, "order"))
    _load_lots(w, _group(events, "lot"))
    _load_inspections(w, _group(events, "inspection"))


# --- lookups (cache first, then one query) ---------------------------------------------
def get_order(ctx: BatchContext, plant_id: int, number: str) -> OrderBundle | None:
    w = world(ctx)
    if (plant_id, number) not in w.orders:
        _load_orders(w, {plant_id: {number}})
    return w.orders[(plant_id, number)]


def register_order(ctx: BatchContext, bundle: OrderBundle) -> None:
    world(ctx).orders[(bundle.order.plant_id, bundle.order.number)] = bundle


def get_lot(ctx: BatchContext, plant_id: int, number: str) -> Lot | None:
    w = world(ctx)
    if (plant_id, number) not in w.lots:
        _load_lots(w, {plant_id: {number}})
    return w.lots[(plant_id, number)]


def register_lot(ctx: BatchContext, lot: Lot) -> None:
    world(ctx).lots[(lot.plant_id, lot.number)] = lot


def get_inspection(ctx: BatchContext, plant_id: int, number: str) -> Inspection | None:
    w = world(ctx)
    if (plant_id, number) not in w.inspections:
        _load_inspections(w, {plant_id: {number}})
    return w.inspections[(plant_id, number)]


def inspection_by_pk(ctx: BatchContext, pk: int) -> Inspection:
    """The batch's copy of inspection ``pk`` (a foreign key like ``gate.inspection`` would
    load a second, stale copy of an inspection this batch may have moved already)."""
    for inspection in world(ctx).inspections.values():
        if inspection is not None and inspection.pk == pk:
            return inspection
    inspection = Inspection.objects.select_for_update().select_related("plant").get(pk=pk)
    register_inspection(ctx, inspection)
    return inspection


def register_inspection(ctx: BatchContext, inspection: Inspection) -> None:
    world(ctx).inspections[(inspection.plant_id, inspection.number)] = inspection


def get_nonconformance(ctx: BatchContext, plant_id: int, number: str) -> Nonconformance | None:
    w = world(ctx)
    if (plant_id, number) not in w.nonconformances:
        w.nonconformances[(plant_id, number)] = (
            Nonconformance.objects.select_for_update()
            .filter(plant_id=plant_id, number=number)
            .first()
        )
    return w.nonconformances[(plant_id, number)]


def register_nonconformance(ctx: BatchContext, nc: Nonconformance) -> None:
    world(ctx).nonconformances[(nc.plant_id, nc.number)] = nc


def get_item(ctx: BatchContext, code: str) -> Item | None:
    w = world(ctx)
    if code not in w.items:
        w.items[code] = Item.objects.filter(code=code).first()
    return w.items[code]


def get_uom(ctx: BatchContext, code: str) -> UnitOfMeasure | None:
    w = world(ctx)
    if code not in w.uoms:
        w.uoms[code] = UnitOfMeasure.objects.filter(code=code).first()
    return w.uoms[code]


def get_work_center(ctx: BatchContext, plant_id: int, code: str) -> WorkCenter | None:
    w = world(ctx)
    if (plant_id, code) not in w.work_centers:
        w.work_centers[(plant_id, code)] = WorkCenter.objects.filter(
            plant_id=plant_id, code=code
        ).first()
    return w.work_centers[(plant_id, code)]


def event_day(event: Event) -> dt.date:
    plant: Plant = event.plant
    return event.occurred_at.astimezone(plant.tz).date()


# --- plain facts for rules (the object schemas registered with rules) --------------------
def order_facts(order: ProductionOrder) -> dict[str, Any]:
    return {
        "number": order.number,
        "item": order.item.code,
        "status": order.state,
        "target_qty": float(order.target_qty),
        "confirmed_qty": float(order.confirmed_qty),
        "scrap_qty": float(order.scrapped_qty),
        "uom": order.uom.code,
        "routing_revision": order.routing_revision,
        "bom_revision": order.bom_revision,
    }


def lot_facts(lot: Lot) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "number": lot.number,
        "item": lot.item.code,
        "status": lot.status,
        "qty": float(lot.qty),
        "uom": lot.uom.code if lot.uom_id else "",
    }
    if lot.expires_on is not None:
        facts["expires_at"] = dt.datetime.combine(lot.expires_on, dt.time(), tzinfo=dt.UTC)
    return facts


def inspection_facts(inspection: Inspection) -> dict[str, Any]:
    final = inspection.state in ("passed", "failed", "conditionally_released")
    return {
        "number": inspection.number,
        "status": inspection.state,
        "result": inspection.state if final else "pending",
        "lot": inspection.lot.number if inspection.lot_id else "",
    }


def save_new(obj) -> None:
    """Save a new row created by a handler. Rows with simple-history get no history user:
    the request's user is a connected system (not a person); the audit record names it."""
    obj._history_user = None
    obj.save()
