"""The rules REST API: schema, validation with positions, four eyes over HTTP."""

from __future__ import annotations

import pytest

from tests.factories_rules import board, threshold_doc

pytestmark = pytest.mark.django_db


def test_schema_endpoint_publishes_the_json_schema(api_client):
    api_client.force_authenticate(board("alice"))
    response = api_client.get("/api/v1/rules/schema")
    assert response.status_code == 200
    assert response.json()["$id"].endswith("ruleset.v1.json")


def test_validate_returns_positioned_problems(api_client):
    api_client.force_authenticate(board("alice"))
    source = threshold_doc(10).replace("event.qty", "event.qtty")
    body = api_client.post("/api/v1/rules/validate", {"source": source}, format="json").json()
    assert body["valid"] is False
    [problem] = body["problems"]
    assert (problem["code"], problem["line"], problem["expr_column"]) == (
        "cel_unknown_field",
        9,
        6,
    )


def test_four_eyes_over_the_api(api_client):
    alice, bob = board("alice"), board("bob")
    api_client.force_authenticate(alice)
    created = api_client.post(
        "/api/v1/rules/versions", {"source": threshold_doc(10)}, format="json"
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert api_client.post(f"/api/v1/rules/versions/{pk}/submit").status_code == 200
    refused = api_client.post(f"/api/v1/rules/versions/{pk}/approve")
    assert refused.status_code == 403
    assert refused.json()["code"] == "four_eyes"
    api_client.force_authenticate(bob)
    approved = api_client.post(f"/api/v1/rules/versions/{pk}/approve")
    assert approved.json()["state"] == "approved"
    published = api_client.post(f"/api/v1/rules/versions/{pk}/publish", {}, format="json")
    assert published.json()["state"] == "published"


def test_invalid_document_is_a_400_with_every_problem(api_client):
    api_client.force_authenticate(board("alice"))
    source = threshold_doc(10).replace("hold_gate", "hold_gat")
    response = api_client.post("/api/v1/rules/versions", {"source": source}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "ruleset_invalid"
    assert response.json()["details"][0]["found"]["code"] == "unknown_action"
