"""The state one batch of events is applied in.

Handlers never save as they go: they record outcomes here (applied, parked, quarantined)
and the pipeline writes them back set-wise at the end of the batch, inside the same
transaction as the idempotency claim. That is what keeps a bulk request at a handful of
statements instead of several per event.

The same holds for what handlers change: lifecycle transitions run on the batch's
preloaded, row-locked objects (:meth:`BatchContext.transition`), their audit records and
new rows (confirmations, issues, outbox messages...) are buffered, and :meth:`flush`
writes them with one ``UPDATE … FROM jsonb_to_recordset`` per model and field set and one
``INSERT … SELECT`` per model, all sent as one statement (``bulksql``; the ORM's
``bulk_update`` / ``bulk_create`` on SQLite). Rare events may still call services that save at once; they must then not leave a
stale copy of the same object in the batch cache (see ``ingest.world``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django_fsm import can_proceed

from ..models import AuditRecord, Event, EventStatus
from .bulksql import (
    bulk_insert,
    bulk_update,
    execute_together,
    insert_statement,
    inserts_in_one,
    update_statement,
)
from .instances import maker
from .normalize import Reason

#: The fields of an :class:`Event` that applying it decides, written back after a batch.
EVENT_OUTCOME_FIELDS = (
    "status",
    "reasons",
    "waiting_for",
    "parked_at",
    "applied_at",
    "rule_pins",
    "explanation",
)


class TransitionRefused(Exception):
    """A transition does not apply to the object's state (or its guard said no)."""

    def __init__(
        self, obj: models.Model, name: str, state: str, why: str, *, applicable: bool = True
    ) -> None:
        super().__init__(f"cannot {name} {obj}: it is {state!r} ({why})")
        self.obj, self.name, self.state, self.why = obj, name, state, why
        #: ``False``: the transition does not leave from this state at all (else a guard).
        self.applicable = applicable

    def reason(self, path: str = "") -> Reason:
        return Reason(
            code="illegal_transition",
            path=path,
            message=str(self),
            expected=self.name,
            found=self.state,
        )


def _plant_id(obj: models.Model) -> int | None:
    plant_id = getattr(obj, "plant_id", None)
    if plant_id is not None:
        return plant_id
    order = getattr(obj, "order", None) if getattr(obj, "order_id", None) else None
    if order is not None:
        return order.plant_id
    scope = getattr(obj, "scope_plant_ids", None)
    plants = scope() if scope else None
    return next(iter(plants)) if plants and len(plants) == 1 else None


def audit_record(
    obj: models.Model,
    *,
    actor_label: str,
    transition: str,
    source: str,
    target: str,
    correlation_id: str,
    reason: str = "",
    field_name: str = "state",
    actor: Any = None,
    occurred_at: dt.datetime | None = None,
    plant_id: int | None = None,
    make: Callable[[Sequence[Any]], AuditRecord] | None = None,
) -> AuditRecord:
    """The audit record of a state change of ``obj`` (which must have a pk): the one place
    every writer builds it (the batch, ``services.lifecycle.transition_apply``, replays,
    the escalation of parked events). ``actor`` is a person (``None`` for a system, named
    by ``actor_label``); ``plant_id`` defaults to the object's plant. ``make``: the batch's
    maker of these rows (``BatchContext.maker``), used with ``occurred_at``."""
    values = (
        actor_label,
        str(obj.pk),
        str(obj)[:200],
        plant_id if plant_id is not None else _plant_id(obj),
        field_name,
        transition,
        str(source),
        str(target),
        reason,
        correlation_id,
    )
    content_type = ContentType.objects.get_for_model(type(obj))
    if make is not None and occurred_at is not None:
        return make((*values, occurred_at, actor, content_type))
    record = AuditRecord(
        **dict(zip(_AUDIT_GIVEN, values, strict=True)), actor=actor, content_type=content_type
    )
    if occurred_at is not None:
        record.occurred_at = occurred_at
    return record


