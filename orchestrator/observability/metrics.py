"""Prometheus metrics at ``/metrics``, computed from PostgreSQL at scrape time.

Why not prometheus-client's multiprocess mode: Interlock runs several gunicorn workers
*and* Celery workers, often on different hosts. Multiprocess mode only sums the processes
that share one ``PROMETHEUS_MULTIPROC_DIR`` on one host, needs that directory wiped on
every deploy, and counts only what the process that happened to do the work saw. Every
number Interlock reports is already a row in the database, so this collector reads it
from there:

- **counters** (``*_total``, the latency histogram) come from the all-time rollup rows
  (``bucket_seconds=0``) that the beat task adds to set-wise; they are exact and
  monotonic, and lag by the rollup's settle time (about two minutes);
- **gauges** (backlogs, ages, open exceptions, pending approvals, breaker states) are
  computed from the open work at scrape time, through the indexes of those lists.

Any process, web or worker, answers the same scrape, and a restart loses nothing. The
collector holds no state, so there is no process-level metric here on purpose (per-process
CPU or memory figures are the job of node/cAdvisor exporters).

Labels are bounded: plant and system *codes*, canonical event types (``other`` for
anything else), statuses, outcomes, reason codes, rule set versions, roles; never an order
number, an event id or a correlation id.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
from collections import defaultdict

from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .choices import BreachState
from .models import (
    LATENCY_BUCKETS,
    LATENCY_FIELDS,
    TOTAL,
    DeliveryRollup,
    EventRollup,
    InboundRollup,
    RollupWatermark,
    SlaBreach,
)
from .selectors import (
    approvals_pending,
    circuit_breakers,
    dead_letters,
    gates_waiting,
    open_exceptions,
    outbox_backlog,
    plant_codes,
    system_codes,
)

#: Age classes of open exceptions (label ``age``): bounded, and what triage cares about.
AGE_CLASSES = ((3600, "lt_1h"), (86400, "1h_24h"), (None, "gt_24h"))
CIRCUIT_STATES = ("closed", "open", "half_open")


def _age_class(seconds: float) -> str:
    for limit, name in AGE_CLASSES:
        if limit is None or seconds < limit:
            return name
    return AGE_CLASSES[-1][1]


class InterlockCollector:
    """Reads every metric from the database when Prometheus scrapes."""

    def __init__(self, now=None) -> None:
        self._now = now

    def collect(self):
        now = self._now or timezone.now()
        plants, systems = plant_codes(), system_codes()

        def plant(pk) -> str:
            return plants.get(pk or 0, "none")

        def system(pk) -> str:
            return systems.get(pk or 0, "none")

        yield from self._counters(plant, system)
        yield from self._gauges(now, plant, system)

    # --- counters: from the all-time rollup rows ------------------------------------------
    def _counters(self, plant, system):
        received = CounterMetricFamily(
            "interlock_events_received",
            "Messages received from connected systems, by the outcome ingest decided.",
            labels=["plant", "system", "event_type", "outcome"],
        )
        failures = CounterMetricFamily(
            "interlock_validation_failures",
            "Messages quarantined, rejected or in conflict, by their first reason code.",
            labels=["plant", "system", "event_type", "reason"],
        )
        latency = HistogramMetricFamily(
            "interlock_ingest_latency_seconds",
            "Time from storing a message to its decision.",
            labels=["plant", "event_type"],
        )
        rows = InboundRollup.objects.filter(bucket_seconds=TOTAL).values(
            "plant_id",
            "system_id",
            "event_type",
            "outcome",
            "reason",
            "count",
            "latency_count",
            "latency_sum",
            *LATENCY_FIELDS,
        )
        by_outcome: dict[tuple, int] = defaultdict(int)
        by_reason: dict[tuple, int] = defaultdict(int)
        hist: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * (len(LATENCY_FIELDS) + 2))
        for r in rows:
            labels = (plant(r["plant_id"]), system(r["system_id"]), r["event_type"])
            by_outcome[(*labels, r["outcome"])] += r["count"]
            if r["reason"]:
                by_reason[(*labels, r["reason"])] += r["count"]
            h = hist[(labels[0], labels[2])]
            for i, name in enumerate(LATENCY_FIELDS):
                h[i] += r[name]
            h[-2] += r["latency_count"]
            h[-1] += r["latency_sum"]
        for labels, value in sorted(by_outcome.items()):
            received.add_metric(list(labels), value)
        for labels, value in sorted(by_reason.items()):
            failures.add_metric(list(labels), value)
        for labels, h in sorted(hist.items()):
            buckets = [(repr(b), h[i]) for i, b in enumerate(LATENCY_BUCKETS)]
            buckets.append(("+Inf", h[-2]))
            latency.add_metric(list(labels), buckets, sum_value=h[-1])
        yield received
        yield failures
        yield latency

        attempts = CounterMetricFamily(
            "interlock_delivery_attempts",
            "Delivery attempts to connected systems, by outcome.",
            labels=["plant", "system", "outcome"],
        )
        retries = CounterMetricFamily(
            "interlock_delivery_retries",
            "Delivery attempts that were retries (attempt number > 1).",
            labels=["plant", "system", "outcome"],
        )
        in_sla = CounterMetricFamily(
            "interlock_delivery_within_sla",
            "Successful deliveries that arrived within the plant's delivery SLA.",
            labels=["plant", "system"],
        )
        grouped = (
            DeliveryRollup.objects.filter(bucket_seconds=TOTAL)
            .values("plant_id", "system_id", "outcome")
            .annotate(n=Sum("count"), r=Sum("retries"), met=Sum("sla_met"))
            .order_by("plant_id", "system_id", "outcome")
        )
        met: dict[tuple, int] = defaultdict(int)
        for r in grouped:
            labels = [plant(r["plant_id"]), system(r["system_id"]), r["outcome"]]
            attempts.add_metric(labels, r["n"])
            retries.add_metric(labels, r["r"])
            met[tuple(labels[:2])] += r["met"]
        for labels, value in sorted(met.items()):
            in_sla.add_metric(list(labels), value)
        yield attempts
        yield retries
        yield in_sla

        evaluations = CounterMetricFamily(
            "interlock_rule_evaluations",
            "Canonical events evaluated per rule set version, by the event's outcome.",
            labels=["plant", "event_type", "rule_version", "outcome"],
        )
        for r in (
            EventRollup.objects.filter(bucket_seconds=TOTAL)
            .values("plant_id", "event_type", "rule_version", "outcome")
            .annotate(n=Sum("count"))
            .order_by("plant_id", "event_type", "rule_version", "outcome")
        ):
            evaluations.add_metric(
                [plant(r["plant_id"]), r["event_type"], r["rule_version"], r["outcome"]], r["n"]
            )
        yield evaluations

    # --- gauges: open work at scrape time --------------------------------------------------
    def _gauges(self, now: dt.datetime, plant, system):
        def age(oldest) -> float:
            return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0

        backlog = GaugeMetricFamily(
            "interlock_outbox_backlog",
            "Outbox messages not delivered yet, by status (pending, in_flight).",
            labels=["plant", "system", "status"],
        )
        oldest = GaugeMetricFamily(
            "interlock_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered outbox message per target system.",
            labels=["system"],
        )
        oldest_by_system: dict[str, float] = {}
        for r in sorted(outbox_backlog(), key=lambda r: (r["plant_id"], r["system_id"] or 0)):
            backlog.add_metric(
                [plant(r["plant_id"]), system(r["system_id"]), r["status"]], r["count"]
            )
            name = system(r["system_id"])
            oldest_by_system[name] = max(oldest_by_system.get(name, 0.0), age(r["oldest"]))
        for name, value in sorted(oldest_by_system.items()):
            oldest.add_metric([name], value)
        yield backlog
        yield oldest

        dead = GaugeMetricFamily(
            "interlock_dead_letters_open",
            "Outbox messages in the dead-letter queue (not replayed).",
            labels=["plant", "system"],
        )
        for r in dead_letters():
            dead.add_metric([plant(r["plant_id"]), system(r["system_id"])], r["count"])
        yield dead

        exceptions = GaugeMetricFamily(
            "interlock_open_exceptions",
            "Exceptions waiting for a person, by reason code and age class.",
            labels=["plant", "reason", "age"],
        )
        exception_age = GaugeMetricFamily(
            "interlock_open_exception_oldest_age_seconds",
            "Age of the oldest open exception, by reason code.",
            labels=["plant", "reason"],
        )
        counts: dict[tuple, int] = defaultdict(int)
        ages: dict[tuple, float] = defaultdict(float)
        for r in open_exceptions():
            key = (plant(r["plant_id"]), r["reason"] or r["status"])
            a = age(r["oldest"])
            counts[(*key, _age_class(a))] += r["count"]
            ages[key] = max(ages[key], a)
        for labels, value in sorted(counts.items()):
            exceptions.add_metric(list(labels), value)
        for labels, value in sorted(ages.items()):
            exception_age.add_metric(list(labels), value)
        yield exceptions
        yield exception_age

        gates = GaugeMetricFamily(
            "interlock_gates_waiting",
            "Closed gates (steps waiting on a dependency), by gate kind.",
            labels=["plant", "kind"],
        )
        gate_age = GaugeMetricFamily(
            "interlock_gate_oldest_wait_seconds",
            "How long the longest-waiting closed gate of each kind has waited.",
            labels=["plant", "kind"],
        )
        for r in sorted(gates_waiting(), key=lambda r: (r["plant_id"], r["kind"])):
            gates.add_metric([plant(r["plant_id"]), r["kind"]], r["count"])
            gate_age.add_metric([plant(r["plant_id"]), r["kind"]], age(r["oldest"]))
        yield gates
        yield gate_age

        approvals = GaugeMetricFamily(
            "interlock_approvals_pending",
            "Approvals a rule required that nobody has decided, by the role that must decide.",
            labels=["plant", "role", "state"],
        )
        pending: dict[tuple, int] = defaultdict(int)
        for r in approvals_pending():
            role = r["escalate_to"] if r["state"] == "escalated" and r["escalate_to"] else r["role"]
            pending[(plant(r["plant_id"]), role, r["state"])] += r["count"]
        for labels, value in sorted(pending.items()):
            approvals.add_metric(list(labels), value)
        yield approvals

        breakers = GaugeMetricFamily(
            "interlock_circuit_breaker_state",
            "Outbound circuit breaker per system: 1 for its current state, 0 for the others.",
            labels=["system", "state"],
        )
        failures = GaugeMetricFamily(
            "interlock_circuit_breaker_consecutive_failures",
            "Consecutive transient failures counted by each breaker.",
            labels=["system"],
        )
        for r in sorted(circuit_breakers(), key=lambda r: system(r["system_id"])):
            for state in CIRCUIT_STATES:
                breakers.add_metric(
                    [system(r["system_id"]), state], 1 if r["state"] == state else 0
                )
            failures.add_metric([system(r["system_id"])], r["consecutive_failures"])
        yield breakers
        yield failures

        breaches = GaugeMetricFamily(
            "interlock_sla_breaches_open",
            "SLA breaches currently open, per plant and flow.",
            labels=["plant", "flow"],
        )
        for r in (
            SlaBreach.objects.filter(state=BreachState.OPEN)
            .values_list("plant_id", "flow")
            .order_by("plant_id", "flow")
        ):
            breaches.add_metric([plant(r[0]), r[1]], 1)
        yield breaches

        lag = GaugeMetricFamily(
            "interlock_rollup_last_run_age_seconds",
            "Seconds since each rollup last ran (the counters are as fresh as this).",
            labels=["source"],
        )
        for source, last_run in RollupWatermark.objects.values_list("source", "last_run_at"):
            lag.add_metric([source], age(last_run))
        yield lag


def render_metrics(now: dt.datetime | None = None) -> bytes:
    """The exposition text of one scrape (a fresh registry: nothing is kept in memory)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InterlockCollector(now=now))
    return generate_latest(registry)


# --- access ---------------------------------------------------------------------------------
def metrics_access_allowed(request: HttpRequest) -> bool:
    """A scraper is let in by ``Authorization: Bearer <INTERLOCK_METRICS_TOKEN>`` or by
    its address being in ``INTERLOCK_METRICS_ALLOWED_NETWORKS`` (``REMOTE_ADDR`` only:
    a forwarded-for header is set by whoever sends the request)."""
    token = settings.INTERLOCK_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if (
        token
        and header.startswith("Bearer ")
        and hmac.compare_digest(header[7:].strip().encode(), token.encode())
    ):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.INTERLOCK_METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        response = HttpResponse(
            "metrics: send Authorization: Bearer <token> or scrape from an allowed network\n",
            status=403,
            content_type="text/plain",
        )
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
