"""Who may do what through the configuration and flow read APIs.

For every endpoint: the plant admin of P1 (own plant vs P2), the governance board, the
auditor (reads everything, writes nothing) and a connected system's key. A refusal is a
403 in the one error body naming the missing permission; a row outside one's plants is a
404 (it is not even visible).
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from plants.choices import Role
from plants.models import ApiKey, ConnectedSystem, ItemMapping
from tests.factories import (
    ConnectedSystemFactory,
    ItemFactory,
    ItemMappingFactory,
    WorkCenterFactory,
    issue_api_key,
    make_member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(plant_p1, plant_p2):
    item = ItemFactory(code="FG-1")
    ItemMappingFactory(plant=plant_p1, plant_code="OWN", item=item)
    ItemMappingFactory(plant=plant_p2, plant_code="OTHER", item=item)
    WorkCenterFactory(plant=plant_p1, code="P1-WC")
    mes1 = ConnectedSystemFactory(code="MES-P1")
    mes1.plants.set([plant_p1])
    mes2 = ConnectedSystemFactory(code="MES-P2")
    mes2.plants.set([plant_p2])
    return {
        "admin": make_member(Role.PLANT_ADMIN, plant_p1, username="p1-admin"),
        "board": make_member(Role.GOVERNANCE_BOARD, username="board1"),
        "auditor": make_member(Role.AUDITOR, username="auditor"),
        "key": issue_api_key(mes1),
        "item": item,
    }


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def as_key(raw) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def refused(response, perm: str) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "permission_denied"
    assert perm in body["message"]
    assert body["details"][0]["expected"] == perm


def mapping(plant: str, code: str) -> dict:
    return {"plant": plant, "plant_code": code, "item": "FG-1", "valid_from": "2026-01-01"}


def test_plant_admin_writes_own_plant_only(setup):
    admin = as_user(setup["admin"])
    assert (
        admin.post("/api/v1/mappings/items", mapping("P1", "NEW"), format="json").status_code == 201
    )
    refused(
        admin.post("/api/v1/mappings/items", mapping("P2", "NEW"), format="json"),
        "plants.add_itemmapping",
    )
    other = ItemMapping.objects.get(plant_code="OTHER")
    assert (
        admin.patch(f"/api/v1/mappings/items/{other.pk}", {"note": "x"}, format="json").status_code
        == 404
    )
    own = ItemMapping.objects.get(plant_code="OWN")
    moved = admin.patch(f"/api/v1/mappings/items/{own.pk}", {"plant": "P2"}, format="json")
    refused(moved, "plants.change_itemmapping")  # cannot move a row into another plant
    assert admin.delete(f"/api/v1/mappings/items/{own.pk}").status_code == 204
    # Company-wide master data and plants are the board's.
    refused(
        admin.post(
            "/api/v1/items",
            {"code": "X", "description": "x", "item_type": "raw", "base_uom": "EA"},
            format="json",
        ),
        "plants.add_item",
    )
    refused(
        admin.post(
            "/api/v1/plants", {"code": "P7", "name": "7", "profile": "custom"}, format="json"
        ),
        "plants.add_plant",
    )


def test_plant_admin_connects_systems_and_issues_keys_for_own_plant_only(setup):
    admin = as_user(setup["admin"])
    body = {"code": "QMS-P1", "name": "QMS", "kind": "qms", "plants": ["P1"]}
    assert admin.post("/api/v1/systems", body, format="json").status_code == 201
    refused(
        admin.post(
            "/api/v1/systems", {**body, "code": "QMS-X", "plants": ["P1", "P2"]}, format="json"
        ),
        "plants.add_connectedsystem",
    )
    issued = admin.post("/api/v1/systems/QMS-P1/keys", {"name": "prod"}, format="json")
    assert issued.status_code == 201
    assert issued["Cache-Control"] == "no-store"
    assert (
        admin.post("/api/v1/systems/MES-P2/keys", {"name": "x"}, format="json").status_code == 404
    )
    prefix = issued.json()["prefix"]
    revoked = admin.post(f"/api/v1/api-keys/{prefix}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False
    assert ApiKey.objects.get(prefix=prefix).revoked_by == setup["admin"]
    # Systems are deactivated, never deleted.
    assert admin.delete("/api/v1/systems/QMS-P1").status_code == 405
    assert (
        admin.patch("/api/v1/systems/QMS-P1", {"active": False}, format="json").status_code == 200
    )
    assert ConnectedSystem.objects.get(code="QMS-P1").active is False


def test_board_configures_master_data_and_plants_but_not_plant_mappings(setup):
    board = as_user(setup["board"])
    assert (
        board.post(
            "/api/v1/uoms", {"code": "KG", "name": "kg", "dimension": "mass"}, format="json"
        ).status_code
        == 201
    )
    assert (
        board.post(
            "/api/v1/plants", {"code": "P7", "name": "7", "profile": "custom"}, format="json"
        ).status_code
        == 201
    )
    assert (
        board.post("/api/v1/suppliers", {"code": "S1", "name": "S"}, format="json").status_code
        == 201
    )
    refused(
        board.post("/api/v1/mappings/items", mapping("P1", "B"), format="json"),
        "plants.add_itemmapping",
    )


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/plants",
        "/api/v1/systems",
        "/api/v1/api-keys",
        "/api/v1/mappings/items",
        "/api/v1/items",
        "/api/v1/parameters",
        "/api/v1/parameter-overrides",
        "/api/v1/release-windows",
        "/api/v1/goods-receipts",
        "/api/v1/messages",
        "/api/v1/messages/quarantined",
        "/api/v1/exceptions",
        "/api/v1/outbox",
    ],
)
def test_auditor_reads_every_endpoint(setup, url):
    assert as_user(setup["auditor"]).get(url).status_code == 200


def test_auditor_writes_nothing(setup):
    auditor = as_user(setup["auditor"])
    refused(
        auditor.post("/api/v1/mappings/items", mapping("P1", "A"), format="json"),
        "plants.add_itemmapping",
    )
    refused(
        auditor.post("/api/v1/systems/MES-P1/keys", {"name": "x"}, format="json"),
        "plants.add_apikey",
    )
    refused(
        auditor.post(
            "/api/v1/mappings/items/import", {"rows": [mapping("P1", "A")]}, format="json"
        ),
        "plants.add_itemmapping",
    )
    refused(
        auditor.post("/api/v1/plants/P2/onboard", {"template": "P1"}, format="json"),
        "plants.add_itemmapping",
    )


def test_system_key_reads_its_plant_and_never_configures(setup):
    key = as_key(setup["key"])
    assert key.get("/api/v1/mappings/items").status_code == 200
    assert key.get("/api/v1/goods-receipts").status_code == 200
    assert key.get("/api/v1/outbox?plant=P2").status_code == 403
    assert key.get("/api/v1/messages").status_code == 403  # other systems' raw messages
    assert key.get("/api/v1/api-keys").status_code == 403
    response = key.post("/api/v1/mappings/items", mapping("P1", "K"), format="json")
    refused(response, "plants.add_itemmapping")
    assert "may not change configuration" in response.json()["message"]
    refused(
        key.post("/api/v1/systems/MES-P1/keys", {"name": "x"}, format="json"), "plants.add_apikey"
    )


def test_bulk_import_is_all_or_nothing_with_row_errors(setup):
    admin = as_user(setup["admin"])
    rows = [mapping("P1", "A1"), {**mapping("P1", "A2"), "item": "NOPE"}, mapping("P2", "A3")]
    response = admin.post("/api/v1/mappings/items/import", {"rows": rows}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "import_failed"
    assert {(d["path"], d["row"]) for d in body["details"]} == {
        ("rows[1].item", 1),
        ("rows[2].plant", 2),
    }
    assert not ItemMapping.objects.filter(plant_code__in=["A1", "A2", "A3"]).exists()
    dry = admin.post(
        "/api/v1/mappings/items/import", {"rows": rows[:1], "dry_run": True}, format="json"
    )
    assert dry.json()["created"] == 1
    assert not ItemMapping.objects.filter(plant_code="A1").exists()
