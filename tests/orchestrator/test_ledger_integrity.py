"""The ledger's references without database constraints (``models.base.ledger_reference``):
which ones, that the ORM still protects what they point at, and that ``ledger_verify``
finds a reference whose row is missing."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.utils import timezone

from orchestrator.models import (
    AuditRecord,
    Event,
    InboundMessage,
    MaterialIssue,
    OperationConfirmation,
    OutboxMessage,
    ProductionOrder,
)
from orchestrator.models.outbox import DeliveryAttempt
from orchestrator.services.ledger_integrity import dangling_references, unconstrained_references
from tests.factories import ConnectedSystemFactory, PlantFactory

pytestmark = pytest.mark.django_db

LEDGER = {
    InboundMessage: {"system", "plant", "event", "replay_of", "handled_by"},
    Event: {"plant", "system"},
    OutboxMessage: {"plant", "system", "event"},
    DeliveryAttempt: {"message", "system"},
    OperationConfirmation: {"operation"},
    MaterialIssue: {"order", "operation", "lot", "item", "uom"},
    AuditRecord: {"actor", "content_type", "plant"},
}


def test_exactly_the_ledger_references_are_unconstrained():
    found: dict = {}
    for field in unconstrained_references():
        found.setdefault(field.model, set()).add(field.name)
    assert found == LEDGER
    # The business objects keep theirs: an order's plant, item and unit are checked.
    order_fields = {f.name: f for f in ProductionOrder._meta.concrete_fields}
    assert all(order_fields[name].db_constraint for name in ("plant", "item", "uom"))


@pytest.mark.postgres
def test_postgresql_holds_no_constraint_for_them_and_keeps_the_others():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL catalogue")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [[m._meta.db_table for m in LEDGER]],
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass",
            [ProductionOrder._meta.db_table],
        )
        assert cursor.fetchone()[0] >= 3


def _event(plant, system) -> Event:
    now = timezone.now()
    return Event.objects.create(
        plant=plant,
        system=system,
        event_type="operation.confirmed",
        occurred_at=now,
        received_at=now,
        correlation_id="c-1",
        idempotency_key=f"k-{uuid.uuid4()}",
        payload_hash="0" * 64,
        payload={},
    )


def test_the_orm_still_refuses_to_delete_a_plant_or_system_the_ledger_points_at():
    plant = PlantFactory(code="P9")
    system = ConnectedSystemFactory()
    _event(plant, system)
    with pytest.raises(models.ProtectedError):
        plant.delete()
    with pytest.raises(models.ProtectedError):
        system.delete()


def test_ledger_verify_passes_on_sound_rows_and_names_a_dangling_reference():
    plant = PlantFactory(code="P9")
    system = ConnectedSystemFactory()
    event = _event(plant, system)
    out = io.StringIO()
    call_command("ledger_verify", stdout=out)
    assert "intact" in out.getvalue()
    assert dangling_references() == []

    # A row written around the ORM pointing at an event that does not exist.
    missing = event.pk + 10_000
    OutboxMessage.objects.create(
        plant=plant,
        target_system="erp",
        message_type="goods_receipt.post",
        idempotency_key="dangling-1",
        created_at=timezone.now(),
        event_id=missing,
        correlation_id="c-1",
    )
    [dangling] = dangling_references()
    assert (dangling.model, dangling.field, dangling.target, dangling.count) == (
        "orchestrator.OutboxMessage",
        "event",
        "orchestrator.Event",
        1,
    )
    with pytest.raises(CommandError, match=r"OutboxMessage\.event → orchestrator\.Event: 1 rows"):
        call_command("ledger_verify", stdout=io.StringIO())
