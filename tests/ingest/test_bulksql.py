"""``bulksql`` prepares values a column at a time (``_column``): the result is what the
ORM's per-value path gives (``pre_save`` then ``get_prep_value``, decimals as text), for
the values the batch writes and for the odd ones the fast path must hand to the field;
rows it inserts and updates read back as ``bulk_create`` / ``bulk_update`` leave them."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from decimal import Decimal

import pytest
from django.db import models
from django.utils.translation import gettext_lazy

from orchestrator.choices import OrderState
from orchestrator.ingest.bulksql import _column, bulk_insert, bulk_update
from orchestrator.models import AuditRecord, LotOrderLink, ProductionOrder
from tests.factories_orchestrator import LotFactory, ProductionOrderFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def reference(field: models.Field, obj: models.Model, add: bool) -> object:
    """The per-value preparation bulksql had before (and the ORM's own order of steps)."""
    value = field.pre_save(obj, add) if add else getattr(obj, field.attname)
    if value is None or field.get_internal_type() == "JSONField":
        return value
    value = field.get_prep_value(value)
    return str(value) if isinstance(value, Decimal) else value


ODD_VALUES = {
    models.CharField: ["text", OrderState.RELEASED, gettext_lazy("lazy"), 12, None, ""],
    models.DecimalField: [Decimal("1.5"), 2, 2.25, "3.75", None, Decimal("1E+2")],
    models.IntegerField: [1, True, "7", None, 2**40],
    models.BooleanField: [True, False, None, 1, 0],
    models.DateField: [dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), None],
    models.DateTimeField: [NOW, dt.datetime(2026, 1, 2, 3, 4), None, "2026-01-02T03:04:00+00:00"],
    models.UUIDField: [uuid.uuid4(), str(uuid.uuid4()), None],
    models.JSONField: [{"a": Decimal("1")}, [1, 2], None, "s"],
}


@pytest.mark.parametrize("kind", list(ODD_VALUES), ids=lambda k: k.__name__)
def test_a_column_is_prepared_as_value_by_value(kind):
    field = kind(null=True)
    field.set_attributes_from_name("x")
    objs = []
    for value in ODD_VALUES[kind]:
        obj = models.Model.__new__(models.Model)
        obj.__dict__["x"] = value
        objs.append(obj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # naive datetime: the field warns
        expected = [reference(field, o, True) for o in objs]
        got = _column(field, objs, add=True)
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]


def test_auto_now_fields_get_their_time_on_insert_only():
    order = ProductionOrderFactory(number="WO-7")
    updated = ProductionOrder._meta.get_field("updated_at")
    created = ProductionOrder._meta.get_field("created_at")
    stale = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    order.updated_at = order.created_at = stale
    assert _column(updated, [order], add=False) == [stale]
    assert _column(created, [order], add=False) == [stale]
    (now,) = _column(updated, [order], add=True)
    assert now > stale
    assert order.updated_at == now  # pre_save sets the attribute, as bulk_create does
    assert _column(created, [order], add=True)[0] > stale


def test_foreign_keys_are_prepared_by_their_target_field():
    order = ProductionOrderFactory(number="WO-8")
    field = ProductionOrder._meta.get_field("plant")
    assert _column(field, [order], add=True) == [order.plant_id]
    order.plant_id = str(order.plant_id)  # what a form might leave
    assert _column(field, [order], add=True) == [int(order.plant_id)]


def test_inserted_and_updated_rows_read_back_as_the_orms():
    order = ProductionOrderFactory(number="WO-9")
    lots = [LotFactory(plant=order.plant) for _ in range(3)]
    qtys = [Decimal("1.5"), 2, "0.000001"]
    bulk_insert(
        [
            LotOrderLink(lot=lot, order=order, relation="consumed", qty=qty)
            for lot, qty in zip(lots, qtys, strict=True)
        ]
    )
    links = list(LotOrderLink.objects.filter(order=order).order_by("lot_id"))
    assert [link.qty for link in links] == [Decimal("1.5"), Decimal(2), Decimal("0.000001")]
    for link, qty in zip(links, [Decimal("22.68"), Decimal("0"), 3], strict=True):
        link.qty = qty
    bulk_update(links, ["qty"])
    assert list(
        LotOrderLink.objects.filter(order=order).order_by("lot_id").values_list("qty", flat=True)
    ) == [Decimal("22.68"), Decimal("0"), Decimal("3")]


def test_an_inserted_audit_record_equals_one_the_orm_creates():
    order = ProductionOrderFactory(number="WO-10")
    common = {
        "actor_label": "system:MES-P1",
        "object_id": str(order.pk),
        "object_repr": "P1/WO-10",
        "plant_id": order.plant_id,
        "field": "state",
        "transition": "release",
        "source_state": "created",
        "target_state": OrderState.RELEASED,
        "correlation_id": "c-1",
        "occurred_at": NOW,
    }
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(ProductionOrder)
    AuditRecord.objects.bulk_create([AuditRecord(content_type=ct, reason="orm", **common)])
    bulk_insert([AuditRecord(content_type=ct, reason="sql", **common)])
    names = [f.attname for f in AuditRecord._meta.concrete_fields if f.attname != "id"]
    orm, sql = AuditRecord.objects.filter(correlation_id="c-1").order_by("reason").values(*names)
    assert orm.pop("reason") == "orm"
    assert sql.pop("reason") == "sql"
    assert orm == sql


def test_a_flush_writes_updates_and_inserts_in_one_statement(django_assert_num_queries):
    from orchestrator.ingest.context import BatchContext
    from orchestrator.ingest.world import get_order

    order = ProductionOrderFactory(number="WO-11", state="in_process")
    lot = LotFactory(plant=order.plant)
    ctx = BatchContext(actor_label="system:MES-P1", now=NOW)
    bundle = get_order(ctx, order.plant_id, "WO-11")
    loaded = bundle.order
    loaded.confirmed_qty += Decimal("2.5")
    ctx.mark(loaded, "confirmed_qty")
    ctx.transition(loaded, "confirm_partially", correlation_id="c-11")
    ctx.add(LotOrderLink(lot=lot, order=loaded, relation="consumed", qty=Decimal("4")))
    with django_assert_num_queries(1):
        ctx.flush()
    stored = ProductionOrder.objects.get(pk=order.pk)
    assert (stored.state, stored.confirmed_qty, stored.state_changed_at) == (
        "partially_confirmed",
        order.confirmed_qty + Decimal("2.5"),
        NOW,
    )
    assert LotOrderLink.objects.get(order=order, lot=lot).qty == Decimal("4")
    audit = AuditRecord.objects.get(correlation_id="c-11")
    assert (audit.source_state, audit.target_state) == ("in_process", "partially_confirmed")
    last = stored.history.order_by("history_id").last()
    assert (last.state, last.confirmed_qty, last.history_type) == (
        "partially_confirmed",
        stored.confirmed_qty,
        "~",
    )
    ctx.flush()  # nothing left: no statement, no error
