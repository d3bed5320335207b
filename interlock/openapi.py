"""Make ``/api/schema/`` an exact contract (a drf-spectacular post-processing hook).

What the views' own annotations cannot say is added here, once, for every operation:

- **Every error response**, in the one error body (:class:`Error`), with the codes each
  status can carry listed in its description: the input checks every endpoint shares
  (``interlock.jsonsafe``, the URL guard, the parser), authentication, scoping, unknown
  ids, and the business codes of the operation's app.
- **The inbound event contract**: ``type`` is an enum, and the envelope is a ``oneOf`` of
  one schema per event type, with a discriminator on ``type``; each payload is the
  canonical JSON Schema of its type (``orchestrator/ingest/schemas/v1``) turned into
  OpenAPI 3.0, with an example.

Schemathesis runs against this schema in the test suite (``tests/contract``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django.conf import settings

ERROR_REF = {"$ref": "#/components/schemas/Error"}

#: Codes every operation may answer, per status.
_COMMON = {
    "400": (
        "Invalid input. `validation_error` lists every problem by `path` and `code` "
        "(a JSON Schema keyword such as `schema.required`, a field code such as `invalid`, "
        "`required`, `max_length`, or `string_unstorable` for NUL / lone surrogates, "
        "`number_not_finite`, `number_out_of_range`, `nesting_too_deep`); also "
        "`invalid_json` and `nesting_too_deep` for a body that cannot be parsed.",
        ["validation_error", "invalid_json", "nesting_too_deep"],
    ),
    "401": (
        "No or unknown credentials (`not_authenticated`, `authentication_failed`).",
        ["not_authenticated", "authentication_failed"],
    ),
    "403": (
        "The caller may not do this, or not for this plant (`permission_denied`).",
        ["permission_denied"],
    ),
    "404": (
        "No such resource, or not visible to the caller; also an unknown URL or a page "
        "past the end (`not_found`).",
        ["not_found"],
    ),
    "405": ("The method is not allowed here (`method_not_allowed`).", ["method_not_allowed"]),
    "409": (
        "The object is not in a state that allows this (`transition_not_allowed`, `conflict`).",
        ["transition_not_allowed", "conflict"],
    ),
    "413": (
        "The body is over the size limit (`request_too_large`) or has too many items "
        "(`too_many_items`).",
        ["request_too_large", "too_many_items"],
    ),
    "415": ("The body is not JSON (`unsupported_media_type`).", ["unsupported_media_type"]),
}

#: Business codes per app (the first path segment after ``/api/v1/``), per status.
_DOMAIN = {
    "rules": {
        "400": "`ruleset_invalid`, `ruleset_key_changed`, `tests_failed`, `test_failed`, "
        "`no_tests`, `no_release_window`, `no_previous_version`, `bad_window`",
        "403": "`four_eyes`",
        "409": "`version_immutable`, `illegal_transition`",
    },
    "messages": {
        "400": "`reason_required`, `reason_too_long`, `system_inactive`",
        "409": "`not_replayable`, `not_discardable`",
    },
    "events": {
        "400": "`reason_required`, `reason_too_long`, `no_event_source`",
        "409": "`not_replayable`, `not_discardable`",
    },
    "outbox": {"409": "`not_replayable`"},
    "approvals": {
        "400": "`reason_required`, `unknown_outcome`",
        "403": "`wrong_plant`",
        "409": "`approval_already_decided`",
    },
    "checks": {"400": "`invalid_quantity`, `mapping_missing`"},
}


def _error_schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "description": "The one error body of the API.",
            "properties": {
                "code": {"type": "string", "description": "Machine-readable error code."},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                "message_id": {
                    "type": "integer",
                    "nullable": True,
                    "description": "Inbound API: the stored (rejected) message.",
                },
            },
            "required": ["code", "message", "details"],
        },
        "Problem": {
            "type": "object",
            "description": "One problem: where (`path`), what (`code`), expected and found.",
            "properties": {
                "path": {"type": "string"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "expected": {},
                "found": {},
            },
            "required": ["code"],
        },
    }


def _statuses(method: str, op: dict[str, Any]) -> list[str]:
    out = ["400", "401", "403", "404", "405"]
    if method in ("post", "put", "patch", "delete"):
        out += ["409", "413", "415"]
    return out


def _describe(status: str, app: str, existing: str | None) -> str:
    text, _ = _COMMON[status]
    domain = _DOMAIN.get(app, {}).get(status)
    parts = [existing] if existing else []
    parts.append(text)
    if domain:
        parts.append(f"Business codes of this operation: {domain}.")
    return " ".join(parts)


def _document_errors(result: dict[str, Any]) -> None:
    for path, operations in result.get("paths", {}).items():
        app = path.removeprefix("/api/v1/").split("/", 1)[0]
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            for status in _statuses(method, op):
                existing = responses.get(status)
                if existing is not None and existing.get("content"):
                    # Declared by the view (its error serializer has the same shape, or a
                    # non-error body such as the 409 `conflict` of an event): keep it.
                    existing["description"] = _describe(status, app, existing.get("description"))
                    continue
                responses[status] = {
                    "description": _describe(
                        status, app, existing.get("description") if existing else None
                    ),
                    "content": {"application/json": {"schema": ERROR_REF}},
                }


# --- the event envelope -----------------------------------------------------------------
def _to_openapi30(schema: Any) -> Any:
    """A JSON Schema 2020-12 document as an OpenAPI 3.0 schema object."""
    if isinstance(schema, list):
        return [_to_openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("$schema", "$id"):
            continue
        if key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        elif key == "properties":
            out[key] = {name: _to_openapi30(s) for name, s in value.items()}
        else:
            out[key] = _to_openapi30(value)
    return out


def _example(schema: dict[str, Any], name: str = "") -> Any:
    """A small valid instance of ``schema`` (required fields only)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(props[k], k) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [_example(schema.get("items", {}), name)] * max(1, schema.get("minItems", 1))
    if kind in ("number", "integer"):
        low = schema.get("minimum", 0)
        return max(low, 1) if kind == "integer" else max(low, 10)
    if kind == "boolean":
        return True
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-05-10T08:15:00Z"
    if fmt == "date":
        return "2026-05-10"
    return {"order": "WO-1001", "operation": "0010", "uom": "EA", "lot": "L-77"}.get(
        name, name.upper() + "-1" if name else "X"
    )


