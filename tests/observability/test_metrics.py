"""/metrics: exact values after a known flow, bounded labels, access control."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from connectors.models import CircuitBreaker
from orchestrator.models import InboundMessage, OutboxMessage
from orchestrator.models.outbox import DeliveryAttempt
from orchestrator.observability.services.rollups import rollups_run
from tests.ingest.conftest import envelope, release
from tests.observability.conftest import pick, scrape

pytestmark = pytest.mark.django_db

RELEASED = "production_order.released"


def known_flow(world, post):
    """Two orders released, one twice (duplicate), one with another payload (conflict), one
    with unmapped codes (quarantined), one acknowledged by the MES, one garbage type."""
    erp, mes = world["erp_key"], world["mes_key"]
    assert (
        post(erp, envelope(RELEASED, release("WO-1"), source="ERP")).json()["status"] == "accepted"
    )
    assert (
        post(erp, envelope(RELEASED, release("WO-1"), source="ERP")).json()["status"] == "duplicate"
    )
    assert post(erp, envelope(RELEASED, release("WO-1", qty=90), source="ERP")).status_code == 409
    assert (
        post(erp, envelope(RELEASED, release("WO-2", item="NOPE"), source="ERP")).json()["status"]
        == "quarantined"
    )
    ack = {"order": "WO-1", "routing_revision": "R1", "bom_revision": "B1"}
    assert post(mes, envelope("production_order.acknowledged", ack)).json()["status"] == "accepted"
    assert post(mes, envelope("order.42-typed-by-hand", {"x": 1})).status_code in (202, 400)


def test_metric_values_are_exact_after_a_known_flow(world, post, client, later):
    known_flow(world, post)
    # Deliveries of the release to the MES: one transient failure, then delivered.
    outbox = OutboxMessage.objects.filter(status="pending").order_by("pk").first()
    assert outbox is not None, "the release queues a message to the MES"
    now = timezone.now()
    for number, outcome in ((1, "transient"), (2, "delivered")):
        DeliveryAttempt.objects.create(
            message=outbox,
            system=outbox.system,
            number=number,
            attempted_at=now,
            outcome=outcome,
            duration_ms=40,
        )
    OutboxMessage.objects.filter(pk=outbox.pk).update(status="delivered", delivered_at=now)
    CircuitBreaker.objects.create(system=world["erp"], state="open", consecutive_failures=5)

    rollups_run(now=later)
    values = scrape(client)

    received = "interlock_events_received_total"
    erp = {"plant": "P1", "system": "ERP", "event_type": RELEASED}
    assert pick(values, received, outcome="accepted", **erp) == 1
    assert pick(values, received, outcome="duplicate", **erp) == 1
    assert pick(values, received, outcome="conflict", **erp) == 1
    assert pick(values, received, outcome="quarantined", **erp) == 1
    assert (
        pick(
            values,
            received,
            outcome="accepted",
            system="MES-P1",
            event_type="production_order.acknowledged",
        )
        == 1
    )
    # a type outside the taxonomy is counted, under a bounded label
    assert pick(values, received, event_type="other") == 1
    assert not any("42" in dict(ls).get("event_type", "") for _, ls in values)
    assert pick(values, received) == InboundMessage.objects.count() == 6

    quarantined = InboundMessage.objects.get(status="quarantined")
    failures = "interlock_validation_failures_total"
    assert pick(values, failures, reason="idempotency_conflict", **erp) == 1
    assert pick(values, failures, reason=quarantined.reasons[0]["code"], **erp) == 1

    # the latency histogram counted every decided message of the type, cumulatively
    assert (
        pick(values, "interlock_ingest_latency_seconds_count", plant="P1", event_type=RELEASED) == 4
    )
    assert (
        pick(
            values,
            "interlock_ingest_latency_seconds_bucket",
            plant="P1",
            event_type=RELEASED,
            le="+Inf",
        )
        == 4
    )
    assert (
        pick(
            values,
            "interlock_ingest_latency_seconds_bucket",
            plant="P1",
            event_type=RELEASED,
            le="30.0",
        )
        == 4
    )

    attempts = "interlock_delivery_attempts_total"
    assert pick(values, attempts, plant="P1", outcome="transient") == 1
    assert pick(values, attempts, plant="P1", outcome="delivered") == 1
    assert pick(values, "interlock_delivery_retries_total", plant="P1", outcome="delivered") == 1
    assert pick(values, "interlock_delivery_within_sla_total", plant="P1") == 1

    # two canonical events were evaluated (release, acknowledgment) by the shipped packs
    evaluations = "interlock_rule_evaluations_total"
    assert pick(values, evaluations, plant="P1", event_type=RELEASED, rule_version="default") == 1
    assert pick(values, evaluations, plant="P1") == 2

    # gauges: open work now
    open_exceptions = "interlock_open_exceptions"
    assert (
        pick(values, open_exceptions, plant="P1", reason="idempotency_conflict", age="lt_1h") == 1
    )
    assert pick(values, open_exceptions, plant="P1") == 2
    assert (
        pick(values, "interlock_outbox_backlog", plant="P1")
        == OutboxMessage.objects.filter(status__in=["pending", "in_flight"]).count()
    )
    assert pick(values, "interlock_dead_letters_open") == 0
    assert pick(values, "interlock_circuit_breaker_state", system="ERP", state="open") == 1
    assert pick(values, "interlock_circuit_breaker_state", system="ERP", state="closed") == 0

    # a second run adds nothing: every source row is counted exactly once
    rollups_run(now=later + dt.timedelta(minutes=1))
    again = scrape(client)
    for name in (received, failures, attempts, evaluations):
        assert pick(again, name) == pick(values, name)


def test_labels_never_carry_ids_or_order_numbers(world, post, client, later):
    known_flow(world, post)
    rollups_run(now=later)
    allowed = {
        "plant",
        "system",
        "event_type",
        "outcome",
        "reason",
        "status",
        "age",
        "kind",
        "role",
        "state",
        "flow",
        "rule_version",
        "source",
        "le",
    }
    for _name, labels in scrape(client):
        for key, value in labels:
            assert key in allowed
            assert "WO-" not in value


@override_settings(
    INTERLOCK_METRICS_TOKEN="s3cret-scrape-token",
    INTERLOCK_METRICS_ALLOWED_NETWORKS=[],
)
def test_metrics_need_the_bearer_token_or_an_allowed_network(client, db):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain")
    assert (
        b"interlock_events_received_total" in ok.content
        or b"interlock_events_received" in ok.content
    )


def test_an_allowed_network_may_scrape_without_a_token(client, db):
    import ipaddress

    with override_settings(
        INTERLOCK_METRICS_TOKEN="",
        INTERLOCK_METRICS_ALLOWED_NETWORKS=[ipaddress.ip_network("10.0.0.0/8")],
    ):
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 403


def test_a_bad_allow_list_stops_start_up():
    from django.core.exceptions import ImproperlyConfigured

    from interlock.env import env_networks

    assert [str(n) for n in env_networks("X", [], environ={"X": "10.0.0.0/8, ::1"})] == [
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ImproperlyConfigured, match=r"X: 'ten\.0\.0\.0' is not an IP"):
        env_networks("X", [], environ={"X": "ten.0.0.0"})


def test_rule_evaluations_are_counted_per_pinned_rule_set_version(world, client, later):
    from orchestrator.models import Event

    now = timezone.now()
    for i, pins in enumerate([{}, {"scenario1": 3, "quality": 2}, {"scenario1": 3}]):
        Event.objects.create(
            plant=world["p1"],
            system=world["mes"],
            event_type="operation.confirmed",
            occurred_at=now,
            received_at=now,
            correlation_id=f"c-{i}",
            idempotency_key=f"k-{i}",
            payload_hash="h",
            payload={},
            status="applied",
            rule_pins=pins,
        )
    rollups_run(now=later)
    values = scrape(client)
    name = "interlock_rule_evaluations_total"
    assert pick(values, name, rule_version="scenario1@3", outcome="applied") == 2
    assert pick(values, name, rule_version="quality@2") == 1
    assert pick(values, name, rule_version="default") == 1
