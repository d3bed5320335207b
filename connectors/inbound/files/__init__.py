"""File drop: CSV, ISA-95 XML (B2MML) and EDI X12 856 files → the ingest pipeline.

Files arrive through ``POST /api/v1/files/<name>`` (``views.py``, API key) or a watched
directory (``watch.py``, a beat task). Both call :func:`file_ingest`, which picks the
reader by the file's name (``.csv``, ``.xml``, ``.edi``/``.x12``/``.856``; otherwise
by its first bytes), turns the file into envelopes and hands them to the pipeline in one
batch. Fragments that cannot become an envelope are quarantined with their position;
the rest of the file still goes through.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from plants.models import ConnectedSystem, Plant

from ...models import CsvLayout
from ..base import Problem, TransportOutcome, deliver, inbound_quarantine, principal_for
from . import b2mml, csvfile

X12_SUFFIXES = (".edi", ".x12", ".856")


@dataclass
class FileOutcome(TransportOutcome):
    name: str = ""
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.name, "format": self.format, **super().as_dict()}


def file_format(name: str, data: bytes) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".xml"):
        return "b2mml"
    if lowered.endswith(X12_SUFFIXES):
        return "x12"
    head = data.lstrip()[:5]
    if head.startswith(b"ISA"):
        return "x12"
    if head.startswith(b"<"):
        return "b2mml"
    return "csv"


def csv_layout_for(*, system: ConnectedSystem, name: str, layout: str | None = None):
    layouts = CsvLayout.objects.select_related("system", "plant").filter(system=system, active=True)
    if layout:
        return layouts.filter(name=layout).first()
    base = name.rsplit("/", 1)[-1]
    return next((lay for lay in layouts if fnmatch.fnmatch(base, lay.filename_pattern)), None)


def _plant(principal, code: str | None) -> Plant | None:
    if code:
        return principal.plants.get(code)
    if len(principal.plants) == 1:
        return next(iter(principal.plants.values()))
    return None


def file_ingest(
    *,
    system: ConnectedSystem,
    name: str,
    data: bytes,
    plant_code: str | None = None,
    layout: str | None = None,
    received_at: dt.datetime | None = None,
) -> FileOutcome:
    """Read one file of ``system`` and ingest what it holds; see the module docstring."""
    principal = principal_for(system)
    fmt = file_format(name, data)
    outcome = FileOutcome(name=name, format=fmt)
    received_at = received_at or timezone.now()

    def quarantine(problems, raw="", plant=None, envelope=None, event_type=""):
        outcome.quarantined.append(
            inbound_quarantine(
                principal=principal,
                transport=f"file_drop:{fmt}",
                document=name,
                problems=problems,
                raw=raw,
                plant=plant,
                envelope=envelope,
                event_type=event_type,
            ).pk
        )

    if fmt == "csv":
        csv_layout = csv_layout_for(system=system, name=name, layout=layout)
        if csv_layout is None:
            quarantine(
                [
                    Problem(
                        "csv.no_layout",
                        "file",
                        f"no active CSV layout of {system.code} matches {name!r}"
                        + (f" (asked for {layout!r})" if layout else ""),
                    )
                ],
                raw=data.decode("utf-8", "replace"),
            )
            return outcome
        doc = csvfile.parse(data, layout=csv_layout, name=name)
        if doc.problems:
            quarantine(doc.problems, raw=data.decode("utf-8", "replace"), plant=csv_layout.plant)
            return outcome
        for row in doc.rows:
            if row.problems:
                quarantine(
                    row.problems,
                    raw=row.raw,
                    plant=csv_layout.plant,
                    event_type=csv_layout.event_type,
                )
        return deliver(
            principal=principal,
            envelopes=[r.envelope for r in doc.rows if r.envelope is not None],
            outcome=outcome,
        )

    if fmt == "b2mml":
        plant = _plant(principal, plant_code)
        doc = b2mml.parse(data, name=name, received_at=received_at)
        if doc.problems:
            quarantine(doc.problems, raw=data.decode("utf-8", "replace"), plant=plant)
            return outcome
        if plant is None:
            quarantine([_plant_problem(principal, plant_code)], raw=data.decode("utf-8", "replace"))
            return outcome
        envelopes = []
        for unit in doc.units:
            if unit.problems:
                quarantine(unit.problems, raw=unit.raw, plant=plant, event_type=unit.event_type)
                continue
            envelopes.append(
                {
                    "source": system.code,
                    "plant": plant.code,
                    "type": unit.event_type,
                    "occurred_at": unit.occurred_at,
                    "message_id": unit.message_id,
                    "payload": unit.payload,
                }
            )
        return deliver(principal=principal, envelopes=envelopes, outcome=outcome)

    from .. import x12

    interchange = x12.parse(data)
    if interchange.problems:
        quarantine(interchange.problems, raw=data.decode("ascii", "replace"))
        return outcome
    envelopes = []
    for tset in interchange.sets:
        plant = _plant(principal, tset.plant_code or plant_code)
        if tset.problems:
            quarantine(tset.problems, raw=tset.raw, plant=plant)
            continue
        if plant is None:
            quarantine([_plant_problem(principal, tset.plant_code or plant_code)], raw=tset.raw)
            continue
        envelopes.append(
            {
                "source": system.code,
                "plant": plant.code,
                "type": tset.event_type,
                "occurred_at": tset.occurred_at,
                "message_id": f"{name}#ST{tset.control_number}"[:200],
                "payload": tset.payload,
            }
        )
    return deliver(principal=principal, envelopes=envelopes, outcome=outcome)


def _plant_problem(principal, code: str | None) -> Problem:
    if code:
        return Problem(
            "forbidden_plant",
            "plant",
            f"{principal.system.code} does not serve plant {code}",
            expected=sorted(principal.plant_codes),
            found=code,
        )
    return Problem(
        "plant_required",
        "plant",
        f"{principal.system.code} serves several plants; name the plant (?plant=, a "
        "sub-directory, or N1*ST in an 856)",
        expected=sorted(principal.plant_codes),
    )
