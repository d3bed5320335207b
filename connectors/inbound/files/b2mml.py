"""ISA-95 XML (B2MML V0600) documents → canonical envelopes.

Supported documents (bare, or inside a BOD such as ``SyncProductionSchedule``):

| document | unit (one event each) | event |
| --- | --- | --- |
| ``ProductionSchedule`` | ``ProductionRequest`` | ``production_order.released`` |
| ``ProductionPerformance`` | ``ProductionResponse/SegmentResponse`` | ``operation.confirmed`` |
| ``MaterialLot`` / ``MaterialInformation`` | ``MaterialLot`` | ``lot.status_changed`` |

Each document is validated with ``xmlschema`` against MESA's schemas
(``connectors/standards/b2mml/V0600``). A schema error inside a unit quarantines that
unit only, with its XPath and line; the other units still go through. A document that is
not well-formed XML, not B2MML V0600, or broken outside any unit is quarantined whole.
Codes stay plant codes (the pipeline maps them), quantities are numbers.

Mapping of a production request: ``ID`` → order; the first produced material
(``MaterialProducedRequirement``) → item, qty, uom; each ``SegmentRequirement`` → an
operation (``ProcessSegmentID``, the first ``EquipmentRequirement/EquipmentID`` as work
center); consumed materials → components; ``ProductionParameter/Parameter`` with ID
``RoutingRevision`` / ``BOMRevision`` / ``ItemRevision`` → the revisions; ``EndTime`` →
due date. What is missing is named by the canonical schema check in the pipeline.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from ..base import Problem

NS = "http://www.mesa.org/xml/B2MML-V0600"
_PY_CLASS = re.compile(r"<class '(?:\w+\.)*([A-Za-z]+?)\d*'>")
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "standards" / "b2mml" / "V0600"
_SCHEMA_FILES = {
    "ProductionSchedule": "B2MML-V0600-ProductionSchedule.xsd",
    "ProductionPerformance": "B2MML-V0600-ProductionPerformance.xsd",
    "Material": "B2MML-V0600-Material.xsd",
}
#: unit element → (schema, event type)
UNITS = {
    "ProductionRequest": ("ProductionSchedule", "production_order.released"),
    "SegmentResponse": ("ProductionPerformance", "operation.confirmed"),
    "MaterialLot": ("Material", "lot.status_changed"),
}


@cache
def schema(name: str) -> xmlschema.XMLSchema:
    """The compiled schema (about a second to build; once per process)."""
    return xmlschema.XMLSchema(str(SCHEMA_DIR / _SCHEMA_FILES[name]))


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def xpath(elem) -> str:
    """A readable XPath of ``elem``: local names with 1-based positions among equals."""
    parts = []
    while elem is not None:
        parent = elem.getparent()
        name = _local(elem.tag)
        if parent is not None:
            same = [c for c in parent if c.tag == elem.tag]
            if len(same) > 1:
                name += f"[{same.index(elem) + 1}]"
        parts.append(name)
        elem = parent
    return "/" + "/".join(reversed(parts))


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _text(elem, path: str) -> str | None:
    found = elem.find(path.replace("b:", f"{{{NS}}}"))
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _number(text: str | None) -> int | float | str | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text  # the canonical schema names it ("must be a number")
    return int(value) if value == value.to_integral_value() else float(value)


def _quantity(elem) -> tuple[Any, str | None]:
    return _number(_text(elem, "b:Quantity/b:QuantityString")), _text(
        elem, "b:Quantity/b:UnitOfMeasure"
    )


@dataclass
class Unit:
    """One element that becomes one envelope, or is quarantined with its problems."""

    xpath: str
    line: int | None
    event_type: str
    raw: str
    occurred_at: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    message_id: str = ""
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Document:
    units: list[Unit] = field(default_factory=list)
    #: Problems of the whole document (nothing in it goes through).
    problems: list[Problem] = field(default_factory=list)


def _iso(text: str | None) -> str | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return text  # the envelope schema rejects it with its path
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _release(req) -> dict[str, Any]:
    payload: dict[str, Any] = {"order": _text(req, "b:ID")}
    operations, components, params = [], [], {}
    produced = None
    for seg in req.iter(_q("SegmentRequirement")):
        op = {"operation": _text(seg, "b:ProcessSegmentID") or _text(seg, "b:ID")}
        work_center = _text(seg, "b:EquipmentRequirement/b:EquipmentID")
        if work_center:
            op["work_center"] = work_center
        for param in seg.iterfind(f"{_q('ProductionParameter')}/{_q('Parameter')}"):
            params[_text(param, "b:ID")] = _text(param, "b:Value/b:ValueString")
        for mat in seg.iterfind(_q("MaterialProducedRequirement")):
            produced = produced if produced is not None else mat
            qty, _ = _quantity(mat)
            if qty is not None:
                op["qty"] = qty
        for mat in seg.iterfind(_q("MaterialConsumedRequirement")):
            qty, uom = _quantity(mat)
            components.append(
                {"item": _text(mat, "b:MaterialDefinitionID"), "qty": qty, "uom": uom}
            )
        operations.append(op)
    if produced is not None:
        payload["item"] = _text(produced, "b:MaterialDefinitionID")
        payload["qty"], payload["uom"] = _quantity(produced)
    for param_id, key in (
        ("RoutingRevision", "routing_revision"),
        ("BOMRevision", "bom_revision"),
        ("ItemRevision", "revision"),
    ):
        if params.get(param_id):
            payload[key] = params[param_id]
    end = _text(req, "b:EndTime")
    if end:
        payload["due_date"] = end[:10]
    payload["operations"] = operations
    if components:
        payload["components"] = components
    return {k: v for k, v in payload.items() if v is not None}


def _confirmation(seg, position: int) -> dict[str, Any]:
    response = seg.getparent()
    payload: dict[str, Any] = {
        "order": _text(response, "b:ProductionRequestID"),
        "operation": _text(seg, "b:ProcessSegmentID") or _text(seg, "b:ID"),
        "sequence": position,
        "work_center": _text(seg, "b:EquipmentActual/b:EquipmentID"),
    }
    produced = seg.find(_q("MaterialProducedActual"))
    if produced is not None:
        payload["qty"], payload["uom"] = _quantity(produced)
    state = _text(seg, "b:SegmentState")
    if state:
        payload["final"] = state.lower() == "completed"
    return {k: v for k, v in payload.items() if v is not None}


def _lot(lot) -> dict[str, Any]:
    payload = {"lot": _text(lot, "b:ID"), "status": _text(lot, "b:Status")}
    return {k: v for k, v in payload.items() if v is not None}


def _unit_of(elem, units: dict) -> Any:
    while elem is not None:
        if elem in units:
            return elem
        elem = elem.getparent()
    return None


def parse(data: bytes, *, name: str, received_at: dt.datetime) -> Document:
    """Validate and map one B2MML document."""
    doc = Document()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        doc.problems.append(
            Problem("xml.not_well_formed", "/", f"not well-formed XML: {exc.msg}", line=line)
        )
        return doc
    root_ns = etree.QName(root).namespace
    if root_ns != NS:
        doc.problems.append(
            Problem(
                "b2mml.namespace",
                xpath(root),
                "not a B2MML V0600 document",
                line=root.sourceline,
                expected=NS,
                found=root_ns,
            )
        )
        return doc
    schema_name = next(
        (s for s, f in _SCHEMA_FILES.items() if _local(root.tag) in schema(s).elements), None
    )
    if schema_name is None:
        doc.problems.append(
            Problem(
                "b2mml.unsupported",
                xpath(root),
                f"{_local(root.tag)} is not a production schedule, production performance "
                "or material lot document",
                line=root.sourceline,
            )
        )
        return doc

    # Units: the elements that become events, in document order.
    elements: dict[Any, Unit] = {}
    for unit_name, (unit_schema, event_type) in UNITS.items():
        if unit_schema != schema_name:
            continue
        for elem in root.iter(_q(unit_name)):
            if (
                unit_name == "SegmentResponse"
                and _local(elem.getparent().tag) != "ProductionResponse"
            ):
                continue  # a nested segment response belongs to its parent's confirmation
            unit = Unit(
                xpath=xpath(elem),
                line=elem.sourceline,
                event_type=event_type,
                raw=etree.tostring(elem, encoding="unicode"),
            )
            elements[elem] = unit
    for error in schema(schema_name).iter_errors(root):
        elem = getattr(error, "elem", None)
        owner = _unit_of(elem, elements) if elem is not None else None
        problem = Problem(
            "b2mml.schema",
            xpath(elem) if elem is not None else (error.path or "/"),
            # "for <class 'elementpath.datatypes.datetime.DateTime10'>" → "for DateTime"
            _PY_CLASS.sub(r"\1", error.reason or str(error.message)),
            line=getattr(elem, "sourceline", None),
        )
        if owner is None:
            doc.problems.append(problem)
        else:
            elements[owner].problems.append(problem)
    if doc.problems:
        return doc

    stamp = _iso(_text(root, "b:PublishedDate")) or received_at.isoformat()
    segment_positions: dict[Any, int] = {}
    for elem, unit in elements.items():
        unit.message_id = f"{name}#{unit.xpath}"[:200]
        if unit.problems:
            continue
        if unit.event_type == "production_order.released":
            unit.payload = _release(elem)
            unit.occurred_at = _iso(_text(elem, "b:StartTime")) or stamp
        elif unit.event_type == "operation.confirmed":
            parent = elem.getparent()
            segment_positions[parent] = segment_positions.get(parent, 0) + 1
            unit.payload = _confirmation(elem, segment_positions[parent])
            unit.occurred_at = _iso(_text(elem, "b:ActualEndTime")) or stamp
        else:
            unit.payload = _lot(elem)
            unit.occurred_at = stamp
    doc.units = list(elements.values())
    return doc
