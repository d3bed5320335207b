"""``--json``: every benchmark prints one JSON object on stdout, and nothing else.

``python -m bench NAME --json`` (see ``bench/__main__.py``) points file descriptor 1 at
stderr for the whole run, so the progress lines of the benchmark and of every process it
starts (gunicorn, Celery, Node-RED, the load clients) go to stderr; :func:`emit` writes the
one object to the real stdout. The object's shape is the same for every workload::

    {"workload": "peer", "product": {"name", "events_per_s", "p50_ms", "p99_ms",
     "cpu_ms_per_event", ...}, "baseline": {same keys} | null, "ratio": float | null, ...}

``ratio`` is product events/s ÷ baseline events/s, both measured in the same run.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import orjson

_real_stdout: int | None = None


def capture_stdout() -> None:
    """From now on fd 1 is stderr (children inherit it); :func:`emit` keeps the real one."""
    global _real_stdout
    if _real_stdout is None:
        sys.stdout.flush()
        _real_stdout = os.dup(1)
        os.dup2(2, 1)


def figures(
    name: str,
    *,
    events_per_s: float,
    p50_ms: float,
    p99_ms: float,
    cpu_ms_per_event: float,
    **extra,
) -> dict[str, Any]:
    """One implementation's figures, rounded for reading (NaN becomes null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return None if math.isnan(value) else round(value, 3)
        return value

    return {
        "name": name,
        "events_per_s": clean(events_per_s),
        "p50_ms": clean(p50_ms),
        "p99_ms": clean(p99_ms),
        "cpu_ms_per_event": clean(cpu_ms_per_event),
        **{k: clean(v) for k, v in extra.items()},
    }


def result(workload: str, product: dict, baseline: dict | None, **extra: Any) -> dict[str, Any]:
    ratio = None
    if baseline and baseline.get("events_per_s") and product.get("events_per_s") is not None:
        ratio = round(product["events_per_s"] / baseline["events_per_s"], 3)
    return {"workload": workload, "product": product, "baseline": baseline, "ratio": ratio, **extra}


def emit(obj: dict[str, Any]) -> None:
    """Write ``obj`` as one line of JSON on the real stdout."""
    data = orjson.dumps(obj) + b"\n"
    if _real_stdout is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        os.write(_real_stdout, data)
