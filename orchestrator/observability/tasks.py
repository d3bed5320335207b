"""Beat tasks of observability: thin, idempotent, safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task

from .services.rollups import rollups_prune, rollups_run
from .services.samples import samples_record
from .services.sla import sla_evaluate


@shared_task(name="observability.rollup", acks_late=True, ignore_result=True)
def rollup() -> int:
    """Add the rows that settled since the last run to the per-minute rollups."""
    return sum(r.rows for r in rollups_run())


@shared_task(name="observability.evaluate", acks_late=True, ignore_result=True)
def evaluate() -> int:
    """Sample this minute's backlog and exceptions, raise or clear SLA breaches, and drop
    minute rows past their retention."""
    samples_record()
    raised = len(sla_evaluate().raised)
    rollups_prune()
    return raised
