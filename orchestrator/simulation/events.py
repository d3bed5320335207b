"""The event source registered with :func:`rules.simulation.register_event_source`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import Q
from django.urls import reverse

from rules.simulation import SimEvent

from ..models import Event, EventStatus
from .history import PlantHistory


def judged_events(*, plant, since: dt.datetime | None = None, until: dt.datetime | None = None):
    """The plant's events the rules judged: applied ones, and any other whose stored
    explanation shows a rule evaluation (a rule that quarantined it, for instance).
    Events stopped before the rules (unmapped codes, parked and never released) are left
    out: no version of a rule set ever saw them."""
    qs = Event.objects.filter(plant=plant).filter(
        Q(status=EventStatus.APPLIED) | ~Q(explanation={})
    )
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lte=until)
    return qs.select_related("plant", "system")


def recorded_actions(event: Event) -> dict[str, dict]:
    """Rule set key → ``{"version", "actions"}`` the pipeline recorded for ``event``."""
    return {
        ruleset["ruleset"]: {
            "version": ruleset.get("version"),
            "actions": [a["action"] for a in ruleset.get("actions", [])],
        }
        for ruleset in (event.explanation or {}).get("rulesets", [])
        if ruleset.get("ruleset")
    }


def stored_events(*, plant, last_n, since, until) -> Iterator[SimEvent]:
    """The plant's judged events, newest first, each with its rebuilt rule context, the
    actions recorded for it then (so the report can say how faithfully the rebuilt
    context reproduces them) and a link to the event in the admin."""
    qs = judged_events(plant=plant, since=since, until=until).order_by("-occurred_at", "-pk")
    if last_n is not None:
        qs = qs[:last_n]
    history = PlantHistory(plant)
    for event in qs.iterator(chunk_size=500):
        yield SimEvent(
            str(event.pk),
            event.event_type,
            history.context(event),
            recorded=recorded_actions(event),
            url=reverse("admin:orchestrator_event_change", args=[event.pk]),
        )
