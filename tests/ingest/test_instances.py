"""Instances built without ``Model.__init__`` (``ingest.instances``, used by the preload and
by the batch's history rows) are the ORM's instances: same class, field values, ``_state``,
django-fsm's record of the loaded state, and they behave the same afterwards (foreign keys
by ``*_id``, transitions, ``save()`` with its history row, the concurrency check)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_init
from django_fsm import ConcurrentTransition

from orchestrator.ingest import items
from orchestrator.ingest.context import BatchContext, _history_of
from orchestrator.ingest.instances import INITIAL_STATES, fast_timestamps, loader, maker
from orchestrator.ingest.items import _event_from, _Item
from orchestrator.ingest.specs import SPECS
from orchestrator.ingest.world import get_lot, get_order
from orchestrator.models import (
    Event,
    Gate,
    Inspection,
    Lot,
    LotOrderLink,
    Operation,
    OrderComponent,
    ProductionOrder,
)
from plants.models import Item, UnitOfMeasure
from tests.factories import ConnectedSystemFactory, ItemFactory, UomFactory
from tests.factories_orchestrator import (
    InspectionFactory,
    LotFactory,
    OperationFactory,
    ProductionOrderFactory,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def picture(obj) -> dict:
    """Everything an instance carries, ``_state`` as its attributes, no cached relations."""
    data = {k: v for k, v in obj.__dict__.items() if k != "_state"}
    state = {k: v for k, v in obj._state.__dict__.items() if k != "fields_cache"}
    return {
        "class": type(obj),
        "data": data,
        "state": state,
        "adding": obj._state.adding,
        "db": obj._state.db,
    }


@pytest.fixture
def order():
    order = ProductionOrderFactory(number="WO-1", state="acknowledged")
    OperationFactory(order=order, sequence="0010")
    OperationFactory(order=order, sequence="0020", state="running")
    OrderComponent.objects.create(
        order=order, item=ItemFactory(), qty=Decimal("2.5"), uom=UomFactory()
    )
    lot = LotFactory(plant=order.plant)
    LotOrderLink.objects.create(lot=lot, order=order, relation="consumed", qty=Decimal("1"))
    Gate.objects.create(plant=order.plant, kind="first-article", order=order)
    InspectionFactory(plant=order.plant, lot=lot)
    return order


@pytest.mark.parametrize(
    "model",
    [
        ProductionOrder,
        Operation,
        OrderComponent,
        Gate,
        LotOrderLink,
        Lot,
        Inspection,
        Item,
        UnitOfMeasure,
    ],
)
def test_a_loaded_row_equals_the_orms_instance(order, model):
    names = [f.attname for f in model._meta.concrete_fields]
    rows = list(model.objects.order_by("pk").values_list(*names))
    assert rows
    fast = [loader(model, connection.alias)(row) for row in rows]
    orm = list(model.objects.order_by("pk"))
    assert [picture(o) for o in fast] == [picture(o) for o in orm]
    for a, b in zip(fast, orm, strict=True):
        assert a == b
        assert a._state.adding is False
        assert a._state.db == "default"
        assert a._state.fields_cache == {}
        if hasattr(b, INITIAL_STATES):
            field = model.lifecycle_field().attname
            assert getattr(a, INITIAL_STATES) == getattr(b, INITIAL_STATES)
            assert getattr(a, INITIAL_STATES) == {field: getattr(b, field)}
            assert getattr(a, INITIAL_STATES) is not a._state  # its own dict per instance


def test_each_instance_has_its_own_state():
    load = loader(UnitOfMeasure, connection.alias)
    names = [f.attname for f in UnitOfMeasure._meta.concrete_fields]
    UomFactory(code="A1")
    row = UnitOfMeasure.objects.values_list(*names).get(code="A1")
    a, b = load(row), load(row)
    assert a._state is not b._state
    a._state.fields_cache["x"] = 1
    assert b._state.fields_cache == {}


def test_the_preload_gives_orm_equal_rows_with_working_relations(order, django_assert_num_queries):
    ctx = BatchContext(actor_label="system:MES-P1", now=NOW)
    # The orders, their plant (no event brought it), all that hangs off the orders at once.
    with django_assert_num_queries(3):
        bundle = get_order(ctx, order.plant_id, "WO-1")
    fresh = ProductionOrder.objects.get(pk=order.pk)
    assert picture(bundle.order) == picture(fresh)
    assert bundle.order.created_at.tzinfo is fresh.created_at.tzinfo is dt.UTC
    # Relations the preload shares, and one it does not join (loaded on access, by *_id).
    assert bundle.order.item == fresh.item
    assert bundle.order.uom.code == fresh.uom.code
    assert bundle.order.plant.code == fresh.plant.code
    op = bundle.operations["0020"]
    assert op.order is bundle.order
    assert op.order_id == order.pk
    assert op.work_center == Operation.objects.get(pk=op.pk).work_center
    assert {c.item_id for c in bundle.components.values()} == set(
        OrderComponent.objects.values_list("item_id", flat=True)
    )
    assert list(bundle.gates) == ["first-article"]
    assert len(bundle.links) == 1


def test_a_transition_and_save_on_a_loaded_row_behave_as_on_the_orms(order):
    ctx = BatchContext(actor_label="system:MES-P1", now=NOW)
    loaded = get_order(ctx, order.plant_id, "WO-1").order
    historical = _history_of(ProductionOrder)[0]
    before = historical.objects.filter(id=order.pk).count()
    loaded.start()
    assert loaded.state == "in_process"
    with pytest.raises(AttributeError):
        loaded.state = "created"  # the state field stays protected
    loaded.save()
    assert ProductionOrder.objects.get(pk=order.pk).state == "in_process"
    assert getattr(loaded, INITIAL_STATES) == {"state": "in_process"}
    assert historical.objects.filter(id=order.pk).count() == before + 1
    assert historical.objects.filter(id=order.pk).latest("history_id").state == "in_process"


def test_a_stale_loaded_row_fails_the_concurrency_check(order):
    ctx = BatchContext(actor_label="system:MES-P1", now=NOW)
    loaded = get_order(ctx, order.plant_id, "WO-1").order
    ProductionOrder.objects.filter(pk=order.pk).update(state="on_hold")  # someone else
    loaded.start()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        loaded.save()
    assert ProductionOrder.objects.get(pk=order.pk).state == "on_hold"


def test_a_lot_from_the_preload_is_the_orms(order):
    lot = Lot.objects.get()
    ctx = BatchContext(actor_label="system:MES-P1", now=NOW)
    loaded = get_lot(ctx, lot.plant_id, lot.number)
    assert picture(loaded) == picture(Lot.objects.get(pk=lot.pk))
    assert loaded.item.code == lot.item.code


def test_a_made_history_row_equals_the_constructors(order):
    historical, attnames = _history_of(ProductionOrder)
    fresh = ProductionOrder.objects.get(pk=order.pk)
    given = (*attnames, "history_date", "history_type", "history_user_id")
    values = [getattr(fresh, n) for n in attnames] + [NOW, "~", None]
    made = maker(historical, given)(values)
    built = historical(**dict(zip(given, values, strict=True)))
    assert picture(made) == picture(built)
    assert made._state.adding is True
    assert made._state.db is None
    made.history_change_reason = "x"
    made.save()
    assert historical.objects.get(pk=made.pk).number == "WO-1"


def test_a_model_with_an_init_receiver_gets_the_orms_constructor(order):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=UnitOfMeasure)
    try:
        names = [f.attname for f in UnitOfMeasure._meta.concrete_fields]
        row = UnitOfMeasure.objects.values_list(*names).first()
        seen.clear()
        obj = loader(UnitOfMeasure, connection.alias)(row)
        assert seen == [obj]
    finally:
        post_init.disconnect(receiver, sender=UnitOfMeasure)


@pytest.mark.parametrize(
    "literal",
    [
        "2026-03-01 08:00:00+00",
        "2026-03-01 08:00:00.000001+00",
        "2026-03-01 13:30:00.5+05:30",
        "1900-01-01 00:00:00-00:19:32",
        "9999-12-31 23:59:59.999999+00",
        "0001-01-01 00:00:00+00",
    ],
)
def test_fast_timestamps_read_what_djangos_loader_reads(literal):
    sql = "SELECT %s::timestamptz"
    with connection.cursor() as cursor:
        cursor.execute(sql, [literal])
        (expected,) = cursor.fetchone()
    with connection.cursor() as cursor:
        fast_timestamps(cursor)
        cursor.execute(sql, [literal])
        (got,) = cursor.fetchone()
    assert got == expected
    assert got.tzinfo is expected.tzinfo is dt.UTC
    assert got.isoformat() == expected.isoformat()


@pytest.mark.parametrize("literal", ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"])
def test_what_iso_cannot_read_goes_to_djangos_loader(literal):
    sql = "SELECT %s::timestamptz"

    def read(fast: bool):
        with connection.cursor() as cursor:
            if fast:
                fast_timestamps(cursor)
            cursor.execute(sql, [literal])
            try:
                return ("value", cursor.fetchone()[0])
            except Exception as exc:
                return ("error", type(exc))

    assert read(True) == read(False)


def test_a_claimed_event_is_the_instance_from_db_builds(order):
    """``items._event_from`` (the event a batch claims, handed to the handlers) builds
    the instance ``Event.from_db`` would, then points it at the batch's plant and system."""
    system = ConnectedSystemFactory()
    item = _Item(position=0, envelope={}, correlation_id="c-1")
    item.plant, item.spec, item.occurred_at = order.plant, SPECS["operation.confirmed"], NOW
    item.key, item.payload_hash, item.canonical = "k|1", "h" * 64, {"order": "WO-1", "qty": 2}
    fast = _event_from(item, 41, system, NOW)
    names = items._EVENT_FIELDS  # set by the first call
    orm = Event.from_db("default", names, [fast.__dict__[name] for name in names])
    orm.plant, orm.system = order.plant, system
    assert picture(fast) == picture(orm)
    assert fast._state.fields_cache == orm._state.fields_cache
    assert fast.plant is order.plant
    assert fast.system is system
    assert (fast.pk, fast.payload, fast.status) == (41, item.canonical, "accepted")


def test_relate_fills_the_cache_only_when_the_descriptor_would_change_nothing_else(order):
    """``instances.relate``: same ids, rows of the same database → the cache; an id that
    differs → the descriptor, which sets the id too."""
    from orchestrator.ingest.instances import relate
    from tests.factories import PlantFactory

    system = ConnectedSystemFactory()
    event = Event.from_db(
        "default",
        ["id", "plant_id", "system_id"],
        [7, order.plant.pk, system.pk],
    )
    relate(event, plant=order.plant, system=system)
    assert event.plant is order.plant
    assert event.system is system
    other = PlantFactory()
    relate(event, plant=other)
    assert event.plant_id == other.pk
    assert event.plant is other
