"""JSON that every layer below can hold: one parser and one check for every API body.

A JSON document can be valid and still break what comes after it:

- ``\\u0000`` and lone surrogates (``\\ud800``) are valid JSON string escapes, but
  PostgreSQL's ``text`` and ``jsonb`` cannot hold them, and UTF-8 cannot encode a surrogate;
- ``NaN``, ``Infinity`` and ``1e400`` are read by Python's ``json`` as non-finite floats;
- integers past 64 bits overflow every numeric column (and orjson reads them as *floats*,
  so two different integers could become one);
- deep nesting ends in ``RecursionError`` in ``json``, and in serialisers after it.

:func:`loads` parses (orjson first, ``json`` for line and column and for what orjson
refuses) and :func:`problems` lists what the layers below cannot hold, each with its path.
Both are pure functions of bytes and parsed values, so any entry point (the DRF parser,
the inbound REST adapter, a future lean ASGI path) uses the same ones.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

#: Deepest nesting accepted (objects and arrays). Canonical envelopes are about 5 deep.
MAX_DEPTH = 32
#: Integers must fit PostgreSQL's ``bigint`` (canonical schemas narrow this further).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: At most this many problems are listed for one document.
MAX_PROBLEMS = 20
#: Echoes of client input in error bodies are cut to this many characters.
ECHO_CHARS = 200

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (``path``), what (``code``) and why."""

    path: str
    code: str
    message: str
    found: Any = None

    def as_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "code": self.code, "message": self.message}
        if self.found is not None:
            out["found"] = self.found
        return out


class JsonError(ValueError):
    """The body is not JSON at all (``code`` ``invalid_json``), nests too deeply
    (``nesting_too_deep``) or holds a number no parser reads (``number_out_of_range``);
    ``line``/``column`` locate it when known."""

    def __init__(self, code: str, message: str, *, line: int | None = None, column=None):
        super().__init__(message)
        self.code, self.message, self.line, self.column = code, message, line, column

    def problem(self) -> Problem:
        return Problem(path="", code=self.code, message=self.message)


class _NonFinite(float):
    """A number ``json`` read as NaN or ±infinity, kept so :func:`problems` names its path."""

    __slots__ = ("text",)

    def __new__(cls, text: str):
        obj = super().__new__(cls, "nan")
        obj.text = text
        return obj


def _parse_float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def echo(value: Any, limit: int = ECHO_CHARS) -> Any:
    """``value`` as it may be echoed back in an error: long strings cut, containers not
    echoed, NUL and surrogates escaped."""
    if isinstance(value, _NonFinite):
        return value.text[:limit]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dict, list, tuple)):
        return None
    if isinstance(value, str):
        if len(value) > limit:
            value = value[:limit] + f"… ({len(value)} characters)"
        return storable(value)
    return value


def truncate(text: str, limit: int = 500) -> str:
    """A message safe to send back: at most ``limit`` characters, and storable."""
    text = text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"
    return storable(text)


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as their escapes (six characters
    each): what PostgreSQL can hold in text and jsonb."""
    if not _BAD_CHARS.search(text):
        return text
    return _BAD_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def loads(raw: bytes | str) -> tuple[Any, bool]:
    """Parse a JSON body: ``(document, suspect)``. Raise :class:`JsonError` with a line and
    column when it is not JSON, or when it nests past what a parser can hold.

    orjson is several times faster on big batches; what it refuses (NaN, lone surrogates,
    big exponents) goes to ``json``, which reads them so that :func:`problems` can name
    their path rather than a column. (orjson reads integers past 64 bits as floats: every
    canonical schema bounds its numbers far below, so they are refused by path there and
    never reach a business key.) ``suspect`` is false when cheap scans of the bytes prove
    that :func:`problems` would find nothing: the hot path never walks the document in
    Python."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _slow_loads(raw), True
    return doc, b"\\u0000" in raw or depth_at_most(raw, MAX_DEPTH) is None


#: Every byte but the structural ones ``[]{}"``.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'[]{}"')
#: Objects and arrays nest alike: ``{}`` becomes ``[]``.
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")


