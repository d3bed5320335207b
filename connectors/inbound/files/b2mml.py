"""ISA-95 XML (B2MML V0401, V0600 and V0700) documents → canonical envelopes.

Supported documents (bare, or inside a BOD such as ``SyncProductionSchedule``); the
release is told by the root's namespace:

| document (V0401, V0600 / V0700) | unit (one event each) | event |
| --- | --- | --- |
| ``ProductionSchedule`` / ``OperationsSchedule`` | ``ProductionRequest`` / ``OperationsRequest`` | ``production_order.released`` |
| ``ProductionPerformance`` / ``OperationsPerformance`` | ``…Response/SegmentResponse`` | ``operation.confirmed`` |
| ``MaterialLot`` / ``MaterialInformation`` | ``MaterialLot`` | ``lot.status_changed`` |

Each document is validated with ``xmlschema`` against MESA's schemas of its release
(``connectors/standards/b2mml/V0401``, ``V0600``, ``V0700``). A schema error inside a
unit quarantines that unit only, with its XPath and line; the other units still go
through. A document that is not well-formed XML, of no supported release, or broken
outside any unit is quarantined whole. Codes stay plant codes (the pipeline maps them),
quantities are numbers. V0700 (ISA-95 2013 and later) names production *operations* and
says what a material does with ``MaterialUse`` (``Produced``, ``Consumed``) on
``MaterialRequirement`` / ``MaterialActual``, and carries parameters as
``SegmentParameter``; V0401 and V0600 have ``MaterialProducedRequirement`` and
``ProductionParameter/Parameter``.

Mapping of a production request: ``ID`` → order; the first produced material
(``MaterialProducedRequirement``, or ``MaterialRequirement`` with a produced
``MaterialUse``) → item, qty, uom; each ``SegmentRequirement`` → an
operation (``ProcessSegmentID``, the first ``EquipmentRequirement/EquipmentID`` as work
center); consumed materials → components; ``ProductionParameter/Parameter`` (V0700:
``SegmentParameter``) with ID
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

_PY_CLASS = re.compile(r"<class '(?:\w+\.)*([A-Za-z]+?)\d*'>")
STANDARDS = Path(__file__).resolve().parents[2] / "standards" / "b2mml"


@dataclass(frozen=True)
class Release:
    """What differs between B2MML releases: namespace, schema files and element names."""

    name: str
    ns: str
    files: dict[str, str]  # schema key → file in STANDARDS/name
    request: str  # the unit of a schedule
    response: str  # the parent of a performance's segment responses
    request_id: str  # the order a response reports on
    material_use: bool  # V0700: MaterialRequirement/MaterialActual with MaterialUse

    @property
    def units(self) -> dict[str, tuple[str, str]]:
        """unit element → (schema key, event type)"""
        return {
            self.request: ("schedule", "production_order.released"),
            "SegmentResponse": ("performance", "operation.confirmed"),
            "MaterialLot": ("material", "lot.status_changed"),
        }


RELEASES = {
    r.ns: r
    for r in (
        Release(
            "V0401",
            "http://www.wbf.org/xml/B2MML-V0401",
            {
                "schedule": "B2MML-V0401-ProductionSchedule.xsd",
                "performance": "B2MML-V0401-ProductionPerformance.xsd",
                "material": "B2MML-V0401-Material.xsd",
            },
            "ProductionRequest",
            "ProductionResponse",
            "ProductionRequestID",
            material_use=False,
        ),
        Release(
            "V0600",
            "http://www.mesa.org/xml/B2MML-V0600",
            {
                "schedule": "B2MML-V0600-ProductionSchedule.xsd",
                "performance": "B2MML-V0600-ProductionPerformance.xsd",
                "material": "B2MML-V0600-Material.xsd",
            },
            "ProductionRequest",
            "ProductionResponse",
            "ProductionRequestID",
            material_use=False,
        ),
        Release(
            "V0700",
            "http://www.mesa.org/xml/B2MML",
            {
                "schedule": "B2MML-OperationsSchedule.xsd",
                "performance": "B2MML-OperationsPerformance.xsd",
                "material": "B2MML-Material.xsd",
            },
            "OperationsRequest",
            "OperationsResponse",
            "OperationsRequestID",
            material_use=True,
        ),
    )
}
NS = RELEASES["http://www.mesa.org/xml/B2MML-V0600"].ns  # the release of most plant MES
#: ``MaterialUse`` values (V0700) of what a segment makes and what it takes.
PRODUCED = {"Produced", "Material Produced", "Yield Produced"}
CONSUMED = {"Consumed", "Material Consumed"}


@cache
def schema(release: str, name: str) -> xmlschema.XMLSchema:
    """The compiled schema (one to fifteen seconds to build; once per process)."""
    found = next(r for r in RELEASES.values() if r.name == release)
    return xmlschema.XMLSchema(str(STANDARDS / release / found.files[name]))


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


def _ns(elem) -> str:
    return etree.QName(elem).namespace or NS


def _q(name: str, ns: str = NS) -> str:
    return f"{{{ns}}}{name}"


def _text(elem, path: str) -> str | None:
    found = elem.find(path.replace("b:", f"{{{_ns(elem)}}}"))
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


def _materials(seg, kind: str, release: Release) -> list:
    """The ``kind`` (``Produced``/``Consumed``) materials of a segment requirement or
    response, in either release's form."""
    ns = release.ns
    actual = _local(seg.tag) == "SegmentResponse"
    if not release.material_use:
        tag = f"Material{kind}{'Actual' if actual else 'Requirement'}"
        return list(seg.iterfind(_q(tag, ns)))
    uses = PRODUCED if kind == "Produced" else CONSUMED
    tag = "MaterialActual" if actual else "MaterialRequirement"
    return [m for m in seg.iterfind(_q(tag, ns)) if _text(m, "b:MaterialUse") in uses]


