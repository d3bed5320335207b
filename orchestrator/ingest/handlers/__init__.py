"""Handlers: what an accepted canonical event does to the business objects.

One function per event type, registered with :func:`handles`. A handler checks master
data and prerequisites, then drives lifecycle transitions through services, and reports
the outcome on the :class:`~orchestrator.ingest.context.BatchContext` (``applied``,
``park``, ``quarantine``). It must not swallow unexpected errors: the pipeline retries the
batch item by item and quarantines only the item that failed.
"""

from __future__ import annotations

from collections.abc import Callable

from ...models import Event
from ..context import BatchContext

Handler = Callable[[BatchContext, Event], None]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for event_type in event_types:
            if event_type in HANDLERS:
                raise RuntimeError(f"two handlers for {event_type}")
            HANDLERS[event_type] = fn
        return fn

    return register


def apply_events(ctx: BatchContext, events: list[Event]) -> None:
    """Apply ``events`` in order. Events without a handler stay ``accepted`` (recorded,
    not applied), which the trace shows."""
    for event in events:
        handler = HANDLERS.get(event.event_type)
        if handler is not None:
            handler(ctx, event)
