"""The indexes of the hot tables (events, messages, outbox): each ingested event writes as
few index entries as the queries that exist need, and those queries keep an index plan.

Migration ``0020_perfm_hot_table_indexes``: status indexes are partial (the rare states
only), ``Event.plant`` is served by ``event_plant_type_received``, and the
``varchar_pattern_ops`` twins Django adds beside a ``CharField``'s index are gone. A
future ``AlterField`` that brings one back, or an index on a status column that covers the
common states again, fails here.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Count, Min
from django.utils import timezone

from orchestrator.models import (
    Event,
    EventStatus,
    InboundMessage,
    MessageStatus,
    OutboxMessage,
    OutboxStatus,
)
from orchestrator.observability.selectors import open_exception_messages

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL indexes")


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@pytest.mark.parametrize("model", [Event, InboundMessage, OutboxMessage])
def test_no_pattern_ops_twins_on_the_hot_tables(model):
    indexes = _indexes(model._meta.db_table)
    assert indexes
    assert [name for name, sql in indexes.items() if "pattern_ops" in sql] == []


@pytest.mark.parametrize("model", [Event, InboundMessage, OutboxMessage])
def test_every_index_on_a_status_column_is_partial(model):
    """The common outcomes (applied events, accepted messages, delivered outbox rows) add
    no entry to a status index."""
    for name, sql in _indexes(model._meta.db_table).items():
        if "(status" in sql or " status)" in sql:
            assert " WHERE " in sql, name


def test_the_hot_tables_keep_exactly_these_indexes():
    event = set(_indexes(Event._meta.db_table))
    message = set(_indexes(InboundMessage._meta.db_table))
    outbox = set(_indexes(OutboxMessage._meta.db_table))
    assert {"event_plant_type_received", "event_open"} <= event
    assert len(event) == 7  # pk, key, correlation, type, system, plant/type/time, open
    assert not any(n.startswith("orchestrator_event_plant_id") for n in event)
    assert {"inbound_status_received", "inbound_replay_of"} <= message
    assert len(message) == 8  # pk, time, system, plant, correlation, event + the two above
    assert {"outbox_due_idx", "outbox_dead"} <= outbox
    assert len(outbox) == 8  # pk, key, correlation, event, plant, system + the two above


def _plan(queryset) -> str:
    """The plan of ``queryset`` with sequential scans priced out: an index the planner
    cannot use for it (a predicate the query does not imply) does not show up."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            return queryset.explain()
        finally:
            cursor.execute("SET LOCAL enable_seqscan = on")


def test_the_parked_events_of_a_key_use_event_open():
    # sequencing.waiting_for
    qs = Event.objects.filter(status=EventStatus.PARKED, waiting_for="order-released:P1:WO-1")
    assert "event_open" in _plan(qs.order_by("occurred_at", "pk"))


def test_the_exception_lists_of_events_use_event_open():
    for statuses in (
        [EventStatus.QUARANTINED, EventStatus.ESCALATED, EventStatus.PARKED],
        [EventStatus.QUARANTINED, EventStatus.ESCALATED],
    ):
        assert "event_open" in _plan(Event.objects.filter(status__in=statuses))


def test_a_plant_s_events_use_event_plant_type_received():
    assert "event_plant_type_received" in _plan(Event.objects.filter(plant_id__in=[1, 2]))


def test_recovery_and_the_workbench_use_inbound_status_received():
    cutoff = timezone.now() - dt.timedelta(seconds=30)
    recovery = InboundMessage.objects.filter(
        status=MessageStatus.RECEIVED, received_at__lte=cutoff
    ).order_by("received_at", "id")[:1000]
    assert "inbound_status_received" in _plan(recovery)
    assert "inbound_status_received" in _plan(open_exception_messages())


def test_the_outbox_s_dead_letters_and_due_rows_keep_their_indexes():
    dead = OutboxMessage.objects.filter(status=OutboxStatus.DEAD).order_by("-created_at")
    assert "outbox_dead" in _plan(dead)
    backlog = (
        OutboxMessage.objects.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT])
        .values("plant_id", "system_id", "status")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    assert "outbox_due_idx" in _plan(backlog)


@pytest.mark.parametrize(
    "model_name", ["productionorder", "operation", "ordercomponent", "lotorderlink"]
)
def test_order_tables_leave_room_for_hot_updates(model_name):
    """Migration ``0021_perfm_fillfactor``: the rows the event path updates in place get
    their next version in the same page (a HOT update, no index entries)."""
    from django.apps import apps

    table = apps.get_model("orchestrator", model_name)._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        assert "fillfactor=70" in (cursor.fetchone()[0] or [])


def test_order_history_rows_carry_only_the_indexes_history_is_read_by():
    """Nearly every event writes a history row of its order; history is read per order
    (``id``) in time order (``history_date``), so those, the key and the user are all."""
    from orchestrator.models import ProductionOrder

    table = ProductionOrder.history.model._meta.db_table
    columns = set()
    for sql in _indexes(table).values():
        columns.add(sql.rsplit("(", 1)[1].rstrip(")"))
    assert columns == {"history_id", "id", "history_date", "history_user_id"}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            f"EXPLAIN SELECT * FROM {table} WHERE id = %s ORDER BY history_date DESC",
            [1],
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "Index" in plan


def test_audit_records_have_no_index_a_wider_one_leads_with():
    from orchestrator.models import AuditRecord

    defs = list(_indexes(AuditRecord._meta.db_table).values())
    assert any("(content_type_id, object_id, occurred_at DESC)" in sql for sql in defs)
    assert not any(sql.endswith("(content_type_id)") for sql in defs)
