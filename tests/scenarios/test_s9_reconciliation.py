"""Scenario 9 end to end: reconciliation of ERP, MES and QMS with Interlock.

An order runs at P1 through the REST API and the three simulators (ERP release, MES run
with scrap, QMS inspection, outbox deliveries over HTTP to the simulators). Reconciliation
then finds the three systems and Interlock in agreement. A divergence is introduced in
the ERP's ledger (the scrap posting disappears, as after a manual reversal); the next run
opens an exception with a task for the plant's operator, who corrects it: the correcting
scrap goes through the outbox, the ERP simulator applies it, and the following run
verifies and closes the exception. Every step is in the audit trail.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from connectors.outbound import ratelimit
from connectors.outbound.delivery import deliver_system
from connectors.simulators.erp import ErpSimulator
from connectors.simulators.mes import MesControls, MesSimulator
from connectors.simulators.qms import QmsControls, QmsSimulator
from orchestrator.models import (
    AuditRecord,
    OutboxMessage,
    ProductionOrder,
    ReconciliationException,
    ReconciliationRun,
    Task,
)
from orchestrator.services.reconciliation import reconcile_plant
from orchestrator.services.tasks import inbox, task_claim, task_complete
from plants.models import ConnectedSystem, Plant
from tests.factories import issue_api_key

pytestmark = [pytest.mark.scenario, pytest.mark.django_db]

SYSTEMS = ("ERP", "MES-P1", "QMS-P1")


@pytest.fixture
def s9(tmp_path, api_client, settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.INTERLOCK_OUTBOX_BACKOFF_SECONDS = 0.05
    ratelimit.reset_local()
    call_command("seed_demo", verbosity=0)
    call_command("load_rule_packs", verbosity=0)
    call_command("seed_demo_lots", verbosity=0)
    keys = {code: issue_api_key(ConnectedSystem.objects.get(code=code)) for code in SYSTEMS}

    def post(system, envelopes):  # the simulators' transport: Interlock's REST API
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {keys[system]}")
        response = api_client.post("/api/v1/events/bulk", {"events": envelopes}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["results"]

    sims = {
        "ERP": ErpSimulator(db_path=tmp_path / "erp.sqlite3", seed=3),
        "MES-P1": MesSimulator(
            db_path=tmp_path / "mes.sqlite3",
            seed=3,
            controls=MesControls(step_delay=0, scrap_rate=1.0),
        ),
        "QMS-P1": QmsSimulator(
            db_path=tmp_path / "qms.sqlite3",
            seed=3,
            controls=QmsControls(delay_seconds=0, pass_ratio=1, fail_ratio=0, conditional_ratio=0),
        ),
    }
    servers = []
    for code, sim in sims.items():
        sim.client.post = post
        server = sim.serve("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        system = ConnectedSystem.objects.get(code=code)
        mount = f"http://127.0.0.1:{server.server_address[1]}/{sim.name}"
        system.base_url = mount if code == "ERP" else f"{mount}/P1"
        system.save(update_fields=["base_url"])
        if system.credential_env:
            monkeypatch.setenv(system.credential_env, f"secret-{code}")
    yield {"sims": sims, "plant": Plant.objects.get(code="P1")}
    for server in servers:
        server.shutdown()
        server.server_close()
    for sim in sims.values():
        sim.shutdown()


def _deliver_all() -> None:
    """Deliver every pending outbox row to its simulator, as the workers would."""
    for _ in range(20):
        pending = set(
            OutboxMessage.objects.filter(status="pending", system__isnull=False).values_list(
                "system_id", flat=True
            )
        )
        if not pending:
            return
        for system_id in sorted(pending):
            deliver_system(system_id=system_id)
    raise AssertionError("outbox did not drain")


def _run_order(s9) -> ProductionOrder:
    erp, mes, qms = s9["sims"]["ERP"], s9["sims"]["MES-P1"], s9["sims"]["QMS-P1"]
    [number] = erp.create_orders("P1", 1)
    erp.send_releases()
    _deliver_all()  # the release to MES-P1
    for _ in range(40):
        mes.run_due("P1")
        _deliver_all()  # confirmations, issues and scrap to ERP; the inspection to QMS
        if mes.query("SELECT status FROM runs WHERE number = ?", (number,))[0]["status"] == "done":
            break
    for _ in range(5):
        qms.answer_due("P1")
        _deliver_all()  # the goods receipt (ERP answers, Interlock settles), the settlement
    order = ProductionOrder.objects.get(plant__code="P1", number=number)
    return order


def _trail(obj) -> list[tuple[str, str]]:
    return [
        (a.transition, a.actor_label)
        for a in AuditRecord.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
        ).order_by("pk")
    ]


def test_scenario_9_reconciliation_finds_corrects_and_verifies_a_divergence(s9):
    plant = s9["plant"]
    erp = s9["sims"]["ERP"]
    order = _run_order(s9)
    assert order.state == "financially_posted"
    assert order.scrapped_qty > 0

    # 1. The systems and Interlock agree.
    first = reconcile_plant(plant=plant)
    assert first.state == "done", first.report
    assert set(first.report["systems"]) == set(SYSTEMS)
    assert first.differences == 0, first.report
    assert first.compared > 0
    assert not ReconciliationException.objects.exists()

    # 2. A divergence in the ERP's ledger: the scrap posting of the order is gone.
    with erp.transaction() as db:
        removed = db.execute(
            "DELETE FROM ledger WHERE type = 'scrap' AND json_extract(payload, '$.order') = ?",
            (order.number,),
        ).rowcount
    assert removed >= 1
    second = reconcile_plant(plant=plant)
    assert second.differences == 1, second.report
    exception = ReconciliationException.objects.get()
    assert (exception.system, exception.subject_kind, exception.subject, exception.field) == (
        "erp",
        "order",
        order.number,
        "scrapped_qty",
    )
    assert Decimal(exception.interlock_value) == order.scrapped_qty
    assert Decimal(exception.system_value) == 0
    assert exception.state == "open"
    task = exception.task
    assert (task.role, task.kind, task.plant) == ("operator", "correct", plant)
    assert task.subject == exception
    assert "post scrap to ERP" in task.details["correction"]

    # The same difference found again does not open a second exception.
    third = reconcile_plant(plant=plant)
    assert ReconciliationException.objects.count() == 1
    exception.refresh_from_db()
    assert exception.last_seen_run == third

    # 3. The plant's operator corrects it from their inbox: through the outbox to ERP.
    operator = get_user_model().objects.get(username="operator")
    assert task in inbox(operator)
    task_claim(task=task, actor=operator)
    task_complete(
        task=task, actor=operator, outcome="corrected", comment="ERP scrap reversed by mistake"
    )
    exception.refresh_from_db()
    assert exception.state == "correction_posted"
    correction = exception.correction
    assert (correction.message_type, correction.target_system) == ("scrap", "erp")
    assert Decimal(correction.payload["qty"]) == order.scrapped_qty
    _deliver_all()
    correction.refresh_from_db()
    assert correction.status == "delivered"
    applied = [e for e in erp.ledger("P1") if e["idempotency_key"] == correction.idempotency_key]
    assert len(applied) == 1
    assert applied[0]["type"] == "scrap"

    # 4. The next run finds agreement and closes the exception.
    fourth = reconcile_plant(plant=plant)
    assert fourth.differences == 0, fourth.report
    assert fourth.closed == 1
    exception.refresh_from_db()
    task.refresh_from_db()
    assert exception.state == "closed"
    assert (task.state, task.outcome, task.completed_by) == ("done", "corrected", operator)

    # The audit chain: found by the system, corrected by the operator, verified by a run.
    assert _trail(exception) == [
        ("open", "system:interlock"),
        ("post_correction", "operator"),
        ("close", "system:interlock"),
    ]
    assert _trail(task) == [
        ("open", "system:interlock"),
        ("claim", "operator"),
        ("complete", "operator"),
    ]
    assert [t for t, _ in _trail(second)] == ["start", "finish"]
    assert ReconciliationRun.objects.filter(plant=plant).count() == 4
    assert Task.objects.filter(rule="reconciliation").count() == 1
