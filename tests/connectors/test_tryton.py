"""Tryton as a real ERP: trytond 8.2 with production, stock, stock_lot and quality on
SQLite, started once for this module, over JSON-RPC.

Release in Tryton → the poller makes it ``production_order.released`` → the MES and QMS
run the order through the API → Interlock posts the goods receipt as Tryton's
``production.do``. A pending Tryton quality inspection holds the receipt (``do`` answers
a wizard action, the production stays running) until the inspection passes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from connectors.inbound.tryton import poll_all
from connectors.models import TrytonSource
from connectors.outbound.delivery import deliver_system
from orchestrator.models import Event, OutboxMessage, ProductionOrder
from orchestrator.models.outbox import DeliveryAttempt, OutboxStatus
from plants.models import UnitOfMeasure
from tests.connectors import tryton_server
from tests.factories import UomMappingFactory
from tests.ingest.conftest import DAY, envelope

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not tryton_server.available(), reason="the erp extra is not installed"),
]

FG, STEEL = "000000000000001000", "000000000000002000"  # P1's plant codes (tests.ingest)
CREDENTIAL_ENV = "INTERLOCK_TEST_TRYTON_CREDENTIAL"


@pytest.fixture(scope="module")
def tryton(tmp_path_factory):
    server = tryton_server.TrytonServer(tmp_path_factory.mktemp("tryton")).start()
    client = server.client()
    plant = tryton_server.TrytonPlant(client)
    plant.fg = plant.product(FG, "Bracket", uom=plant.unit, producible=True)
    plant.steel = plant.product(STEEL, "Steel sheet 2 mm", uom=plant.kg)
    plant.bom_id = plant.bom(
        "B1", output=plant.fg, components=[(plant.steel, Decimal("0.5"), plant.kg)]
    )
    plant.receive_stock(plant.steel, 1000, plant.kg)
    plant.control = plant.quality_control("Flatness at completion", product=plant.fg)
    yield server, plant
    client.close()
    server.stop()


@pytest.fixture
def erp_on_tryton(world, tryton, monkeypatch, system_with_key):
    """World P1 whose ERP is the Tryton server; Tryton's unit symbols mapped."""
    server, plant = tryton
    monkeypatch.setenv(CREDENTIAL_ENV, f"admin:{tryton_server.ADMIN_PASSWORD}")
    monkeypatch.setenv("INTERLOCK_TRYTON_GATE_RECHECK_SECONDS", "3600")
    erp = world["erp"]
    erp.transport, erp.base_url, erp.credential_env = "tryton", server.url, CREDENTIAL_ENV
    erp.save()
    for code, uom in (("u", "EA"), ("kg", "KG")):
        UomMappingFactory(
            plant=world["p1"],
            plant_code=code,
            uom=UnitOfMeasure.objects.get(code=uom),
            factor=Decimal(1),
            decimal_places=3,
            valid_from=DAY,
        )
    source = TrytonSource(
        system=erp,
        plant=world["p1"],
        warehouse="WH",
        routing_revision="R1",
        operations=[
            {"operation": "0010", "work_center": "LINE_A"},
            {"operation": "0020", "work_center": "LINE_B"},
        ],
        # Productions of earlier tests stay in the module's Tryton: start from now.
        watermark=timezone.now(),
    )
    source.full_clean()
    source.save()
    _qms, qms_key = system_with_key(world["p1"], kind="qms", code="QMS-P1")
    return {**world, "tryton": plant, "source": source, "qms_key": qms_key}


def _release_in_tryton(plant, qty=10) -> tuple[int, str]:
    production = plant.production(product=plant.fg, bom=plant.bom_id, quantity=qty)
    return production, plant.release(production)


