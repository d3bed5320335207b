"""Plants read API: API-key authentication, plant scoping, error shape, query counts."""

import datetime as dt

import pytest
from django.utils import timezone

from plants.models import ApiKey
from plants.models.plant import hash_api_key
from plants.services.apikeys import api_key_revoke
from tests.factories import ItemMappingFactory, UomMappingFactory

pytestmark = pytest.mark.django_db


def _auth(client, raw):
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_api_key_is_stored_only_as_its_hash(system_with_key, plant_p1):
    system, raw = system_with_key(plant_p1)
    key = ApiKey.objects.get(system=system)
    assert raw not in {key.key_hash, key.prefix}
    assert key.key_hash == hash_api_key(raw)
    assert raw.startswith(f"ilk_{key.prefix}_")


def test_system_key_reads_only_its_own_plants_mappings(
    api_client, system_with_key, plant_p1, plant_p2
):
    ItemMappingFactory(plant=plant_p1, plant_code="P1-CODE")
    ItemMappingFactory(plant=plant_p2, plant_code="P2-CODE")
    _, raw = system_with_key(plant_p1)

    response = _auth(api_client, raw).get("/api/v1/mappings/items")

    assert response.status_code == 200
    assert [row["plant_code"] for row in response.json()["results"]] == ["P1-CODE"]


def test_system_key_asking_for_another_plant_gets_403(
    api_client, system_with_key, plant_p1, plant_p2
):
    _, raw = system_with_key(plant_p1)
    response = _auth(api_client, raw).get("/api/v1/mappings/items?plant=P2")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "permission_denied"
    assert "P2" in body["message"]


def test_system_key_cannot_retrieve_a_plant_it_does_not_serve(
    api_client, system_with_key, plant_p1, plant_p2
):
    _, raw = system_with_key(plant_p1)
    assert _auth(api_client, raw).get("/api/v1/plants/P2").status_code == 404
    assert _auth(api_client, raw).get("/api/v1/plants/P1").status_code == 200


def test_revoked_key_is_refused_with_the_error_shape(api_client, system_with_key, plant_p1):
    system, raw = system_with_key(plant_p1)
    api_key_revoke(key=ApiKey.objects.get(system=system))
    response = _auth(api_client, raw).get("/api/v1/plants")
    assert response.status_code == 401
    assert response.json() == {
        "code": "inactive_api_key",
        "message": "API key is revoked, expired or its system is inactive.",
        "details": [],
    }


def test_expired_key_is_refused(api_client, system_with_key, plant_p1):
    system, raw = system_with_key(plant_p1)
    ApiKey.objects.filter(system=system).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert _auth(api_client, raw).get("/api/v1/plants").status_code == 401


@pytest.mark.parametrize("raw", ["garbage", "ilk_000000000000_wrong", "ilk_x_y", ""])
def test_malformed_or_unknown_key_is_401_not_500(api_client, raw, system_with_key, plant_p1):
    system_with_key(plant_p1)
    response = api_client.get("/api/v1/plants", HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 401
    assert response.json()["code"] in {"invalid_api_key", "not_authenticated"}


def test_tampered_secret_with_a_valid_prefix_is_refused(api_client, system_with_key, plant_p1):
    _, raw = system_with_key(plant_p1)
    tampered = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    assert _auth(api_client, tampered).get("/api/v1/plants").status_code == 401


def test_anonymous_request_is_401(api_client):
    response = api_client.get("/api/v1/plants")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_unknown_filter_value_is_400_with_path(api_client, member, plant_p1):
    api_client.force_authenticate(member("auditor"))
    response = api_client.get("/api/v1/mappings/items?valid_on=not-a-date")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["details"][0]["path"] == "valid_on"


@pytest.mark.parametrize("rows", [1, 25])
def test_mapping_list_query_count_does_not_grow_with_rows(
    api_client, member, plant_p1, rows, django_assert_max_num_queries
):
    for i in range(rows):
        ItemMappingFactory(plant=plant_p1, plant_code=f"C{i}")
        UomMappingFactory(plant=plant_p1, plant_code=f"U{i}")
    api_client.force_authenticate(member("plant_admin", plant_p1))
    # memberships (1) + ModelBackend user/group perms (2) + count (1) + page (1): flat in rows
    with django_assert_max_num_queries(5):
        assert api_client.get("/api/v1/mappings/items").status_code == 200
    with django_assert_max_num_queries(5):
        assert api_client.get("/api/v1/mappings/uoms").status_code == 200


def test_systems_endpoint_lists_transport_settings_but_no_credentials(
    api_client, member, system_with_key, plant_p1
):
    system, _ = system_with_key(plant_p1, code="ERP-X")
    system.credential_env = "ERP_X_TOKEN"
    system.save()
    api_client.force_authenticate(member("auditor"))
    row = api_client.get("/api/v1/systems/ERP-X").json()
    assert row["plants"] == ["P1"]
    assert "credential_env" not in row
    assert "api_keys" not in row


def test_openapi_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/mappings/items" in schema.content
    ui = client.get("/api/docs/")
    assert ui.status_code == 200
    # Swagger UI comes from our own static files (sidecar), not a CDN.
    assert b"cdn" not in ui.content.lower()
    assert b"drf_spectacular_sidecar" in ui.content


def test_openapi_schema_generates_without_warnings():
    """Every endpoint is described (a view drf-spectacular cannot read drops out silently)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            "/dev/null",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "DEBUG": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
