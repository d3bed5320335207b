"""Reconciliation, part one (scenario 9): taking the systems' snapshots and comparing them
with Interlock's records (``orchestrator.services.reconciliation`` runs it per plant).

Snapshots come through a small interface, so a real system can answer as well as the
demo simulators: a *snapshot fetcher* per transport (``register_snapshot_fetcher``; the
connectors app registers ``rest``: ``GET {base_url}/snapshot?plant=<code>``) returns a
dict in the system's own codes and units::

    {"orders": {"WO-1": {"status": "settled", "produced_qty": 10, "scrapped_qty": 2,
                         "uom": "ST"}},
     "lots": {"FG-WO-1": {"status": "BLOC"}},
     "inspections": {"QI-FG-WO-1": {"order": "WO-1", "lot": "FG-WO-1", "result": "A",
                                    "status": "recorded"}},
     "counts": {"A": 1}}

:func:`compare` maps them with the plant's site mappings (units, lot and inspection
status codes) and compares:

- MES: per order the good quantity of its last operation (Interlock's ``confirmed_qty``),
  the scrap (``scrapped_qty``), and whether MES finished a run Interlock still has open;
- ERP: per order the produced and scrapped quantity posted, and whether an order
  Interlock financially posted is settled; per lot the status last posted;
- QMS: per inspection whether Interlock has it and the same result, and the counts per
  result.

Quantities differ when ``|a − b| > max(reconciliation.qty_tolerance_abs,
reconciliation.qty_tolerance_pct × max(|a|, |b|))`` (:class:`Tolerance`). Read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from plants.choices import StatusDomain
from plants.models import ConnectedSystem, Plant
from plants.services.mapping import MappingMissing, convert_quantity, map_status

from ..choices import OrderState
from ..models import Inspection, Lot, ProductionOrder

KINDS = ("erp", "mes", "qms")

#: Orders Interlock considers settled with the ERP (goods received and posted).
POSTED_STATES = {OrderState.FINANCIALLY_POSTED}
#: Orders Interlock still considers running on the shop floor.
RUNNING_STATES = {
    OrderState.RELEASED,
    OrderState.ACKNOWLEDGED,
    OrderState.IN_PROCESS,
    OrderState.PARTIALLY_CONFIRMED,
}


class SnapshotError(Exception):
    """A system did not give its snapshot (unreachable, refused, malformed)."""


Fetcher = Callable[[ConnectedSystem, Plant], dict]
FETCHERS: dict[str, Fetcher] = {}


def register_snapshot_fetcher(transport: str) -> Callable[[Fetcher], Fetcher]:
    """Register how systems of ``transport`` are asked for their snapshot."""

    def wrap(fn: Fetcher) -> Fetcher:
        FETCHERS[transport] = fn
        return fn

    return wrap


@dataclass
class Difference:
    system: str
    subject_kind: str
    subject: str
    field: str
    interlock_value: str
    system_value: str
    difference: Decimal | None = None
    tolerance: str = ""
    order: ProductionOrder | None = None
    lot: Lot | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.system, self.subject_kind, self.subject, self.field)


@dataclass
class Tolerance:
    pct: Decimal
    absolute: Decimal

    def allows(self, a: Decimal, b: Decimal) -> bool:
        return abs(a - b) <= max(self.absolute, self.pct / 100 * max(abs(a), abs(b)))

    def __str__(self) -> str:
        return f"±{self.pct}% (min {self.absolute})"


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def qty_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _canonical_qty(plant: Plant, qty: Any, uom: str, fallback_uom: str) -> Decimal | None:
    number = _dec(qty)
    if number is None:
        return None
    if not uom or uom == fallback_uom:
        return number
    try:
        return convert_quantity(plant=plant, quantity=number, uom=uom)[0]
    except MappingMissing:
        return number  # a unit the plant spells canonically (KG) needs no mapping


def _canonical_status(plant: Plant, domain: str, code: str) -> str:
    try:
        return map_status(plant=plant, domain=domain, code=code)
    except MappingMissing:
        return code


# --- comparing ------------------------------------------------------------------------------
def compare(
    *, plant: Plant, kind: str, snapshot: dict, tolerance: Tolerance
) -> tuple[list[Difference], int]:
    """The differences between one system's snapshot and Interlock, and how many values
    were compared."""
    diffs: list[Difference] = []
    compared = 0
    numbers = list((snapshot.get("orders") or {}).keys())
    orders = {
        o.number: o
        for o in ProductionOrder.objects.filter(plant=plant, number__in=numbers).select_related(
            "uom"
        )
    }

    def qty(subject_order: ProductionOrder, field: str, ours: Decimal, theirs: Decimal | None):
        nonlocal compared
        compared += 1
        if theirs is None:
            return
        if not tolerance.allows(ours, theirs):
            diffs.append(
                Difference(
                    system=kind,
                    subject_kind="order",
                    subject=subject_order.number,
                    field=field,
                    interlock_value=qty_text(ours),
                    system_value=qty_text(theirs),
                    difference=ours - theirs,
                    tolerance=str(tolerance),
                    order=subject_order,
                )
            )

    for number, row in (snapshot.get("orders") or {}).items():
        order = orders.get(number)
        compared += 1
        if order is None:
            diffs.append(Difference(kind, "order", number, "exists", "missing", "present"))
            continue
        uom = str(row.get("uom") or "")
        for field in ("produced_qty", "scrapped_qty"):
            if field not in row:
                continue
            ours = order.confirmed_qty if field == "produced_qty" else order.scrapped_qty
            theirs = _canonical_qty(plant, row[field], uom, order.uom.code)
            qty(order, field, ours, theirs)
        status = str(row.get("status") or "")
        if kind == "mes" and status == "completed" and order.state in RUNNING_STATES:
            diffs.append(
                Difference(kind, "order", number, "status", order.state, status, order=order)
            )
        if kind == "erp":
            settled = status == "settled"
            if settled != (order.state in POSTED_STATES):
                diffs.append(
                    Difference(kind, "order", number, "status", order.state, status, order=order)
                )

    lots_snapshot = snapshot.get("lots") or {}
    lots = {
        lot.number: lot for lot in Lot.objects.filter(plant=plant, number__in=list(lots_snapshot))
    }
    for number, row in lots_snapshot.items():
        compared += 1
        lot = lots.get(number)
        theirs = _canonical_status(plant, StatusDomain.LOT_STATUS, str(row.get("status") or ""))
        if lot is None:
            diffs.append(Difference(kind, "lot", number, "exists", "missing", "present"))
        elif lot.status != theirs:
            diffs.append(Difference(kind, "lot", number, "status", lot.status, theirs, lot=lot))

    inspections_snapshot = snapshot.get("inspections") or {}
    if inspections_snapshot or "counts" in snapshot:
        ours_by_number = {
            i.number: i
            for i in Inspection.objects.filter(
                plant=plant, number__in=list(inspections_snapshot)
            ).select_related("order", "lot")
        }
        ours_counts: dict[str, int] = {}
        for number, row in inspections_snapshot.items():
            if row.get("status") != "recorded":
                continue
            compared += 1
            theirs = _canonical_status(
                plant, StatusDomain.INSPECTION_OUTCOME, str(row.get("result") or "")
            )
            ours = ours_by_number.get(number)
            if ours is None:
                diffs.append(Difference(kind, "inspection", number, "exists", "missing", theirs))
                continue
            ours_counts[ours.state] = ours_counts.get(ours.state, 0) + 1
            if _outcome(ours) != theirs:
                diffs.append(
                    Difference(
                        kind,
                        "inspection",
                        number,
                        "result",
                        _outcome(ours),
                        theirs,
                        order=ours.order,
                        lot=ours.lot,
                    )
                )
        theirs_counts: dict[str, int] = {}
        for code, n in (snapshot.get("counts") or {}).items():
            canonical = _canonical_status(plant, StatusDomain.INSPECTION_OUTCOME, str(code))
            theirs_counts[canonical] = theirs_counts.get(canonical, 0) + int(n)
        ours_outcomes: dict[str, int] = {}
        for inspection in ours_by_number.values():
            outcome = _outcome(inspection)
            if outcome:
                ours_outcomes[outcome] = ours_outcomes.get(outcome, 0) + 1
        for outcome in sorted(set(theirs_counts) | set(ours_outcomes)):
            compared += 1
            a, b = ours_outcomes.get(outcome, 0), theirs_counts.get(outcome, 0)
            if a != b:
                diffs.append(
                    Difference(
                        kind,
                        "plant",
                        plant.code,
                        f"inspections_{outcome}",
                        str(a),
                        str(b),
                        Decimal(a - b),
                    )
                )
    return diffs, compared


def _outcome(inspection: Inspection) -> str:
    """The canonical outcome of an inspection (its state once decided)."""
    state = str(inspection.state)
    return state if state in ("passed", "failed", "conditionally_released") else ""


def plant_systems(plant: Plant) -> list[ConnectedSystem]:
    return list(
        ConnectedSystem.objects.filter(plants=plant, kind__in=KINDS, active=True).order_by("code")
    )


def fetch_snapshot(system: ConnectedSystem, plant: Plant) -> dict:
    fetcher = FETCHERS.get(system.transport)
    if fetcher is None:
        raise SnapshotError(f"no snapshot fetcher for transport {system.transport!r}")
    snapshot = fetcher(system, plant)
    if not isinstance(snapshot, dict):
        raise SnapshotError(f"{system.code} answered a snapshot that is not an object")
    return snapshot
