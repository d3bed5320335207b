"""The state one batch of events is applied in.

Handlers never save as they go: they record outcomes here (applied, parked, quarantined)
and the pipeline writes them back set-wise at the end of the batch, inside the same
transaction as the idempotency claim. That is what keeps a bulk request at a handful of
statements instead of several per event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models import Event, EventStatus
from .normalize import Reason


@dataclass
class BatchContext:
    """Outcomes and buffers of one batch. ``actor_label`` is who the changes are attributed to
    (``system:MES-P1``); ``now`` is the batch's clock."""

    actor_label: str
    now: dt.datetime
    #: Events applied, parked or quarantined in this batch (written back by the pipeline).
    touched: dict[int, Event] = field(default_factory=dict)
    #: Free-form per-batch caches handlers may share (preloaded orders, lots, ...).
    cache: dict[str, Any] = field(default_factory=dict)

    def _touch(self, event: Event) -> None:
        self.touched[event.pk] = event

    def applied(self, event: Event, *, explanation: dict | None = None) -> None:
        event.status = EventStatus.APPLIED
        event.applied_at = self.now
        event.waiting_for = ""
        if explanation is not None:
            event.explanation = explanation
        self._touch(event)

    def park(self, event: Event, *, waiting_for: str, reason: str) -> None:
        """Hold ``event`` until ``waiting_for`` happens (see ``sequencing``)."""
        event.status = EventStatus.PARKED
        event.waiting_for = waiting_for
        event.parked_at = event.parked_at or self.now
        event.reasons = [
            Reason(code="waiting", path="", message=reason, expected=waiting_for).as_dict()
        ]
        self._touch(event)

    def quarantine(self, event: Event, reasons: Iterable[Reason | dict]) -> None:
        event.status = EventStatus.QUARANTINED
        event.waiting_for = ""
        event.reasons = [r.as_dict() if isinstance(r, Reason) else r for r in reasons]
        self._touch(event)
