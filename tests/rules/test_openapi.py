"""The rules API is fully described in the OpenAPI document (drf-spectacular)."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

WRITE_OPERATIONS = [
    ("/api/v1/rules/validate", "post", "RulesValidateRequest"),
    ("/api/v1/rules/versions", "post", "RulesVersionCreateRequest"),
    ("/api/v1/rules/versions/{id}", "put", "RulesVersionUpdateRequest"),
    ("/api/v1/rules/versions/{id}/approve", "post", "RulesVersionApproveRequest"),
    ("/api/v1/rules/versions/{id}/publish", "post", "RulesVersionPublishRequest"),
    ("/api/v1/rules/rulesets/{key}/rollback", "post", "RulesRollbackRequest"),
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    GENERATOR_STATS.reset()
    with django_db_blocker.unblock():
        document = SchemaGenerator().get_schema(request=None, public=True)
    return document, GENERATOR_STATS


def test_rules_views_generate_without_errors_or_warnings(schema):
    _, stats = schema
    rules_messages = [m for m in (*stats._warn_cache, *stats._error_cache) if "rules" in m]
    assert rules_messages == []


@pytest.mark.parametrize(("path", "method", "component"), WRITE_OPERATIONS)
def test_every_write_operation_documents_its_request_and_errors(schema, path, method, component):
    document, _ = schema
    operation = document["paths"][path][method]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{component}"}
    assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }


def test_version_responses_name_their_fields(schema):
    document, _ = schema
    ok = document["paths"]["/api/v1/rules/versions/{id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VersionOut"
    }
    fields = document["components"]["schemas"]["VersionOut"]["properties"]
    assert {"state", "author", "approved_by", "test_results"} <= set(fields)
