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
from plants.services.mapping import (
    MappingMissing,
    UomConversion,
    map_item,
    map_status,
    map_uom,
    map_work_center,
)

from .paths import walk
from .specs import EventSpec


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


def _copy(value: Any) -> Any:
    # A parsed JSON document holds only dicts, lists and scalars: no need for deepcopy's memo.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def map_payload(
    *, spec: EventSpec, plant: Plant, payload: dict[str, Any], day: dt.date
) -> tuple[dict[str, Any], list[Reason]]:
    """Return the canonical payload and the mapping problems (empty when all mapped)."""
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
        for container, key, where in walk(out, item_path):
            try:
                ref = map_item(plant=plant, code=str(container[key]), on=day, path=where)
            except MappingMissing as exc:
                miss(exc, where)
                continue
            container[key] = ref.item_code
            # A plant code that pins a revision supplies it when the message has none.
            if ref.revision and key == "item" and "revision" in spec.schema["properties"]:
                container.setdefault("revision", ref.revision)

    for wc_path in spec.work_centers:
        for container, key, where in walk(out, wc_path):
            try:
                container[key] = map_work_center(
                    plant=plant, code=str(container[key]), on=day, path=where
                ).code
            except MappingMissing as exc:
                miss(exc, where)

    # Convert quantities first, then replace the unit they share (qty and scrap_qty share uom).
    unit_updates: dict[tuple[int, str], tuple[dict, str, str]] = {}
    conversions: dict[str, UomConversion] = {}
    for qty_path, uom_path in spec.quantities:
        uom_field = uom_path.rpartition(".")[2]
        for container, key, where in walk(out, qty_path):
            if uom_field not in container:
                continue
            code = str(container[uom_field])
            conversion = conversions.get(code)
            if conversion is None:  # quantities sharing a unit look it up once
                try:
                    conversion = map_uom(plant=plant, code=code, on=day, path=where)
                except MappingMissing as exc:
                    miss(exc, where.rpartition(".")[0] + f".{uom_field}")
                    continue
                conversions[code] = conversion
            container[key] = _number(conversion.convert(container[key]))
            unit_updates[(id(container), uom_field)] = (container, uom_field, conversion.uom_code)
    for container, uom_field, canonical in unit_updates.values():
        container[uom_field] = canonical

    for status_path, domain in spec.statuses:
        for container, key, where in walk(out, status_path):
            try:
                container[key] = map_status(
                    plant=plant, domain=domain, code=str(container[key]), on=day, path=where
                )
            except MappingMissing as exc:
                miss(exc, where)

    # Deduplicate: one unmapped unit shared by two quantities is one problem.
    unique = {(r.code, r.path): r for r in reasons}
    return out, sorted(unique.values(), key=lambda r: r.path)
