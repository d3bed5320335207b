"""The web processes' garbage collector, set once start-up is done.

- ``gc.freeze()``: what start-up loaded (modules, URL conf, compiled schemas and rules)
  lives as long as the process; moved out of the cyclic collector's reach, its passes no
  longer walk it (Python CPU per event at batch 200, in process: 0.636 -> 0.553 ms).
- The youngest generation is collected after ``INTERLOCK_GC_GEN0_THRESHOLD`` allocations
  (default 50,000; Python's is 700): a batch of events allocates tens of thousands of
  short-lived objects, nearly all freed by reference counting, so the collector's passes
  over them found little and cost 7-14 % of the batch's Python CPU (``bench profile
  --batch 200``). 0 keeps Python's threshold.
"""

from __future__ import annotations

import gc

from interlock.env import env_int

DEFAULT_GEN0_THRESHOLD = 50_000


def settle_gc() -> None:
    """Collect, freeze what survived, and set the young generation's threshold."""
    threshold = env_int(
        "INTERLOCK_GC_GEN0_THRESHOLD", DEFAULT_GEN0_THRESHOLD, minimum=0, maximum=10_000_000
    )
    gc.collect()
    gc.freeze()
    if threshold:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
