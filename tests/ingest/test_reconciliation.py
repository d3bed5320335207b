"""Reconciliation (scenario 9) against given snapshots: tolerances, one exception per
difference across runs, the accept and correct workflows with their tasks and audit
records, who may work them, and a system that gives no snapshot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from interlock.errors import DomainError, NotAllowed
from orchestrator.models import (
    AuditRecord,
    Lot,
    OutboxMessage,
    ProductionOrder,
    ReconciliationException,
)
from orchestrator.services.reconciliation import (
    exception_accept,
    exception_assign,
    exception_close,
    exception_correct,
    reconcile_due_plants,
    reconcile_plant,
)
from plants.choices import Role
from tests.factories import make_member
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(world, post):
    steel_lot(world)
    for key, body in run()[:7]:  # up to production.completed
        assert post(world[key], body).status_code in (200, 201, 202), body
    return ProductionOrder.objects.get(number="WO-1001")


def _mes(order, produced, scrapped=None):
    return {
        "MES-P1": {
            "orders": {
                order.number: {
                    "status": "completed",
                    "produced_qty": str(produced),
                    "scrapped_qty": str(order.scrapped_qty if scrapped is None else scrapped),
                    "uom": "ST",
                }
            }
        }
    }


def _trail(obj):
    return [
        (a.transition, a.actor_label)
        for a in AuditRecord.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
        ).order_by("pk")
    ]


def test_quantities_within_the_plant_tolerance_agree(world, order):
    # 0.5 % of 100 by default: 0.4 more is within, 1 more is not.
    ok = reconcile_plant(
        plant=world["p1"], snapshots=_mes(order, order.confirmed_qty + Decimal("0.4"))
    )
    assert (ok.state, ok.differences) == ("done", 0)
    assert ok.report["systems"]["MES-P1"]["compared"] >= 3
    off = reconcile_plant(plant=world["p1"], snapshots=_mes(order, order.confirmed_qty + 1))
    assert off.differences == 1
    exception = ReconciliationException.objects.get()
    assert (exception.system, exception.field, exception.difference) == (
        "mes",
        "produced_qty",
        Decimal(-1),
    )


def test_a_mes_difference_is_accepted_with_a_reason_and_not_reopened(world, order):
    operator = make_member(Role.OPERATOR, world["p1"], username="op")
    planner = make_member(Role.PLANNING, world["p1"], username="planner")
    snapshots = _mes(order, order.confirmed_qty + 5)
    reconcile_plant(plant=world["p1"], snapshots=snapshots)
    exception = ReconciliationException.objects.get()
    with pytest.raises(NotAllowed):
        exception_accept(exception=exception, actor=planner, reason="fine")
    exception_assign(exception=exception, actor=operator)
    with pytest.raises(DomainError) as refused:
        exception_correct(exception=exception, actor=operator, reason="fix it")
    assert refused.value.code == "no_correction"
    with pytest.raises(DomainError):
        exception_accept(exception=exception, actor=operator, reason="")
    exception = exception_accept(
        exception=exception, actor=operator, reason="MES counted the 5 setup parts"
    )
    assert exception.state == "accepted"
    task = exception.task
    task.refresh_from_db()
    assert (task.state, task.outcome, task.completed_by) == ("done", "accepted", operator)
    again = reconcile_plant(plant=world["p1"], snapshots=snapshots)
    assert (again.differences, again.opened) == (1, 0)
    assert ReconciliationException.objects.count() == 1
    exception_close(exception=exception, actor=operator, reason="explained")
    exception.refresh_from_db()
    assert exception.state == "closed"
    assert _trail(exception) == [
        ("open", "system:interlock"),
        ("assign", "op"),
        ("accept", "op"),
        ("close", "op"),
    ]


def test_an_erp_lot_status_difference_is_corrected_through_the_outbox(world, order):
    operator = make_member(Role.OPERATOR, world["p1"], username="op")
    lot = Lot.objects.get(number="L-77")
    snapshots = {"ERP": {"orders": {}, "lots": {"L-77": {"status": "BLOC"}}}}
    run_ = reconcile_plant(plant=world["p1"], snapshots=snapshots)
    assert run_.differences == 1, run_.report
    exception = ReconciliationException.objects.get()
    assert (exception.subject_kind, exception.field, exception.system_value) == (
        "lot",
        "status",
        "blocked",
    )
    assert exception.interlock_value == lot.status
    exception = exception_correct(exception=exception, actor=operator, reason="ERP blocked by hand")
    message = OutboxMessage.objects.get(rule="reconciliation")
    assert (message.message_type, message.target_system) == ("lot.status_change", "erp")
    assert message.payload["lot"] == "L-77"
    assert message.payload["status"] == lot.status
    assert exception.correction == message
    with pytest.raises(DomainError):  # corrected once
        exception_correct(exception=exception, actor=operator, reason="twice")
    assert OutboxMessage.objects.filter(rule="reconciliation").count() == 1
    agreed = {"ERP": {"orders": {}, "lots": {"L-77": {"status": "UNRE"}}}}
    lot.refresh_from_db()
    if lot.status != "available":
        agreed["ERP"]["lots"]["L-77"]["status"] = {"inspection": "QUAL", "blocked": "BLOC"}[
            lot.status
        ]
    verified = reconcile_plant(plant=world["p1"], snapshots=agreed)
    assert verified.closed == 1
    exception.refresh_from_db()
    assert exception.state == "closed"


def test_a_system_without_a_snapshot_fails_the_run_with_its_reason(world, order, admin_client):
    for system in (world["mes"], world["erp"]):
        system.base_url = "http://127.0.0.1:9/nothing"
        system.save(update_fields=["base_url"])
    failed = reconcile_plant(plant=world["p1"])
    assert failed.state == "failed"
    assert set(failed.report["systems"]) == {"MES-P1", "ERP"}
    assert all("error" in entry for entry in failed.report["systems"].values())
    assert "MES-P1" in failed.error
    assert [t for t, _ in _trail(failed)] == ["start", "finish"]
    # The run is named by the plant's code; the report says why a system is missing
    # rather than "none" differences.
    assert str(failed).startswith("P1 reconciliation ")
    assert str(failed).endswith("(failed)")
    page = admin_client.get(f"/admin/orchestrator/reconciliationrun/{failed.pk}/change/")
    report = page.content.decode().split('id="recon-report"', 1)[1].split("</table>", 1)[0]
    assert report.count("no snapshot: ") == 2
    assert ">none<" not in report


def test_due_plants_are_reconciled_once_per_interval(world, order, monkeypatch):
    import orchestrator.services.reconciliation as recon

    monkeypatch.setattr(recon, "fetch_snapshot", lambda system, plant: {"orders": {}})
    first = reconcile_due_plants()
    assert len(first) == 2  # P1 (MES-P1, ERP) and P2 (the shared ERP)
    assert reconcile_due_plants() == []  # not again within reconciliation.interval


def test_the_admin_shows_runs_and_works_an_exception(world, order, admin_client):
    run_ = reconcile_plant(plant=world["p1"], snapshots=_mes(order, order.confirmed_qty + 5))
    exception = ReconciliationException.objects.get()
    page = admin_client.get(f"/admin/orchestrator/reconciliationrun/{run_.pk}/change/")
    assert page.status_code == 200
    assert "produced_qty" in page.content.decode()
    # The report reads as a table per system, not as the raw JSON it is stored as.
    report = page.content.decode().split("Report:", 1)[1].split("Error:", 1)[0]
    assert "<th>Values compared</th>" in report
    assert f"order {order.number} produced_qty" in report
    assert '"systems"' not in report
    assert "&quot;systems&quot;" not in report
    assert admin_client.get("/admin/orchestrator/reconciliationrun/").status_code == 200
    url = f"/admin/orchestrator/reconciliationexception/{exception.pk}/change/"
    detail = admin_client.get(url).content.decode()
    assert "Accept the difference" in detail
    assert "none can be posted" in detail  # MES is the source: no correction
    admin_client.post(
        f"/admin/orchestrator/reconciliationexception/{exception.pk}/act/",
        {"action": "accept", "reason": "setup parts"},
    )
    exception.refresh_from_db()
    assert (exception.state, exception.resolution) == ("accepted", "setup parts")
    now = admin_client.post(
        "/admin/orchestrator/reconciliationrun/reconcile/", {"plant": world["p1"].pk}
    )
    assert now.status_code == 302
    assert admin_client.get("/admin/orchestrator/reconciliationrun/reconcile/").status_code == 200


def test_a_difference_that_goes_away_by_itself_is_closed_by_the_next_run(world, order):
    operator = make_member(Role.OPERATOR, world["p1"], username="op")
    reconcile_plant(plant=world["p1"], snapshots=_mes(order, order.confirmed_qty + 5))
    exception = ReconciliationException.objects.get()
    with pytest.raises(DomainError):  # a person closes only what was corrected or accepted
        exception_close(exception=exception, actor=operator, reason="gone")
    later = reconcile_plant(plant=world["p1"], snapshots=_mes(order, order.confirmed_qty))
    assert later.closed == 1
    exception.refresh_from_db()
    assert exception.state == "closed"
    assert exception.task.state == "done"
    assert exception.task.outcome == "resolved"
