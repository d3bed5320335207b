"""The OpenAPI document itself (issue 11, finding 12): event types as an enum, one payload
schema per type behind a discriminator, every error status documented in one body."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from orchestrator.ingest.specs import SPECS


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_event_types_are_an_enum_with_a_schema_and_example_per_type(schema):
    components = schema["components"]["schemas"]
    assert components["EventType"]["enum"] == sorted(SPECS)
    envelope = components["EventEnvelope"]
    assert envelope["discriminator"]["propertyName"] == "type"
    assert set(envelope["discriminator"]["mapping"]) == set(SPECS)
    confirmed = components["Event_operation_confirmed"]
    assert confirmed["properties"]["type"]["enum"] == ["operation.confirmed"]
    payload = components["Event_operation_confirmed_Payload"]
    assert payload["properties"]["sequence"]["maximum"] == 2**31 - 1
    assert confirmed["example"]["payload"]["order"] == "WO-1001"
    body = schema["paths"]["/api/v1/events"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/EventEnvelope")


def test_every_operation_documents_its_error_statuses(schema):
    missing = []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            wanted = {"400", "401", "403", "404", "405"}
            if method in ("post", "put"):
                wanted |= {"409", "413", "415"}
            if not wanted <= set(op["responses"]):
                missing.append((method, path, sorted(wanted - set(op["responses"]))))
            error = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}, (method, path)
    assert not missing


def test_error_codes_are_named_in_the_descriptions(schema):
    approve = schema["paths"]["/api/v1/rules/versions/{id}/approve"]["post"]["responses"]
    assert "`transition_not_allowed`" in approve["409"]["description"]
    assert "`four_eyes`" in approve["403"]["description"]
    events = schema["paths"]["/api/v1/events/bulk"]["post"]["responses"]
    assert "`too_many_items`" in events["413"]["description"]
    assert "`string_unstorable`" in events["400"]["description"]
