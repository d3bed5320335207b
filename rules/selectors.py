"""Read-side queries of the rules app."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import QuerySet

from plants.models import Plant, SiteParameter, SiteParameterOverride

from .choices import VersionState
from .errors import RuleSetInvalid
from .models import RuleSetVersion, SimulationReport


def plant_parameters(*, plant: Plant) -> dict[str, Any]:
    """Every site parameter's typed value at ``plant`` (its override, else the default).

    This is the ``plant`` map rules read (``plant["scrap.spike_threshold_pct"]``). Two
    queries whatever the number of parameters, so the orchestrator can build it per event.
    """
    overrides = dict(
        SiteParameterOverride.objects.filter(plant=plant).values_list("parameter_id", "value")
    )
    return {
        parameter.key: parameter.parse(overrides.get(parameter.pk, parameter.default_value))
        for parameter in SiteParameter.objects.all()
    }


def version_simulations(*, version: RuleSetVersion) -> QuerySet[SimulationReport]:
    """The simulation reports of a version, newest first."""
    return version.simulations.select_related("plant", "baseline", "requested_by")


#: The states of a version an operator may replay events with: governed ones only. A draft
#: or a version in review has not passed four eyes; replaying with it would apply
#: unapproved logic to real orders and send postings to the ERP, which is exactly what
#: governance exists to prevent (its effect on history is what the board's simulation
#: shows). A retired version was withdrawn by the board and is not offered either.
REPLAYABLE_STATES = (VersionState.APPROVED, VersionState.PUBLISHED)


def replay_versions(*, plant: Plant, event_types: set[str]) -> list[RuleSetVersion]:
    """Versions an operator may pin when replaying events of ``event_types`` at ``plant``:
    approved or published, global or an override for this plant, and with at least one
    rule for one of the event types (another version could not change the outcome).
    Newest first within each rule set."""
    from .services import compiled_version

    versions = (
        RuleSetVersion.objects.filter(state__in=REPLAYABLE_STATES)
        .filter(models.Q(plant__isnull=True) | models.Q(plant=plant))
        .select_related("ruleset", "plant")
        .order_by("ruleset__key", "-number")
    )
    out = []
    for version in versions:
        try:
            compiled = compiled_version(version)
        except RuleSetInvalid:  # no longer compiles against today's event schemas
            compiled = None
        if compiled is not None and event_types & set(compiled.by_event):
            out.append(version)
    return out
