"""Choice lists of the observability app."""

from django.db import models


class SlaFlow(models.TextChoices):
    """The flows that carry an SLA target (the seeds' four), each a site parameter
    ``sla.<flow>.target`` (seconds; global default, plant override)."""

    DELIVERY = "delivery", "Event delivery"
    ACKNOWLEDGMENT = "acknowledgment", "Acknowledgment"
    EXCEPTION_TRIAGE = "exception_triage", "Exception triage"
    RECONCILIATION = "reconciliation", "Reconciliation closure"


class BreachState(models.TextChoices):
    OPEN = "open", "Open (over target)"
    CLEARED = "cleared", "Cleared (back within target)"


class RollupSource(models.TextChoices):
    """The tables a rollup reads, one watermark each."""

    INBOUND = "inbound", "Inbound messages"
    DELIVERY = "delivery", "Delivery attempts"
    EVENTS = "events", "Canonical events (rule evaluations)"


class SampleMetric(models.TextChoices):
    """Current-state figures sampled once a minute (a history for the dashboards)."""

    OUTBOX_BACKLOG = "outbox_backlog", "Outbox backlog"
    OUTBOX_OLDEST_AGE = "outbox_oldest_age", "Oldest pending outbox message (s)"
    DEAD_LETTERS = "dead_letters", "Dead letters open"
    OPEN_EXCEPTIONS = "open_exceptions", "Open exceptions"
