"""A new plant (P9) set up purely through the configuration API, then run.

The environment before: the shipped rule packs are live, the governance board (two people)
and P9's plant admin exist; roles are granted by a superuser in the admin, so P9's admin
membership is the one thing the test writes directly. Everything else is HTTP: the plant,
canonical master data, work centers, systems and their keys, mappings (one by one and in
bulk, JSON and CSV), a parameter override and a plant rule override through four eyes.
Then the plant's systems post events with their new keys, in the plant's own codes.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from orchestrator.models import ApprovalRequest, Gate, OutboxMessage, ProductionOrder
from plants.choices import Role
from plants.models import Membership, Plant
from rules import services as rules_services
from tests.factories import make_member
from tests.factories_rules import threshold_doc

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ok(response, status=200):
    assert response.status_code == status, response.content.decode()[:2000]
    return response.json()


@pytest.fixture
def environment():
    board1 = make_member(Role.GOVERNANCE_BOARD, username="board1")
    board2 = make_member(Role.GOVERNANCE_BOARD, username="board2")
    for path in rules_services.rule_pack_paths():
        rules_services.rule_pack_load(
            source=path.read_text(encoding="utf-8"), author=board1, approver=board2
        )
    return board1, board2


def envelope(source, type_, payload, occurred_at="2026-05-10T08:00:00Z"):
    return {
        "source": source,
        "plant": "P9",
        "type": type_,
        "occurred_at": occurred_at,
        "payload": payload,
    }


def test_a_plant_onboarded_purely_through_the_api_runs_its_events(environment):
    board1, board2 = environment
    board = client_for(board1)

    # --- the board: the plant and canonical master data --------------------------------
    ok(
        board.post(
            "/api/v1/plants",
            {"code": "P9", "name": "Plant 9", "profile": "custom", "timezone": "Europe/Vienna"},
            format="json",
        ),
        201,
    )
    for code, dimension in (("EA", "count"), ("KG", "mass")):
        ok(
            board.post(
                "/api/v1/uoms", {"code": code, "name": code, "dimension": dimension}, format="json"
            ),
            201,
        )
    ok(
        board.post(
            "/api/v1/items",
            {"code": "FG-9000", "description": "Pump", "item_type": "finished", "base_uom": "EA"},
            format="json",
        ),
        201,
    )
    ok(
        board.post(
            "/api/v1/items",
            {"code": "STEEL-9", "description": "Steel", "item_type": "raw", "base_uom": "KG"},
            format="json",
        ),
        201,
    )
    ok(
        board.post("/api/v1/item-revisions", {"item": "FG-9000", "revision": "A"}, format="json"),
        201,
    )
    assert ok(board.get("/api/v1/items/FG-9000"))["revisions"] == ["A"]

    # Roles are granted in the admin by a superuser (not part of the configuration API).
    admin_user = make_member(Role.PLANT_ADMIN, Plant.objects.get(code="P9"), username="p9-admin")
    admin = client_for(admin_user)

    # --- P9's admin: work centers, systems, keys ------------------------------------------
    for code in ("P9-ASSY", "P9-TEST"):
        ok(
            admin.post(
                "/api/v1/work-centers", {"code": code, "name": code, "plant": "P9"}, format="json"
            ),
            201,
        )
    keys = {}
    for code, kind in (("ERP-P9", "erp"), ("MES-P9", "mes"), ("QMS-P9", "qms")):
        ok(
            admin.post(
                "/api/v1/systems",
                {"code": code, "name": code, "kind": kind, "plants": ["P9"]},
                format="json",
            ),
            201,
        )
        issued = ok(
            admin.post(f"/api/v1/systems/{code}/keys", {"name": "prod"}, format="json"), 201
        )
        assert issued["key"].startswith(f"ilk_{issued['prefix']}_")
        keys[code] = issued["key"]
    # A key is shown once: listing keys shows the prefix, never the key.
    listed = ok(admin.get("/api/v1/api-keys?system__code=MES-P9"))["results"]
    assert [k["prefix"] for k in listed] == [issued_prefix(keys["MES-P9"])]
    assert "key" not in listed[0]

    # --- mappings: one by one, bulk JSON, bulk CSV ------------------------------------------
    ok(
        admin.post(
            "/api/v1/mappings/work-centers",
            {"plant": "P9", "plant_code": "MONTAGE", "work_center": "P9-ASSY"},
            format="json",
        ),
        201,
    )
    ok(
        admin.post(
            "/api/v1/mappings/work-centers",
            {"plant": "P9", "plant_code": "PRUEF", "work_center": "P9-TEST"},
            format="json",
        ),
        201,
    )
    imported = ok(
        admin.post(
            "/api/v1/mappings/items/import",
            {
                "rows": [
                    {"plant": "P9", "plant_code": "9-PUMP", "item": "FG-9000", "revision": "A"},
                    {"plant": "P9", "plant_code": "9-STAHL", "item": "STEEL-9"},
                ]
            },
            format="json",
        )
    )
    assert (imported["created"], imported["dry_run"]) == (2, False)
    csv_text = (
        "plant,plant_code,uom,factor,decimal_places,valid_from\n"
        "P9,STK,EA,1,0,2000-01-01\nP9,KGM,KG,1,3,2000-01-01\n"
    )
    ok(admin.post("/api/v1/mappings/uoms/import", csv_text, content_type="text/csv"))
    for code, status in (("OK", "passed"), ("NOK", "failed")):
        ok(
            admin.post(
                "/api/v1/mappings/statuses",
                {
                    "plant": "P9",
                    "domain": "inspection_outcome",
                    "plant_code": code,
                    "canonical_status": status,
                },
                format="json",
            ),
            201,
        )
    # The same plant code again, inside the open validity of the first: a 400 naming it.
    clash = admin.post(
        "/api/v1/mappings/items",
        {"plant": "P9", "plant_code": "9-PUMP", "item": "STEEL-9", "valid_from": "2026-01-01"},
        format="json",
    )
    assert clash.status_code == 400
    detail = clash.json()["details"][0]
    assert (detail["path"], detail["code"]) == ("valid_from", "overlapping_validity")
    assert "2000-01-01" in detail["message"]

    # --- a parameter override and a plant rule override ----------------------------------
    ok(
        admin.post(
            "/api/v1/parameter-overrides",
            {
                "parameter": "completion.threshold_pct",
                "plant": "P9",
                "value": "90",
                "reason": "short runs",
            },
            format="json",
        ),
        201,
    )
    draft = ok(
        admin.post(
            "/api/v1/rules/versions", {"source": threshold_doc(50), "plant": "P9"}, format="json"
        ),
        201,
    )
    ok(admin.post(f"/api/v1/rules/versions/{draft['id']}/submit", format="json"))
    refused = admin.post(f"/api/v1/rules/versions/{draft['id']}/approve", {}, format="json")
    assert refused.status_code == 403  # four eyes stay with the board
    ok(client_for(board2).post(f"/api/v1/rules/versions/{draft['id']}/approve", {}, format="json"))
    ok(admin.post(f"/api/v1/rules/versions/{draft['id']}/publish", {}, format="json"))

    # --- the plant's systems run an order, in the plant's own codes -------------------------
    erp = APIClient()
    erp.credentials(HTTP_AUTHORIZATION=f"Api-Key {keys['ERP-P9']}")
    mes = APIClient()
    mes.credentials(HTTP_AUTHORIZATION=f"Api-Key {keys['MES-P9']}")
    release = {
        "order": "9-4711",
        "item": "9-PUMP",
        "revision": "A",
        "routing_revision": "R1",
        "bom_revision": "B1",
        "qty": 100,
        "uom": "STK",
        "operations": [
            {"operation": "0010", "work_center": "MONTAGE"},
            {"operation": "0020", "work_center": "PRUEF"},
        ],
        "components": [{"item": "9-STAHL", "qty": 20, "uom": "KGM"}],
    }
    # Back-dated by months: the mappings' open default validity covers it.
    released = ok(
        erp.post(
            "/api/v1/events",
            envelope(
                "ERP-P9", "production_order.released", release, occurred_at="2026-01-05T06:00:00Z"
            ),
            format="json",
        ),
        202,
    )
    assert released["status"] == "accepted", released

    # A confirmation before the MES acknowledged the order is parked, and says why.
    early = ok(
        mes.post(
            "/api/v1/events",
            envelope(
                "MES-P9",
                "operation.confirmed",
                {
                    "order": "9-4711",
                    "operation": "0010",
                    "sequence": 1,
                    "qty": 60,
                    "uom": "STK",
                    "final": True,
                },
            ),
            format="json",
        ),
        202,
    )
    assert early["status"] == "parked"
    assert early["waiting_for"] == "order-acknowledged:P9:9-4711"
    exceptions = ok(admin.get("/api/v1/exceptions?status=parked"))["results"]
    assert [e["id"] for e in exceptions] == [early["event_id"]]

    ack = ok(
        mes.post(
            "/api/v1/events",
            envelope(
                "MES-P9",
                "production_order.acknowledged",
                {"order": "9-4711", "routing_revision": "R1", "bom_revision": "B1"},
            ),
            format="json",
        ),
        202,
    )
    assert ack["status"] == "accepted"
    # The plant override (qty > 50 holds the goods receipt) decided the parked confirmation.
    order = ProductionOrder.objects.get(plant__code="P9", number="9-4711")
    assert Gate.objects.filter(order=order, kind="goods_receipt", state="closed").exists()

    ok(
        mes.post(
            "/api/v1/events",
            envelope(
                "MES-P9",
                "operation.confirmed",
                {
                    "order": "9-4711",
                    "operation": "0020",
                    "sequence": 1,
                    "qty": 95,
                    "uom": "STK",
                    "final": True,
                },
            ),
            format="json",
        ),
        202,
    )
    done = ok(
        mes.post(
            "/api/v1/events",
            envelope(
                "MES-P9",
                "production.completed",
                {"order": "9-4711", "lot": "9-FG-1", "qty": 95, "uom": "STK"},
            ),
            format="json",
        ),
        202,
    )
    assert done["status"] == "accepted", done
    # 95 of 100 is complete at P9's 90 % (the global default, 98 %, would ask planning):
    # the inspection request goes to P9's own QMS.
    request = OutboxMessage.objects.get(plant__code="P9", message_type="inspection.request")
    assert request.system.code == "QMS-P9"
    assert not ApprovalRequest.objects.filter(plant__code="P9").exists()
    outbox = ok(admin.get("/api/v1/outbox?plant=P9&type=inspection.request"))["results"]
    assert [row["system"] for row in outbox] == ["QMS-P9"]
    order.refresh_from_db()
    assert ok(admin.get(f"/api/v1/orders/{order.pk}"))["state"] == order.state

    # The plant's systems cannot change its configuration with their keys.
    refused = mes.post(
        "/api/v1/mappings/items",
        {"plant": "P9", "plant_code": "X", "item": "FG-9000"},
        format="json",
    )
    assert refused.status_code == 403
    assert Membership.objects.filter(plant__code="P9").count() == 1


def issued_prefix(raw: str) -> str:
    return raw.split("_")[1]
