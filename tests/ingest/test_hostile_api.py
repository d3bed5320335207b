"""Issue 11, findings 5, 9, 11 and 12 outside the event body: query strings, rule-version
transitions, permission order, closed orders, least disclosure and JSON 404/405.

Each test failed on the code before the fix (a 500, an HTML page, or data it must not see).
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from orchestrator.models import Event, OutboxMessage, ProductionOrder
from plants.choices import Role
from tests.factories import make_member
from tests.factories_rules import board, threshold_doc
from tests.ingest.conftest import envelope
from tests.ingest.flow import run, steel_lot

pytestmark = pytest.mark.django_db


def as_system(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders?plant=%00",
        "/api/v1/orders?%00=1",
        "/api/v1/systems/ERP%00",
        "/api/v1/plants/P1%00",
    ],
)
def test_finding5_nul_in_the_url_is_a_400_naming_it(world, api_client, url):
    response = as_system(api_client, world["mes_key"]).get(url)
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["details"][0]["code"] == "string_unstorable"
    assert body["details"][0]["path"] in ("path", "query.plant", "query.\\u0000")


@pytest.mark.parametrize("offset", ["+18:30", "-16:00", "+15:59"])
def test_finding5_since_with_an_offset_postgres_refuses(api_client, offset):
    api_client.force_authenticate(make_member(Role.AUDITOR))
    response = api_client.get("/api/v1/audit-records", {"since": f"2026-01-01T00:00:00{offset}"})
    assert response.status_code == 200, response.content[:300]


def test_finding5_since_with_an_impossible_offset_is_a_400(api_client):
    api_client.force_authenticate(make_member(Role.AUDITOR))
    response = api_client.get("/api/v1/audit-records", {"since": "2026-01-01T00:00:00+24:30"})
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "since"


def test_finding5_submit_or_approve_a_published_version_is_a_409(api_client):
    alice, bob = board("alice"), board("bob")
    api_client.force_authenticate(alice)
    pk = api_client.post(
        "/api/v1/rules/versions", {"source": threshold_doc(10)}, format="json"
    ).json()["id"]
    api_client.post(f"/api/v1/rules/versions/{pk}/submit")
    api_client.force_authenticate(bob)
    api_client.post(f"/api/v1/rules/versions/{pk}/approve")
    published = api_client.post(f"/api/v1/rules/versions/{pk}/publish", {}, format="json")
    assert published.json()["state"] == "published"
    for action in ("approve", "submit"):
        response = api_client.post(f"/api/v1/rules/versions/{pk}/{action}")
        assert response.status_code == 409, (action, response.content[:300])
        assert response.json()["code"] in ("transition_not_allowed", "conflict", "wrong_state")


def test_finding5_a_system_key_is_refused_before_its_input_is_parsed(world, api_client):
    client = as_system(api_client, world["mes_key"])
    raw = b'{"source": "rules: [\\u0000]"}'
    response = client.generic("POST", "/api/v1/rules/versions", raw, "application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    # the same body, from a person, is refused by path instead of reaching the database
    api_client.credentials()
    api_client.force_authenticate(board("alice"))
    response = api_client.generic("POST", "/api/v1/rules/versions", raw, "application/json")
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "source"
    assert response.json()["details"][0]["code"] == "string_unstorable"


def test_finding5_deep_json_to_a_people_endpoint_is_a_400(api_client):
    api_client.force_authenticate(board("alice"))
    raw = b'{"source": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    response = api_client.generic("POST", "/api/v1/rules/validate", raw, "application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "nesting_too_deep"


def test_finding9_an_event_for_a_financially_posted_order_is_quarantined(world, post):
    steel_lot(world)
    for key, body in run():
        assert post(world[key], body).status_code == 202
    assert ProductionOrder.objects.get(number="WO-1001").state == "financially_posted"
    outbox_before = OutboxMessage.objects.count()
    late = envelope(
        "operation.confirmed",
        {"order": "WO-1001", "operation": "0020", "sequence": 99, "qty": 5, "uom": "ST"},
        occurred_at="2026-05-11T08:00:00Z",
    )
    body = post(world["mes_key"], late).json()
    assert body["status"] == "quarantined", body
    assert body["reasons"][0]["code"] == "order_closed"
    assert Event.objects.get(pk=body["event_id"]).status == "quarantined"
    assert OutboxMessage.objects.count() == outbox_before


def test_finding11_a_system_key_sees_only_its_own_system(world, api_client):
    client = as_system(api_client, world["mes_key"])
    listed = client.get("/api/v1/systems").json()
    codes = [s["code"] for s in listed.get("results", listed)]
    assert codes == ["MES-P1"]
    assert client.get("/api/v1/systems/ERP").status_code == 404


@override_settings(DEBUG=True)
@pytest.mark.parametrize(
    "url", ["/api/v1/orders/123456", "/api/v1/nothing-here", "/api/v1/messages/abc/replay"]
)
def test_finding12_unknown_api_paths_are_json_404s(world, api_client, url):
    response = as_system(api_client, world["mes_key"]).get(url)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"


def test_finding12_wrong_method_is_a_json_405(world, api_client):
    response = as_system(api_client, world["mes_key"]).delete("/api/v1/events")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_html_404_outside_the_api_is_unchanged(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