def _parameters(seg, release: Release):
    ns = release.ns
    if release.material_use:
        return seg.iterfind(_q("SegmentParameter", ns))
    return seg.iterfind(f"{_q('ProductionParameter', ns)}/{_q('Parameter', ns)}")


def _release(req, release: Release) -> dict[str, Any]:
    payload: dict[str, Any] = {"order": _text(req, "b:ID")}
    operations, components, params = [], [], {}
    produced = None
    for seg in req.iter(_q("SegmentRequirement", release.ns)):
        op = {"operation": _text(seg, "b:ProcessSegmentID") or _text(seg, "b:ID")}
        work_center = _text(seg, "b:EquipmentRequirement/b:EquipmentID")
        if work_center:
            op["work_center"] = work_center
        for param in _parameters(seg, release):
            params[_text(param, "b:ID")] = _text(param, "b:Value/b:ValueString")
        for mat in _materials(seg, "Produced", release):
            produced = produced if produced is not None else mat
            qty, _ = _quantity(mat)
            if qty is not None:
                op["qty"] = qty
        for mat in _materials(seg, "Consumed", release):
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


def _confirmation(seg, position: int, release: Release) -> dict[str, Any]:
    response = seg.getparent()
    payload: dict[str, Any] = {
        "order": _text(response, f"b:{release.request_id}"),
        "operation": _text(seg, "b:ProcessSegmentID") or _text(seg, "b:ID"),
        "sequence": position,
        "work_center": _text(seg, "b:EquipmentActual/b:EquipmentID"),
    }
    produced = _materials(seg, "Produced", release)
    if produced:
        payload["qty"], payload["uom"] = _quantity(produced[0])
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
    release = RELEASES.get(root_ns)
    if release is None:
        doc.problems.append(
            Problem(
                "b2mml.namespace",
                xpath(root),
                "not a B2MML V0401, V0600 or V0700 document",
                line=root.sourceline,
                expected=sorted(RELEASES),
                found=root_ns,
            )
        )
        return doc
    # The schema by the root's name (BODs too: SyncProductionSchedule), compiled only then.
    root_name = _local(root.tag)
    schema_name = next(
        (
            key
            for key, word in (
                ("schedule", "Schedule"),
                ("performance", "Performance"),
                ("material", "Material"),
            )
            if word in root_name and root_name in schema(release.name, key).elements
        ),
        None,
    )
    if schema_name is None:
        doc.problems.append(
            Problem(
                "b2mml.unsupported",
                xpath(root),
                f"{root_name} is not a production (operations) schedule, production "
                f"(operations) performance or material lot document of B2MML {release.name}",
                line=root.sourceline,
            )
        )
        return doc

    # Units: the elements that become events, in document order.
    elements: dict[Any, Unit] = {}
    for unit_name, (unit_schema, event_type) in release.units.items():
        if unit_schema != schema_name:
            continue
        for elem in root.iter(_q(unit_name, release.ns)):
            if unit_name == "SegmentResponse" and _local(elem.getparent().tag) != release.response:
                continue  # a nested segment response belongs to its parent's confirmation
            unit = Unit(
                xpath=xpath(elem),
                line=elem.sourceline,
                event_type=event_type,
                raw=etree.tostring(elem, encoding="unicode"),
            )
            elements[elem] = unit
    for error in schema(release.name, schema_name).iter_errors(root):
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
            unit.payload = _release(elem, release)
            unit.occurred_at = _iso(_text(elem, "b:StartTime")) or stamp
        elif unit.event_type == "operation.confirmed":
            parent = elem.getparent()
            segment_positions[parent] = segment_positions.get(parent, 0) + 1
            unit.payload = _confirmation(elem, segment_positions[parent], release)
            unit.occurred_at = _iso(_text(elem, "b:ActualEndTime")) or stamp
        else:
            unit.payload = _lot(elem)
            unit.occurred_at = stamp
    doc.units = list(elements.values())
    return doc
