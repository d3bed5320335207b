"""Tiny path language for payload fields: ``qty``, ``operations[].work_center``.

Only what event specs need: dotted keys and ``[]`` to fan out over a list. ``walk`` yields
``(container, key, display_path)`` for every place a path exists, so callers can read and
replace values in place and name the exact place in an error (``payload.components[2].item``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(payload: Any, path: str, prefix: str = "payload") -> Iterator[tuple[dict, str, str]]:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        key = head[:-2]
        items = payload.get(key) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            yield from walk(item, rest, f"{prefix}.{key}[{index}]")
        return
    if not isinstance(payload, dict) or head not in payload:
        return
    if rest:
        yield from walk(payload[head], rest, f"{prefix}.{head}")
    else:
        yield payload, head, f"{prefix}.{head}"


def sibling(path: str, field: str) -> str:
    """``components[].qty`` + ``uom`` → ``components[].uom``."""
    parent, _, _ = path.rpartition(".")
    return f"{parent}.{field}" if parent else field
