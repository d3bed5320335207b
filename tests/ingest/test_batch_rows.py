"""Rows the batch builds per event without ``Model.__init__`` (``BatchContext.maker``,
``instances.maker`` with foreign keys given as objects): the ORM's rows, and every column
of them as stored. The confirmation, issue, lot link, audit record, outbox message and
notification of a run are checked column by column, so a value given to the wrong column
or left out fails here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_init

from orchestrator.actions import ActionContext
from orchestrator.actions.records import notify_role, post_to_system
from orchestrator.ingest.context import BatchContext
from orchestrator.ingest.instances import maker
from orchestrator.ingest.world import Step
from orchestrator.models import (
    AuditRecord,
    Event,
    LotOrderLink,
    MaterialIssue,
    Notification,
    Operation,
    OperationConfirmation,
    OutboxMessage,
    ProductionOrder,
)
from plants.models import Plant
from rules.evaluation import PlannedAction
from tests.ingest.flow import T0, run, steel_lot

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def picture(obj) -> dict:
    """Everything a new instance carries, its cached related objects included."""
    return {
        "class": type(obj),
        "data": {k: v for k, v in obj.__dict__.items() if k != "_state"},
        "adding": obj._state.adding,
        "db": obj._state.db,
        "cache": dict(obj._state.__dict__.get("fields_cache", {})),
    }


def _send(world, post, steps):
    answers = []
    for key, body in steps:
        response = post(world[key], body)
        assert response.status_code == 202, response.json()
        answers.append(response.json())
    return answers


# --- the maker with foreign keys as objects ---------------------------------------------
def test_a_row_made_with_related_objects_equals_the_constructors(world):
    plant = world["p1"]
    event = Event.objects.create(
        plant=plant,
        system=world["mes"],
        event_type="x",
        occurred_at=NOW,
        received_at=NOW,
        idempotency_key="k-1",
        payload={},
    )
    # next_attempt_at given: its default is the time of the call.
    given = ("target_system", "message_type", "payload", "idempotency_key", "next_attempt_at")
    values = ("erp", "goods_issue", {"qty": "1"}, "k-1|r|erp", NOW)
    made = maker(OutboxMessage, given, ("plant", "event"))((*values, plant, event))
    built = OutboxMessage(**dict(zip(given, values, strict=True)), plant=plant, event=event)
    assert picture(made) == picture(built)
    assert made.plant is plant
    assert made.event is event
    assert (made.plant_id, made.event_id, made._state.db) == (plant.pk, event.pk, "default")
    assert made.status == "pending"
    assert made.payload is values[2]

    # None for a nullable key: the id None, None cached, as the descriptor does.
    made = maker(OutboxMessage, given, ("plant", "event"))((*values, plant, None))
    built = OutboxMessage(**dict(zip(given, values, strict=True)), plant=plant, event=None)
    assert picture(made) == picture(built)
    assert made.event_id is None


def test_callable_defaults_are_called_per_row_and_wrong_objects_refused(world):
    make = maker(OutboxMessage, ("created_at",), ("plant",))
    first, second = make((NOW, world["p1"])), make((NOW, world["p1"]))
    assert first.payload == {}
    assert first.payload is not second.payload
    with pytest.raises(ValueError, match="plant must be a Plant"):
        make((NOW, world["mes"]))


def test_an_unsaved_related_object_gets_the_rows_database(world):
    plant = Plant(code="PX")
    made = maker(OutboxMessage, ("created_at",), ("plant",))((NOW, plant))
    built = OutboxMessage(created_at=NOW, plant=Plant(code="PX"))
    assert (made.plant_id, made._state.db, plant._state.db) == (None, "default", "default")
    assert picture(made)["data"].keys() == picture(built)["data"].keys()


def test_with_an_init_receiver_the_constructor_is_used(world):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Notification)
    try:
        made = maker(Notification, ("created_at",), ("plant",))((NOW, world["p1"]))
        assert seen == [made]
        assert made.plant_id == world["p1"].pk
    finally:
        post_init.disconnect(receiver, sender=Notification)


def test_a_one_to_one_key_or_an_unknown_name_is_left_to_the_orm():
    from orchestrator.ingest.instances import _plain_foreign_keys

    assert _plain_foreign_keys(OutboxMessage, ("plant", "event")) is not None
    assert _plain_foreign_keys(OutboxMessage, ("payload",)) is None


# --- rows of a run, column by column ----------------------------------------------------
def test_the_rows_of_scenario_1_hold_every_column(world, post):
    steel_lot(world)
    answers = _send(world, post, run())
    order = ProductionOrder.objects.get(number="WO-1001")
    ops = {o.sequence: o for o in Operation.objects.filter(order=order)}
    events = [Event.objects.get(pk=a["event_id"]) for a in answers]

    issue = MaterialIssue.objects.get()
    issued = events[2]
    assert (
        issue.order_id,
        issue.operation_id,
        issue.lot.number,
        issue.item.code,
        issue.uom.code,
        issue.qty,
        issue.issued_at,
        issue.correlation_id,
    ) == (
        order.pk,
        ops["0010"].pk,
        "L-77",
        "STEEL-2MM",
        "KG",
        Decimal("9.072"),
        T0 + dt.timedelta(minutes=2),
        issued.correlation_id,
    )
    link = LotOrderLink.objects.get(relation="consumed")
    assert (link.lot_id, link.order_id, link.qty) == (issue.lot_id, order.pk, Decimal("9.072"))

    confirmations = list(
        OperationConfirmation.objects.order_by("id").values_list(
            "operation_id",
            "confirmation_number",
            "good_qty",
            "scrap_qty",
            "final",
            "confirmed_at",
            "correlation_id",
        )
    )
    minute = dt.timedelta(minutes=1)
    assert confirmations == [
        (ops["0010"].pk, "1", 60, 0, False, T0 + 3 * minute, events[3].correlation_id),
        (ops["0010"].pk, "2", 40, 0, True, T0 + 4 * minute, events[4].correlation_id),
        (ops["0020"].pk, "1", 99, 1, True, T0 + 5 * minute, events[5].correlation_id),
    ]

    # The outbox message of the issue (post_to_system).
    message = OutboxMessage.objects.get(event=issued, message_type="goods_issue")
    assert message.plant_id == world["p1"].pk
    assert (message.target_system, message.system_id) == ("erp", world["erp"].pk)
    assert message.rule
    assert message.idempotency_key == "|".join(
        [issued.idempotency_key, message.rule, "erp", "goods_issue"]
    )
    assert message.correlation_id == issued.correlation_id
    assert message.created_at == message.next_attempt_at
    assert message.created_at is not None
    assert (message.status, message.attempts, message.last_error) == ("pending", 0, "")
    assert (message.locked_until, message.delivered_at, message.reference) == (None, None, "")
    assert message.payload["lot"] == "L-77"

    # The audit record of the order's start (a transition in the batch).
    started = AuditRecord.objects.get(
        content_type=ContentType.objects.get_for_model(ProductionOrder),
        object_id=str(order.pk),
        target_state="in_process",
    )
    assert (
        started.actor_id,
        started.actor_label,
        started.object_repr,
        started.plant_id,
        started.field,
        started.transition,
        started.source_state,
        started.reason,
        started.correlation_id,
    ) == (
        None,
        "system:MES-P1",
        str(order)[:200],
        world["p1"].pk,
        "state",
        "start",
        "acknowledged",
        "first operation reported",
        events[3].correlation_id,
    )
    assert started.occurred_at == events[3].applied_at


def test_a_notification_and_an_outbox_message_of_an_action_hold_every_column(world):
    plant, mes = world["p1"], world["mes"]
    event = Event.objects.create(
        plant=plant,
        system=mes,
        event_type="operation.confirmed",
        occurred_at=NOW,
        received_at=NOW,
        idempotency_key="key-7",
        correlation_id="corr-7",
        payload={"order": "WO-7", "qty": "3"},
    )
    ctx = BatchContext(actor_label="system:MES-P1", now=NOW)
    notify = PlannedAction("notify_role", {"role": "planner", "message": "look"}, "R-1")
    post = PlannedAction(
        "post_to_system",
        {"system": "erp", "message": "operation.confirmation", "payload": {"extra": 1}},
        "R-2",
    )
    assert notify_role(ActionContext(ctx, event, Step(apply=lambda: None), notify)) == {
        "notified": "planner"
    }
    assert post_to_system(ActionContext(ctx, event, Step(apply=lambda: None), post)) == {
        "outbox": "key-7|R-2|erp|operation.confirmation"
    }
    ctx.flush()

    note = Notification.objects.get()
    assert (
        note.plant_id,
        note.kind,
        note.role,
        note.message,
        note.details,
        note.event_id,
        note.rule,
        note.correlation_id,
        note.created_at,
    ) == (plant.pk, "notify", "planner", "look", {}, event.pk, "R-1", "corr-7", NOW)

    message = OutboxMessage.objects.get()
    assert (
        message.plant_id,
        message.event_id,
        message.target_system,
        message.system_id,
        message.message_type,
        message.payload,
        message.idempotency_key,
        message.rule,
        message.correlation_id,
        message.created_at,
        message.next_attempt_at,
        message.status,
        message.attempts,
    ) == (
        plant.pk,
        event.pk,
        "erp",
        world["erp"].pk,
        "operation.confirmation",
        {"order": "WO-7", "qty": "3", "extra": 1},
        "key-7|R-2|erp|operation.confirmation",
        "R-2",
        "corr-7",
        NOW,
        NOW,
        "pending",
        0,
    )
