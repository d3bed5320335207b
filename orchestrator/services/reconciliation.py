"""Reconciliation (scenario 9): compare what the ERP, MES and QMS hold with Interlock's
records, per plant, within the plant's tolerances, and work the differences.

- :mod:`.reconciliation_compare`: the snapshot interface (``register_snapshot_fetcher``)
  and :func:`compare`, one system's snapshot against Interlock (read-only);
- :mod:`.reconciliation_exceptions`: the exception each difference opens, its task, and
  its workflow (assign; correct through the outbox, or accept with a reason; close);
- here: :func:`reconcile_plant`, one run of a plant (snapshots, comparison, exceptions
  opened, refreshed or closed, the run's report, audited), and
  :func:`reconcile_due_plants` (beat).

The names of both modules are importable from here as well.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from plants.models import Plant
from plants.selectors import site_parameter

from ..models.reconciliation import (
    ACTIVE_EXCEPTION_STATES,
    ReconciliationException,
    ReconciliationRun,
    RunState,
)
from ..observability.choices import SlaFlow
from ..observability.services.sla import measure_open, register_sla_source
from .lifecycle import actor_identity
from .reconciliation_compare import (
    FETCHERS,
    KINDS,
    POSTED_STATES,
    RUNNING_STATES,
    Difference,
    SnapshotError,
    Tolerance,
    compare,
    fetch_snapshot,
    plant_systems,
    register_snapshot_fetcher,
)
from .reconciliation_exceptions import (
    SYSTEM_ACTOR,
    audit_step,
    correction_for,
    describe_correction,
    exception_accept,
    exception_assign,
    exception_close,
    exception_correct,
    exception_open,
    exception_verify,
)

__all__ = [
    "FETCHERS",
    "KINDS",
    "POSTED_STATES",
    "RUNNING_STATES",
    "SYSTEM_ACTOR",
    "Difference",
    "SnapshotError",
    "Tolerance",
    "compare",
    "correction_for",
    "describe_correction",
    "exception_accept",
    "exception_assign",
    "exception_close",
    "exception_correct",
    "exception_open",
    "exception_verify",
    "fetch_snapshot",
    "plant_systems",
    "reconcile_due_plants",
    "reconcile_plant",
    "register_snapshot_fetcher",
]

logger = logging.getLogger(__name__)


def reconcile_plant(
    *, plant: Plant, actor: Any = None, snapshots: dict[str, dict] | None = None
) -> ReconciliationRun:
    """Reconcile ``plant`` now: one snapshot per connected ERP, MES and QMS (or the given
    ``snapshots`` by system code), compared within the plant's tolerances; exceptions
    opened, refreshed or closed; the run and its report saved and audited."""
    _, label = actor_identity(actor or SYSTEM_ACTOR)
    tolerance = Tolerance(
        pct=Decimal(site_parameter(key="reconciliation.qty_tolerance_pct", plant=plant)),
        absolute=Decimal(site_parameter(key="reconciliation.qty_tolerance_abs", plant=plant)),
    )
    cid = f"reconciliation-{plant.code}-{uuid.uuid4().hex[:12]}"
    run = ReconciliationRun.objects.create(plant=plant, started_at=timezone.now(), started_by=label)
    audit_step(
        run,
        actor=actor or SYSTEM_ACTOR,
        transition="start",
        source="",
        target="running",
        reason=f"tolerance {tolerance}",
        cid=cid,
    )
    report: dict[str, Any] = {"tolerance": str(tolerance), "systems": {}}
    found: dict[tuple[str, str, str, str], Difference] = {}
    reached: set[str] = set()
    compared = 0
    for system in plant_systems(plant):
        entry: dict[str, Any] = {"kind": system.kind}
        try:
            if snapshots is not None:
                if system.code not in snapshots:
                    continue
                snapshot = snapshots[system.code]
            else:
                snapshot = fetch_snapshot(system, plant)
        except Exception as exc:  # one system down must not hide the others' differences
            logger.warning(
                "reconciliation %s: %s gave no snapshot: %s", plant.code, system.code, exc
            )
            entry["error"] = str(exc)[:500]
            report["systems"][system.code] = entry
            continue
        diffs, n = compare(plant=plant, kind=system.kind, snapshot=snapshot, tolerance=tolerance)
        reached.add(system.kind)
        compared += n
        entry.update(
            compared=n,
            orders=len(snapshot.get("orders") or {}),
            lots=len(snapshot.get("lots") or {}),
            inspections=len(snapshot.get("inspections") or {}),
            differences=[f"{d.subject_kind} {d.subject} {d.field}" for d in diffs],
        )
        report["systems"][system.code] = entry
        for d in diffs:
            found[d.key] = d
    opened = closed = 0
    with transaction.atomic():
        active = {
            (e.system, e.subject_kind, e.subject, e.field): e
            for e in ReconciliationException.objects.select_for_update().filter(
                plant=plant, state__in=ACTIVE_EXCEPTION_STATES
            )
        }
        for key, d in found.items():
            existing = active.get(key)
            if existing is not None:
                existing.last_seen_run = run
                existing.interlock_value, existing.system_value = d.interlock_value, d.system_value
                existing.difference = d.difference
                existing.save(
                    update_fields=[
                        "last_seen_run",
                        "interlock_value",
                        "system_value",
                        "difference",
                        "updated_at",
                    ]
                )
                continue
            exception_open(run=run, plant=plant, d=d, cid=cid)
            opened += 1
        for key, exception in active.items():
            if key[0] in reached and key not in found:
                exception_verify(exception, run=run)
                closed += 1
    run.state = RunState.DONE if reached or not plant_systems(plant) else RunState.FAILED
    if not reached and report["systems"]:
        run.error = "; ".join(
            f"{code}: {e.get('error')}" for code, e in report["systems"].items() if e.get("error")
        )
    run.finished_at = timezone.now()
    run.compared, run.differences, run.opened, run.closed = compared, len(found), opened, closed
    run.report = report
    run.save()
    audit_step(
        run,
        actor=actor or SYSTEM_ACTOR,
        transition="finish",
        source="running",
        target=run.state,
        reason=f"{compared} compared, {len(found)} differences, {opened} opened, {closed} closed",
        cid=cid,
    )
    return run


@register_sla_source(SlaFlow.RECONCILIATION)
def _sla_open_differences(now: dt.datetime, targets: Any) -> dict:
    """Reconciliation differences not closed yet, by age since they were found."""
    qs = ReconciliationException.objects.filter(state__in=ACTIVE_EXCEPTION_STATES)
    return measure_open(qs, "created_at", now, targets, SlaFlow.RECONCILIATION)


# --- scheduling -------------------------------------------------------------------------------
def reconcile_due_plants(*, now: dt.datetime | None = None) -> list[int]:
    """Reconcile every active plant whose last run is older than its
    ``reconciliation.interval``; returns the runs' ids."""
    now = now or timezone.now()
    runs = []
    for plant in Plant.objects.filter(active=True).order_by("code"):
        interval = site_parameter(key="reconciliation.interval", plant=plant)
        last = (
            ReconciliationRun.objects.filter(plant=plant)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        if last is not None and last > now - interval:
            continue
        if not plant_systems(plant):
            continue
        runs.append(reconcile_plant(plant=plant).pk)
    return runs
