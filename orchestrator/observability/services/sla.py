"""SLA evaluation: once a minute, measure each plant's flows against their targets, keep
the minute as an :class:`SlaSample`, and raise or clear :class:`SlaBreach` alerts.

A flow's *source* says, per plant, how many items are open, how many are older than the
plant's target, and the oldest one's age. The sources read open work only, through
existing indexes. Reconciliation's source (differences not closed yet) is registered by
``orchestrator.services.reconciliation`` with ``register_sla_source``.

Alerts: a breach opens when a plant's flow has anything over target, and stays open (one
row, one notification: deduplicated by a partial unique constraint, so two evaluators
cannot raise it twice) while it lasts; the first evaluation with nothing over target
clears it. Cleared breaches stay as the SLA report's history.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from orchestrator.models import Event, Notification, NotificationKind, OutboxMessage, OutboxStatus
from plants.choices import Role
from plants.models import Plant

from ..choices import BreachState, SlaFlow
from ..models import SlaBreach, SlaSample
from ..selectors import (
    EVENT_OPEN,
    SlaTargets,
    open_exception_messages,
    orders_awaiting_ack,
    sla_targets,
)

logger = logging.getLogger(__name__)

#: Who is told when a flow breaches (and owns putting it right).
OWNER_ROLE: dict[str, str] = {
    SlaFlow.DELIVERY: Role.OPERATOR,
    SlaFlow.ACKNOWLEDGMENT: Role.OPERATOR,
    SlaFlow.EXCEPTION_TRIAGE: Role.OPERATOR,
    SlaFlow.RECONCILIATION: Role.PLANT_ADMIN,
}


@dataclass(frozen=True)
class Measure:
    open_items: int = 0
    over_target: int = 0
    oldest_age: float = 0.0


Source = Callable[[dt.datetime, SlaTargets], dict[int, Measure]]
SOURCES: dict[str, Source] = {}


def register_sla_source(flow: str) -> Callable[[Source], Source]:
    """Register the function that measures ``flow`` (one per flow)."""

    def wrap(fn: Source) -> Source:
        SOURCES[flow] = fn
        return fn

    return wrap


def _over_target(column: str, now: dt.datetime, targets: SlaTargets, flow: str) -> Q:
    """Rows whose ``column`` is older than their plant's target."""
    default, overrides = targets.for_flow(flow)
    q = Q(**{f"{column}__lt": now - dt.timedelta(seconds=default)}) & ~Q(
        plant_id__in=list(overrides)
    )
    for plant_id, seconds in overrides.items():
        q |= Q(plant_id=plant_id, **{f"{column}__lt": now - dt.timedelta(seconds=seconds)})
    return q


def _measure(qs, column: str, now, targets, flow) -> dict[int, Measure]:
    rows = (
        qs.values("plant_id")
        .annotate(
            n=Count("id"),
            over=Count("id", filter=_over_target(column, now, targets, flow)),
            oldest=Min(column),
        )
        .order_by()
    )
    return {
        r["plant_id"]: Measure(r["n"], r["over"], max(0.0, (now - r["oldest"]).total_seconds()))
        for r in rows
        if r["plant_id"]
    }


def measure_open(qs, column: str, now: dt.datetime, targets: SlaTargets, flow: str):
    """Per plant: how many rows of ``qs`` are open, how many are older than the plant's
    target for ``flow`` (by ``column``), and the oldest one's age (for other sources)."""
    return _measure(qs, column, now, targets, flow)


@register_sla_source(SlaFlow.DELIVERY)
def _delivery(now: dt.datetime, targets: SlaTargets) -> dict[int, Measure]:
    """Outbox rows not delivered yet (pending or in flight), by age since they were queued."""
    qs = OutboxMessage.objects.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT])
    return _measure(qs, "created_at", now, targets, SlaFlow.DELIVERY)


@register_sla_source(SlaFlow.ACKNOWLEDGMENT)
def _acknowledgment(now: dt.datetime, targets: SlaTargets) -> dict[int, Measure]:
    """Released orders the MES has not acknowledged, by age since release."""
    qs = orders_awaiting_ack().annotate(since=Coalesce("state_changed_at", "created_at"))
    return _measure(qs, "since", now, targets, SlaFlow.ACKNOWLEDGMENT)


@register_sla_source(SlaFlow.EXCEPTION_TRIAGE)
def _exception_triage(now: dt.datetime, targets: SlaTargets) -> dict[int, Measure]:
    """Exceptions on the workbench nobody has handled yet, by age since arrival."""
    measures = _measure(open_exception_messages(), "received_at", now, targets, "exception_triage")
    events = _measure(
        Event.objects.filter(status__in=EVENT_OPEN), "received_at", now, targets, "exception_triage"
    )
    for plant_id, m in events.items():
        other = measures.get(plant_id, Measure())
        measures[plant_id] = Measure(
            other.open_items + m.open_items,
            other.over_target + m.over_target,
            max(other.oldest_age, m.oldest_age),
        )
    return measures


