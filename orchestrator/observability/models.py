"""Rollups, samples and SLA breaches.

Rollup rows are statistics, not evidence: they carry plain integer ``plant_id`` /
``system_id`` columns (``0`` = not known, e.g. a message rejected before its plant was
resolved) instead of foreign keys, so that the unique key that ``ON CONFLICT`` needs has
no NULLs (PostgreSQL treats NULLs as distinct) and a plant can never be blocked from
deletion by a counter. Label values stay bounded: event types outside the canonical
taxonomy are counted as ``other``, reasons are machine codes, never order numbers or ids.

Each rollup table holds three resolutions in the same rows' shape: ``bucket_seconds=60``
(per minute, written from the source rows), ``3600`` (per hour, re-aggregated from the
minute rows of the hours a run touched), so a 7-day chart reads 168 buckets, not 10,080,
and ``0`` (all time, one row per label set), so a Prometheus scrape reads a few hundred
rows however long the system has run.
"""

from __future__ import annotations

import datetime as dt

from django.db import models

from .choices import BreachState, RollupSource, SampleMetric, SlaFlow

#: Upper bounds (seconds) of the ingest latency histogram, cumulative like Prometheus'.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
LATENCY_FIELDS: tuple[str, ...] = tuple(f"le_{i:02d}" for i in range(len(LATENCY_BUCKETS)))

MINUTE = 60
HOUR = 3600
#: ``bucket_seconds`` of the all-time rows (one per label set) the Prometheus counters read.
TOTAL = 0
TOTAL_BUCKET = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class RollupWatermark(models.Model):
    """How far a rollup has read its source table: every row with ``id <= last_id`` is
    counted exactly once (the row is locked while a run inserts, and moved in the same
    transaction)."""

    source = models.CharField(max_length=20, choices=RollupSource.choices, unique=True)
    last_id = models.BigIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.source} ≤ {self.last_id}"


class InboundRollup(models.Model):
    """Messages received per bucket by plant, system, event type and outcome (the status
    the pipeline decided), with the first reason code of a failed one and a cumulative
    histogram of the ingest latency (stored → decided)."""

    bucket_seconds = models.PositiveIntegerField(default=MINUTE)
    bucket = models.DateTimeField()
    plant_id = models.BigIntegerField(default=0)
    system_id = models.BigIntegerField(default=0)
    event_type = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20)
    reason = models.CharField(max_length=60, blank=True)
    count = models.BigIntegerField(default=0)
    latency_count = models.BigIntegerField(
        default=0, help_text="Messages with a decision time (the histogram's +Inf bucket)."
    )
    latency_sum = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "bucket_seconds",
                    "bucket",
                    "plant_id",
                    "system_id",
                    "event_type",
                    "outcome",
                    "reason",
                ],
                name="inbound_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.event_type} {self.outcome}: {self.count}"


for _name in LATENCY_FIELDS:
    InboundRollup.add_to_class(_name, models.BigIntegerField(default=0))


class DeliveryRollup(models.Model):
    """Delivery attempts per bucket by plant, target system and outcome: how many, how
    many were retries (attempt number > 1), their duration, and of the successful ones how
    many arrived within the plant's delivery SLA (created → delivered)."""

    bucket_seconds = models.PositiveIntegerField(default=MINUTE)
    bucket = models.DateTimeField()
    plant_id = models.BigIntegerField(default=0)
    system_id = models.BigIntegerField(default=0)
    outcome = models.CharField(max_length=20)
    count = models.BigIntegerField(default=0)
    retries = models.BigIntegerField(default=0)
    duration_ms_sum = models.BigIntegerField(default=0)
    sla_met = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_seconds", "bucket", "plant_id", "system_id", "outcome"],
                name="delivery_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} system {self.system_id} {self.outcome}: {self.count}"


class EventRollup(models.Model):
    """Canonical events per bucket by plant, event type, the rule version that evaluated
    them (``set@version``, ``default`` for the shipped packs) and outcome (the event's
    status: applied, parked, quarantined…): the rule evaluations by outcome."""

    bucket_seconds = models.PositiveIntegerField(default=MINUTE)
    bucket = models.DateTimeField()
    plant_id = models.BigIntegerField(default=0)
    event_type = models.CharField(max_length=100)
    rule_version = models.CharField(max_length=120)
    outcome = models.CharField(max_length=20)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "bucket_seconds",
                    "bucket",
                    "plant_id",
                    "event_type",
                    "rule_version",
                    "outcome",
                ],
                name="event_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.event_type} {self.outcome}: {self.count}"


class Sample(models.Model):
    """A current-state figure (outbox backlog, oldest age, dead letters, open exceptions)
    sampled once a minute per plant, system and one more dimension, so the dashboards can
    draw its history without reading the source tables."""

    bucket = models.DateTimeField()
    metric = models.CharField(max_length=30, choices=SampleMetric.choices)
    plant_id = models.BigIntegerField(default=0)
    system_id = models.BigIntegerField(default=0)
    dim = models.CharField(max_length=100, blank=True)
    value = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "bucket", "plant_id", "system_id", "dim"], name="sample_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.metric}={self.value}"


class SlaSample(models.Model):
    """One minute of one plant's flow against its SLA target: items open, how many were
    over the target, the oldest one's age. Compliance over a range is the share of
    sampled minutes with nothing over target."""

    bucket = models.DateTimeField()
    plant_id = models.BigIntegerField()
    flow = models.CharField(max_length=20, choices=SlaFlow.choices)
    target_seconds = models.PositiveIntegerField()
    open_items = models.PositiveIntegerField(default=0)
    over_target = models.PositiveIntegerField(default=0)
    oldest_age_seconds = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "bucket", "plant_id"], name="sla_sample_key")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.flow}@{self.plant_id}: {self.over_target} over"


class SlaBreach(models.Model):
    """A period during which a plant's flow had items over its SLA target.

    At most one is open per plant and flow (a partial unique constraint, so two evaluator
    runs can never raise it twice); it clears itself when the flow is back within target
    and stays as history for the SLA report. Raising it notifies the owning role
    (``notification``) and puts it on the operator workbench (the "SLA breaches" list).
    """

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    flow = models.CharField(max_length=20, choices=SlaFlow.choices)
    state = models.CharField(
        max_length=10, choices=BreachState.choices, default=BreachState.OPEN, db_index=True
    )
    role = models.CharField(max_length=40, help_text="The role that owns the flow.")
    target_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    peak_over_target = models.PositiveIntegerField(default=0)
    worst_age_seconds = models.FloatField(default=0)
    notification = models.ForeignKey(
        "orchestrator.Notification",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    plant_lookup = "plant"

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "SLA breach"
        verbose_name_plural = "SLA breaches"
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "flow"],
                condition=models.Q(state="open"),
                name="sla_breach_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} SLA at {self.plant.code} since {self.started_at:%Y-%m-%d %H:%M}"

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}

    @property
    def duration_seconds(self) -> float:
        end = self.cleared_at or self.last_seen_at
        return (end - self.started_at).total_seconds()
