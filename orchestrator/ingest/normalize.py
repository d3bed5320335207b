"""Site mapping of one plant-native payload into its canonical form.

Structure is checked first (the canonical schema: field names and types are the same on
both sides, only code *values* differ), so that mapping can trust the shape it walks. Every
problem is collected, not just the first: a plant admin fixing mappings sees all of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from interlock.jsonsafe import echo, truncate
from plants.models import Plant
from plants.services.mapping import MappingMissing, UomConversion, mapping_cache, missing

from .paths import walk
from .specs import EventSpec


def _places(payload: dict[str, Any], path: str):
    """``walk(payload, path)``; a top-level field (most paths) without a generator."""
    display = _TOP_LEVEL.get(path)
    if display is None or not isinstance(payload, dict):
        if "." in path or "[" in path or not isinstance(payload, dict):
            return walk(payload, path)
        display = _TOP_LEVEL[path] = f"payload.{path}"
    return ((payload, path, display),) if path in payload else ()


#: Top-level field → its display path (``qty`` → ``payload.qty``).
_TOP_LEVEL: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Reason:
    """A machine-readable reason: what is wrong, where, what was expected and found."""

    code: str
    path: str
    message: str
    expected: Any = None
    found: Any = None
    #: For a reason a rule gave: rule set, version, rule, condition and the facts it read
    #: (``rules.explain.explain_rule``).
    rule: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        # Messages and found values may quote client input (a 5 MB string, a NUL): what is
        # stored and echoed is bounded and storable.
        out = {"code": self.code, "path": self.path, "message": truncate(self.message)}
        if self.expected is not None:
            out["expected"] = self.expected
        if self.found is not None:
            out["found"] = echo(self.found)
        if self.rule is not None:
            out["rule"] = self.rule  # built from the rule document and plain facts
        return out


def _schema_path(error) -> str:
    path = "payload"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def schema_reasons(spec: EventSpec, payload: Any) -> list[Reason]:
    """Every schema violation of ``payload``, each with its path (sorted, stable)."""
    check = spec.check
    if check is not None and check(payload):
        return []  # the fast predicate agrees with jsonschema; only errors need its detail
    reasons = []
    for error in spec.validator.iter_errors(payload):
        path = _schema_path(error)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}.{missing}" if missing else path
        elif error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            path = f"{path}.{extra[0]}" if len(extra) == 1 else path
        reasons.append(
            Reason(
                code=f"schema.{error.validator}",
                path=path,
                message=error.message,
                expected=error.validator_value
                if error.validator
                in {
                    "type",
                    "enum",
                    "format",
                    "minimum",
                    "exclusiveMinimum",
                    "maximum",
                    "maxLength",
                }
                else None,
                found=error.instance if not isinstance(error.instance, (dict, list)) else None,
            )
        )
    return sorted(reasons, key=lambda r: (r.path, r.code))


def _number(value: Decimal) -> int | float:
    # JSON has no decimals; integral quantities stay integers so keys and hashes are stable.
    return int(value) if value == value.to_integral_value() else float(value)


_CONTAINERS = (dict, list)


def _copy(value: Any) -> Any:
    # A parsed JSON document holds only dicts, lists and scalars: no need for deepcopy's
    # memo, and scalars (most values) are taken over by one dict copy, not one call each.
    if isinstance(value, dict):
        out = dict(value)
        for k, v in value.items():
            if isinstance(v, _CONTAINERS):
                out[k] = _copy(v)
        return out
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return value


class BatchMappings:
    """The mapping lookups of one batch: each (plant, table) snapshot is asked of the
    process's cache once, each (plant, table, code, day) looked up once, each quantity of
    a conversion converted once.

    It lives for one batch (or one check) only: the next batch asks
    :data:`~plants.services.mapping.mapping_cache` again, and so sees a mapping change as
    soon as the snapshot cache does (``tests/ingest/test_batch_mappings.py``). Within a
    batch every event is mapped with the same snapshot of each table."""

    __slots__ = ("_converted", "_found", "_tables")

    def __init__(self) -> None:
        self._tables: dict[tuple[int, str], Any] = {}
        self._found: dict[tuple[int, str, str, dt.date], Any] = {}
        self._converted: dict[tuple[int, type, int | float], int | float] = {}

    def _snapshot(self, plant_id: int, table: str) -> Any:
        snapshot = self._tables.get((plant_id, table))
        if snapshot is None:
            snapshot = self._tables[(plant_id, table)] = mapping_cache.snapshot(plant_id, table)
        return snapshot

    def find(self, plant: Plant, table: str, key: str, code: str, day: dt.date, path: str) -> Any:
        """The canonical value ``key`` maps to in ``table`` on ``day``, or
        :class:`MappingMissing` (the same as ``plants.services.mapping.map_*`` raise)."""
        plant_id = plant.pk
        memo = (plant_id, table, key, day)
        value = self._found.get(memo)
        if value is not None:
            return value
        snapshot = self._snapshot(plant_id, table)
        value = snapshot.find(key, day)
        if value is None:
            raise missing(plant, table, key, code, day, path, snapshot)
        self._found[memo] = value
        return value

    def convert(self, conversion: UomConversion, quantity: Any) -> int | float:
        """``quantity`` in the canonical unit (an integer when integral). The conversions
        are the snapshots' own (held by this object), so their ids are stable keys."""
        kind = type(quantity)
        if kind is not int and kind is not float:  # (the schema has made it a number)
            return _number(conversion.convert(quantity))
        memo = (id(conversion), kind, quantity)
        value = self._converted.get(memo)
        if value is None:
            value = self._converted[memo] = _number(conversion.convert(quantity))
        return value


