"""EDI ANSI X12 856 (ship notice / manifest) → ``asn.received`` and ``asn.delayed``.

A small, strict reader rather than a PyPI parser: the maintained X12 packages either parse
structure only (no element rules we could point at) or pull in whole translators, and
what we need is narrow: one transaction set, and exact positions for what is wrong.

Reading, in order:

1. The ``ISA`` header fixes the delimiters (element separator at character 4, component
   separator at 105, segment terminator at 106). A broken ``ISA``, ``GS``/``GE`` or
   ``IEA`` (counts and control numbers must match) quarantines the whole interchange.
2. Each ``ST``…``SE`` transaction set is read on its own. A bad segment or element in it
   (an unknown date, a quantity that is not a number, ``SE01`` not counting the
   segments) quarantines that set with the segment number (in the interchange, ``ISA``
   = 1), the segment id and the element position (``BSN03``); the other sets go on.
3. A good set becomes one envelope:

   - ``BSN01`` = ``00`` (original) → ``asn.received``; ``04`` (change) or ``05``
     (replace) → ``asn.delayed`` with the new ``DTM*017`` date.
   - ``BSN02`` → asn; ``BSN03``/``BSN04`` → occurred_at (UTC).
   - ``N1*SF`` or ``N1*SU`` (``N104``, else ``N102``) → supplier.
   - ``DTM*017`` (estimated delivery, ``DTM02`` date, ``DTM03`` time) → expected_at.
   - each item level: ``LIN`` (``BP`` buyer's part, else ``VP``; ``LT`` lot) and ``SN1``
     (``SN102`` quantity, ``SN103`` unit) → a line. Codes stay the plant's: the pipeline
     maps them.

The plant is ``N1*ST`` (ship to, ``N104``) when the system serves several plants,
otherwise the system's one plant.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .base import Problem

_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
PURPOSE_EVENT = {"00": "asn.received", "04": "asn.delayed", "05": "asn.delayed"}


class SegmentError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Segment:
    number: int  # 1-based position in the interchange (ISA = 1)
    line: int | None  # line of the file, when segments are on their own lines
    id: str
    elements: list[str]  # elements[0] is the segment id, so elements[1] is XX01
    raw: str

    def get(self, position: int) -> str:
        return self.elements[position] if position < len(self.elements) else ""

    def where(self, position: int | None = None) -> str:
        if position is None:
            return f"segment {self.number} ({self.id})"
        return f"segment {self.number} ({self.id}) element {position:02d} ({self.id}{position:02d})"

    def problem(self, code: str, position: int | None, message: str, **kw) -> Problem:
        return Problem(code, self.where(position), message, line=self.line, **kw)

    def require(self, position: int, what: str) -> str:
        value = self.get(position).strip()
        if not value:
            raise SegmentError(self.problem("x12.missing_element", position, f"{what} is missing"))
        return value


@dataclass
class TransactionSet:
    control_number: str
    segments: list[Segment]
    event_type: str | None = None
    occurred_at: str | None = None
    plant_code: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def raw(self) -> str:
        return "\n".join(s.raw for s in self.segments)

    @property
    def first(self) -> int:
        return self.segments[0].number


@dataclass
class Interchange:
    sets: list[TransactionSet] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _date(seg: Segment, position: int, what: str) -> dt.date:
    text = seg.require(position, what)
    try:
        if len(text) == 8:
            return dt.datetime.strptime(text, "%Y%m%d").date()
        if len(text) == 6:
            return dt.datetime.strptime(text, "%y%m%d").date()
    except ValueError:
        pass
    raise SegmentError(
        seg.problem(
            "x12.bad_date", position, f"{what} is not a date", expected="CCYYMMDD", found=text
        )
    )


def _time(seg: Segment, position: int, what: str) -> dt.time:
    text = seg.get(position).strip()
    if not text:
        return dt.time(0, 0)
    for fmt in ("%H%M", "%H%M%S"):
        try:
            return dt.datetime.strptime(text[:6], fmt).time()
        except ValueError:
            continue
    raise SegmentError(
        seg.problem("x12.bad_time", position, f"{what} is not a time", expected="HHMM", found=text)
    )


def _number(seg: Segment, position: int, what: str) -> int | float:
    text = seg.require(position, what)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SegmentError(
            seg.problem(
                "x12.bad_number", position, f"{what} is not a number", expected="R", found=text
            )
        ) from None
    return int(value) if value == value.to_integral_value() else float(value)


def _split(text: str) -> tuple[list[tuple[str, int | None]], str, str, str] | Problem:
    """Segments (with their line) and the delimiters, from the ISA header."""
    start = text.find("ISA")
    if start < 0 or len(text) < start + 106:
        return Problem("x12.no_isa", "segment 1 (ISA)", "no ISA interchange header", line=1)
    isa = text[start : start + 106]
    element_sep, component_sep, terminator = isa[3], isa[104], isa[105]
    if element_sep.isalnum() or terminator.isalnum() or isa.count(element_sep) != 16:
        return Problem(
            "x12.bad_isa",
            "segment 1 (ISA)",
            "the ISA header must be 106 characters with 16 element separators",
            line=text[:start].count("\n") + 1,
            found=isa[:40],
        )
    segments = []
    line = text[:start].count("\n") + 1
    for piece in text[start:].split(terminator):
        stripped = piece.strip("\r\n")
        leading = piece[: len(piece) - len(piece.lstrip("\r\n"))]
        line += leading.count("\n")
        if stripped.strip():
            segments.append((stripped, line))
        line += piece[len(leading) :].count("\n")
    return segments, element_sep, component_sep, terminator


def parse(data: bytes) -> Interchange:
    """Read one interchange (``ISA``…``IEA``); see the module docstring."""
    out = Interchange()
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        out.problems.append(
            Problem("x12.encoding", f"byte {exc.start}", "X12 must be ASCII", found=exc.start)
        )
        return out
    split = _split(text)
    if isinstance(split, Problem):
        out.problems.append(split)
        return out
    pieces, element_sep, _component_sep, _ = split
    segments = []
    for number, (raw, line) in enumerate(pieces, start=1):
        elements = raw.split(element_sep)
        seg = Segment(number=number, line=line, id=elements[0].strip(), elements=elements, raw=raw)
        segments.append(seg)

    # Envelope: ISA … GS … (ST … SE)* … GE … IEA
    envelope_problems = out.problems
    if segments[0].id != "ISA":
        envelope_problems.append(segments[0].problem("x12.no_isa", None, "must start with ISA"))
        return out
    isa = segments[0]
    trailer = segments[-1]
    if trailer.id != "IEA":
        envelope_problems.append(trailer.problem("x12.no_iea", None, "must end with IEA"))
    elif trailer.get(2).strip() != isa.get(13).strip():
        envelope_problems.append(
            trailer.problem(
                "x12.control_number",
                2,
                "IEA02 must repeat ISA13",
                expected=isa.get(13).strip(),
                found=trailer.get(2).strip(),
            )
        )
    current: list[Segment] | None = None
    group: Segment | None = None
    groups = 0
    sets_in_group = 0
    for seg in segments[1:-1] if trailer.id == "IEA" else segments[1:]:
        if not _SEGMENT_ID.match(seg.id):
            if current is not None:  # the set's reader reports it with its set
                current.append(seg)
            else:
                envelope_problems.append(
                    seg.problem("x12.bad_segment_id", None, f"{seg.id[:10]!r} is not a segment id")
                )
            continue
        if seg.id == "GS":
            group, groups, sets_in_group = seg, groups + 1, 0
        elif seg.id == "GE":
            if group is None:
                envelope_problems.append(seg.problem("x12.unexpected", None, "GE without GS"))
            elif seg.get(1).strip() != str(sets_in_group) or seg.get(2) != group.get(6):
                envelope_problems.append(
                    seg.problem(
                        "x12.group_trailer",
                        1,
                        "GE01 must count the transaction sets and GE02 repeat GS06",
                        expected=[str(sets_in_group), group.get(6)],
                        found=[seg.get(1), seg.get(2)],
                    )
                )
            group = None
        elif seg.id == "ST":
            current = [seg]
            sets_in_group += 1
        elif seg.id == "SE":
            if current is None:
                envelope_problems.append(seg.problem("x12.unexpected", None, "SE without ST"))
                continue
            current.append(seg)
            out.sets.append(_read_set(current))
            current = None
        elif current is not None:
            current.append(seg)
        else:
            envelope_problems.append(
                seg.problem("x12.unexpected", None, f"{seg.id} outside a transaction set")
            )
    if current is not None:
        out.sets.append(_read_set(current))  # reports the missing SE
    if trailer.id == "IEA" and trailer.get(1).strip() != str(groups):
        envelope_problems.append(
            trailer.problem(
                "x12.count", 1, "IEA01 must count the groups", expected=groups, found=trailer.get(1)
            )
        )
    return out


def _read_set(segments: list[Segment]) -> TransactionSet:
    st = segments[0]
    tset = TransactionSet(control_number=st.get(2).strip(), segments=segments)
    try:
        _read_set_strict(tset)
    except SegmentError as exc:
        tset.problems.append(exc.problem)
    return tset


def _read_set_strict(tset: TransactionSet) -> None:
    st, se = tset.segments[0], tset.segments[-1]
    if st.require(1, "ST01 (transaction set code)") != "856":
        raise SegmentError(
            st.problem("x12.not_856", 1, "only 856 ship notices", expected="856", found=st.get(1))
        )
    if se.id != "SE":
        raise SegmentError(se.problem("x12.no_se", None, "the transaction set has no SE"))
    count = se.require(1, "SE01 (segment count)")
    if count != str(len(tset.segments)):
        raise SegmentError(
            se.problem(
                "x12.segment_count",
                1,
                "SE01 must count the segments from ST to SE",
                expected=len(tset.segments),
                found=count,
            )
        )
    if se.get(2).strip() != tset.control_number:
        raise SegmentError(
            se.problem(
                "x12.control_number",
                2,
                "SE02 must repeat ST02",
                expected=tset.control_number,
                found=se.get(2),
            )
        )
    payload: dict[str, Any] = {}
    lines: list[dict[str, Any]] = []
    occurred_at = expected_at = None
    purpose = None
    line: dict[str, Any] | None = None
    for seg in tset.segments[1:-1]:
        if not _SEGMENT_ID.match(seg.id):
            raise SegmentError(seg.problem("x12.bad_segment_id", None, "not a segment id"))
        if seg.id == "BSN":
            purpose = seg.require(1, "BSN01 (purpose)")
            if purpose not in PURPOSE_EVENT:
                raise SegmentError(
                    seg.problem(
                        "x12.bad_code",
                        1,
                        "BSN01 purpose must be 00 (original), 04 (change) or 05 (replace)",
                        expected=sorted(PURPOSE_EVENT),
                        found=purpose,
                    )
                )
            payload["asn"] = seg.require(2, "BSN02 (shipment id)")
            day, time = _date(seg, 3, "BSN03 (date)"), _time(seg, 4, "BSN04 (time)")
            occurred_at = dt.datetime.combine(day, time, dt.UTC).isoformat()
        elif seg.id == "DTM":
            qualifier = seg.require(1, "DTM01 (qualifier)")
            day, time = _date(seg, 2, "DTM02 (date)"), _time(seg, 3, "DTM03 (time)")
            if qualifier == "017":
                expected_at = dt.datetime.combine(day, time, dt.UTC).isoformat()
        elif seg.id == "N1":
            entity = seg.require(1, "N101 (entity)")
            code = seg.get(4).strip() or seg.get(2).strip()
            if entity in ("SF", "SU") and code:
                payload.setdefault("supplier", code)
            elif entity == "ST" and code:
                tset.plant_code = code
        elif seg.id == "HL":
            seg.require(1, "HL01 (id)")
            level = seg.require(3, "HL03 (level code)")
            if level not in ("S", "O", "P", "T", "I"):
                raise SegmentError(
                    seg.problem("x12.bad_code", 3, "HL03 must be S, O, P, T or I", found=level)
                )
            line = None
            if level == "I":
                line = {}
                lines.append(line)
        elif seg.id == "LIN":
            if line is None:
                raise SegmentError(seg.problem("x12.unexpected", None, "LIN outside an item level"))
            pairs = {
                seg.get(i).strip(): seg.get(i + 1).strip()
                for i in range(2, len(seg.elements) - 1, 2)
            }
            item = pairs.get("BP") or pairs.get("VP")
            if not item:
                raise SegmentError(
                    seg.problem("x12.missing_element", 3, "LIN names no BP or VP part number")
                )
            line["item"] = item
            if pairs.get("LT"):
                line["lot"] = pairs["LT"]
        elif seg.id == "SN1":
            if line is None:
                raise SegmentError(seg.problem("x12.unexpected", None, "SN1 outside an item level"))
            line["qty"] = _number(seg, 2, "SN102 (quantity shipped)")
            line["uom"] = seg.require(3, "SN103 (unit)")
    if purpose is None:
        raise SegmentError(st.problem("x12.missing_segment", None, "the set has no BSN segment"))
    tset.event_type = PURPOSE_EVENT[purpose]
    tset.occurred_at = occurred_at
    if expected_at:
        payload["expected_at"] = expected_at
    if tset.event_type == "asn.received" and lines:
        payload["lines"] = lines
    if tset.event_type == "asn.delayed" and not expected_at:
        raise SegmentError(
            st.problem(
                "x12.missing_segment", None, "a changed ASN must carry DTM*017 (new delivery date)"
            )
        )
    tset.payload = payload