@dataclass
class Evaluation:
    raised: list[SlaBreach]
    cleared: list[SlaBreach]
    samples: int


def _raise(*, plant: Plant, flow: str, measure: Measure, target: int, now) -> SlaBreach | None:
    role = OWNER_ROLE[flow]
    label = SlaFlow(flow).label
    try:
        with transaction.atomic():
            breach = SlaBreach.objects.create(
                plant=plant,
                flow=flow,
                role=role,
                target_seconds=target,
                started_at=now,
                last_seen_at=now,
                peak_over_target=measure.over_target,
                worst_age_seconds=measure.oldest_age,
            )
            breach.notification = Notification.objects.create(
                plant=plant,
                kind=NotificationKind.THRESHOLD_ALERT,
                role=role,
                message=(
                    f"{label} SLA breached at {plant.code}: {measure.over_target} item(s) over "
                    f"the {target} s target, oldest {int(measure.oldest_age)} s"
                ),
                details={
                    "sla_flow": flow,
                    "breach_id": breach.pk,
                    "target_seconds": target,
                    "over_target": measure.over_target,
                    "oldest_age_seconds": round(measure.oldest_age, 1),
                },
                rule=f"sla.{flow}.target",
                correlation_id=f"sla-{flow}-{plant.code}-{breach.pk}",
                created_at=now,
            )
            breach.save(update_fields=["notification"])
    except IntegrityError:
        # Another evaluator opened it a moment ago: the alert exists once, as it should.
        return None
    logger.warning(
        "SLA breach: %s at %s, %d over %d s",
        flow,
        plant.code,
        measure.over_target,
        target,
        extra={"plant": plant.code, "sla_flow": flow},
    )
    return breach


def _clear(breach: SlaBreach, now: dt.datetime) -> bool:
    # Conditional on still being open: of two concurrent evaluators, one clears it.
    done = SlaBreach.objects.filter(pk=breach.pk, state=BreachState.OPEN).update(
        state=BreachState.CLEARED, cleared_at=now, last_seen_at=now
    )
    if done:
        breach.state, breach.cleared_at = BreachState.CLEARED, now
        logger.info(
            "SLA back within target: %s at %s",
            breach.flow,
            breach.plant.code,
            extra={"plant": breach.plant.code, "sla_flow": breach.flow},
        )
    return bool(done)


def sla_evaluate(*, now: dt.datetime | None = None) -> Evaluation:
    """Measure every plant's flows now, record the minute, raise and clear breaches."""
    now = now or timezone.now()
    bucket = now.replace(second=0, microsecond=0)
    targets = sla_targets()
    plants = {p.pk: p for p in Plant.objects.filter(active=True)}
    open_breaches = {
        (b.plant_id, b.flow): b
        for b in SlaBreach.objects.filter(state=BreachState.OPEN).select_related("plant")
    }
    samples: list[SlaSample] = []
    raised: list[SlaBreach] = []
    cleared: list[SlaBreach] = []
    for flow, source in SOURCES.items():
        if flow not in targets.defaults:
            continue  # no target configured: nothing to be in breach of
        measures = source(now, targets)
        for plant_id, plant in plants.items():
            measure = measures.get(plant_id, Measure())
            target = targets.target(flow, plant_id)
            samples.append(
                SlaSample(
                    bucket=bucket,
                    plant_id=plant_id,
                    flow=flow,
                    target_seconds=target,
                    open_items=measure.open_items,
                    over_target=measure.over_target,
                    oldest_age_seconds=measure.oldest_age,
                )
            )
            breach = open_breaches.get((plant_id, flow))
            if measure.over_target and breach is None:
                new = _raise(plant=plant, flow=flow, measure=measure, target=target, now=now)
                if new is not None:
                    raised.append(new)
            elif measure.over_target:
                SlaBreach.objects.filter(pk=breach.pk).update(
                    last_seen_at=now,
                    peak_over_target=max(breach.peak_over_target, measure.over_target),
                    worst_age_seconds=max(breach.worst_age_seconds, measure.oldest_age),
                )
            elif breach is not None and _clear(breach, now):
                cleared.append(breach)
    SlaSample.objects.bulk_create(
        samples,
        update_conflicts=True,
        unique_fields=["flow", "bucket", "plant_id"],
        update_fields=["target_seconds", "open_items", "over_target", "oldest_age_seconds"],
    )
    return Evaluation(raised=raised, cleared=cleared, samples=len(samples))
