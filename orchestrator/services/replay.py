"""The exception workbench's write side: replay and discard, of messages and of events.

An operator acts on what ingest could not finish:

- **message replay**: the stored body goes through ``ingest_batch`` again, as the system
  that sent it, after a fix (a mapping added, a lot released, a system given the plant).
  The replay is a *new* :class:`InboundMessage` pointing back with ``replay_of``; the
  original keeps its status (it is the record of what happened) and notes who replayed it
  and with which outcome in ``handled_by`` / ``handled_reason``.
- **event replay**: a quarantined or escalated canonical event is re-applied through the
  handlers (its business key is already claimed, so it is the same event, not a new one).
- **discard**: the message or event is set aside for good, with the operator's reason.

Every action checks the object-level permission (``orchestrator.replay_inboundmessage``…),
which :class:`plants.auth.PlantRoleBackend` scopes to the object's plant, and leaves an
:class:`~orchestrator.models.AuditRecord` under the object's correlation id, so the trace
shows it. The admin, the API and any command call these functions; nothing else writes
these statuses.

Two operators replaying the same message at once is harmless: both replays go through the
idempotency claim, so one is accepted and the other answers ``duplicate`` of it.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from interlock.errors import Conflict, DomainError, ErrorDetail, NotAllowed

from ..ingest.context import BatchContext, audit_record
from ..ingest.handlers import apply_events
from ..ingest.pipeline import ingest_batch, principal_for
from ..ingest.rules_bridge import pin_version
from ..models import AuditRecord, Event, EventStatus, InboundMessage, MessageStatus
from ..models.outbox import OutboxMessage, OutboxStatus
from .lifecycle import actor_identity
from .outbox import PERM_REPLAY, outbox_system_for, outbox_wake_on_commit

#: Message statuses an operator may act on (``received`` belongs to the recovery sweeper,
#: ``accepted``/``duplicate`` need nothing, ``discarded`` is final).
MESSAGE_OPEN = (MessageStatus.QUARANTINED, MessageStatus.REJECTED, MessageStatus.CONFLICT)
#: Event statuses an operator may re-apply or discard.
EVENT_REPLAYABLE = (EventStatus.QUARANTINED, EventStatus.ESCALATED)
EVENT_DISCARDABLE = (EventStatus.QUARANTINED, EventStatus.ESCALATED, EventStatus.PARKED)
#: Outcomes of a replay that close the original message.
MESSAGE_RESOLVED = (MessageStatus.ACCEPTED, MessageStatus.DUPLICATE)

REASON_MAX = 300  # InboundMessage.handled_reason


class NotReplayable(DomainError):
    def __init__(self, message: str, *, found: str = "") -> None:
        super().__init__(
            message=message,
            code="not_replayable",
            details=[
                ErrorDetail(path="status", code="not_replayable", message=message, found=found)
            ],
            http_status=409,
        )


def _require(actor: Any, perm: str, obj: models.Model) -> None:
    if actor is None or not actor.has_perm(perm, obj):
        raise NotAllowed(f"You may not do this for {obj} ({perm} at its plant).")


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            message="Say why it is discarded.",
            code="reason_required",
            details=[ErrorDetail(path="reason", code="required", message="A reason is required.")],
        )
    if len(reason) > REASON_MAX:
        raise DomainError(
            message=f"The reason is longer than {REASON_MAX} characters.",
            code="reason_too_long",
            details=[
                ErrorDetail(
                    path="reason",
                    code="max_length",
                    message="too long",
                    expected=REASON_MAX,
                    found=len(reason),
                )
            ],
        )
    return reason


def _audit(
    *,
    obj: models.Model,
    actor: Any,
    transition: str,
    source: str,
    target: str,
    reason: str,
    correlation_id: str,
    plant_id: int | None,
) -> AuditRecord:
    user, label = actor_identity(actor)
    record = audit_record(
        obj,
        actor=user,
        actor_label=label,
        plant_id=plant_id,
        field_name="status",
        transition=transition,
        source=source,
        target=target,
        reason=reason,
        correlation_id=correlation_id,
    )
    record.full_clean()
    record.save()
    return record


# --- messages ---------------------------------------------------------------------------
def message_replay(*, message: InboundMessage, actor: Any) -> InboundMessage:
    """Re-ingest ``message``'s stored body as the system that sent it; return the new
    message (``replay_of=message``, ``handled_by=actor``), decided like any other.

    Raises :class:`NotAllowed` without ``orchestrator.replay_inboundmessage`` at the
    message's plant, :class:`NotReplayable` when there is nothing to replay (an open
    status is required; a body that was not even JSON cannot become an event).
    """
    _require(actor, "orchestrator.replay_inboundmessage", message)
    message = InboundMessage.objects.select_related("system").get(pk=message.pk)
    if message.status not in MESSAGE_OPEN:
        raise NotReplayable(
            f"{message} is {message.status}; only quarantined, rejected or conflicting "
            "messages are replayed.",
            found=message.status,
        )
    if message.system_id is None or not isinstance(message.body, dict):
        raise NotReplayable(f"{message} has no sending system to replay it as.")
    if any(r.get("code") == "invalid_json" for r in message.reasons or []):
        raise NotReplayable(f"{message} was not JSON; the sender must send it again.")
    done = message.replays.filter(status__in=MESSAGE_RESOLVED).order_by("pk").first()
    if done is not None:  # a second click; the claim would answer duplicate anyway
        raise NotReplayable(f"{message} was already replayed as message {done.pk} ({done.status}).")

    body = message.body
    if "correlation_id" not in body:
        # The pipeline gives an envelope without one a fresh id; the replay must keep the
        # original's, or the trace of the chain would break in two.
        body = {**body, "correlation_id": message.correlation_id}
    # No outer transaction on purpose: ingest stores the raw message in its own commit and
    # decides in another, exactly as for a message arriving from the system.
    result = ingest_batch(
        principal=principal_for(message.system),
        envelopes=[body],
        replay_of=message,
        handled_by=actor,
    )[0]
    replay = InboundMessage.objects.get(pk=result.message_id)
    with transaction.atomic():
        mark_handled(
            message=message,
            actor=actor,
            transition="replay",
            outcome=replay.status,
            text=f"replayed as message {replay.pk}: {replay.status}",
        )
    return replay


def mark_handled(
    *, message: InboundMessage, actor: Any, transition: str, outcome: str, text: str
) -> InboundMessage:
    """Note on the original ``message`` who handled it and how (``text``, e.g. "replayed as
    message 12: accepted"), and audit it: the message keeps its status as the record of
    what happened; the workbench reads the outcome to decide whether it still needs
    attention. Call inside a transaction."""
    original = InboundMessage.objects.select_for_update().get(pk=message.pk)
    user, _ = actor_identity(actor)
    original.handled_by = user
    original.handled_reason = text[:REASON_MAX]
    original.save(update_fields=["handled_by", "handled_reason"])
    _audit(
        obj=original,
        actor=actor,
        transition=transition,
        source=original.status,
        target=outcome,
        reason=original.handled_reason,
        correlation_id=original.correlation_id,
        plant_id=original.plant_id,
    )
    return original


def message_discard(*, message: InboundMessage, actor: Any, reason: str) -> InboundMessage:
    """Set ``message`` aside for good (status ``discarded``), recording who and why."""
    _require(actor, "orchestrator.discard_inboundmessage", message)
    reason = _clean_reason(reason)
    with transaction.atomic():
        locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status not in MESSAGE_OPEN:
            raise Conflict(
                f"{locked} is {locked.status}; only quarantined, rejected or conflicting "
                "messages are discarded.",
                code="not_discardable",
            )
        source = locked.status
        user, _ = actor_identity(actor)
        locked.status = MessageStatus.DISCARDED
        locked.handled_by = user
        locked.handled_reason = reason
        locked.processed_at = locked.processed_at or timezone.now()
        locked.save(update_fields=["status", "handled_by", "handled_reason", "processed_at"])
        _audit(
            obj=locked,
            actor=actor,
            transition="discard",
            source=source,
            target=locked.status,
            reason=reason,
            correlation_id=locked.correlation_id,
            plant_id=locked.plant_id,
        )
    message.refresh_from_db()
    return locked


# --- events -----------------------------------------------------------------------------
def event_replay(*, event: Event, actor: Any, version=None, reason: str = "") -> Event:
    """Re-apply a quarantined or escalated ``event`` through its handler, after a fix.

    The row is locked for the whole application, so two replays of one event serialise
    and the second finds it no longer quarantined. An event type without a handler ends
    ``accepted``, as on first arrival.

    ``version`` (a ``RuleSetVersion``) pins that version of its rule set instead of the one
    live at the plant (``services.replay_version`` checks that it may be used and that a
    dry run was seen); the audit record names it, and ``reason``, the operator's.
    """
    _require(actor, "orchestrator.replay_event", event)
    _, label = actor_identity(actor)
    with transaction.atomic():
        locked = (
            Event.objects.select_for_update().select_related("plant", "system").get(pk=event.pk)
        )
        if locked.status not in EVENT_REPLAYABLE:
            raise NotReplayable(
                f"{locked} is {locked.status}; only quarantined or escalated events are "
                "re-applied.",
                found=locked.status,
            )
        source = locked.status
        locked.status = EventStatus.ACCEPTED
        locked.reasons = []
        locked.waiting_for = ""
        ctx = BatchContext(actor_label=label, now=timezone.now())
        if version is not None:
            pin_version(ctx, locked.plant, version)
        apply_events(ctx, [locked])  # applies, releases what waited on it, flushes
        # The replayed event (even when no handler touched it) and every released one.
        ctx.save_outcomes(locked)
        why = f"re-applied by {label}"
        if version is not None:
            why = f"re-applied by {label} with rule version {version.label} (pinned): {reason}"
        _audit(
            obj=locked,
            actor=actor,
            transition="replay" if version is None else "replay_with_version",
            source=source,
            target=locked.status,
            reason=why[:2000],
            correlation_id=locked.correlation_id,
            plant_id=locked.plant_id,
        )
    event.refresh_from_db()
    return locked


def event_discard(*, event: Event, actor: Any, reason: str) -> Event:
    """Set a quarantined, escalated or parked ``event`` aside for good, with the reason
    (kept on the event's reasons and in the audit trail)."""
    _require(actor, "orchestrator.discard_event", event)
    reason = _clean_reason(reason)
    _, label = actor_identity(actor)
    with transaction.atomic():
        locked = Event.objects.select_for_update().get(pk=event.pk)
        if locked.status not in EVENT_DISCARDABLE:
            raise Conflict(
                f"{locked} is {locked.status}; only quarantined, escalated or parked events "
                "are discarded.",
                code="not_discardable",
            )
        source = locked.status
        locked.status = EventStatus.DISCARDED
        locked.waiting_for = ""
        locked.reasons = [
            *(locked.reasons or []),
            {"code": "discarded", "path": "", "message": reason, "found": label},
        ]
        locked.save(update_fields=["status", "waiting_for", "reasons"])
        _audit(
            obj=locked,
            actor=actor,
            transition="discard",
            source=source,
            target=locked.status,
            reason=reason,
            correlation_id=locked.correlation_id,
            plant_id=locked.plant_id,
        )
    event.refresh_from_db()
    return locked


# --- edit-then-replay ----------------------------------------------------------------------
EDIT_FOUR_EYES_PARAMETER = "workbench.edit_replay_four_eyes"


def payload_diff(before: Any, after: Any, path: str = "") -> list[dict]:
    """Field-by-field differences between two JSON documents (``[{path, before, after}]``,
    paths like ``payload.lot`` or ``payload.operations[1].qty``)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[dict] = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in before:
                out.append({"path": sub, "before": None, "after": after[key]})
            elif key not in after:
                out.append({"path": sub, "before": before[key], "after": None})
            else:
                out += payload_diff(before[key], after[key], sub)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += payload_diff(b, a, f"{path}[{i}]")
        return out
    return [] if before == after else [{"path": path, "before": before, "after": after}]


def _edit_needs_four_eyes(message: InboundMessage) -> bool:
    from plants.selectors import site_parameter

    return message.plant is not None and bool(
        site_parameter(key=EDIT_FOUR_EYES_PARAMETER, plant=message.plant)
    )


def message_edit(*, message: InboundMessage, body: dict, actor: Any, reason: str):
    """Fix a stored message's body and replay the fixed copy.

    The original is kept as received; the edit (:class:`PayloadEdit`) records the new
    body, the diff and the reason. Where the plant asks for four eyes, it waits for a
    second operator (:func:`message_edit_approve`); otherwise it is replayed at once.
    Returns the edit (``edit.replay`` is the new message once replayed).
    """
    from ..models import PayloadEdit

    _require(actor, "orchestrator.replay_inboundmessage", message)
    reason = _clean_reason(reason)
    message = InboundMessage.objects.select_related("plant").get(pk=message.pk)
    if message.status not in MESSAGE_OPEN:
        raise NotReplayable(
            f"{message} is {message.status}; only quarantined, rejected or conflicting "
            "messages are fixed and replayed.",
            found=message.status,
        )
    if not isinstance(body, dict):
        raise DomainError(
            message="The corrected message must be a JSON object (the whole envelope).",
            code="invalid_body",
            details=[ErrorDetail(path="body", code="type", message="not an object")],
        )
    diff = payload_diff(message.body if isinstance(message.body, dict) else {}, body)
    if not diff:
        raise DomainError(
            message="Nothing was changed: replay the message as it is instead.",
            code="no_change",
            details=[ErrorDetail(path="body", code="unchanged", message="same as received")],
        )
    user, _ = actor_identity(actor)
    edit = PayloadEdit.objects.create(
        message=message,
        plant=message.plant,
        body=body,
        diff=diff,
        reason=reason,
        edited_by=user,
        edited_at=timezone.now(),
    )
    _audit(
        obj=message,
        actor=actor,
        transition="edit",
        source=message.status,
        target=message.status,
        reason=f"{reason} · changed {', '.join(d['path'] for d in diff)}"[:2000],
        correlation_id=message.correlation_id,
        plant_id=message.plant_id,
    )
    if _edit_needs_four_eyes(message):
        return edit
    return message_edit_approve(edit=edit, actor=actor)


def message_edit_approve(*, edit, actor: Any):
    """Approve an edited body and replay it (a second operator where the plant asks for
    four eyes: the person who edited cannot approve their own change)."""
    from ..models import PayloadEdit, PayloadEditState

    message = edit.message
    _require(actor, "orchestrator.replay_inboundmessage", message)
    with transaction.atomic():
        locked = PayloadEdit.objects.select_for_update().get(pk=edit.pk)
        if locked.state != PayloadEditState.PENDING:
            raise Conflict(f"This edit is already {locked.state}.", code="edit_decided")
        user, _ = actor_identity(actor)
        if _edit_needs_four_eyes(message) and locked.edited_by_id == getattr(user, "pk", None):
            raise NotAllowed(
                f"Plant {message.plant.code} asks for four eyes: a second operator approves "
                "this edit, not the person who made it."
            )
        locked.approved_by, locked.approved_at = user, timezone.now()
        locked.save(update_fields=["approved_by", "approved_at"])
    body = locked.body
    if "correlation_id" not in body:
        body = {**body, "correlation_id": message.correlation_id}
    result = ingest_batch(
        principal=principal_for(message.system),
        envelopes=[body],
        replay_of=message,
        handled_by=actor,
    )[0]
    replay = InboundMessage.objects.get(pk=result.message_id)
    with transaction.atomic():
        locked.state, locked.replay = PayloadEditState.REPLAYED, replay
        locked.save(update_fields=["state", "replay"])
        mark_handled(
            message=message,
            actor=actor,
            transition="replay_edited",
            outcome=replay.status,
            text=f"fixed and replayed as message {replay.pk}: {replay.status}",
        )
    return locked


# --- a group at once -------------------------------------------------------------------------
#: Bulk actions: at most this many items per action, and this many actions per person and
#: minute; a mistaken click must not replay ten thousand messages into a recovering ERP.
BULK_MAX_ITEMS = 200
BULK_ACTIONS_PER_MINUTE = 5


def bulk_rate_check(*, actor: Any) -> None:
    """Count one bulk action for ``actor``; refuse past the per-minute budget."""
    from django.core.cache import cache

    key = f"workbench-bulk:{getattr(actor, 'pk', actor)}:{int(timezone.now().timestamp() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count > BULK_ACTIONS_PER_MINUTE:
        raise DomainError(
            message=f"At most {BULK_ACTIONS_PER_MINUTE} bulk actions a minute: wait a moment.",
            code="rate_limited",
            http_status=429,
        )


def group_act(*, items: list, action: str, actor: Any, reason: str) -> tuple[list, list[str]]:
    """Replay or discard every item of a workbench group (messages, events, dead-lettered
    outbox rows), each through its own service; returns ``(done, refused)``. The reason is
    required for both, and kept with each discard and on the bulk audit of replays."""
    reason = _clean_reason(reason)
    if action not in ("replay", "discard"):
        raise DomainError(message=f"Unknown action {action!r}.", code="unknown_action")
    if len(items) > BULK_MAX_ITEMS:
        raise DomainError(
            message=f"{len(items)} items: at most {BULK_MAX_ITEMS} at once; narrow the group.",
            code="too_many",
        )
    bulk_rate_check(actor=actor)
    done, refused = [], []
    for item in items:
        try:
            if isinstance(item, InboundMessage):
                result = (
                    message_replay(message=item, actor=actor)
                    if action == "replay"
                    else message_discard(message=item, actor=actor, reason=reason)
                )
            elif isinstance(item, Event):
                result = (
                    event_replay(event=item, actor=actor)
                    if action == "replay"
                    else event_discard(event=item, actor=actor, reason=reason)
                )
            elif action == "replay":
                result = outbox_replay(message=item, actor=actor)
            else:
                raise NotReplayable(
                    f"{item}: dead-lettered deliveries are replayed, not discarded."
                )
        except DomainError as exc:
            refused.append(f"{item}: {exc.message}")
        else:
            done.append(result)
    return done, refused


# --- outbox messages ----------------------------------------------------------------------
def outbox_replay(*, message: OutboxMessage, actor: Any) -> OutboxMessage:
    """Put a dead-lettered message back in the queue, with a fresh attempt budget, after a
    fix (receiver repaired, credential set, payload problem solved at the source).

    Its earlier attempts stay on record; the receiver deduplicates by the unchanged
    idempotency key, so a replay of something that did arrive has no second effect.
    Raises :class:`NotAllowed` without ``orchestrator.replay_outboxmessage`` at the
    message's plant and :class:`NotReplayable` unless it is dead-lettered.
    """
    if actor is None or not actor.has_perm(PERM_REPLAY, message):
        raise NotAllowed(f"You may not replay {message} ({PERM_REPLAY} at its plant).")
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if message.status != OutboxStatus.DEAD:
            raise NotReplayable(
                f"outbox message {message.pk} is {message.status}; only dead-lettered "
                "messages are replayed.",
                found=message.status,
            )
        if message.system_id is None:
            message.system_id = outbox_system_for(
                plant_id=message.plant_id, kind=message.target_system
            )
        previous_error = message.last_error
        message.status = OutboxStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = timezone.now()
        message.locked_until = None
        message.save(
            update_fields=["status", "attempts", "next_attempt_at", "locked_until", "system"]
        )
        _audit(
            obj=message,
            actor=actor,
            transition="replay",
            source=OutboxStatus.DEAD,
            target=OutboxStatus.PENDING,
            reason=f"replayed after: {previous_error}"[:2000],
            correlation_id=message.correlation_id,
            plant_id=message.plant_id,
        )
        if message.system_id is not None:
            outbox_wake_on_commit({message.system_id})
    return message
