"""The simulators' event streams against the real ingest: what the ERP release driver and
the MES send is accepted at every demo plant, duplicates are answered ``duplicate``, steps
sent out of order are parked and applied once their predecessor arrives.

In process (the API client, the demo world from ``seed_demo``): the MES's plan is exactly
what it would post; the release it plans from is the outbox row Interlock wrote for MES.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.core.management import call_command

from connectors.simulators.erp import ErpSimulator
from connectors.simulators.mes import MesControls, MesSimulator
from orchestrator.models import Event, OutboxMessage, ProductionOrder
from plants.models import ConnectedSystem
from tests.factories import issue_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_world(db):
    call_command("seed_demo", verbosity=0)
    call_command("load_rule_packs", verbosity=0)
    call_command("seed_demo_lots", verbosity=0)
    return {
        code: issue_api_key(ConnectedSystem.objects.get(code=code))
        for code in ("ERP", "MES-P1", "MES-P2", "MES-P3")
    }


def _bulk(api_client, key, envelopes):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.post("/api/v1/events/bulk", {"events": envelopes}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_mes_stream_with_duplicates_and_out_of_order_steps_is_accepted_at_every_plant(
    demo_world, api_client, tmp_path
):
    erp = ErpSimulator(db_path=tmp_path / "erp.sqlite3", seed=11)
    mes = MesSimulator(
        db_path=tmp_path / "mes.sqlite3",
        seed=5,
        controls=MesControls(duplicate_rate=0.25, out_of_order_rate=0.4, scrap_rate=0.5),
    )
    answers: Counter[str] = Counter()
    numbers = []
    for plant in ("P1", "P2", "P3"):
        for _ in range(2):
            [number] = erp.create_orders(plant, 1)
            numbers.append((plant, number))
        rows = erp.query("SELECT envelope FROM orders WHERE plant = ?", (plant,))
        releases = [json.loads(r["envelope"]) for r in rows]
        results = _bulk(api_client, demo_world["ERP"], releases)
        assert [r["status"] for r in results] == ["accepted"] * 2, results

    for plant, number in numbers:
        outbox = OutboxMessage.objects.get(
            plant__code=plant, message_type="production_order.release", payload__order=number
        )
        wire = {
            "type": outbox.message_type,
            "idempotency_key": outbox.idempotency_key,
            "plant": plant,
            "correlation_id": outbox.correlation_id,
            "payload": outbox.payload,
        }
        [result] = mes.receive([wire], plant)
        assert result["status"] == "applied", result
        row = mes.query("SELECT plan FROM runs WHERE plant = ? AND number = ?", (plant, number))[0]
        for step in json.loads(row["plan"]):
            for result in _bulk(api_client, demo_world[f"MES-{plant}"], step):
                answers[result["status"]] += 1
                # An out-of-order step is answered "parked" (and applied when its
                # prerequisite arrives), a re-sent one "duplicate".
                assert result["status"] in ("accepted", "parked", "duplicate"), result

    assert answers["duplicate"] > 0
    events = Event.objects.exclude(event_type="production_order.released")
    assert set(events.values_list("status", flat=True)) == {"applied"}
    assert events.filter(parked_at__isnull=False).exists(), "nothing was sent out of order"
    assert answers["parked"] > 0
    assert answers["accepted"] + answers["parked"] == events.count()
    states = set(ProductionOrder.objects.values_list("plant__code", "number", "state"))
    assert states == {(plant, number, "quality_pending") for plant, number in numbers}
    # Completion asked QMS for an inspection of each order's finished-goods lot.
    requests = OutboxMessage.objects.filter(message_type="inspection.request")
    assert sorted(requests.values_list("payload__lot", flat=True)) == sorted(
        f"FG-{n}" for _, n in numbers
    )
    erp.shutdown()
    mes.shutdown()