def _run_order_through_the_api(w, post, order: str, lot: str, qty=10):
    """The MES acknowledges, confirms and completes; the QMS inspects and passes."""
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def when(minutes):
        return (at + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    steps = [
        ("mes_key", "production_order.acknowledged",
         {"order": order, "routing_revision": "R1", "bom_revision": "B1"}, {}),
        ("mes_key", "operation.confirmed",
         {"order": order, "operation": "0010", "sequence": 1, "qty": qty, "uom": "ST",
          "final": True}, {}),
        ("mes_key", "operation.confirmed",
         {"order": order, "operation": "0020", "sequence": 1, "qty": qty, "uom": "ST",
          "final": True}, {}),
        ("mes_key", "production.completed", {"order": order, "lot": lot, "qty": qty, "uom": "ST"},
         {}),
        ("qms_key", "inspection.requested",
         {"inspection": f"INS-{order}", "order": order, "lot": lot}, {"source": "QMS-P1"}),
        ("qms_key", "inspection.recorded",
         {"inspection": f"INS-{order}", "order": order, "lot": lot, "result": "A"},
         {"source": "QMS-P1"}),
    ]  # fmt: skip
    for i, (key, type_, payload, extra) in enumerate(steps):
        response = post(w[key], envelope(type_, payload, occurred_at=when(i + 1), **extra))
        assert response.status_code == 202, response.json()
        event = Event.objects.get(pk=response.json()["event_id"])
        assert event.status == "applied", (type_, event.status, event.reasons)


def test_release_in_tryton_runs_in_interlock_and_the_receipt_waits_for_tryton_quality(
    erp_on_tryton, post
):
    w = erp_on_tryton
    plant = w["tryton"]
    draft = plant.production(product=plant.fg, bom=plant.bom_id, quantity=5)  # not released
    production, number = _release_in_tryton(plant, qty=10)

    # The poller turns the released production (not the draft) into the release.
    [result] = poll_all()
    assert result.error == ""
    assert result.statuses.get("accepted") == 1, result
    order = ProductionOrder.objects.get(plant=w["p1"], number=number)
    assert order.state == "released"
    assert (order.item.code, order.target_qty, order.uom.code) == ("FG-1000", 10, "EA")
    assert order.bom_revision == "B1"
    assert order.routing_revision == "R1"
    assert sorted(c.item.code for c in order.components.all()) == ["STEEL-2MM"]
    assert sorted(o.sequence for o in order.operations.all()) == ["0010", "0020"]
    assert not ProductionOrder.objects.filter(erp_reference=f"production,{draft}").exists()
    # Polling again reads the production again and changes nothing (a duplicate).
    [again] = poll_all()
    assert again.statuses == {"duplicate": 1}, again

    # The order runs in Interlock; the QMS passes it; the receipt goes to Tryton.
    lot = f"FG-{number}"
    _run_order_through_the_api(w, post, number, lot)
    receipt = OutboxMessage.objects.get(system=w["erp"], message_type="goods_receipt")

    # Tryton's quality control on production:do, no inspection yet: do answers the
    # inspection wizard and the production stays running. Not done: a gate, retried later.
    deliver_system(system_id=w["erp"].pk, budget_seconds=30)
    receipt.refresh_from_db()
    assert receipt.status == OutboxStatus.PENDING, receipt.last_error
    assert receipt.last_error.startswith("gated: Tryton holds production")
    assert "on do (a quality control that has no inspection yet" in receipt.last_error
    assert receipt.next_attempt_at > timezone.now() + dt.timedelta(minutes=30)
    assert plant.read_production(production)["state"] == "running"
    order.refresh_from_db()
    assert order.state != "financially_posted"
    # The other messages to the ERP were taken (notes on the production in Tryton), but
    # the finished lot's release (scenario 4) waits: the lot enters Tryton with the receipt.
    others = OutboxMessage.objects.filter(system=w["erp"]).exclude(pk=receipt.pk)
    release = others.get(message_type="lot.status_change")
    assert release.status == OutboxStatus.PENDING
    assert release.last_error.startswith(f"gated: lot {lot} is not in Tryton yet")
    others = others.exclude(pk=release.pk)
    assert set(others.values_list("status", flat=True)) == {OutboxStatus.DELIVERED}, list(
        others.exclude(status=OutboxStatus.DELIVERED).values_list("message_type", "last_error")
    )

    # The quality user opens the inspection: pending, it still holds the receipt.
    inspection = plant.inspect(control=plant.control, production=production)
    OutboxMessage.objects.filter(pk=receipt.pk).update(next_attempt_at=timezone.now())
    deliver_system(system_id=w["erp"].pk, budget_seconds=30)
    receipt.refresh_from_db()
    assert receipt.status == OutboxStatus.PENDING
    assert "pending inspection" in receipt.last_error
    assert plant.read_production(production)["state"] == "running"

    # The inspection passes in Tryton; the next attempt completes the production.
    assert plant.pass_inspection(inspection) == "passed"
    OutboxMessage.objects.filter(pk=receipt.pk).update(next_attempt_at=timezone.now())
    deliver_system(system_id=w["erp"].pk, budget_seconds=30)
    receipt.refresh_from_db()
    assert receipt.status == OutboxStatus.DELIVERED, receipt.last_error
    assert receipt.reference == number
    done = plant.read_production(production)
    assert done["state"] == "done"
    [output] = done["output_moves"]
    assert output["state"] == "done"
    assert output["lot."]["number"] == lot
    # Tryton's document number came back as goods_receipt.posted: the order is settled.
    order.refresh_from_db()
    assert order.state == "financially_posted"
    assert DeliveryAttempt.objects.filter(message=receipt).count() == 3
    assert receipt.attempts == 3  # gates did not use up max_attempts (counted apart)
    # With the lot in Tryton, the waiting release is noted on it.
    OutboxMessage.objects.filter(pk=release.pk).update(next_attempt_at=timezone.now())
    deliver_system(system_id=w["erp"].pk, budget_seconds=30)
    release.refresh_from_db()
    assert release.status == OutboxStatus.DELIVERED, release.last_error

    # A repeated delivery (a crash after Tryton answered) is a duplicate, not a second do.
    OutboxMessage.objects.filter(pk=receipt.pk).update(
        status=OutboxStatus.PENDING, next_attempt_at=timezone.now()
    )
    deliver_system(system_id=w["erp"].pk, budget_seconds=30)
    receipt.refresh_from_db()
    assert receipt.status == OutboxStatus.DELIVERED
    last = DeliveryAttempt.objects.filter(message=receipt).order_by("-id").first()
    assert last.outcome == "duplicate"


def test_a_failed_tryton_inspection_refuses_the_receipt_for_a_person(erp_on_tryton, post):
    w = erp_on_tryton
    plant = w["tryton"]
    production, number = _release_in_tryton(plant, qty=4)
    [result] = poll_all()
    assert result.statuses.get("accepted") == 1, result
    _run_order_through_the_api(w, post, number, f"FG-{number}", qty=4)
    inspection = plant.inspect(control=plant.control, production=production)
    assert plant.pass_inspection(inspection, flatness=0.9) == "failed"  # out of tolerance

    deliver_system(system_id=w["erp"].pk, budget_seconds=30)
    receipt = OutboxMessage.objects.get(system=w["erp"], message_type="goods_receipt")
    assert receipt.status == OutboxStatus.DEAD
    assert "rejected: UserError" in receipt.last_error
    assert plant.read_production(production)["state"] != "done"


def test_tryton_away_is_a_transient_error_and_a_bad_credential_a_configuration_error(
    erp_on_tryton, monkeypatch
):
    from connectors.outbound.base import ConnectorError, OutboundMessage
    from connectors.outbound.tryton import TrytonConnector

    w = erp_on_tryton
    message = OutboundMessage(1, "goods_receipt", "k1", "P1", "c1", {"order": "nope"})
    erp = w["erp"]
    erp.base_url = f"http://127.0.0.1:{tryton_server.free_port()}/interlock/"
    with pytest.raises(ConnectorError) as away:
        TrytonConnector(erp).send([message])
    assert not away.value.permanent
    assert away.value.code == "tryton_connection"

    erp.base_url = w["tryton"].c.url.removesuffix("rpc/")
    monkeypatch.setenv(CREDENTIAL_ENV, "admin:wrong-password")
    with pytest.raises(ConnectorError) as refused:
        TrytonConnector(erp).send([message])
    assert refused.value.permanent, refused.value
    assert refused.value.configuration, refused.value

    monkeypatch.setenv(CREDENTIAL_ENV, f"admin:{tryton_server.ADMIN_PASSWORD}")
    [unknown] = TrytonConnector(erp).send([message])
    assert unknown.status == "rejected"
    assert "production nope is not in Tryton" in unknown.error


def test_the_received_lot_and_quantity_reach_the_output_move_in_its_own_unit(erp_on_tryton):
    from connectors.outbound.base import ConnectorError, OutboundMessage
    from connectors.outbound.tryton import TrytonConnector

    plant = erp_on_tryton["tryton"]
    production, number = _release_in_tryton(plant, qty=6)
    connector = TrytonConnector(erp_on_tryton["erp"])

    def receive(key, qty, uom):
        payload = {"order": number, "lot": "LOT-Q", "qty": qty, "uom": uom}
        with pytest.raises(ConnectorError) as held:  # the quality control holds it
            connector.send([OutboundMessage(1, "goods_receipt", key, "P1", "c", payload)])
        assert held.value.gated
        [move] = plant.read_production(production)["output_moves"]
        return move

    move = receive("k-qty-1", 5, "u")
    assert move["quantity"] == 5.0
    assert move["lot."]["number"] == "LOT-Q"
    # In another unit the quantity is not Tryton's: the move keeps what it had.
    assert receive("k-qty-2", 3, "kg")["quantity"] == 5.0
