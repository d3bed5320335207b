"""Outbound mapping per plant: canonical codes → the plant's own codes, on the way out.

Inbound, site mappings translate plant codes into canonical ones; outbound, the same
mappings are read in reverse, so a plant's MES is sent ``000000000010004711`` and
``LINE_A`` rather than ``CMP-4711`` and ``P1-ASSY-01``, and quantities in its own unit.
Interlock owns the translation in both directions; the receiving systems (and the demo
simulators) no longer translate back.

Which fields: anywhere in the payload (nested objects and lists included), ``item`` is an
item code, ``work_center`` a work-center code, and ``uom`` a unit whose sibling quantity
fields (``qty``, ``*_qty``) are converted with it. Reverse choices:

- items: the mapping valid today whose canonical item (and pinned revision, when the
  payload has a ``revision``) matches; the first plant code in code order otherwise;
- units: the plant unit with factor 1 when there is one (pieces, not boxes of 12), else
  the smallest factor; ``plant_qty = canonical_qty / factor``, rounded to the mapping's
  decimal places;
- no mapping: the canonical code is kept and a warning is logged (a code that is the same
  in the plant and canonically, such as ``KG``, needs no mapping).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from plants.models import Plant
from plants.services.mapping import mapping_cache

from .base import OutboundMessage

logger = logging.getLogger(__name__)


def _valid(entry, day: dt.date) -> bool:
    return entry.valid_from <= day and (entry.valid_to is None or day < entry.valid_to)


class _Reverse:
    """Reverse lookups of one plant's mapping tables for one day."""

    def __init__(self, plant: Plant, day: dt.date) -> None:
        self.plant, self.day = plant, day
        self.missing: list[str] = []

    def _candidates(self, table: str):
        entries = mapping_cache.snapshot(self.plant.pk, table).entries
        for code in sorted(entries):
            for entry in entries[code]:
                if _valid(entry, self.day):
                    yield code, entry.value

    def item(self, canonical: str, revision: str | None = None) -> str:
        found = [(c, v) for c, v in self._candidates("item") if v.item_code == canonical]
        pinned = [c for c, v in found if revision and v.revision == revision]
        if pinned or found:
            return (pinned or [c for c, _ in found])[0]
        self.missing.append(f"item {canonical}")
        return canonical

    def work_center(self, canonical: str) -> str:
        for code, value in self._candidates("work_center"):
            if value.code == canonical:
                return code
        self.missing.append(f"work_center {canonical}")
        return canonical

    def uom(self, canonical: str):
        found = [(c, v) for c, v in self._candidates("uom") if v.uom_code == canonical]
        if not found:
            return None
        found.sort(key=lambda cv: (cv[1].factor != 1, cv[1].factor))
        return found[0]


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _convert(node: dict[str, Any], reverse: _Reverse) -> dict[str, Any]:
    out = dict(node)
    if isinstance(out.get("item"), str):
        out["item"] = reverse.item(out["item"], out.get("revision"))
    if isinstance(out.get("work_center"), str):
        out["work_center"] = reverse.work_center(out["work_center"])
    if isinstance(out.get("uom"), str):
        found = reverse.uom(out["uom"])
        if found is None:
            reverse.missing.append(f"uom {out['uom']}")
        else:
            code, conversion = found
            exponent = Decimal(1).scaleb(-conversion.decimal_places)
            for key, value in node.items():
                if (key == "qty" or key.endswith("_qty")) and isinstance(value, (int, float, str)):
                    try:
                        plant_qty = (Decimal(str(value)) / conversion.factor).quantize(
                            exponent, ROUND_HALF_UP
                        )
                    except InvalidOperation:
                        continue
                    out[key] = _number(plant_qty)
            out["uom"] = code
    for key, value in out.items():
        if isinstance(value, dict):
            out[key] = _convert(value, reverse)
        elif isinstance(value, list):
            out[key] = [_convert(v, reverse) if isinstance(v, dict) else v for v in value]
    return out


def to_plant_codes(
    message: OutboundMessage, *, plant: Plant, day: dt.date | None = None
) -> OutboundMessage:
    """``message`` with its payload in ``plant``'s own codes (see the module docstring)."""
    reverse = _Reverse(plant, day or timezone.localdate())
    payload = _convert(message.payload, reverse)
    if reverse.missing:
        logger.warning(
            "outbound %s to plant %s: no plant code for %s (sent as canonical)",
            message.type,
            plant.code,
            ", ".join(sorted(set(reverse.missing))),
        )
    return replace(message, payload=payload)
