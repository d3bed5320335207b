"""Fixtures of the delivery tests: a fake receiver, a connected system pointing at it,
outbox rows, and ``drain`` (deliver until nothing is left, as the tasks would)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from connectors.outbound import ratelimit
from orchestrator.models.outbox import OutboxMessage, OutboxStatus
from tests.factories import ConnectedSystemFactory, PlantFactory

from .receiver import Receiver, ReceiverServer


@pytest.fixture(autouse=True)
def _fast_delivery(settings):
    settings.INTERLOCK_OUTBOX_BACKOFF_SECONDS = 0.05
    settings.INTERLOCK_OUTBOX_BACKOFF_MAX_SECONDS = 2.0
    settings.INTERLOCK_CIRCUIT_THRESHOLD = 50
    settings.INTERLOCK_CIRCUIT_COOLDOWN_SECONDS = 0.5
    settings.INTERLOCK_OUTBOX_LEASE_MARGIN_SECONDS = 2.0
    settings.REDIS_URL = ""  # the in-process bucket, unless a test says otherwise
    ratelimit.reset_local()


@pytest.fixture
def receiver():
    with ReceiverServer(Receiver()) as server:
        yield server


@pytest.fixture
def plant(db):
    return PlantFactory(code="P1")


@pytest.fixture
def erp(plant, receiver):
    system = ConnectedSystemFactory(
        kind="erp",
        code="ERP-P1",
        base_url=receiver.url,
        timeout_seconds=0.5,
        rate_limit_per_second=1000,
        max_attempts=8,
    )
    system.plants.set([plant])
    return system


def make_rows(system, plant, n: int, *, prefix="K", message_type="goods_issue"):
    now = timezone.now()
    return OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                plant=plant,
                target_system=system.kind,
                system=system,
                message_type=message_type,
                payload={"order": f"WO-{i}", "qty": i},
                idempotency_key=f"{prefix}-{i:04d}",
                correlation_id=f"corr-{prefix}-{i}",
                created_at=now,
                next_attempt_at=now,
            )
            for i in range(n)
        ]
    )


def drain(system, *, timeout: float = 20.0) -> None:
    """Deliver until every row of ``system`` is delivered or dead (as repeated task runs
    and their wake-ups would), sleeping until the next retry is due."""
    from connectors.outbound.delivery import deliver_system

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = deliver_system(system_id=system.pk, budget_seconds=5)
        open_rows = OutboxMessage.objects.filter(
            system=system, status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT]
        )
        if not open_rows.exists():
            return
        wake = result.circuit_open_until or result.next_due
        if wake is not None:
            time.sleep(min(1.0, max(0.0, (wake - timezone.now()).total_seconds())))
        else:
            time.sleep(0.05)
    raise AssertionError("outbox not drained in time")


def ledger(system) -> dict[str, str]:
    return dict(
        OutboxMessage.objects.filter(system=system).values_list("idempotency_key", "status")
    )
