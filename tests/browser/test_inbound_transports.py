"""People configuring the inbound transports in the admin: the board issues a webhook
secret (shown once) that then signs a real webhook; a plant admin adds a CSV layout for
their own plant only."""

from __future__ import annotations

import json
import time

import httpx

from connectors.inbound.webhook import sign
from connectors.models import CsvLayout, WebhookSecret


def test_board_issues_a_webhook_secret_that_signs_a_webhook(login, shot, live_server):
    page = login("board1")
    page.goto(f"{live_server.url}/admin/connectors/webhooksecret/add/")
    page.select_option("#id_system", label="QMS-P1 (QMS)")
    page.fill("#id_name", "QMS cloud 2026")
    page.click("input[name=_save]")
    raw = page.locator("code.interlock-raw-key").inner_text()
    assert raw.startswith("whsec_")
    assert "shown only on this page" in page.content()
    shot(page, "webhook-secret-issued")

    secret = WebhookSecret.objects.get(name="QMS cloud 2026")
    assert secret.created_by.username == "board1"
    assert raw not in json.dumps(list(WebhookSecret.objects.values()), default=str)

    body = json.dumps({"source": "QMS-P1", "plant": "P1", "type": "inspection.recorded",
                       "occurred_at": "2026-05-10T08:15:00Z", "payload": {}}).encode()  # fmt: skip
    now = int(time.time())
    headers = {"X-Interlock-Timestamp": str(now), "X-Interlock-Signature": sign(raw, now, body),
               "Content-Type": "application/json"}  # fmt: skip
    signed = httpx.post(f"{live_server.url}/api/v1/webhooks/QMS-P1", content=body, headers=headers)
    assert signed.status_code != 401, signed.text  # the signature was accepted
    assert signed.json()["status"] in ("rejected", "quarantined")  # empty payload, named
    headers["X-Interlock-Signature"] = sign("whsec_wrong", now, body)
    refused = httpx.post(f"{live_server.url}/api/v1/webhooks/QMS-P1", content=body, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "bad_signature"


def test_plant_admin_adds_a_csv_layout_for_their_plant_only(login, shot, live_server):
    page = login("p1-admin")
    page.goto(f"{live_server.url}/admin/connectors/csvlayout/add/")
    plants = page.locator("#id_plant option").all_inner_texts()
    assert [p for p in plants if p.strip("-")] == [p for p in plants if p.startswith("P1")]
    page.select_option("#id_system", label="MES-P1 (MES)")
    page.select_option("#id_plant", index=1)
    page.fill("#id_name", "confirmations")
    page.fill("#id_filename_pattern", "conf_*.csv")
    page.fill("#id_event_type", "operation.confirmed")
    page.fill("#id_columns", '{"payload": {"order": "Order"}}')
    page.click("input[name=_save]")
    # The layout names what is missing before anything is saved.
    page.locator(".errornote").wait_for()
    assert "'occurred_at' is a required property" in page.locator(".errorlist").inner_text()
    shot(page, "csv-layout-error")
    page.fill(
        "#id_columns",
        '{"occurred_at": "Posted at", "payload": {"order": "Order", "operation": "Op", '
        '"sequence": {"column": "Seq", "type": "integer"}, '
        '"qty": {"column": "Qty", "type": "number"}, "uom": "Unit"}}',
    )
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/connectors/csvlayout/")
    shot(page, "csv-layout-list")
    layout = CsvLayout.objects.get(name="confirmations")
    assert layout.plant.code == "P1"


def test_operator_sees_a_quarantined_b2mml_element_with_its_xpath_and_line(
    login, shot, live_server
):
    from pathlib import Path

    from orchestrator.models import InboundMessage
    from plants.models import ConnectedSystem
    from plants.services.apikeys import api_key_issue

    _, key = api_key_issue(system=ConnectedSystem.objects.get(code="ERP"), name="browser test")
    data = (Path(__file__).parents[1] / "connectors" / "data" / "schedule.xml").read_bytes()
    response = httpx.post(
        f"{live_server.url}/api/v1/files/schedule.xml?plant=P1",
        content=data,
        headers={"Authorization": f"Api-Key {key}"},
    )
    assert response.status_code == 200, response.text
    (held_id,) = response.json()["quarantined_message_ids"]
    assert InboundMessage.objects.get(pk=held_id).status == "quarantined"

    page = login("operator")
    page.goto(f"{live_server.url}/admin/orchestrator/inboundmessage/{held_id}/change/")
    reasons = page.locator("table.workbench-reasons").inner_text()
    assert "/ProductionSchedule/ProductionRequest[2]/StartTime" in reasons
    assert "(line 34)" in reasons
    shot(page, "b2mml-element-quarantined")
