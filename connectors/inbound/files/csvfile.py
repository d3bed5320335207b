"""CSV files → canonical envelopes, through a plant's :class:`~connectors.models.CsvLayout`.

Each data row becomes one envelope. A row whose cells cannot be read (a number that is
not one, a missing cell) is quarantined with its row, line and column; the other rows go
on. A header without a column the layout needs quarantines the whole file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ...models import CsvLayout
from ..base import Problem


@dataclass
class Row:
    number: int  # data row, 1-based (the header is row 0)
    line: int
    raw: str
    envelope: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class CsvDocument:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _columns_needed(layout: CsvLayout) -> set[str]:
    spec = layout.columns
    needed = {spec["occurred_at"], *(spec[k] for k in ("message_id", "type") if k in spec)}
    for value in spec["payload"].values():
        if isinstance(value, str):
            needed.add(value)
        elif "column" in value:
            needed.add(value["column"])
    return needed


def _convert(text: str, kind: str) -> Any:
    if kind == "string":
        return text
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "y", "x"):
            return True
        if lowered in ("0", "false", "no", "n", ""):
            return False
        raise ValueError("not a yes/no value")
    try:
        number = Decimal(text.strip().replace(" ", ""))
    except InvalidOperation:
        raise ValueError(f"not a {kind}") from None
    if kind == "integer":
        if number != number.to_integral_value():
            raise ValueError("not an integer")
        return int(number)
    return int(number) if number == number.to_integral_value() else float(number)


def parse(data: bytes, *, layout: CsvLayout, name: str) -> CsvDocument:
    doc = CsvDocument()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        doc.problems.append(
            Problem("csv.encoding", f"byte {exc.start}", "the file is not UTF-8", line=None)
        )
        return doc
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    header = reader.fieldnames or []
    missing = sorted(_columns_needed(layout) - set(header))
    if missing:
        doc.problems.append(
            Problem(
                "csv.missing_column",
                "header",
                f"the header lacks {', '.join(repr(m) for m in missing)} (layout {layout.name})",
                line=1,
                expected=sorted(_columns_needed(layout)),
                found=header,
            )
        )
        return doc
    lines = text.splitlines()
    spec = layout.columns
    start = 1
    for number, record in enumerate(reader, start=1):
        end = reader.line_num
        row = Row(number=number, line=start + 1, raw="\n".join(lines[start:end]))
        start = end
        if None in record:  # more cells than header columns
            row.problems.append(
                Problem(
                    "csv.extra_cells",
                    f"row {number}",
                    f"{len(record[None])} cells more than the header has",
                    line=row.line,
                )
            )
        payload: dict[str, Any] = {}
        for key, value in spec["payload"].items():
            if isinstance(value, dict) and "value" in value:
                payload[key] = value["value"]
                continue
            column = value if isinstance(value, str) else value["column"]
            kind = "string" if isinstance(value, str) else value.get("type", "string")
            cell = record.get(column)
            if cell is None or cell.strip() == "":
                if isinstance(value, dict) and value.get("optional"):
                    continue
                row.problems.append(
                    Problem(
                        "csv.empty_cell",
                        f"row {number}, column {column!r}",
                        f"{key} is empty",
                        line=row.line,
                    )
                )
                continue
            try:
                payload[key] = _convert(cell, kind)
            except ValueError as exc:
                row.problems.append(
                    Problem(
                        "csv.bad_cell",
                        f"row {number}, column {column!r}",
                        f"{key}: {exc}",
                        line=row.line,
                        expected=kind,
                        found=cell[:100],
                    )
                )
        if not row.problems:
            envelope = {
                "source": layout.system.code,
                "plant": layout.plant.code,
                "type": record.get(spec.get("type", ""), "") or layout.event_type,
                "occurred_at": (record.get(spec["occurred_at"]) or "").strip(),
                "message_id": (
                    record.get(spec["message_id"], "") if "message_id" in spec else ""
                ).strip()
                or f"{name}#row{number}"[:200],
                "payload": payload,
            }
            row.envelope = envelope
        doc.rows.append(row)
    return doc
