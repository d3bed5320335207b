"""The inbound transports' configuration through the API, with the admin's services and
permissions: CSV layouts, Sparkplug B mappings and Tryton sources (plant admin, at their
plant), webhook secrets (the board; two active for rotation). Admin saves go through the
same service, with the person as the actor in the history."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from connectors.models import CsvLayout, WebhookSecret
from plants.choices import Role
from tests.factories import ConnectedSystemFactory, make_member

pytestmark = pytest.mark.django_db

LAYOUT = {
    "name": "confirmations",
    "filename_pattern": "conf-*.csv",
    "event_type": "operation.confirmed",
    "columns": {"occurred_at": "At", "payload": {"order": "Order", "operation": "Op"}},
}


@pytest.fixture
def setup(plant_p1, plant_p2):
    mes1 = ConnectedSystemFactory(code="MES-P1")
    mes1.plants.set([plant_p1])
    mes2 = ConnectedSystemFactory(code="MES-P2")
    mes2.plants.set([plant_p2])
    erp = ConnectedSystemFactory(code="ERP-T", kind="erp", transport="tryton")
    erp.plants.set([plant_p1])
    return {
        "admin": make_member(Role.PLANT_ADMIN, plant_p1, username="p1-admin"),
        "board": make_member(Role.GOVERNANCE_BOARD, username="board1"),
    }


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def refused(response, perm: str) -> None:
    assert response.status_code == 403, response.content
    assert perm in response.json()["message"]


def test_a_plant_admin_configures_csv_layouts_of_their_plant_only(setup):
    api = as_user(setup["admin"])
    made = api.post(
        "/api/v1/csv-layouts", {**LAYOUT, "system": "MES-P1", "plant": "P1"}, format="json"
    )
    assert made.status_code == 201, made.content
    layout = CsvLayout.objects.get(pk=made.json()["id"])
    assert layout.history.first().history_user == setup["admin"]

    refused(
        api.post(
            "/api/v1/csv-layouts",
            {**LAYOUT, "name": "other", "system": "MES-P2", "plant": "P2"},
            format="json",
        ),
        "connectors.add_csvlayout",
    )
    # full_clean names the field: the system does not serve that plant.
    wrong = api.post(
        "/api/v1/csv-layouts",
        {**LAYOUT, "name": "x", "system": "MES-P2", "plant": "P1"},
        format="json",
    )
    assert wrong.status_code in (400, 403), wrong.content
    bad = api.patch(f"/api/v1/csv-layouts/{layout.pk}", {"columns": {"payload": {}}}, format="json")
    assert bad.status_code == 400
    assert any(d["path"] == "columns" for d in bad.json()["details"]), bad.json()
    assert api.delete(f"/api/v1/csv-layouts/{layout.pk}").status_code == 204


def test_sparkplug_mappings_and_tryton_sources_through_the_api(setup):
    api = as_user(setup["admin"])
    mapping = api.post(
        "/api/v1/sparkplug-mappings",
        {
            "system": "MES-P1",
            "plant": "P1",
            "group_id": "Plant1",
            "edge_node_id": "Press7",
            "metric": "Press/Running",
            "trigger": "false",
            "event_type": "machine.downtime",
            "payload": {"work_center": "LINE_A", "started_at": "$timestamp"},
        },
        format="json",
    )
    assert mapping.status_code == 201, mapping.content
    empty = api.post(
        "/api/v1/sparkplug-mappings",
        {**mapping.json(), "metric": "Other", "payload": {}},
        format="json",
    )
    assert empty.status_code == 400
    assert empty.json()["details"][0]["path"] == "payload"

    source = api.post(
        "/api/v1/tryton-sources",
        {
            "system": "ERP-T",
            "plant": "P1",
            "routing_revision": "R1",
            "operations": [{"operation": "0010", "work_center": "LINE_A"}],
        },
        format="json",
    )
    assert source.status_code == 201, source.content
    assert source.json()["watermark"] is None
    not_tryton = api.post(
        "/api/v1/tryton-sources", {"system": "MES-P1", "plant": "P1"}, format="json"
    )
    assert not_tryton.status_code == 400
    assert not_tryton.json()["details"][0]["path"] == "system"


def test_webhook_secrets_rotate_with_two_active_and_only_the_board_issues_them(setup):
    board = as_user(setup["board"])
    first = board.post(
        "/api/v1/webhook-secrets/issue", {"system": "MES-P1", "name": "2026"}, format="json"
    )
    assert first.status_code == 201, first.content
    assert first.json()["secret"].startswith("whsec_")
    assert first["Cache-Control"] == "no-store"
    second = board.post(
        "/api/v1/webhook-secrets/issue", {"system": "MES-P1", "name": "2027"}, format="json"
    )
    assert second.status_code == 201
    third = board.post(
        "/api/v1/webhook-secrets/issue", {"system": "MES-P1", "name": "2028"}, format="json"
    )
    assert third.status_code == 409
    assert third.json()["code"] == "too_many_webhook_secrets"
    revoked = board.post(f"/api/v1/webhook-secrets/{first.json()['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_by"] == "board1"
    listed = board.get("/api/v1/webhook-secrets?system__code=MES-P1").json()
    assert "secret" not in str(listed["results"][0].keys())
    assert WebhookSecret.objects.usable().filter(system__code="MES-P1").count() == 1

    refused(
        as_user(setup["admin"]).post(
            "/api/v1/webhook-secrets/issue", {"system": "MES-P1", "name": "mine"}, format="json"
        ),
        "connectors.add_webhooksecret",
    )


def test_an_admin_save_of_a_layout_goes_through_the_service_with_the_person(setup):
    admin = setup["admin"]
    client = Client()
    client.force_login(admin)
    from plants.models import ConnectedSystem, Plant

    response = client.post(
        "/admin/connectors/csvlayout/add/",
        {
            "system": ConnectedSystem.objects.get(code="MES-P1").pk,
            "plant": Plant.objects.get(code="P1").pk,
            "name": "from-admin",
            "filename_pattern": "*.csv",
            "event_type": "operation.confirmed",
            "delimiter": ",",
            "columns": '{"occurred_at": "At", "payload": {"order": "Order"}}',
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    layout = CsvLayout.objects.get(name="from-admin")
    record = layout.history.first()
    assert record.history_user == admin
    assert record.history_change_reason == "created in the admin"


def test_every_transport_has_its_connector_whatever_was_imported_first():
    """The REST module is imported at start-up (reconciliation's snapshot fetcher); the
    Tryton connector must still be found for a Tryton system."""
    import connectors.outbound.rest  # noqa: F401 - as the app's ready() does
    from connectors.outbound import base
    from plants.choices import Transport
    from plants.models import ConnectedSystem

    base.CONNECTORS.pop("tryton", None)
    system = ConnectedSystem(
        code="ERP-T", kind="erp", transport=Transport.TRYTON, base_url="http://127.0.0.1:1/erp/"
    )
    with pytest.raises(base.ConnectorError) as refused:
        base.connector_for(system)  # found, then refused: the system has no credential
    assert refused.value.code != "no_connector", refused.value
    assert base.CONNECTORS["tryton"].transport == "tryton"
