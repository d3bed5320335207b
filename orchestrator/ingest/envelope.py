"""The envelope of one event: its schema check, who may send it, and its mapping.

:func:`prepare_item` turns one posted envelope into an :class:`~.items._Item`: rejected
(with its reasons) when the envelope is malformed or its source or plant is not the
caller's, otherwise ready to be normalised. :func:`normalize_item` validates the payload
against its type's canonical schema, maps the plant's codes to canonical ones, and computes
the business key and the payload hash the idempotency claim needs (a quarantine when the
payload or its mapping is wrong). Neither writes anything (the mapping may read the
plant's mappings on a cache miss); the pipeline stores and decides what they produce.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator, FormatChecker

from plants.models import Plant

from ..models import MessageStatus
from .intake import Refused
from .items import _Item
from .ledger import business_key, payload_hash
from .normalize import BatchMappings, Reason, map_payload, schema_reasons
from .schemacheck import Check, compile_check
from .specs import SPECS

ENVELOPE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "envelope.v1.json"


@cache
def envelope_validator() -> Draft202012Validator:
    return Draft202012Validator(
        json.loads(ENVELOPE_SCHEMA.read_text()), format_checker=FormatChecker()
    )


@cache
def envelope_check() -> Check | None:
    return compile_check(json.loads(ENVELOPE_SCHEMA.read_text()))


def _parse_occurred_at(text: str) -> dt.datetime | None:
    # The envelope schema has checked RFC 3339 already; fromisoformat reads every common
    # form of it ten times faster than the regex of parse_datetime, which stays the fallback.
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = parse_datetime(text)
    # In UTC: RFC 3339 allows offsets up to ±23:59, PostgreSQL only ±15:59.
    return value.astimezone(dt.UTC) if value is not None and value.tzinfo else value


def _envelope_reasons(envelope: Any) -> list[Reason]:
    if isinstance(envelope, Refused):  # screened out by the adapter (intake.screen)
        return list(envelope.reasons)
    if not isinstance(envelope, dict):
        return [
            Reason(
                code="schema.type",
                path="",
                message="an event envelope must be a JSON object",
                expected="object",
                found=type(envelope).__name__,
            )
        ]
    check = envelope_check()
    if check is not None and check(envelope):
        return []  # valid: jsonschema is only needed to list the problems
    reasons = []
    for error in envelope_validator().iter_errors(envelope):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            path = error.message.split("'")[1]
        elif error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema["properties"]))
            path = extra[0] if len(extra) == 1 else path
        reasons.append(
            Reason(
                code=f"schema.{error.validator}",
                path=path,
                message=error.message,
                found=error.instance if not isinstance(error.instance, (dict, list)) else None,
            )
        )
    return sorted(reasons, key=lambda r: (r.path, r.code))


def prepare_item(
    position: int, envelope: Any, principal, plants_by_code: dict[str, Plant]
) -> _Item:
    correlation_id = ""
    if isinstance(envelope, dict) and isinstance(envelope.get("correlation_id"), str):
        correlation_id = envelope["correlation_id"][:100]
    item = _Item(
        position=position, envelope=envelope, correlation_id=correlation_id or str(uuid.uuid4())
    )
    reasons = _envelope_reasons(envelope)
    if reasons:
        item.status, item.reasons = MessageStatus.REJECTED, reasons
        return item
    if envelope["source"] != principal.system.code:
        return _forbidden(
            item,
            Reason(
                code="forbidden_source",
                path="source",
                message=f"this API key belongs to {principal.system.code}",
                expected=principal.system.code,
                found=envelope["source"],
            ),
        )
    plant = plants_by_code.get(envelope["plant"])
    if plant is None or plant.pk not in principal.system_plant_ids:
        return _forbidden(
            item,
            Reason(
                code="forbidden_plant",
                path="plant",
                message=f"{principal.system.code} does not serve plant {envelope['plant']}",
                expected=sorted(principal.plant_codes),
                found=envelope["plant"],
            ),
        )
    item.plant = plant
    item.spec = SPECS[envelope["type"]]
    item.occurred_at = _parse_occurred_at(envelope["occurred_at"])
    return item


def _forbidden(item: _Item, reason: Reason) -> _Item:
    """Rejected: the caller's key may not send for this source or plant (a 403 for a single
    event, ``rejected`` within a bulk request)."""
    item.status, item.forbidden, item.reasons = MessageStatus.REJECTED, True, [reason]
    return item


def normalize_item(item: _Item, mappings: BatchMappings | None = None) -> None:
    payload = item.envelope["payload"]
    reasons = schema_reasons(item.spec, payload)
    if not reasons:
        day = item.occurred_at.astimezone(item.plant.tz).date()
        canonical, reasons = map_payload(
            spec=item.spec, plant=item.plant, payload=payload, day=day, mappings=mappings
        )
    item.normalized = True
    if reasons:
        item.status, item.reasons = MessageStatus.QUARANTINED, reasons
        return
    item.canonical = canonical
    item.key = business_key(
        spec=item.spec, envelope=item.envelope, canonical=canonical, occurred_at=item.occurred_at
    )
    item.payload_hash = payload_hash(canonical)
