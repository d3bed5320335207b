"""The mapping service: plant codes → canonical ones, fast and never silently wrong.

Lookups run on the hot ingest path (thousands per second), so each process keeps a
snapshot of a plant's mapping table in memory. Freshness across processes comes from a
*generation counter* per (plant, table) in the shared cache (Redis in production): a
change bumps it after commit, and a process re-checks the counter at most every
``INTERLOCK_MAPPING_CACHE_SECONDS``. Without a shared cache (the embedded default) the
snapshot simply expires after that many seconds. A miss is a typed
:class:`MappingMissing` naming plant, table and code, never a default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from interlock.errors import DomainError, ErrorDetail
from interlock.snapshots import SnapshotCache, shared_cache

from ..models import ItemMapping, Plant, StatusMapping, UomMapping, WorkCenterMapping


class MappingMissing(DomainError):
    """No mapping of ``code`` in ``table`` is valid for ``plant`` on ``day``."""

    def __init__(
        self,
        *,
        plant: str,
        table: str,
        code: str,
        day: dt.date,
        path: str = "",
        windows: list[tuple[dt.date, dt.date | None]] | None = None,
    ) -> None:
        self.plant, self.table, self.unmapped_code, self.day = plant, table, code, day
        #: Validity of the mappings this code *does* have (none valid on ``day``).
        self.windows = windows or []
        message = (
            f"plant {plant} has no {table} mapping for code {code!r} valid on {day.isoformat()}"
        )
        if self.windows:
            # The usual cause of a "missing" mapping is back-dated data: say so.
            spans = ", ".join(
                f"{start.isoformat()} → {end.isoformat() if end else 'open'}"
                for start, end in self.windows
            )
            message += (
                f"; the code is mapped only for {spans}, and the event's date "
                f"(occurred_at) lies outside"
            )
        super().__init__(
            message=message,
            code="mapping_missing",
            details=[
                ErrorDetail(
                    path=path or table,
                    code="mapping_missing",
                    message=f"unmapped {table} code for plant {plant}",
                    expected=f"a {table} mapping valid on {day.isoformat()}",
                    found=code,
                )
            ],
        )


@dataclass(frozen=True, slots=True)
class ItemRef:
    item_id: int
    item_code: str
    revision: str


@dataclass(frozen=True, slots=True)
class WorkCenterRef:
    work_center_id: int
    code: str


@dataclass(frozen=True, slots=True)
class UomConversion:
    uom_code: str
    factor: Decimal
    decimal_places: int
    rounding_mode: str

    def convert(self, quantity: Decimal | int | float | str) -> Decimal:
        try:
            # An int (not a bool) is exactly its decimal text; other values go through it.
            value = Decimal(quantity) if type(quantity) is int else Decimal(str(quantity))
        except InvalidOperation:
            raise DomainError(
                message=f"{quantity!r} is not a quantity", code="invalid_quantity"
            ) from None
        exponent = _EXPONENTS.get(self.decimal_places)
        if exponent is None:
            exponent = _EXPONENTS[self.decimal_places] = Decimal(1).scaleb(-self.decimal_places)
        return (value * self.factor).quantize(exponent, rounding=self.rounding_mode)


#: ``decimal_places`` → the exponent a conversion rounds to (``Decimal(1).scaleb(-n)``).
_EXPONENTS: dict[int, Decimal] = {}


@dataclass(frozen=True, slots=True)
class _Entry:
    valid_from: dt.date
    valid_to: dt.date | None
    value: Any


@dataclass
class _Table:
    """One plant's mapping table: entries per plant code, oldest validity first."""

    entries: dict[str, list[_Entry]]

    def windows(self, code: str) -> list[tuple[dt.date, dt.date | None]]:
        return [(e.valid_from, e.valid_to) for e in self.entries.get(code, ())]

    def find(self, code: str, day: dt.date) -> Any | None:
        for entry in self.entries.get(code, ()):
            if entry.valid_from <= day and (entry.valid_to is None or day < entry.valid_to):
                return entry.value
        return None


def _load_item(plant_id: int) -> Iterable[tuple[str, _Entry]]:
    rows = ItemMapping.objects.filter(plant_id=plant_id).values_list(
        "plant_code", "valid_from", "valid_to", "item_id", "item__code", "revision"
    )
    for code, vf, vt, item_id, item_code, rev in rows:
        yield code, _Entry(vf, vt, ItemRef(item_id, item_code, rev))


