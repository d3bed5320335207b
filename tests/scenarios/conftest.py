"""The seed scenarios end to end: Interlock's API (the test client, as the plant systems
with their keys), the demo world (``seed_demo``, the published rule packs, the component
lots), and the simulators as real HTTP services on free ports that the outbox delivers to
through the REST connector (``deliver`` runs what the Celery task would)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from connectors.outbound import ratelimit
from connectors.simulators.erp import ErpSimulator
from connectors.simulators.mes import MesControls, MesSimulator
from connectors.simulators.wms import WmsSimulator
from orchestrator.models import OutboxMessage
from orchestrator.models.outbox import OutboxStatus
from orchestrator.services.ledger_integrity import dangling_references
from plants.models import ConnectedSystem
from tests.factories import issue_api_key

SYSTEMS = ("ERP", "MES-P1", "QMS-P1", "WMS-P1")


@pytest.fixture(autouse=True)
def _fast_delivery(settings):
    settings.INTERLOCK_OUTBOX_BACKOFF_SECONDS = 0.05
    settings.INTERLOCK_OUTBOX_BACKOFF_MAX_SECONDS = 1.0
    settings.REDIS_URL = ""  # the in-process token bucket
    ratelimit.reset_local()


class Plant1:
    """The demo world at P1 with its systems' keys, the simulators, and helpers."""

    def __init__(self, api_client, tmp_path, monkeypatch) -> None:
        call_command("seed_demo", verbosity=0)
        call_command("load_rule_packs", verbosity=0)
        call_command("seed_demo_lots", verbosity=0)
        self.api = api_client
        self.keys = {
            code: issue_api_key(ConnectedSystem.objects.get(code=code)) for code in SYSTEMS
        }
        self.servers = []
        self.erp = self._serve(ErpSimulator(db_path=tmp_path / "erp.sqlite3", seed=3), "ERP")
        self.wms = self._serve(WmsSimulator(db_path=tmp_path / "wms.sqlite3", seed=3), "WMS-P1")
        self.mes = MesSimulator(
            db_path=tmp_path / "mes.sqlite3",
            seed=3,
            controls=MesControls(duplicate_rate=0, out_of_order_rate=0, scrap_rate=0),
        )
        for system in ConnectedSystem.objects.exclude(credential_env=""):
            monkeypatch.setenv(system.credential_env, "demo-secret")

    def _serve(self, sim, code: str):
        server = sim.serve("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append((sim, server))
        url = f"http://127.0.0.1:{server.server_address[1]}/{sim.name}"
        system = ConnectedSystem.objects.get(code=code)
        system.base_url = url + ("/P1" if sim.plant_in_path else "")
        system.full_clean()
        system.save(update_fields=["base_url"])
        return sim

    def close(self) -> None:
        for sim, server in self.servers:
            server.shutdown()
            server.server_close()
            sim.shutdown()
        self.mes.shutdown()

    # --- Interlock's API as the plant systems -------------------------------------------
    def post(self, system: str, envelopes: list[dict]) -> list[dict]:
        self.api.credentials(HTTP_AUTHORIZATION=f"Api-Key {self.keys[system]}")
        response = self.api.post("/api/v1/events/bulk", {"events": envelopes}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["results"]

    def envelope(self, system: str, type_: str, payload: dict, **extra) -> dict:
        return {
            "source": system,
            "plant": "P1",
            "type": type_,
            "occurred_at": timezone.now().isoformat().replace("+00:00", "Z"),
            "payload": payload,
            **extra,
        }

    def release(self) -> str:
        """The ERP simulator releases one order at P1 (accepted by Interlock)."""
        [number] = self.erp.create_orders("P1", 1)
        [row] = self.erp.query("SELECT envelope FROM orders WHERE number = ?", (number,))
        [result] = self.post("ERP", [json.loads(row["envelope"])])
        assert result["status"] == "accepted", result
        return number

    def mes_run(self, number: str) -> list[list[dict]]:
        """The MES's run of the order as planned from Interlock's release message."""
        outbox = OutboxMessage.objects.get(
            plant__code="P1", message_type="production_order.release", payload__order=number
        )
        wire = {
            "type": outbox.message_type,
            "idempotency_key": outbox.idempotency_key,
            "plant": "P1",
            "correlation_id": outbox.correlation_id,
            "payload": outbox.payload,
        }
        [result] = self.mes.receive([wire], "P1")
        assert result["status"] == "applied", result
        [row] = self.mes.query("SELECT plan FROM runs WHERE number = ?", (number,))
        return json.loads(row["plan"])

    # --- the outbox, delivered as the worker would --------------------------------------
    def deliver(self, *codes: str, timeout: float = 20.0) -> None:
        """Deliver every pending row of these systems (default: ERP and WMS-P1)."""
        from connectors.outbound.delivery import deliver_system

        systems = [ConnectedSystem.objects.get(code=c) for c in codes or ("ERP", "WMS-P1")]
        deadline = time.monotonic() + timeout
        for system in systems:
            while True:
                deliver_system(system_id=system.pk, budget_seconds=5)
                open_rows = OutboxMessage.objects.filter(
                    system=system, status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT]
                )
                if not open_rows.exists():
                    break
                assert time.monotonic() < deadline, list(
                    open_rows.values("message_type", "last_error")
                )
                time.sleep(0.05)
        dead = OutboxMessage.objects.filter(status=OutboxStatus.DEAD)
        assert not dead.exists(), list(dead.values("message_type", "last_error"))

    def ledger(self, sim, type_: str | None = None) -> list[dict]:
        return [e for e in sim.ledger("P1") if type_ is None or e["type"] == type_]


@pytest.fixture
def p1(db, api_client, tmp_path, monkeypatch):
    world = Plant1(api_client, tmp_path, monkeypatch)
    yield world
    world.close()
    # The ledger's references carry no database constraint: every scenario leaves none
    # pointing at a missing row (``manage.py ledger_verify``).
    assert dangling_references() == []