#: What an audit record is given (:func:`audit_record`), in this order; then its
#: ``occurred_at`` and, as objects, ``_AUDIT_RELATED``.
_AUDIT_GIVEN = (
    "actor_label",
    "object_id",
    "object_repr",
    "plant_id",
    "field",
    "transition",
    "source_state",
    "target_state",
    "reason",
    "correlation_id",
)
_AUDIT_RELATED = ("actor", "content_type")


def fire(obj: models.Model, name: str, field: models.Field, **kwargs: Any) -> tuple[str, str]:
    """Run django-fsm transition ``name`` on ``obj`` in memory, guards included; return
    ``(source, target)`` of ``field``. Raises :class:`TransitionRefused` and changes nothing
    when it does not apply. The one transition core of the batch and of human services."""
    source = getattr(obj, field.name)
    bound = getattr(obj, name)
    if not can_proceed(bound, check_conditions=False):
        raise TransitionRefused(
            obj, name, source, f"{name} does not apply from {source}", applicable=False
        )
    if not can_proceed(bound):
        raise TransitionRefused(obj, name, source, "its preconditions are not met")
    bound(**kwargs)
    return source, getattr(obj, field.name)


@cache
def _history_of(model: type[models.Model]) -> tuple[type[models.Model], tuple[str, ...]] | None:
    """``(historical model, tracked attnames)`` of ``model``, or ``None`` without history.
    Reading simple-history's manager attribute builds a new manager class each time (most
    of a transition's cost before this was cached)."""
    attribute = getattr(model._meta, "simple_history_manager_attribute", None)
    if attribute is None:
        return None
    historical = getattr(model, attribute).model
    return historical, tuple(f.attname for f in historical.tracked_fields)


@cache
def _tracked_values(attnames: tuple[str, ...]) -> Callable[[models.Model], tuple]:
    """``obj → tuple of its values of attnames`` (``attrgetter``, a tuple even for one)."""
    get = attrgetter(*attnames)
    return get if len(attnames) > 1 else lambda obj: (get(obj),)


#: What a buffered history row has besides the tracked values, in ``_snapshot``'s order.
_HISTORY_FIELDS = ("history_date", "history_type", "history_user_id", "history_change_reason")
#: Key of a history model's row maker in ``BatchContext.cache``.
_HISTORY_MAKER = "history-maker"
#: Key of a new row's maker in ``BatchContext.cache`` (:meth:`BatchContext.maker`).
_ROW_MAKER = "row-maker"


#: Order in which buffered rows of these models are inserted (their foreign keys point to
#: rows that exist already or come earlier in this list).
_INSERT_ORDER: tuple[str, ...] = (
    "orchestrator.ordercomponent",
    "orchestrator.lotorderlink",
    "orchestrator.operationconfirmation",
    "orchestrator.materialissue",
    "orchestrator.scrapdeclaration",
    "orchestrator.gate",
    "orchestrator.outboxmessage",
    "orchestrator.notification",
    "orchestrator.approvalrequest",
    "orchestrator.auditrecord",
)
#: Buffered rows that may already exist (a re-applied event): inserted with ON CONFLICT DO
#: NOTHING, because their unique constraints are the second line of idempotency.
_IGNORE_CONFLICTS = {
    "orchestrator.operationconfirmation",
    "orchestrator.outboxmessage",
}