def _envelopes(result: dict[str, Any]) -> None:
    # Imported here: settings import this module before the apps are ready.
    from orchestrator.ingest.envelope import ENVELOPE_SCHEMA
    from orchestrator.ingest.specs import SPECS, load_schema

    schemas = result["components"]["schemas"]
    envelope = _to_openapi30(json.loads(ENVELOPE_SCHEMA.read_text()))
    types = sorted(SPECS)
    schemas["EventType"] = {
        "type": "string",
        "enum": types,
        "description": "Canonical event types (DOMAIN.md's taxonomy).",
    }
    mapping = {}
    variants = []
    for event_type in types:
        base = "Event_" + event_type.replace(".", "_")
        payload = _to_openapi30(copy.deepcopy(load_schema(event_type)))
        payload.pop("title", None)
        schemas[f"{base}_Payload"] = payload
        variant = copy.deepcopy(envelope)
        variant["title"] = event_type
        variant.pop("description", None)
        variant["properties"]["type"] = {"type": "string", "enum": [event_type]}
        variant["properties"]["payload"] = {"$ref": f"#/components/schemas/{base}_Payload"}
        variant["example"] = {
            "source": "MES-P1",
            "plant": "P1",
            "type": event_type,
            "occurred_at": "2026-05-10T08:15:00Z",
            "payload": _example(payload),
        }
        schemas[base] = variant
        ref = f"#/components/schemas/{base}"
        mapping[event_type] = ref
        variants.append({"$ref": ref})
    schemas["EventEnvelope"] = {
        "description": "An inbound event: one schema per `type`, whose `payload` is the "
        "canonical JSON Schema of that type (plant codes are mapped after validation).",
        "oneOf": variants,
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    schemas["EventBulk"] = {
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/EventEnvelope"},
                "maxItems": settings.INTERLOCK_BULK_MAX_ITEMS,
            }
        },
        "required": ["events"],
        "additionalProperties": False,
    }
    paths = result.get("paths", {})
    for path, component in (
        ("/api/v1/events", "EventEnvelope"),
        ("/api/v1/events/bulk", "EventBulk"),
    ):
        op = paths.get(path, {}).get("post")
        if op is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
                },
            }
    for name in ("EventEnvelopeRequest", "EventBulkRequest"):
        schemas.pop(name, None)


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry (after the enum hook)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_error_schemas())
    _envelopes(result)
    _document_errors(result)
    return result
