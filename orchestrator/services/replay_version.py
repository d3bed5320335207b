"""Replay with a chosen rule version, after a dry run that shows the outcome difference.

An event a rule quarantined (or an escalated one, or the message that carries it) is
often not wrong: the rule was. Once the board has approved a corrected version, the
operator replays the event *with that version pinned*, before (or instead of) it going
live at the plant:

1. :func:`replay_version_choices`: the versions that may be pinned for the items, the
   approved and published ones of the rule sets that judge their event types, global or
   an override for their plant (``rules.selectors.replay_versions``; drafts never, see
   ``REPLAYABLE_STATES`` there for why).
2. :func:`version_dry_run`: each event is applied twice as a replay would apply it *now*
   (its handler, the rules, the quarantine decision and the state change, on the current
   order, lot and parameters) inside a transaction that is rolled back: once with the
   versions live at the plant, once with the chosen one pinned. The preview shows per
   event the decision, the actions and the reasons of both, and a fingerprint of it all.
   (The board's simulation, ``orchestrator.simulation``, rebuilds the context an event
   had *then*; a replay acts on the world as it is, so that is what the dry run shows.)
3. :func:`version_replay`: with the operator's reason and the fingerprint of the dry run
   they looked at. It runs the dry run again and refuses when the outcome is not the one
   shown (a version published meanwhile, an order that moved on), then re-applies each
   event with the version pinned (``event_replay(version=…)``): the event's pins name
   the version, the audit record names the version, the actor and the reason, and a
   message item is marked handled, so the original leaves the "needs attention" list.

A dead-lettered delivery, a stalled gate or an overdue approval is not re-decided with
another version: the delivery is the effect of a decision already applied (re-deciding it
would not undo the state change it came from; it is replayed as it is), and gates and
approvals are opened by their rule or a person.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import Conflict, DomainError, ErrorDetail
from rules.models import RuleSetVersion
from rules.selectors import REPLAYABLE_STATES, replay_versions

from ..ingest.context import BatchContext
from ..ingest.handlers import apply_one
from ..ingest.rules_bridge import pin_version
from ..ingest.world import preload
from ..models import Event, EventStatus, InboundMessage
from .replay import (
    BULK_MAX_ITEMS,
    EVENT_REPLAYABLE,
    NotReplayable,
    _clean_reason,
    _require,
    bulk_rate_check,
    event_replay,
    mark_handled,
)

DRY_RUN_ACTOR = "dry-run"


@dataclass(frozen=True)
class Judgement:
    """What applying an event would decide: ``applied``, ``quarantined``, ``parked``,
    ``accepted`` (no handler) or ``error``; the rules' actions (``{action, params, rule}``),
    the reasons it stops, and the versions that judged it (rule set key → label)."""

    decision: str
    actions: tuple[dict, ...] = ()
    reasons: tuple[dict, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)

    def key(self) -> list:
        """What the fingerprint and the comparison look at (not the versions' names)."""
        return [
            self.decision,
            [[a.get("action"), a.get("params"), a.get("rule")] for a in self.actions],
            [[r.get("code"), r.get("path"), r.get("message")] for r in self.reasons],
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "actions": list(self.actions),
            "reasons": list(self.reasons),
            "versions": self.versions,
        }


def _action_key(action: dict) -> str:
    return f"{action.get('action')} {json.dumps(action.get('params') or {}, sort_keys=True)}"


@dataclass
class EventPreview:
    """One event of a dry run: as it would go now, and with the chosen version."""

    item: Any
    event: Event
    current: Judgement
    chosen: Judgement

    @property
    def changed(self) -> bool:
        return self.current.key() != self.chosen.key()

    def _only_in(self, a: Judgement, b: Judgement) -> list[dict]:
        remaining = Counter(_action_key(x) for x in b.actions)
        out = []
        for action in a.actions:
            key = _action_key(action)
            if remaining[key]:
                remaining[key] -= 1
            else:
                out.append(action)
        return out

    @property
    def added(self) -> list[dict]:
        """Actions the chosen version takes that the current one does not."""
        return self._only_in(self.chosen, self.current)

    @property
    def removed(self) -> list[dict]:
        """Actions the current version takes that the chosen one does not."""
        return self._only_in(self.current, self.chosen)


@dataclass
class DryRun:
    """The preview of a replay with ``version``: per event, and what was refused."""

    version: RuleSetVersion
    previews: list[EventPreview]
    refused: list[str]
    fingerprint: str

    @property
    def changed(self) -> int:
        return sum(1 for p in self.previews if p.changed)


# --- which event, which versions -----------------------------------------------------------
def _event_of(item: Any) -> Event:
    """The event a replay with a version would re-apply for ``item``, or why there is none."""
    if isinstance(item, Event):
        event = item
    elif isinstance(item, InboundMessage):
        if item.event_id is None:
            code = (item.reasons or [{}])[0].get("code", item.status)
            raise NotReplayable(
                f"{item} stopped before the rules ({code}): no rule version decides it; "
                "fix it and replay it as it is.",
                found=item.status,
            )
        event = Event.objects.select_related("plant", "system").get(pk=item.event_id)
    else:
        raise NotReplayable(
            f"{item}: only quarantined or escalated events, and the messages that carry "
            "them, are replayed with a chosen rule version (a dead-lettered delivery is "
            "replayed as it is; gates and approvals are opened by their rule or a person)."
        )
    if event.status not in EVENT_REPLAYABLE:
        raise NotReplayable(
            f"{event} is {event.status}; only quarantined or escalated events are re-applied.",
            found=event.status,
        )
    return event


def _check_access(item: Any, event: Event, actor: Any) -> None:
    if isinstance(item, InboundMessage):
        _require(actor, "orchestrator.replay_inboundmessage", item)
    _require(actor, "orchestrator.replay_event", event)


def _check_version(version: RuleSetVersion, event: Event) -> None:
    if version.state not in REPLAYABLE_STATES:
        raise DomainError(
            message=(
                f"{version.label} is {version.get_state_display().lower()}: only approved or "
                "published versions are replayed with (a draft has not passed four eyes)."
            ),
            code="version_not_governed",
            details=[
                ErrorDetail(
                    path="version",
                    code="state",
                    message="not approved",
                    expected="approved or published",
                    found=version.state,
                )
            ],
        )
    if version.plant_id is not None and version.plant_id != event.plant_id:
        raise DomainError(
            message=f"{version.label} is an override for another plant than {event}'s.",
            code="wrong_plant",
            details=[ErrorDetail(path="version", code="wrong_plant", message="other plant")],
        )


def _resolve(items: list, actor: Any) -> tuple[list[tuple[Any, Event]], list[str]]:
    """``(item, event)`` pairs an actor may replay (each event once), and the refusals."""
    if len(items) > BULK_MAX_ITEMS:
        raise DomainError(
            message=f"{len(items)} items: at most {BULK_MAX_ITEMS} at once; narrow the group.",
            code="too_many",
        )
    pairs, refused, seen = [], [], set()
    for item in items:
        try:
            event = _event_of(item)
            _check_access(item, event, actor)
        except DomainError as exc:
            refused.append(f"{item}: {exc.message}")
            continue
        if event.pk not in seen:
            seen.add(event.pk)
            pairs.append((item, event))
    return pairs, refused


def replay_version_choices(*, items: list, actor: Any) -> list[RuleSetVersion]:
    """The versions that may be pinned to replay ``items`` (those of every item's plant)."""
    pairs, _ = _resolve(items, actor)
    choices: dict[int, RuleSetVersion] | None = None
    for plant, types in _plants_and_types(pairs).items():
        found = {v.pk: v for v in replay_versions(plant=plant, event_types=types)}
        choices = found if choices is None else {k: v for k, v in choices.items() if k in found}
    return list((choices or {}).values())


def _plants_and_types(pairs) -> dict:
    out: dict = {}
    for _, event in pairs:
        out.setdefault(event.plant, set()).add(event.event_type)
    return out


# --- the dry run -----------------------------------------------------------------------------
def _judge(event: Event, version: RuleSetVersion | None, labels: dict[int, str]) -> Judgement:
    """Apply ``event`` as a replay would, and roll everything back."""
    try:
        with transaction.atomic():
            probe = Event.objects.select_related("plant", "system").get(pk=event.pk)
            probe.status, probe.reasons, probe.waiting_for = EventStatus.ACCEPTED, [], ""
            probe.rule_pins, probe.explanation = {}, {}
            ctx = BatchContext(actor_label=DRY_RUN_ACTOR, now=timezone.now())
            if version is not None:
                pin_version(ctx, probe.plant, version)
            preload(ctx, [probe])
            apply_one(ctx, probe)  # nothing is flushed; the savepoint is dropped anyway
            transaction.set_rollback(True)
    except DomainError as exc:
        return Judgement("error", reasons=({"code": exc.code, "message": exc.message},))
    actions = tuple(
        action
        for ruleset in (probe.explanation or {}).get("rulesets", [])
        for action in ruleset.get("actions", [])
    )
    pins = probe.rule_pins or {}
    missing = [pk for pk in pins.values() if pk not in labels]
    if missing:
        labels.update(
            (v.pk, v.label)
            for v in RuleSetVersion.objects.filter(pk__in=missing).select_related("ruleset")
        )
    return Judgement(
        decision=probe.status,
        actions=actions,
        reasons=tuple(probe.reasons or ()),
        versions={key: labels.get(pk, str(pk)) for key, pk in sorted(pins.items())},
    )


def _fingerprint(version: RuleSetVersion, previews: list[EventPreview]) -> str:
    data = [version.pk, [[p.event.pk, p.current.key(), p.chosen.key()] for p in previews]]
    raw = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def version_dry_run(*, items: list, version: RuleSetVersion, actor: Any) -> DryRun:
    """Per event of ``items``: the outcome of a replay now, with the versions live at the
    plant and with ``version`` pinned. Changes nothing."""
    version = RuleSetVersion.objects.select_related("ruleset").get(pk=version.pk)
    pairs, refused = _resolve(items, actor)
    previews = []
    labels: dict[int, str] = {}
    for item, event in pairs:
        try:
            _check_version(version, event)
        except DomainError as exc:
            refused.append(f"{item}: {exc.message}")
            continue
        previews.append(
            EventPreview(
                item=item,
                event=event,
                current=_judge(event, None, labels),
                chosen=_judge(event, version, labels),
            )
        )
    return DryRun(version, previews, refused, _fingerprint(version, previews))


# --- the replay ------------------------------------------------------------------------------
def version_replay(
    *, items: list, version: RuleSetVersion, actor: Any, reason: str, fingerprint: str
) -> tuple[DryRun, list[Event], list[str]]:
    """Re-apply the events of ``items`` with ``version`` pinned, after the dry run whose
    ``fingerprint`` the operator saw; returns ``(dry run, events replayed, refused)``.

    Raises :class:`Conflict` (``dry_run_stale``) when the outcome is no longer the one the
    dry run showed, and refuses a draft or another plant's override (``_check_version``).
    """
    reason = _clean_reason(reason)
    if len(items) > 1:
        bulk_rate_check(actor=actor)
    preview = version_dry_run(items=items, version=version, actor=actor)
    if not preview.previews:
        raise NotReplayable(
            "Nothing to replay with this version: " + "; ".join(preview.refused or ["no item"])
        )
    if fingerprint != preview.fingerprint:
        raise Conflict(
            "The outcome is no longer the one your dry run showed (a version was published "
            "or an object changed meanwhile): run the dry run again and look at it first.",
            code="dry_run_stale",
        )
    done, refused = [], list(preview.refused)
    for p in preview.previews:
        try:
            event = event_replay(event=p.event, actor=actor, version=preview.version, reason=reason)
            if isinstance(p.item, InboundMessage):
                with transaction.atomic():
                    mark_handled(
                        message=p.item,
                        actor=actor,
                        transition="replay_with_version",
                        outcome=event.status,
                        text=(
                            f"event {event.pk} re-applied with {preview.version.label}: "
                            f"{event.status} ({reason})"
                        ),
                    )
        except DomainError as exc:
            refused.append(f"{p.item}: {exc.message}")
        else:
            done.append(event)
    return preview, done, refused