@dataclass
class BatchContext:
    """Outcomes and buffers of one batch. ``actor_label`` is who the changes are attributed to
    (``system:MES-P1``); ``now`` is the batch's clock."""

    actor_label: str
    now: dt.datetime
    #: Events applied, parked or quarantined in this batch (written back by the pipeline).
    touched: dict[int, Event] = field(default_factory=dict)
    #: Free-form per-batch caches handlers may share (preloaded orders, lots, ...).
    cache: dict[str, Any] = field(default_factory=dict)
    #: Rows changed in memory: ``(model label, pk) → (obj, {field names})``.
    dirty: dict[tuple[str, int], tuple[models.Model, set[str]]] = field(default_factory=dict)
    #: New rows to insert at :meth:`flush`, by model label, in arrival order.
    new_rows: dict[str, list[models.Model]] = field(default_factory=dict)
    #: Prerequisite keys that became true in this batch (see ``sequencing``).
    fulfilled: list[str] = field(default_factory=list)
    #: Tracked values of the last history row buffered per object (``_snapshot``).
    snapshots: dict[tuple[str, int], tuple] = field(default_factory=dict)
    #: The person the changes are attributed to (``None``: the system of ``actor_label``).
    actor: Any = None

    def save_outcomes(self, *also: Event) -> None:
        """Write back what this batch decided for every event it touched (including those
        it released from parking) and for ``also``: one set-wise UPDATE."""
        for event in also:
            self.touched.setdefault(event.pk, event)
        if self.touched:
            bulk_update(list(self.touched.values()), EVENT_OUTCOME_FIELDS)

    def _touch(self, event: Event) -> None:
        self.touched[event.pk] = event

    # --- event outcomes -------------------------------------------------------------------
    def applied(self, event: Event, *, explanation: dict | None = None) -> None:
        event.status = EventStatus.APPLIED
        event.applied_at = self.now
        event.waiting_for = ""
        event.reasons = []
        if explanation is not None:
            event.explanation = explanation
        self._touch(event)

    def park(self, event: Event, *, waiting_for: str, reason: str) -> None:
        """Hold ``event`` until ``waiting_for`` happens (see ``sequencing``)."""
        event.status = EventStatus.PARKED
        event.waiting_for = waiting_for
        event.parked_at = event.parked_at or self.now
        event.reasons = [
            Reason(code="waiting", path="", message=reason, expected=waiting_for).as_dict()
        ]
        self._touch(event)

    def quarantine(self, event: Event, reasons: Iterable[Reason | dict]) -> None:
        event.status = EventStatus.QUARANTINED
        event.waiting_for = ""
        event.reasons = [r.as_dict() if isinstance(r, Reason) else r for r in reasons]
        self._touch(event)

    # --- changes to business objects ------------------------------------------------------
    def mark(self, obj: models.Model, *fields: str) -> None:
        """``obj`` (already saved, locked by the batch) changed ``fields`` in memory."""
        key = (obj._meta.label_lower, obj.pk)
        entry = self.dirty.get(key)
        if entry is None:
            self.dirty[key] = (obj, set(fields))
        else:
            entry[1].update(fields)

    def maker(
        self, model: type[models.Model], given: tuple[str, ...], related: tuple[str, ...] = ()
    ) -> Callable[[Sequence[Any]], models.Model]:
        """``values → model(**dict(zip(given + related, values)))`` without
        ``Model.__init__`` (``instances.maker``), built once per batch: for the rows a
        batch makes per event (confirmations, issues, outbox messages, audit records)."""
        key = (_ROW_MAKER, model, given, related)
        make = self.cache.get(key)
        if make is None:
            make = self.cache[key] = maker(model, given, related)
        return make

    def add(self, obj: models.Model) -> models.Model:
        """Insert ``obj`` at :meth:`flush` (it gets no primary key before that)."""
        self.new_rows.setdefault(obj._meta.label_lower, []).append(obj)
        return obj

    def audit(
        self,
        obj: models.Model,
        *,
        transition: str,
        source: str,
        target: str,
        correlation_id: str,
        reason: str = "",
        field_name: str = "state",
    ) -> None:
        """Buffer the audit record of a state change of ``obj`` (which must have a pk)."""
        self.add(
            audit_record(
                obj,
                occurred_at=self.now,
                actor=self.actor,
                actor_label=self.actor_label,
                transition=transition,
                source=source,
                target=target,
                correlation_id=correlation_id,
                reason=reason[:2000],
                field_name=field_name,
                make=self.maker(AuditRecord, (*_AUDIT_GIVEN, "occurred_at"), _AUDIT_RELATED),
            )
        )

    def transition(
        self,
        obj: models.Model,
        name: str,
        *,
        event: Event | None = None,
        reason: str = "",
        correlation_id: str | None = None,
        **kwargs: Any,
    ) -> models.Model:
        """Run django-fsm transition ``name`` on the locked in-memory ``obj``, guards
        included (:func:`fire`), and buffer the state change and its audit record (actor
        ``system:<code>``, the event's correlation id, or ``correlation_id``). Raises
        :class:`TransitionRefused` and changes nothing when it does not apply."""
        field = type(obj).lifecycle_field()
        source, target = fire(obj, name, field, **kwargs)
        obj.state_changed_at = self.now
        self.mark(obj, field.attname, "state_changed_at", "updated_at")
        obj.updated_at = self.now
        self.audit(
            obj,
            transition=name,
            source=source,
            target=target,
            correlation_id=correlation_id or (event.correlation_id if event else ""),
            reason=reason,
            field_name=field.name,
        )
        self._snapshot(obj)
        return obj

    def _snapshot(self, obj: models.Model) -> None:
        """Buffer a django-simple-history row (``~``) of ``obj`` as it is now, if its model
        keeps history: ``save()`` would have written one, the set-wise UPDATE does not.
        Called after every transition, and at :meth:`flush` for an object changed since
        its last row, so history has a row per state and ends at what is stored."""
        tracked = _history_of(type(obj))
        if tracked is None:
            return
        historical, attnames = tracked
        values = _tracked_values(attnames)(obj)
        key = (obj._meta.label_lower, obj.pk)
        if self.snapshots.get(key) == values:
            return
        self.snapshots[key] = values
        make = self.cache.get((_HISTORY_MAKER, historical))
        if make is None:
            make = self.cache[(_HISTORY_MAKER, historical)] = maker(
                historical, (*attnames, *_HISTORY_FIELDS)
            )
        # historical(**values, history_date=…, …) without Model.__init__ (``instances``).
        user_id = getattr(self.actor, "pk", None)
        self.add(make((*values, self.now, "~", user_id, self.actor_label[:100])))

    def flush(self) -> None:
        """Write every buffered change: updates, then inserts in dependency order (on
        PostgreSQL in one statement, its foreign keys checked at commit). Safe to call
        twice (buffers are emptied)."""
        by_fields: dict[tuple[type, tuple[str, ...]], list[models.Model]] = {}
        for obj, fields in self.dirty.values():
            by_fields.setdefault((type(obj), tuple(sorted(fields))), []).append(obj)
        for obj, _fields in self.dirty.values():
            self._snapshot(obj)  # changed after its last transition (or without one)
        self.dirty = {}
        rows, self.new_rows = self.new_rows, {}
        labels = [label for label in _INSERT_ORDER if label in rows]
        labels += [label for label in rows if label not in _INSERT_ORDER]
        if connection.vendor != "postgresql":
            for (_model, fields), objs in by_fields.items():
                bulk_update(objs, fields)
            for label in labels:
                bulk_insert(rows[label], ignore_conflicts=label in _IGNORE_CONFLICTS)
            return
        # PostgreSQL: every update and insert in one statement (``execute_together``: one
        # per model and field set, each on rows no other one touches).
        statements = [update_statement(objs, fields) for (_m, fields), objs in by_fields.items()]
        for label in labels:
            objs, ignore = rows[label], label in _IGNORE_CONFLICTS
            if inserts_in_one(type(objs[0])):
                statements.append(insert_statement(objs, ignore_conflicts=ignore))
            else:  # the ORM's bulk_create, in its place in the order
                execute_together(statements)
                statements = []
                bulk_insert(objs, ignore_conflicts=ignore)
        execute_together(statements)
