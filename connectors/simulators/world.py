"""The simulators' view of the demo plants: their own codes, read from the fixtures.

Django-free on purpose: a simulator stands in for a plant system, which knows its own codes
(``fixtures/demo/simulation.yaml``) and nothing of Interlock's tables. Interlock's outbound
connector sends each plant its own codes (``connectors.outbound.mapping``), so a simulator
uses what it receives as it is. The cross-reference to canonical codes
(``fixtures/demo/mappings.yaml``) is still read: the ERP keeps its ledger by canonical item,
and a message from before the outbound mapping (or a test posting canonical codes) still
works, because every lookup accepts either form and a plant code is returned unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "demo"


@dataclass(frozen=True)
class _Mapped:
    native: str
    canonical: str
    valid_from: dt.date
    valid_to: dt.date | None
    revision: str = ""
    factor: Decimal = Decimal(1)
    decimal_places: int = 0

    def valid(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


def _mapped(rows: list[dict], key: str, **extra_keys: str) -> list[_Mapped]:
    out = []
    for row in rows or []:
        out.append(
            _Mapped(
                native=str(row["plant_code"]),
                canonical=str(row[key]),
                valid_from=row.get("valid_from") or dt.date.min,
                valid_to=row.get("valid_to"),
                revision=str(row.get("revision") or ""),
                factor=Decimal(str(row.get("factor", 1))),
                decimal_places=int(row.get("decimal_places", 0)),
            )
        )
    return out


@dataclass(frozen=True)
class Component:
    item: str
    per_unit: Decimal
    uom: str
    issue_uom: str


@dataclass(frozen=True)
class Product:
    item: str
    uom: str
    qty_range: tuple[int, int]
    routing: tuple[tuple[str, str], ...]
    components: tuple[Component, ...]


@dataclass(frozen=True)
class Lot:
    number: str
    item: str
    qty: Decimal
    uom: str
    expires_on: dt.date | None


@dataclass
class PlantWorld:
    """One plant as its systems see it: products, lots, reason and outcome codes, and the
    cross-reference to canonical codes."""

    code: str
    order_prefix: str
    products: list[Product]
    lots: list[Lot]
    scrap_reasons: list[str]
    inspection: dict[str, str]
    items: list[_Mapped] = field(default_factory=list)
    uoms: list[_Mapped] = field(default_factory=list)
    work_centers: list[_Mapped] = field(default_factory=list)

    # --- plant code → canonical ------------------------------------------------------------
    def item_ref(self, code: str, day: dt.date | None = None) -> tuple[str, str]:
        """``(canonical item, pinned revision)`` of a plant item code (or a canonical one)."""
        day = day or dt.date.today()
        for m in self.items:
            if m.native == code and m.valid(day):
                return m.canonical, m.revision
        return code, ""

    def canonical_item(self, code: str, day: dt.date | None = None) -> str:
        return self.item_ref(code, day)[0]

    def uom_ref(self, code: str) -> _Mapped | None:
        return next((m for m in self.uoms if m.native == code), None)

    def to_canonical(self, qty: Decimal | float | int, uom: str) -> tuple[Decimal, str]:
        ref = self.uom_ref(uom)
        if ref is None:
            return Decimal(str(qty)), uom
        exponent = Decimal(1).scaleb(-ref.decimal_places)
        return (Decimal(str(qty)) * ref.factor).quantize(exponent, ROUND_HALF_UP), ref.canonical

    # --- canonical → plant code ------------------------------------------------------------
    def native_item(self, code: str, day: dt.date | None = None) -> str:
        day = day or dt.date.today()
        if any(m.native == code for m in self.items):
            return code
        for m in self.items:
            if m.canonical == code and m.valid(day):
                return m.native
        return code

    def native_work_center(self, code: str) -> str:
        if any(m.native == code for m in self.work_centers):
            return code
        return next((m.native for m in self.work_centers if m.canonical == code), code)

    def native_uom(self, code: str) -> str:
        """The plant's unit for a canonical unit: the one with factor 1 (pieces, not boxes)."""
        if self.uom_ref(code) is not None:
            return code
        candidates = [m for m in self.uoms if m.canonical == code]
        exact = [m for m in candidates if m.factor == 1]
        return (exact or candidates or [None])[0].native if candidates else code

    def to_native(
        self, qty: Decimal | float | int, from_uom: str, native_uom: str, *, up: bool = False
    ) -> Decimal:
        """``qty`` of ``from_uom`` (a plant unit, as Interlock now sends, or a canonical one)
        in the plant unit ``native_uom`` (rounded to its places; ``up`` rounds up, for whole
        boxes). Same unit in, same quantity out: nothing is translated back."""
        if from_uom == native_uom:
            return Decimal(str(qty))
        ref = self.uom_ref(native_uom)
        if ref is None or ref.canonical != self.canonical_uom(from_uom):
            return Decimal(str(qty))
        source = self.uom_ref(from_uom)
        canonical_qty = Decimal(str(qty)) * (source.factor if source is not None else 1)
        places = 0 if up else max(ref.decimal_places, 0)
        exponent = Decimal(1).scaleb(-places)
        return (canonical_qty / ref.factor).quantize(
            exponent, ROUND_CEILING if up else ROUND_HALF_UP
        )

    def canonical_uom(self, code: str) -> str:
        ref = self.uom_ref(code)
        return ref.canonical if ref is not None else code

    def outcome_code(self, outcome: str) -> str:
        """The plant's inspection-outcome code (``pass``/``fail``/``conditional``); a plant
        without conditional releases answers a pass."""
        return self.inspection.get(outcome) or self.inspection["pass"]

    def product(self, item_code: str) -> Product | None:
        canonical = self.canonical_item(item_code)
        for product in self.products:
            if product.item == item_code or self.canonical_item(product.item) == canonical:
                return product
        return None

    def lot_for(self, item_code: str) -> Lot | None:
        canonical = self.canonical_item(item_code)
        for lot in self.lots:
            if self.canonical_item(lot.item) == canonical:
                return lot
        return None


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