def depth_at_most(raw: bytes, limit: int) -> int | None:
    """The nesting depth of a JSON text when it is at most ``limit``, else ``None``: C-speed
    byte operations, no parse (about as fast as orjson reading the same bytes).

    Escaped backslashes and quotes go first, so that the remaining quotes delimit strings;
    the text outside strings, reduced to its brackets, loses one level of innermost empty
    pairs per pass."""
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURAL)
    text = b"".join(text.split(b'"')[::2]).translate(_ONE_BRACKET)
    for depth in range(limit + 1):
        if not text:
            return depth
        shorter = text.replace(b"[]", b"")  # innermost pairs only: one level per pass
        if len(shorter) == len(text):
            return None  # unbalanced: not for this function to decide, walk it
        text = shorter
    return None


def _slow_loads(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonError(
            "invalid_json", f"not valid UTF-8 at byte {exc.start}: {exc.reason}"
        ) from None
    try:
        return json.loads(text, parse_float=_parse_float, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise JsonError(
            "invalid_json",
            f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:
        raise JsonError(
            "nesting_too_deep", f"objects and arrays nest deeper than {MAX_DEPTH} levels"
        ) from None
    except ValueError as exc:  # an integer literal past Python's 4,300-digit limit
        raise JsonError("number_out_of_range", f"a number cannot be read: {exc}") from None


def _key_path(path: str, key: str) -> str:
    key = echo(key, 60)
    return f"{path}.{key}" if path else key


def problems(doc: Any, *, path: str = "", max_depth: int = MAX_DEPTH) -> list[Problem]:
    """Everything in ``doc`` that PostgreSQL or the canonical model cannot hold, each with
    its path (at most :data:`MAX_PROBLEMS`). An empty list means the document is safe.

    Iterative (no recursion limit to hit) and touches each value once: about a
    microsecond per value, paid only by what a client sends."""
    found: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(doc, path, 0)]
    while stack and len(found) < MAX_PROBLEMS:
        value, where, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= max_depth:
                found.append(_too_deep(where))
                continue
            for key, item in value.items():
                child = _key_path(where, key)
                if _BAD_CHARS.search(key):
                    found.append(_bad_string(child, key, "key"))
                if isinstance(item, (dict, list)):
                    stack.append((item, child, depth + 1))
                else:
                    _scalar(item, child, found)
        elif isinstance(value, list):
            if depth >= max_depth:
                found.append(_too_deep(where))
                continue
            for index, item in enumerate(value):
                child = f"{where}[{index}]"
                if isinstance(item, (dict, list)):
                    stack.append((item, child, depth + 1))
                else:
                    _scalar(item, child, found)
        else:
            _scalar(value, where, found)
    found.sort(key=lambda p: (p.path, p.code))
    return found


def _scalar(value: Any, where: str, found: list[Problem]) -> None:
    if isinstance(value, str):
        if _BAD_CHARS.search(value):
            found.append(_bad_string(where, value, "string"))
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            found.append(
                Problem(
                    path=where,
                    code="number_out_of_range",
                    message="integer outside the 64-bit range",
                    found=echo(str(value), 40),
                )
            )
    elif isinstance(value, float) and not math.isfinite(value):
        found.append(
            Problem(
                path=where,
                code="number_not_finite",
                message="NaN, Infinity and numbers beyond ±1.8e308 are not numbers here",
                found=echo(value),
            )
        )


def _bad_string(where: str, value: str, what: str) -> Problem:
    char = _BAD_CHARS.search(value).group()
    kind = "NUL (\\u0000)" if char == "\x00" else f"a lone surrogate (\\u{ord(char):04x})"
    return Problem(
        path=where,
        code="string_unstorable",
        message=f"the {what} contains {kind}, which cannot be stored",
        found=echo(value, 60),
    )


def _too_deep(where: str) -> Problem:
    return Problem(
        path=where,
        code="nesting_too_deep",
        message=f"objects and arrays nest deeper than {MAX_DEPTH} levels",
    )
