"""Gates are first-class: visible on the order in the API, opened only by a pass or a
conditional release, and a goods receipt waits for them."""

import pytest

from orchestrator.models import Event, Gate
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


def _send(world, post, steps):
    return [post(world[k], b).json() for k, b in steps]


def test_closed_gate_is_visible_on_the_order_in_the_api(world, post, api_client):
    steel_lot(world)
    _send(world, post, run()[:8])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['erp_key']}")
    order = api_client.get("/api/v1/orders", {"plant": "P1"}).json()["results"][0]
    gates = {g["kind"]: g for g in order["gates"]}
    assert gates["goods_receipt"]["state"] == "closed"
    assert gates["goods_receipt"]["inspection"] == "INS-WO-1001"
    assert gates["goods_receipt"]["waits_for"] == (
        "inspection INS-WO-1001 passed or conditionally released"
    )
    assert gates["goods_receipt"]["state_changed_at"]
    assert gates["mes_acknowledgment"]["state"] == "open"


def test_goods_receipt_before_the_result_waits_for_the_gate(world, post):
    steel_lot(world)
    steps = run()
    answers = _send(world, post, [*steps[:8], steps[9]])
    receipt = Event.objects.get(pk=answers[-1]["event_id"])
    assert receipt.status == "parked"
    assert receipt.waiting_for == "gate-open:goods_receipt:P1:WO-1001"
    _send(world, post, [steps[8]])  # the pass opens the gate and releases the receipt
    receipt.refresh_from_db()
    assert receipt.status == "applied"
    assert Gate.objects.get(kind="goods_receipt").state == "open"


def test_conditional_release_opens_the_gate_and_documents_a_minor_nc(world, post):
    steel_lot(world)
    answers = _send(world, post, run(result="C"))
    assert Event.objects.get(pk=answers[-1]["event_id"]).status == "applied"
    from orchestrator.models import Nonconformance

    nc = Nonconformance.objects.get()
    assert "minor" in nc.description


def test_gate_admin_lists_the_gate(world, post, admin_client):
    steel_lot(world)
    _send(world, post, run()[:8])
    response = admin_client.get("/admin/orchestrator/gate/")
    assert response.status_code == 200
    assert b"INS-WO-1001" in response.content
