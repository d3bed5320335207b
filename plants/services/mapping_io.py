"""CSV import and export of site mapping tables (item, work_center, uom, status).

Plant admins maintain their code lists in spreadsheets, so the CSV speaks *codes*, never
database ids: ``plant``, ``plant_code``, the canonical item / work center / unit code,
``valid_from`` and so on (see :data:`COLUMNS`). An export can be edited and imported
again: a row whose natural key (plant, [domain,] plant code, valid_from) already exists
updates that mapping, any other row creates one.

An import is all or nothing. Every row is checked (headers, code look-ups, the model's
``full_clean()`` including overlapping validity, overlaps *inside the file*, and the
importing person's right to change that row's plant) and every problem is reported with
its row, column and value; if there is a single problem, nothing is written.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from ..choices import RoundingMode, StatusDomain
from ..models import (
    MAPPING_MODELS,
    Item,
    Plant,
    SiteMapping,
    UnitOfMeasure,
    WorkCenter,
)

#: Columns of each table, in export order. Headers are matched case-insensitively, with
#: spaces and dashes read as underscores ("Plant Code" == "plant_code").
COLUMNS: dict[str, tuple[str, ...]] = {
    "item": ("plant", "plant_code", "item", "revision", "valid_from", "valid_to", "note"),
    "work_center": ("plant", "plant_code", "work_center", "valid_from", "valid_to", "note"),
    "uom": (
        "plant",
        "plant_code",
        "uom",
        "factor",
        "decimal_places",
        "rounding_mode",
        "valid_from",
        "valid_to",
        "note",
    ),
    "status": (
        "plant",
        "domain",
        "plant_code",
        "canonical_status",
        "valid_from",
        "valid_to",
        "note",
    ),
}
#: Columns a file must have; the others fall back to the model's defaults when absent.
REQUIRED: dict[str, frozenset[str]] = {
    "item": frozenset({"plant", "plant_code", "item", "valid_from"}),
    "work_center": frozenset({"plant", "plant_code", "work_center", "valid_from"}),
    "uom": frozenset({"plant", "plant_code", "uom", "factor", "valid_from"}),
    "status": frozenset({"plant", "domain", "plant_code", "canonical_status", "valid_from"}),
}

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_ROWS = 10_000
MAX_REPORTED_ERRORS = 500

# Spreadsheets execute cells starting with these as formulas ("CSV injection"). Exported
# free text that starts with one gets a leading apostrophe, which imports strip again so
# an export → import round trip is lossless.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    """One problem in an import file. ``row`` is the line number (the header is row 1)."""

    row: int
    column: str
    message: str
    value: str = ""


@dataclass
class ImportResult:
    """Outcome of :func:`mappings_import_csv`. Counts are zero when ``errors`` is not empty,
    because then nothing was written."""

    table: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verb = "would be" if self.dry_run else "were"
        return (
            f"{self.rows} {self.table} mapping row(s): {self.created} {verb} created, "
            f"{self.updated} {verb} updated, {self.unchanged} unchanged."
        )


class _Rollback(Exception):
    """Raised inside the import transaction to undo everything (errors or a dry run)."""


@dataclass
class _Row:
    number: int
    raw: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


def _perm(model: type[models.Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def _model_for(table: str) -> type[SiteMapping]:
    try:
        return MAPPING_MODELS[table]
    except KeyError:
        raise ValueError(
            f"unknown mapping table {table!r}; expected one of {', '.join(MAPPING_MODELS)}"
        ) from None


# --- export -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _export_values(table: str, obj: SiteMapping) -> dict[str, Any]:
    values: dict[str, Any] = {
        "plant": obj.plant.code,
        "plant_code": obj.plant_code,
        "valid_from": obj.valid_from,
        "valid_to": obj.valid_to,
        "note": obj.note,
    }
    if table == "item":
        values |= {"item": obj.item.code, "revision": obj.revision}
    elif table == "work_center":
        values["work_center"] = obj.work_center.code
    elif table == "uom":
        values |= {
            "uom": obj.uom.code,
            "factor": obj.factor,
            "decimal_places": obj.decimal_places,
            "rounding_mode": obj.rounding_mode,
        }
    elif table == "status":
        values |= {"domain": obj.domain, "canonical_status": obj.canonical_status}
    return values


def mappings_export_csv(*, table: str, queryset: models.QuerySet) -> str:
    """Write the mappings of ``queryset`` (already scoped and filtered by the caller) as
    CSV text with a header row, in the format :func:`mappings_import_csv` reads."""
    model = _model_for(table)
    if queryset.model is not model:
        raise ValueError(f"queryset of {queryset.model.__name__} given for table {table!r}")
    related = {"item": ["item"], "work_center": ["work_center"], "uom": ["uom"]}.get(table, [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = COLUMNS[table]
    writer.writerow(columns)
    for obj in queryset.select_related("plant", *related).order_by(*model._meta.ordering):
        values = _export_values(table, obj)
        writer.writerow([_cell(values[c]) for c in columns])
    return out.getvalue()


# --- reading the file -------------------------------------------------------------------


def _read_bytes(file: Any, limit: int) -> bytes:
    if isinstance(file, bytes):
        return file[: limit + 1]
    if isinstance(file, str):
        return file.encode("utf-8")[: limit + 1]
    if hasattr(file, "seek"):
        with contextlib.suppress(OSError, ValueError):
            file.seek(0)
    data = file.read(limit + 1)
    return data.encode("utf-8") if isinstance(data, str) else data


def _decode(data: bytes) -> tuple[str | None, RowError | None]:
    if b"\x00" in data[:8192]:
        return None, RowError(
            1,
            "",
            "This is a binary file, not CSV text (an Excel workbook?). "
            "Save it as 'CSV UTF-8 (comma delimited)' and upload that.",
        )
    try:
        # utf-8-sig drops the byte-order mark Excel writes in front of "CSV UTF-8" files.
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, RowError(
            line,
            "",
            f"The file is not UTF-8 text (byte {exc.start + 1}). "
            "Save it as 'CSV UTF-8' and upload it again.",
        )


def _delimiter(text: str) -> str:
    # csv.Sniffer guesses wrong on short files and on commas inside quoted notes; headers
    # contain no delimiters, so counting them in the first non-blank line is reliable.
    # European Excel writes semicolons, some tools tabs.
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _normal_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _read_rows(text: str, table: str, max_rows: int) -> tuple[list[_Row], list[RowError]]:
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header: list[str] | None = None
    rows: list[_Row] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (and rows of empty cells) carry nothing
            if header is None:
                header = [_normal_header(c) for c in cells]
                errors.extend(_check_header(header, table, line))
                if errors:
                    return [], errors
                continue
            if len(cells) > len(header):
                extra = [c for c in cells[len(header) :] if c.strip()]
                if extra:
                    errors.append(
                        RowError(
                            line,
                            "",
                            f"{len(cells)} values but the header has {len(header)} columns "
                            f"(a delimiter inside a value that is not quoted?)",
                            extra[0],
                        )
                    )
                    continue
            # Spreadsheets drop trailing empty cells; read them as blank.
            padded = [*cells, *[""] * (len(header) - len(cells))]
            rows.append(_Row(line, {h: v.strip() for h, v in zip(header, padded, strict=False)}))
            if len(rows) > max_rows:
                return [], [RowError(line, "", f"More than {max_rows} rows; split the file.")]
    except csv.Error as exc:
        return [], [RowError(reader.line_num or 1, "", f"Not readable as CSV: {exc}")]
    if header is None:
        return [], [RowError(1, "", "The file is empty; the first line must be the header.")]
    return rows, errors


def _check_header(header: list[str], table: str, line: int) -> list[RowError]:
    errors = []
    known = set(COLUMNS[table])
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(RowError(line, name, "Column appears twice in the header.", name))
        seen.add(name)
        if name not in known:
            errors.append(
                RowError(
                    line,
                    name or "(empty)",
                    f"Unknown column; {table} mappings have {', '.join(COLUMNS[table])}.",
                    name,
                )
            )
    for name in sorted(REQUIRED[table] - seen):
        errors.append(RowError(line, name, "Required column is missing from the header."))
    return errors


# --- parsing values ---------------------------------------------------------------------


def _unescape(text: str) -> str:
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


def _parse_date(row: _Row, column: str, errors: list[RowError], *, required: bool) -> Any:
    text = row.raw.get(column, "")
    if not text:
        if required:
            errors.append(RowError(row.number, column, "A date is required.", text))
            row.failed = True
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(RowError(row.number, column, "Not a date; use YYYY-MM-DD.", text))
        row.failed = True
        return None


def _parse_row(table: str, row: _Row, lookups: dict[str, dict], errors: list[RowError]) -> None:
    raw, values = row.raw, row.values

    def fail(column: str, message: str) -> None:
        errors.append(RowError(row.number, column, message, raw.get(column, "")))
        row.failed = True

    def lookup(column: str, noun: str) -> Any:
        code = raw.get(column, "")
        if not code:
            fail(column, "A value is required.")
            return None
        found = lookups[column].get(code)
        if found is None:
            fail(column, f"No {noun} with code {code!r}.")
        return found

    values["plant"] = lookup("plant", "plant")
    values["plant_code"] = _unescape(raw.get("plant_code", ""))
    if not values["plant_code"]:
        fail("plant_code", "A value is required.")
    values["valid_from"] = _parse_date(row, "valid_from", errors, required=True)
    values["valid_to"] = _parse_date(row, "valid_to", errors, required=False)
    values["note"] = _unescape(raw.get("note", ""))

    if table == "item":
        values["item"] = lookup("item", "canonical item")
        values["revision"] = raw.get("revision", "")
    elif table == "work_center":
        values["work_center"] = lookup("work_center", "canonical work center")
    elif table == "uom":
        values["uom"] = lookup("uom", "canonical unit of measure")
        try:
            values["factor"] = Decimal(raw.get("factor", "").replace(",", "."))
            if not values["factor"].is_finite():
                raise InvalidOperation
        except InvalidOperation:
            fail("factor", "Not a number (e.g. 12 or 0.45359237).")
        places = raw.get("decimal_places", "")
        if places:
            try:
                values["decimal_places"] = int(places)
            except ValueError:
                fail("decimal_places", "Not a whole number.")
        mode = raw.get("rounding_mode", "").upper()
        if mode:
            mode = mode if mode.startswith("ROUND_") else f"ROUND_{mode}"
            if mode not in RoundingMode.values:
                fail("rounding_mode", f"Use one of {', '.join(RoundingMode.values)}.")
            else:
                values["rounding_mode"] = mode
    elif table == "status":
        domain = raw.get("domain", "")
        if domain not in StatusDomain.values:
            fail("domain", f"Use one of {', '.join(StatusDomain.values)}.")
        values["domain"] = domain
        values["canonical_status"] = raw.get("canonical_status", "")


def _load_lookups(table: str, rows: list[_Row]) -> dict[str, dict]:
    def codes(column: str) -> set[str]:
        return {r.raw.get(column, "") for r in rows} - {""}

    lookups: dict[str, dict] = {"plant": Plant.objects.in_bulk(codes("plant"), field_name="code")}
    if table == "item":
        lookups["item"] = Item.objects.in_bulk(codes("item"), field_name="code")
    elif table == "work_center":
        lookups["work_center"] = WorkCenter.objects.in_bulk(codes("work_center"), field_name="code")
    elif table == "uom":
        lookups["uom"] = UnitOfMeasure.objects.in_bulk(codes("uom"), field_name="code")
    return lookups


def _overlap_key(model: type[SiteMapping], values: dict[str, Any]) -> tuple:
    return tuple(
        values["plant"].pk if name == "plant" else values[name] for name in model.overlap_key
    )


def _key_values(mapping: SiteMapping) -> dict[str, Any]:
    return {name: getattr(mapping, name) for name in mapping.overlap_key}


def _check_file_overlaps(
    model: type[SiteMapping], rows: list[_Row], errors: list[RowError]
) -> None:
    """Two rows of the file for the same plant code may not be valid on the same day."""
    groups: dict[tuple, list[_Row]] = defaultdict(list)
    for row in rows:
        if not row.failed:
            groups[_overlap_key(model, row.values)].append(row)
    for group in groups.values():
        group.sort(key=lambda r: (r.values["valid_from"], r.number))
        for i, row in enumerate(group):
            start, end = row.values["valid_from"], row.values["valid_to"]
            for other in group[:i]:
                o_start, o_end = other.values["valid_from"], other.values["valid_to"]
                if start == o_start:
                    message = f"Same plant code and valid_from as row {other.number}."
                elif (o_end is None or start < o_end) and (end is None or o_start < end):
                    until = o_end.isoformat() if o_end else "open-ended"
                    message = (
                        f"Validity overlaps row {other.number} of this file "
                        f"({o_start.isoformat()} → {until})."
                    )
                else:
                    continue
                errors.append(RowError(row.number, "valid_from", message, row.raw["valid_from"]))
                row.failed = True
                break


# --- import -----------------------------------------------------------------------------


def _apply(
    *,
    model: type[SiteMapping],
    row: _Row,
    existing: SiteMapping | None,
    actor,
    errors: list[RowError],
    result: ImportResult,
) -> None:
    if existing is None:
        obj, changed = model(**row.values), True
    else:
        obj, changed = existing, False
        for name, value in row.values.items():
            if getattr(obj, name) != value:
                setattr(obj, name, value)
                changed = True

    if actor is not None:
        action = "add" if existing is None else "change"
        if not actor.has_perm(_perm(model, action), obj):
            verb = "add" if existing is None else "change"
            errors.append(
                RowError(
                    row.number,
                    "plant",
                    f"You may not {verb} {model._meta.verbose_name}s of plant {obj.plant.code}.",
                    row.raw.get("plant", ""),
                )
            )
            return
    if not changed:
        result.unchanged += 1
        return

    try:
        obj.full_clean()
    except ValidationError as exc:
        for field_name, messages in exc.message_dict.items():
            # Field names are the column names; NON_FIELD_ERRORS ("__all__") is the row.
            column = "" if field_name == "__all__" else field_name
            for message in messages:
                errors.append(RowError(row.number, column, message, row.raw.get(column, "")))
        return

    if actor is not None and getattr(actor, "pk", None):
        obj._history_user = actor  # simple-history: who made the change, outside a request
    obj._change_reason = "CSV import"
    try:
        # A savepoint per row: a constraint the database enforces beyond full_clean()
        # (PostgreSQL's exclusion constraint, a concurrent writer) fails this row only,
        # and the loop can go on to report every other problem.
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        errors.append(RowError(row.number, "", f"Rejected by the database: {exc}".strip()))
        return
    if existing is None:
        result.created += 1
    else:
        result.updated += 1


def mappings_import_csv(
    *,
    table: str,
    file: Any,
    actor,
    dry_run: bool = False,
    max_bytes: int | None = None,
    max_rows: int | None = None,
) -> ImportResult:
    """Import a CSV of ``table`` mappings (``"item"``, ``"work_center"``, ``"uom"``,
    ``"status"``); all rows or none.

    ``file`` is an uploaded file, a binary file object, ``bytes`` or ``str``. ``actor`` is
    the person importing: each row needs ``plants.add_<model>`` (new rows) or
    ``plants.change_<model>`` (rows that update an existing mapping) *for that row's
    plant*. ``actor=None`` is for trusted callers such as management commands and skips
    the permission check. ``dry_run`` validates everything and writes nothing.
    """
    model = _model_for(table)
    max_bytes = max_bytes or getattr(
        settings, "INTERLOCK_MAPPING_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES
    )
    max_rows = max_rows or getattr(settings, "INTERLOCK_MAPPING_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS)
    result = ImportResult(table=table, dry_run=dry_run)

    data = _read_bytes(file, max_bytes)
    if len(data) > max_bytes:
        result.errors.append(
            RowError(
                1,
                "",
                f"The file is larger than {max_bytes // 1024} KiB; split it into smaller files.",
            )
        )
        return result
    text, problem = _decode(data)
    if problem is not None:
        result.errors.append(problem)
        return result
    rows, errors = _read_rows(text or "", table, max_rows)
    if not rows:
        # Nothing to check row by row: an unreadable file, a bad header, or no data.
        result.errors = errors or [RowError(2, "", "The file has a header but no rows.")]
        return result
    result.rows = len(rows) + len({e.row for e in errors})

    lookups = _load_lookups(table, rows)
    for row in rows:
        _parse_row(table, row, lookups, errors)
    _check_file_overlaps(model, rows, errors)

    good = [r for r in rows if not r.failed]
    existing: dict[tuple, SiteMapping] = {}
    if good:
        candidates = model._default_manager.select_related("plant").filter(
            plant__in={r.values["plant"].pk for r in good},
            plant_code__in={r.values["plant_code"] for r in good},
        )
        existing = {(*_overlap_key(model, _key_values(m)), m.valid_from): m for m in candidates}

    def key_of(row: _Row) -> tuple:
        return (*_overlap_key(model, row.values), row.values["valid_from"])

    # Updates first: a file that ends a mapping (sets valid_to) and starts its successor
    # must not trip the overlap check on the successor because of the old end date.
    ordered = sorted(good, key=lambda r: (key_of(r) not in existing, r.number))
    try:
        with transaction.atomic():
            for row in ordered:
                _apply(
                    model=model,
                    row=row,
                    existing=existing.get(key_of(row)),
                    actor=actor,
                    errors=errors,
                    result=result,
                )
            if errors or dry_run:
                raise _Rollback
    except _Rollback:
        pass

    if errors:
        errors.sort(
            key=lambda e: (
                e.row,
                COLUMNS[table].index(e.column) if e.column in COLUMNS[table] else -1,
            )
        )
        result.errors = errors[:MAX_REPORTED_ERRORS]
        result.errors_truncated = max(0, len(errors) - MAX_REPORTED_ERRORS)
        result.created = result.updated = result.unchanged = 0
    return result
