"""Read-side queries of the rules app."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from plants.models import Plant, SiteParameter, SiteParameterOverride

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
