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
from typing import Any

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


def _with_plant(w: World, qs, wanted: dict[int, set[str]]):
    """``qs`` joined to its plant unless the batch has every plant in hand already."""
    return qs if all(p in w.plants for p in wanted) else qs.select_related("plant")


def _share_plant(w: World, obj) -> None:
    plant = w.plants.get(obj.plant_id)
    if plant is not None:
        obj.plant = plant


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
    numbers = set().union(*wanted.values())
    orders = list(
        _with_plant(
            w,
            ProductionOrder.objects.select_for_update(of=("self",)).select_related("item", "uom"),
            wanted,
        )
        .filter(plant_id__in=wanted, number__in=numbers)
        .order_by("pk")
    )
    orders = [o for o in orders if o.number in wanted[o.plant_id]]
    for o in orders:
        _share_plant(w, o)
    by_pk = {o.pk: o for o in orders}
    for plant_id, ns in wanted.items():
        for number in ns:
            w.orders[(plant_id, number)] = None
    if not orders:
        return
    bundles = {
        o.pk: OrderBundle(order=o, operations={}, components={}, gates={}, links={}) for o in orders
    }
    # No work center join: handlers never read an operation's work center.
    for op in Operation.objects.select_for_update().filter(order_id__in=by_pk).order_by("pk"):
        op.order = by_pk[op.order_id]
        bundles[op.order_id].operations[op.sequence] = op
    for comp in (
        OrderComponent.objects.select_for_update(of=("self",))
        .select_related("item")
        .filter(order_id__in=by_pk)
        .order_by("pk")
    ):
        comp.order = by_pk[comp.order_id]
        bundles[comp.order_id].components[comp.item_id] = comp
    for gate in Gate.objects.select_for_update().filter(order_id__in=by_pk).order_by("pk"):
        gate.order = by_pk[gate.order_id]
        bundles[gate.order_id].gates[gate.kind] = gate
    for link in LotOrderLink.objects.select_for_update().filter(order_id__in=by_pk).order_by("pk"):
        link.order = by_pk[link.order_id]
        bundles[link.order_id].links[(link.lot_id, link.relation)] = link
    for o in orders:
        w.orders[(o.plant_id, o.number)] = bundles[o.pk]


def _load_lots(w: World, wanted: dict[int, set[str]]) -> None:
    wanted = {p: {n for n in ns if (p, n) not in w.lots} for p, ns in wanted.items()}
    wanted = {p: ns for p, ns in wanted.items() if ns}
    if not wanted:
        return
    numbers = set().union(*wanted.values())
    for plant_id, ns in wanted.items():
        for number in ns:
            w.lots[(plant_id, number)] = None
    for lot in (
        _with_plant(
            w, Lot.objects.select_for_update(of=("self",)).select_related("item", "uom"), wanted
        )
        .filter(plant_id__in=wanted, number__in=numbers)
        .order_by("pk")
    ):
        if lot.number in wanted[lot.plant_id]:
            _share_plant(w, lot)
            w.lots[(lot.plant_id, lot.number)] = lot


def _load_inspections(w: World, wanted: dict[int, set[str]]) -> None:
    wanted = {p: {n for n in ns if (p, n) not in w.inspections} for p, ns in wanted.items()}
    wanted = {p: ns for p, ns in wanted.items() if ns}
    if not wanted:
        return
    numbers = set().union(*wanted.values())
    for plant_id, ns in wanted.items():
        for number in ns:
            w.inspections[(plant_id, number)] = None
    for ins in (
        _with_plant(w, Inspection.objects.select_for_update(of=("self",)), wanted)
        .filter(plant_id__in=wanted, number__in=numbers)
        .order_by("pk")
    ):
        if ins.number in wanted[ins.plant_id]:
            _share_plant(w, ins)
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
