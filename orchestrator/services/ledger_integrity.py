"""Ledger references whose row is missing.

The rows written for every event point at their plant, system, event, operation and so on
without a database constraint (``orchestrator.models.base.ledger_reference`` says why).
This is the check that replaces the constraint's: one anti-join per unconstrained
reference, counting the rows that point at nothing. ``manage.py ledger_verify`` runs it;
the test suite runs it after the seed scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models


@dataclass(frozen=True)
class Dangling:
    """Rows of ``model`` whose ``field`` points at no row of ``target``."""

    model: str
    field: str
    target: str
    count: int
    sample_ids: tuple

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "field": self.field,
            "target": self.target,
            "count": self.count,
            "sample_ids": [str(pk) for pk in self.sample_ids],
        }


def unconstrained_references() -> list[models.ForeignKey]:
    """The orchestrator's foreign keys that the database does not check.

    simple-history's historical models are left out: their references are unconstrained by
    design (a history row outlives what it pointed at).
    """
    found = []
    for model in apps.get_app_config("orchestrator").get_models():
        if getattr(model, "history_id", None) is not None or model.__name__.startswith(
            "Historical"
        ):
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and not field.db_constraint:
                found.append(field)
    return found


def dangling_references(sample: int = 5) -> list[Dangling]:
    """Every unconstrained reference that points at a missing row, with a few row ids."""
    out = []
    for field in unconstrained_references():
        model = field.model
        target = field.remote_field.model
        orphans = (
            model._default_manager.filter(**{f"{field.attname}__isnull": False})
            .exclude(**{f"{field.attname}__in": target._base_manager.values("pk")})
            .order_by()
        )
        count = orphans.count()
        if count:
            out.append(
                Dangling(
                    model=model._meta.label,
                    field=field.name,
                    target=target._meta.label,
                    count=count,
                    sample_ids=tuple(orphans.values_list("pk", flat=True)[:sample]),
                )
            )
    return out
