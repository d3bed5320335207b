"""Guarantees that only the real database gives: row locks and the audit trigger."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction

from orchestrator.choices import OrderState
from orchestrator.models import AuditRecord
from orchestrator.services.lifecycle import IllegalTransition, transition_apply
from orchestrator.services.orders import order_release
from plants.choices import LotStatus
from tests.factories import PlantFactory
from tests.factories_orchestrator import LotFactory, ProductionOrderFactory

pytestmark = [pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "transitions", "targets"),
    [
        # The same transition twice (a resent ERP release).
        ("order", ("release", "release"), {"release": OrderState.RELEASED}),
        # Two different transitions from one state that exclude each other.
        (
            "lot",
            ("consign", "dispatch"),
            {"consign": LotStatus.CONSIGNED, "dispatch": LotStatus.IN_TRANSIT},
        ),
    ],
)
def test_two_concurrent_transitions_have_exactly_one_winner(kind, transitions, targets):
    plant = PlantFactory(code="P1")
    obj = ProductionOrderFactory(plant=plant) if kind == "order" else LotFactory(plant=plant)
    model = type(obj)
    barrier = threading.Barrier(2)
    outcomes: dict[str, list] = {"won": [], "refused": [], "error": []}

    def attempt(name: str) -> None:
        try:
            # Each thread loads its own copy: both see the same state and both believe
            # they may go.
            mine = model.objects.get(pk=obj.pk)
            barrier.wait(timeout=10)
            transition_apply(obj=mine, transition=name, actor=f"system:{name}")
            outcomes["won"].append(name)
        except IllegalTransition:
            outcomes["refused"].append(name)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcomes["error"].append(repr(exc))
        finally:
            connections.close_all()  # each thread has its own connection; close it

    threads = [threading.Thread(target=attempt, args=(name,)) for name in transitions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes["error"] == []
    assert len(outcomes["won"]) == 1
    assert len(outcomes["refused"]) == 1
    winner = outcomes["won"][0]
    fresh = model.objects.get(pk=obj.pk)
    assert fresh.lifecycle_state == targets[winner]
    assert list(AuditRecord.objects.values_list("transition", flat=True)) == [winner]


@pytest.mark.django_db
def test_raw_sql_cannot_update_or_delete_audit_records():
    order = ProductionOrderFactory(plant=PlantFactory(code="P1"))
    order_release(order=order, actor=None, reason="original")
    record = AuditRecord.objects.get()
    table = AuditRecord._meta.db_table
    for sql in (
        f"UPDATE {table} SET reason = 'forged' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [record.pk])
    assert AuditRecord.objects.get().reason == "original"