def map_payload(
    *,
    spec: EventSpec,
    plant: Plant,
    payload: dict[str, Any],
    day: dt.date,
    mappings: BatchMappings | None = None,
) -> tuple[dict[str, Any], list[Reason]]:
    """Return the canonical payload and the mapping problems (empty when all mapped).
    ``mappings`` shares lookups across the events of a batch."""
    if mappings is None:
        mappings = BatchMappings()
    find = mappings.find
    out = _copy(payload)
    reasons: list[Reason] = []

    def miss(exc: MappingMissing, path: str) -> None:
        reasons.append(
            Reason(
                code="mapping_missing",
                path=path,
                message=exc.message,
                expected=f"a {exc.table} mapping of plant {exc.plant} valid on {day.isoformat()}",
                found=exc.unmapped_code,
            )
        )

    for item_path in spec.items:
        for container, key, where in _places(out, item_path):
            try:
                code = str(container[key])
                ref = find(plant, "item", code, code, day, where)
            except MappingMissing as exc:
                miss(exc, where)
                continue
            container[key] = ref.item_code
            # A plant code that pins a revision supplies it when the message has none.
            if ref.revision and key == "item" and "revision" in spec.schema["properties"]:
                container.setdefault("revision", ref.revision)

    for wc_path in spec.work_centers:
        for container, key, where in _places(out, wc_path):
            try:
                code = str(container[key])
                container[key] = find(plant, "work_center", code, code, day, where).code
            except MappingMissing as exc:
                miss(exc, where)

    # Convert quantities first, then replace the unit they share (qty and scrap_qty share uom).
    unit_updates: dict[tuple[int, str], tuple[dict, str, str]] = {}
    conversions: dict[str, UomConversion] = {}
    for qty_path, uom_path in spec.quantities:
        uom_field = uom_path.rpartition(".")[2]
        for container, key, where in _places(out, qty_path):
            if uom_field not in container:
                continue
            code = str(container[uom_field])
            conversion = conversions.get(code)
            if conversion is None:  # quantities sharing a unit look it up once
                try:
                    conversion = find(plant, "uom", code, code, day, where)
                except MappingMissing as exc:
                    miss(exc, where.rpartition(".")[0] + f".{uom_field}")
                    continue
                conversions[code] = conversion
            container[key] = mappings.convert(conversion, container[key])
            unit_updates[(id(container), uom_field)] = (container, uom_field, conversion.uom_code)
    for container, uom_field, canonical in unit_updates.values():
        container[uom_field] = canonical

    for status_path, domain in spec.statuses:
        for container, key, where in _places(out, status_path):
            try:
                code = str(container[key])
                container[key] = find(plant, "status", f"{domain}:{code}", code, day, where)
            except MappingMissing as exc:
                miss(exc, where)

    # Deduplicate: one unmapped unit shared by two quantities is one problem.
    unique = {(r.code, r.path): r for r in reasons}
    return out, sorted(unique.values(), key=lambda r: r.path)