def _load_work_center(plant_id: int) -> Iterable[tuple[str, _Entry]]:
    rows = WorkCenterMapping.objects.filter(plant_id=plant_id).values_list(
        "plant_code", "valid_from", "valid_to", "work_center_id", "work_center__code"
    )
    for code, vf, vt, wc_id, wc_code in rows:
        yield code, _Entry(vf, vt, WorkCenterRef(wc_id, wc_code))


def _load_uom(plant_id: int) -> Iterable[tuple[str, _Entry]]:
    rows = UomMapping.objects.filter(plant_id=plant_id).values_list(
        "plant_code",
        "valid_from",
        "valid_to",
        "uom__code",
        "factor",
        "decimal_places",
        "rounding_mode",
    )
    for code, vf, vt, uom, factor, places, mode in rows:
        yield code, _Entry(vf, vt, UomConversion(uom, factor, places, mode))


def _load_status(plant_id: int) -> Iterable[tuple[str, _Entry]]:
    rows = StatusMapping.objects.filter(plant_id=plant_id).values_list(
        "domain", "plant_code", "valid_from", "valid_to", "canonical_status"
    )
    for domain, code, vf, vt, status in rows:
        yield f"{domain}:{code}", _Entry(vf, vt, status)


_LOADERS: dict[str, Callable[[int], Iterable[tuple[str, _Entry]]]] = {
    "item": _load_item,
    "work_center": _load_work_center,
    "uom": _load_uom,
    "status": _load_status,
}


def _load_table(key: tuple[int, str]) -> _Table:
    plant_id, table = key
    entries: dict[str, list[_Entry]] = {}
    for code, entry in _LOADERS[table](plant_id):
        entries.setdefault(code, []).append(entry)
    for items in entries.values():
        items.sort(key=lambda e: e.valid_from)
    return _Table(entries)


class MappingCache:
    """Process-local snapshots of mapping tables, one generation counter per (plant, table)
    in the shared cache (see ``interlock.snapshots``)."""

    def __init__(self) -> None:
        self._cache = SnapshotCache("mapping", _load_table, group=lambda key: f"{key[0]}:{key[1]}")

    _shared = staticmethod(shared_cache)

    def invalidate(self, plant_id: int, table: str) -> None:
        self._cache.invalidate((plant_id, table))

    def clear(self) -> None:
        self._cache.clear()

    def snapshot(self, plant_id: int, table: str) -> _Table:
        return self._cache.get((plant_id, table))


mapping_cache = MappingCache()


def missing(
    plant: Plant, table: str, key: str, code: str, day: dt.date, path: str, snapshot: _Table
) -> MappingMissing:
    """The error of a lookup of ``key`` (plant ``code``) that ``snapshot`` cannot answer."""
    return MappingMissing(
        plant=plant.code,
        table=table,
        code=code,
        day=day,
        path=path,
        windows=snapshot.windows(key),
    )


def _lookup(plant: Plant, table: str, key: str, code: str, on: dt.date | None, path: str) -> Any:
    day = on or timezone.localdate()
    snapshot = mapping_cache.snapshot(plant.pk, table)
    value = snapshot.find(key, day)
    if value is None:
        raise missing(plant, table, key, code, day, path, snapshot)
    return value


def map_item(*, plant: Plant, code: str, on: dt.date | None = None, path: str = "") -> ItemRef:
    """Canonical item (and pinned revision) for a plant item code."""
    return _lookup(plant, "item", code, code, on, path)


def map_work_center(
    *, plant: Plant, code: str, on: dt.date | None = None, path: str = ""
) -> WorkCenterRef:
    """Canonical work center for a plant work-center name."""
    return _lookup(plant, "work_center", code, code, on, path)


def map_uom(*, plant: Plant, code: str, on: dt.date | None = None, path: str = "") -> UomConversion:
    """Canonical unit and conversion for a plant unit of measure."""
    return _lookup(plant, "uom", code, code, on, path)


def map_status(
    *, plant: Plant, domain: str, code: str, on: dt.date | None = None, path: str = ""
) -> str:
    """Canonical status (within ``domain``) for a plant status code."""
    return _lookup(plant, "status", f"{domain}:{code}", code, on, path or f"status.{domain}")


def convert_quantity(
    *,
    plant: Plant,
    quantity: Decimal | int | float | str,
    uom: str,
    on: dt.date | None = None,
    path: str = "",
) -> tuple[Decimal, str]:
    """Plant quantity in a plant unit → ``(canonical quantity, canonical unit code)``."""
    conversion = map_uom(plant=plant, code=uom, on=on, path=path)
    return conversion.convert(quantity), conversion.uom_code
