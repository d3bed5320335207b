"""Customer service at a second plant opens the exposure of a delayed ASN (scenario 7)
from their task: the delay was reported at P1, but P3 has an order at risk too, so
``p3-cs`` sees the consolidated page with every order at risk (P1's and P3's), with
quantities as people write them; customer service of a plant with nothing at risk does
not get the page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from connectors.simulators.erp import ErpSimulator
from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.models import Exposure, Task
from plants.models import ConnectedSystem
from tests.browser.conftest import DEMO_PASSWORD


def _ingest(envelope: dict) -> None:
    system = ConnectedSystem.objects.get(code=envelope["source"])
    [result] = ingest_batch(principal=principal_for(system), envelopes=[envelope])
    assert result.status == "accepted", result


def _release(erp: ErpSimulator, plant: str) -> str:
    """An order the demo ERP would release (due in 14 days, needs CMP-4711)."""
    [number] = erp.create_orders(plant, 1)
    [row] = erp.query("SELECT envelope FROM orders WHERE number = ?", (number,))
    _ingest(json.loads(row["envelope"]))
    return number


@pytest.mark.timeout(600)  # the demo seed and a live server on a busy machine
def test_customer_service_at_a_second_plant_opens_the_exposure_from_their_task(
    login, shot, tmp_path, browser, context, live_server
):
    context.set_default_timeout(60_000)  # a live server on a machine shared with others
    call_command("load_rule_packs", verbosity=0)
    call_command("seed_demo_lots", verbosity=0)
    erp = ErpSimulator(db_path=tmp_path / "erp.sqlite3", seed=7)
    try:
        p1, p3 = _release(erp, "P1"), _release(erp, "P3")
    finally:
        erp.shutdown()
    now = timezone.now()
    _ingest(
        {
            "source": "ERP",
            "plant": "P1",
            "type": "asn.delayed",
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "payload": {
                "asn": "ASN-BROWSER-7",
                "supplier": "SUP-100",
                "expected_at": (now + dt.timedelta(days=20)).isoformat(),
                "lines": [{"item": "000000000010004711", "qty": 5000, "uom": "EA"}],
            },
        }
    )
    exposure = Exposure.objects.get()
    assert exposure.plant.code == "P1"
    assert exposure.plants_at_risk == ["P1", "P3"]
    task = Task.objects.get(role="customer_service", plant__code="P3")
    assert task.subject == exposure

    page = login("p3-cs")
    page.locator("#my-tasks-link").click()
    row = page.locator("tr.task-row", has_text="order dates at risk at P3")
    expect(row).to_have_count(1)
    row.get_by_role("link", name="exposure", exact=True).click()
    page.wait_for_url(re.compile(rf".*/admin/orchestrator/exposure/{exposure.pk}/change/$"))
    expect(page.locator("#content")).to_contain_text("ASN-BROWSER-7")
    lines = page.locator("#lines-group")
    expect(lines).to_contain_text(p1)
    expect(lines).to_contain_text(p3)
    expect(lines).not_to_contain_text(".000000")
    expect(page.locator(".field-plants")).to_contain_text("P1, P3")
    expect(page.locator(".field-proposal_state")).to_contain_text("Proposed")
    shot(page, "exposure-p3-customer-service")

    # Customer service at P2 (no order at risk there) does not get the page.
    second = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    second.set_default_timeout(60_000)
    try:
        other = second.new_page()
        other.goto(f"{live_server.url}/admin/login/?next=/admin/")
        other.fill("#id_username", "p2-cs")
        other.fill("#id_password", DEMO_PASSWORD)
        other.click("input[type=submit]")
        other.wait_for_url(re.compile(r".*/admin/$"))
        other.goto(f"{live_server.url}/admin/orchestrator/exposure/{exposure.pk}/change/")
        expect(other.locator("body")).not_to_contain_text("ASN-BROWSER-7")
        expect(other.locator(".messagelist")).to_contain_text("doesn’t exist")
        other.goto(f"{live_server.url}/admin/orchestrator/exposure/")
        expect(other.locator("#result_list")).to_have_count(0)
    finally:
        second.close()
