"""The site parameters the orchestrator reads, ensured after every ``migrate`` and flush.

The definitions live in the data migrations that introduced them (their ``PARAMETERS``
lists). Those run once per database; ``post_migrate`` also follows a flush (a transactional
test, ``manage.py flush``), which would otherwise leave the services reading keys that no
longer exist. Existing rows are never changed: a board's edits to a default stay."""

from __future__ import annotations

from importlib import import_module

from django.apps import apps as global_apps

#: Data migrations whose ``PARAMETERS`` the services read, oldest first.
PARAMETER_MIGRATIONS = (
    "0007_orchestrator_site_parameters",
    "0011_disposition_carry_out_and_order_closed",
    "0015_tasks_gate_parameters",
    "0016_scenb_planning_site_parameters",
)


def definitions() -> list[dict]:
    rows: list[dict] = []
    for name in PARAMETER_MIGRATIONS:
        rows.extend(
            dict(row) for row in import_module(f"orchestrator.migrations.{name}").PARAMETERS
        )
    return rows


def ensure_site_parameters(*, apps=None, using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver: create the missing definitions (``get_or_create``). A
    flush sends no ``apps`` (the models as they are now are meant)."""
    apps = apps or global_apps
    try:
        site_parameter = apps.get_model("plants", "SiteParameter")
    except LookupError:  # migrating to a state before the plants app had parameters
        return
    for row in definitions():
        key = row.pop("key")
        site_parameter.objects.using(using).get_or_create(key=key, defaults=row)
