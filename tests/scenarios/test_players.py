"""The ``demo_scenario`` players on a live Interlock: the web server (pytest-django's
``live_server``), the four simulators as HTTP services with their background threads
(the MES runs released orders, the QMS answers inspection requests, both posting to
Interlock with their keys), and a delivery thread standing in for the Celery worker. Each
player runs exactly as ``manage.py demo_scenario N`` would run it against ``make demo``."""

from __future__ import annotations

import json
import threading

import pytest
from django.core.management import call_command
from django.db import connections

from connectors.management.commands.demo_scenario import demo_passwords
from connectors.outbound import ratelimit
from connectors.simulators.erp import ErpSimulator
from connectors.simulators.mes import MesControls, MesSimulator
from connectors.simulators.qms import QmsControls, QmsSimulator
from connectors.simulators.scenarios import SCENARIOS, Stage
from connectors.simulators.wms import WmsSimulator
from orchestrator.models import (
    CycleCount,
    Event,
    Exposure,
    Lot,
    ReconciliationException,
    ScrapDeclaration,
    Task,
)
from plants.models import ConnectedSystem
from tests.factories import issue_api_key

# The flush after this transactional test takes the rows data migrations wrote; the site
# parameter definitions come back by post_migrate (orchestrator.parameters).
pytestmark = [
    pytest.mark.scenario,
    pytest.mark.django_db(transaction=True),
]

CODES = ("ERP", "MES-P1", "QMS-P1", "WMS-P1")


def _deliver_until(stop: threading.Event) -> None:
    from connectors.outbound.delivery import deliver_system, due_systems

    try:
        while not stop.is_set():
            for system_id in due_systems():
                deliver_system(system_id=system_id, budget_seconds=2)
            stop.wait(0.1)
    finally:
        connections.close_all()


@pytest.fixture
def live_demo(live_server, tmp_path, monkeypatch, settings):
    settings.REDIS_URL = ""
    ratelimit.reset_local()
    call_command("seed_demo", verbosity=0)
    call_command("load_rule_packs", verbosity=0)
    call_command("seed_demo_lots", verbosity=0)
    keys = {code: issue_api_key(ConnectedSystem.objects.get(code=code)) for code in CODES}
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(keys))
    for system in ConnectedSystem.objects.exclude(credential_env=""):
        monkeypatch.setenv(system.credential_env, "demo-secret")
    common = {"interlock_url": live_server.url, "keys_file": str(keys_file), "seed": 5}
    sims = {
        "erp": ErpSimulator(db_path=tmp_path / "erp.sqlite3", **common),
        "mes": MesSimulator(
            db_path=tmp_path / "mes.sqlite3",
            controls=MesControls(step_delay=0.3, scrap_rate=0),
            **common,
        ),
        "qms": QmsSimulator(
            db_path=tmp_path / "qms.sqlite3",
            controls=QmsControls(delay_seconds=0.5, fail_ratio=0, conditional_ratio=0),
            **common,
        ),
        "wms": WmsSimulator(db_path=tmp_path / "wms.sqlite3", **common),
    }
    servers, urls = [], {}
    for name, sim in sims.items():
        server = sim.serve("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sim.start_background()
        servers.append((sim, server))
        urls[name] = f"http://127.0.0.1:{server.server_address[1]}/{name}"
    for system in ConnectedSystem.objects.filter(code__in=["ERP", "MES-P1", "QMS-P1", "WMS-P1"]):
        kind = system.kind
        system.base_url = urls[kind] + ("" if kind == "erp" else "/P1")
        system.save(update_fields=["base_url"])
    stop = threading.Event()
    worker = threading.Thread(target=_deliver_until, args=(stop,), daemon=True)
    worker.start()
    stage = Stage(
        interlock_url=live_server.url,
        sim_urls=urls,
        keys=keys,
        users=demo_passwords(),
        plant="P1",
        timeout=60,
        poll=0.3,
        out=lambda line: None,
    )
    yield stage
    stop.set()
    worker.join(timeout=10)
    for sim, server in servers:
        server.shutdown()
        server.server_close()
        sim.shutdown()


def test_scenarios_1_2_4_and_5_play_on_a_live_demo(live_demo):
    played = {n: SCENARIOS[n].play(live_demo) for n in (1, 2, 4, 5)}

    assert played[1].facts["states"][-1] == "financially_posted"

    lot = Lot.objects.get(number=played[2].facts["lot"])
    assert lot.status == "blocked"
    assert Task.objects.filter(lot=lot, role="procurement").exists()

    assert Task.objects.filter(role="customer_service", details__backorders__isnull=False).exists()

    small, large = played[5].facts["counts"]
    assert CycleCount.objects.get(number=small).state == "posted"
    assert CycleCount.objects.get(number=large).state == "posted"
    assert any("approved count" in step for step in played[5].steps)


def test_scenarios_3_and_6_to_9_play_on_a_live_demo(live_demo):
    played = {n: SCENARIOS[n].play(live_demo) for n in (3, 6, 7, 8, 9)}

    quarantined = Event.objects.get(pk=played[3].facts["quarantined"])
    assert quarantined.status == "quarantined"
    assert "lot_item_mismatch" in played[3].facts["reasons"]

    # The MES simulator scraps nothing here: the flag is the player's own burst, measured
    # against the good quantity it confirmed first.
    flag = played[6].facts["flag"]
    assert flag["order"] == played[6].facts["order"]
    burst = ScrapDeclaration.objects.filter(order__number=flag["order"]).first()
    assert flag["window_qty"] >= float(burst.qty)
    assert Task.objects.filter(role__in=["quality_lead", "maintenance"]).count() >= 2

    assert len(played[7].facts["orders"]) == 3  # an order at risk at every plant
    assert Exposure.objects.filter(correlation_id__startswith="s7-").exists()
    # Planning approved the reallocation: the ERP moved stock between the plants.
    assert played[7].facts["transfers"]
    s7 = Exposure.objects.get(correlation_id__startswith="s7-")
    assert s7.proposal_state == "approved"
    # Every plant has an order at risk: a plant lends or borrows, never both.
    moves = s7.lines.exclude(from_plant=None).values_list("from_plant_id", "plant_id")
    assert moves
    assert not {src for src, _ in moves} & {dst for _, dst in moves}

    assert played[8].facts["order"] in played[8].facts["capacity"]["orders_at_risk"]
    assert Exposure.objects.filter(correlation_id__startswith="s8-").exists()
    # Planning approved the move: the ERP re-planned the order at the alternate plant.
    assert played[8].facts["reroutes"][played[8].facts["order"]]["to_plant"] == "P3"

    closed = ReconciliationException.objects.get(pk=played[9].facts["exception"])
    assert closed.state == "closed"
