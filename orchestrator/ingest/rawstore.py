"""The raw store: every envelope is stored as it came, in one statement. On PostgreSQL it
runs last in the decision's transaction, each row with its outcome (``decided``); on SQLite,
and after a failed decision, it runs first in its own commit (what was decided already, a
refusal or a known repeat, is stored decided; the rest ``received``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import connection, transaction

from ..models import InboundMessage, MessageStatus
from .bulksql import pg_insert as _pg_insert
from .intake import Refused
from .items import _Item

# --- stage 1: the raw store ----------------------------------------------------------------
_MESSAGE_COLUMNS = (
    "received_at",
    "request_id",
    "position",
    "system_id",
    "plant_id",
    "source",
    "plant_code",
    "event_type",
    "message_id",
    "correlation_id",
    "body",
    "status",
    "reasons",
    "processed_at",
    "replay_of_id",
    "handled_by_id",
    "handled_reason",
    "event_id",
)


def _store_raw(
    items: list[_Item],
    principal,
    request_id: uuid.UUID,
    now: dt.datetime,
    *,
    replay_of: InboundMessage | None = None,
    handled_by=None,
    decided: bool = False,
) -> None:
    """Insert one message per item. ``decided``: every item has its outcome already (the
    decision ran first, in the same transaction), and each row is written with it."""
    handled_by_id = handled_by.pk if getattr(handled_by, "pk", None) else None
    replay_of_id = replay_of.pk if replay_of is not None else None
    if connection.vendor != "postgresql":
        if decided:  # pragma: no cover - PostgreSQL decides before it stores
            raise ValueError("decided messages are stored on PostgreSQL only")
        _store_raw_orm(items, principal, request_id, now, replay_of_id, handled_by_id)
        return
    n = len(items)
    columns: list[list[Any]] = [[] for _ in _MESSAGE_COLUMNS]
    (received, request, position, system, plant, source, plant_code, event_type, message_id,
     correlation, body, status, reasons, processed, replay, handled, handled_reason,
     event) = columns  # fmt: skip
    for item in items:
        env = item.envelope if isinstance(item.envelope, dict) else {}
        position.append(item.position if item.stored_position is None else item.stored_position)
        request.append(item.request_id or request_id)
        plant.append(item.plant.pk if item.plant is not None else None)
        source.append(str(env.get("source", ""))[:100])
        plant_code.append(str(env.get("plant", ""))[:100])
        event_type.append(str(env.get("type", ""))[:100])
        message_id.append(str(env.get("message_id", ""))[:200])
        correlation.append(item.correlation_id)
        body.append(_stored_body(item.envelope))
        if decided:
            item.undecided_in_db = False
            status.append(item.status)
        else:
            status.append(_stored_status(item))
        reasons.append([] if item.undecided_in_db else [r.as_dict() for r in item.reasons])
        processed.append(None if item.undecided_in_db else now)
        event.append(None if item.undecided_in_db else item.event_id)
    received.extend([now] * n)
    system.extend([principal.system.pk] * n)
    replay.extend([replay_of_id] * n)
    handled.extend([handled_by_id] * n)
    handled_reason.extend([""] * n)
    # One statement: in autocommit before a decision (atomic on its own), or in the
    # decision's transaction with the outcomes.
    returned = _pg_insert(
        InboundMessage, _MESSAGE_COLUMNS, columns, 'RETURNING "id", "request_id", "position"'
    )
    by_place = {(req, pos): pk for pk, req, pos in returned}
    for item, req, pos in zip(items, request, position, strict=True):
        item.message_pk = by_place[(req, pos)]


def _stored_body(envelope: Any) -> Any:
    # A refused envelope is stored as its bounded, storable text (intake.Refused.body).
    return envelope.body if isinstance(envelope, Refused) else envelope


#: Decisions the raw store may write at once; anything else is decided in the transaction.
_DECIDED_AT_STORE = (MessageStatus.REJECTED, MessageStatus.DUPLICATE, MessageStatus.CONFLICT)


def _stored_status(item: _Item) -> str:
    """The status the raw store writes for ``item`` (and mark what is left to decide)."""
    if item.status in _DECIDED_AT_STORE:
        item.undecided_in_db = False
        return item.status
    item.undecided_in_db = True
    return MessageStatus.RECEIVED


def _store_raw_orm(items, principal, request_id, now, replay_of_id, handled_by_id) -> None:
    messages = []
    for item in items:
        env = item.envelope if isinstance(item.envelope, dict) else {}
        decided = _stored_status(item)
        messages.append(
            InboundMessage(
                received_at=now,
                request_id=item.request_id or request_id,
                position=item.position if item.stored_position is None else item.stored_position,
                system=principal.system,
                plant=item.plant,
                source=str(env.get("source", ""))[:100],
                plant_code=str(env.get("plant", ""))[:100],
                event_type=str(env.get("type", ""))[:100],
                message_id=str(env.get("message_id", ""))[:200],
                correlation_id=item.correlation_id,
                body=_stored_body(item.envelope),
                status=decided,
                reasons=[] if item.undecided_in_db else [r.as_dict() for r in item.reasons],
                processed_at=None if item.undecided_in_db else now,
                event_id=None if item.undecided_in_db else item.event_id,
                replay_of_id=replay_of_id,
                handled_by_id=handled_by_id,
            )
        )
    with transaction.atomic():
        InboundMessage.objects.bulk_create(messages)
    if any(m.pk is None for m in messages):  # pragma: no cover
        raise RuntimeError("bulk_create did not return primary keys")
    for item, message in zip(items, messages, strict=True):
        item.message_pk = message.pk