@cache
def load_world(fixtures: str | None = None) -> dict[str, PlantWorld]:
    """The demo plants from ``fixtures`` (default: ``INTERLOCK_SIM_FIXTURES`` or
    ``fixtures/demo``)."""
    folder = Path(fixtures or os.environ.get("INTERLOCK_SIM_FIXTURES") or DEFAULT_FIXTURES)
    simulation = yaml.safe_load((folder / "simulation.yaml").read_text(encoding="utf-8"))
    mappings = yaml.safe_load((folder / "mappings.yaml").read_text(encoding="utf-8"))
    world = {}
    for code, spec in simulation["plants"].items():
        maps = mappings.get(code) or {}
        world[code] = PlantWorld(
            code=code,
            order_prefix=str(spec["order_prefix"]),
            products=[
                Product(
                    item=str(p["item"]),
                    uom=str(p["uom"]),
                    qty_range=(int(p["qty"][0]), int(p["qty"][1])),
                    routing=tuple(
                        (str(op["operation"]), str(op["work_center"])) for op in p["routing"]
                    ),
                    components=tuple(
                        Component(
                            item=str(c["item"]),
                            per_unit=_number(c["per_unit"]),
                            uom=str(c["uom"]),
                            issue_uom=str(c.get("issue_uom") or c["uom"]),
                        )
                        for c in p.get("components", [])
                    ),
                )
                for p in spec["products"]
            ],
            lots=[
                Lot(
                    number=str(lot["number"]),
                    item=str(lot["item"]),
                    qty=_number(lot["qty"]),
                    uom=str(lot["uom"]),
                    expires_on=lot.get("expires_on"),
                )
                for lot in spec.get("lots", [])
            ],
            scrap_reasons=[str(r) for r in spec.get("scrap_reasons", ["SCRAP"])],
            inspection={k: str(v) for k, v in spec["inspection"].items()},
            items=_mapped(maps.get("items"), "item"),
            uoms=_mapped(maps.get("uoms"), "uom"),
            work_centers=_mapped(maps.get("work_centers"), "work_center"),
        )
    return world
