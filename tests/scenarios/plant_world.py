"""The demo world for the end-to-end scenario tests of scenarios 3, 6, 7 and 8.

Interlock runs in process (API client, ingest, outbox delivery by ``deliver_system``, as
the Celery task would); the ERP simulator runs as the real HTTP service on a free port
with its own SQLite ledger, and the demo's ``ERP`` connected system points at it. The
ERP's release driver makes the orders (in plant codes) and the test posts them with the
ERP's key; what the MES reports is posted with the MES's key, in the MES's codes.

Imported by the test modules (``from tests.scenarios.plant_world import *``), so that the
fixtures live beside the tests without a shared ``conftest.py``.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from connectors.simulators.erp import ErpSimulator
from orchestrator.models import OutboxMessage
from orchestrator.models.outbox import OutboxStatus
from plants.models import ConnectedSystem
from tests.factories import issue_api_key

SYSTEMS = ("ERP", "MES-P1", "MES-P2", "MES-P3")


@pytest.fixture
def demo(db, monkeypatch, settings):
    """``seed_demo`` + ``load_rule_packs`` + ``seed_demo_lots``; API keys per system."""
    settings.INTERLOCK_OUTBOX_BACKOFF_SECONDS = 0.05
    settings.REDIS_URL = ""
    monkeypatch.setenv("INTERLOCK_ERP_TOKEN", "erp-test-token")
    call_command("seed_demo", verbosity=0)
    call_command("load_rule_packs", verbosity=0)
    call_command("seed_demo_lots", verbosity=0)
    return {code: issue_api_key(ConnectedSystem.objects.get(code=code)) for code in SYSTEMS}


@pytest.fixture
def erp(demo, tmp_path):
    """The ERP simulator, served on a free port; the ``ERP`` system delivers to it."""
    sim = ErpSimulator(db_path=tmp_path / "erp.sqlite3", seed=7)
    server = sim.serve("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ConnectedSystem.objects.filter(code="ERP").update(
        base_url=f"http://127.0.0.1:{server.server_address[1]}/erp", timeout_seconds=5
    )
    yield sim
    server.shutdown()
    server.server_close()
    sim.shutdown()


def post(api_client, key: str, envelopes: list[dict]) -> list[dict]:
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.post("/api/v1/events/bulk", {"events": envelopes}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def envelope(plant: str, type_: str, payload: dict, *, source: str, at=None) -> dict:
    moment = at or timezone.now()
    return {
        "source": source,
        "plant": plant,
        "type": type_,
        "occurred_at": moment.isoformat().replace("+00:00", "Z"),
        "payload": payload,
    }


def release(api_client, demo, erp: ErpSimulator, plant: str) -> dict:
    """One order released by the ERP simulator's driver and acknowledged by the MES;
    returns the release payload (plant codes)."""
    [number] = erp.create_orders(plant, 1)
    row = erp.query("SELECT envelope FROM orders WHERE plant = ? AND number = ?", (plant, number))
    env = json.loads(row[0]["envelope"])
    assert [r["status"] for r in post(api_client, demo["ERP"], [env])] == ["accepted"]
    p = env["payload"]
    ack = envelope(
        plant,
        "production_order.acknowledged",
        {
            "order": number,
            "routing_revision": p["routing_revision"],
            "bom_revision": p["bom_revision"],
        },
        source=f"MES-{plant}",
    )
    assert [r["status"] for r in post(api_client, demo[f"MES-{plant}"], [ack])] == ["accepted"]
    return p


def deliver(code: str = "ERP", timeout: float = 20.0) -> None:
    """Deliver every due row of system ``code`` (as the delivery task would)."""
    from connectors.outbound.delivery import deliver_system

    system = ConnectedSystem.objects.get(code=code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliver_system(system_id=system.pk, budget_seconds=5)
        open_rows = OutboxMessage.objects.filter(
            system=system, status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT]
        )
        if not open_rows.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"outbox of {code} not drained: {list(open_rows.values('status'))}")


def ledger(sim, type_: str | None = None, plant: str | None = None) -> list[dict]:
    return [e for e in sim.ledger(plant) if type_ is None or e["type"] == type_]


__all__ = ["deliver", "demo", "envelope", "erp", "ledger", "post", "release"]
