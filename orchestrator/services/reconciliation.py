"""Reconciliation (scenario 9): compare what the ERP, MES and QMS hold with Interlock's
records, per plant, within the plant's tolerances, and work the differences.

Snapshots come through a small interface, so a real system can answer as well as the
demo simulators: a *snapshot fetcher* per transport (``register_snapshot_fetcher``; the
connectors app registers ``rest``: ``GET {base_url}/snapshot?plant=<code>``) returns a
dict in the system's own codes and units::

    {"orders": {"WO-1": {"status": "settled", "produced_qty": 10, "scrapped_qty": 2,
                         "uom": "ST"}},
     "lots": {"FG-WO-1": {"status": "BLOC"}},
     "inspections": {"QI-FG-WO-1": {"order": "WO-1", "lot": "FG-WO-1", "result": "A",
                                    "status": "recorded"}},
     "counts": {"A": 1}}

:func:`reconcile_plant` maps them with the plant's site mappings (units, lot and
inspection status codes) and compares:

- MES: per order the good quantity of its last operation (Interlock's ``confirmed_qty``),
  the scrap (``scrapped_qty``), and whether MES finished a run Interlock still has open;
- ERP: per order the produced and scrapped quantity posted, and whether an order
  Interlock financially posted is settled; per lot the status last posted;
- QMS: per inspection whether Interlock has it and the same result, and the counts per
  result.

Quantities differ when ``|a − b| > max(reconciliation.qty_tolerance_abs,
reconciliation.qty_tolerance_pct × max(|a|, |b|))``. Each difference opens a
:class:`~orchestrator.models.reconciliation.ReconciliationException` (once: later runs
update the open one) with a ``correct`` task for ``reconciliation.role``. Its workflow:
:func:`exception_assign`, :func:`exception_correct` (the correcting message to the
system through the outbox), :func:`exception_accept` (with a reason), and
:func:`exception_close`; a later run that no longer finds the difference closes it.
Every step leaves an audit record.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import DomainError, ErrorDetail, NotAllowed
from plants.choices import StatusDomain
from plants.models import ConnectedSystem, Plant
from plants.selectors import site_parameter
from plants.services.mapping import MappingMissing, convert_quantity, map_status

from ..choices import OrderState
from ..ingest.context import audit_record
from ..models import Inspection, Lot, OutboxMessage, ProductionOrder
from ..models.reconciliation import (
    ACTIVE_EXCEPTION_STATES,
    ExceptionState,
    ReconciliationException,
    ReconciliationRun,
    RunState,
)
from ..models.tasks import ACTIVE_STATES, TaskKind
from ..observability.choices import SlaFlow
from ..observability.services.sla import measure_open, register_sla_source
from .lifecycle import actor_identity, transition_apply
from .outbox import outbox_system_for, outbox_wake_on_commit
from .roles import holds_role
from .tasks import open_task, register_task_completer, task_complete_by_system

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:interlock"
KINDS = ("erp", "mes", "qms")

#: Orders Interlock considers settled with the ERP (goods received and posted).
POSTED_STATES = {OrderState.FINANCIALLY_POSTED}
#: Orders Interlock still considers running on the shop floor.
RUNNING_STATES = {
    OrderState.RELEASED,
    OrderState.ACKNOWLEDGED,
    OrderState.IN_PROCESS,
    OrderState.PARTIALLY_CONFIRMED,
}


class SnapshotError(Exception):
    """A system did not give its snapshot (unreachable, refused, malformed)."""


Fetcher = Callable[[ConnectedSystem, Plant], dict]
FETCHERS: dict[str, Fetcher] = {}


def register_snapshot_fetcher(transport: str) -> Callable[[Fetcher], Fetcher]:
    """Register how systems of ``transport`` are asked for their snapshot."""

    def wrap(fn: Fetcher) -> Fetcher:
        FETCHERS[transport] = fn
        return fn

    return wrap


@dataclass
class Difference:
    system: str
    subject_kind: str
    subject: str
    field: str
    interlock_value: str
    system_value: str
    difference: Decimal | None = None
    tolerance: str = ""
    order: ProductionOrder | None = None
    lot: Lot | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.system, self.subject_kind, self.subject, self.field)


@dataclass
class Tolerance:
    pct: Decimal
    absolute: Decimal

    def allows(self, a: Decimal, b: Decimal) -> bool:
        return abs(a - b) <= max(self.absolute, self.pct / 100 * max(abs(a), abs(b)))

    def __str__(self) -> str:
        return f"±{self.pct}% (min {self.absolute})"


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _canonical_qty(plant: Plant, qty: Any, uom: str, fallback_uom: str) -> Decimal | None:
    number = _dec(qty)
    if number is None:
        return None
    if not uom or uom == fallback_uom:
        return number
    try:
        return convert_quantity(plant=plant, quantity=number, uom=uom)[0]
    except MappingMissing:
        return number  # a unit the plant spells canonically (KG) needs no mapping


def _canonical_status(plant: Plant, domain: str, code: str) -> str:
    try:
        return map_status(plant=plant, domain=domain, code=code)
    except MappingMissing:
        return code


# --- comparing ------------------------------------------------------------------------------
def compare(
    *, plant: Plant, kind: str, snapshot: dict, tolerance: Tolerance
) -> tuple[list[Difference], int]:
    """The differences between one system's snapshot and Interlock, and how many values
    were compared."""
    diffs: list[Difference] = []
    compared = 0
    numbers = list((snapshot.get("orders") or {}).keys())
    orders = {
        o.number: o
        for o in ProductionOrder.objects.filter(plant=plant, number__in=numbers).select_related(
            "uom"
        )
    }

    def qty(subject_order: ProductionOrder, field: str, ours: Decimal, theirs: Decimal | None):
        nonlocal compared
        compared += 1
        if theirs is None:
            return
        if not tolerance.allows(ours, theirs):
            diffs.append(
                Difference(
                    system=kind,
                    subject_kind="order",
                    subject=subject_order.number,
                    field=field,
                    interlock_value=_text(ours),
                    system_value=_text(theirs),
                    difference=ours - theirs,
                    tolerance=str(tolerance),
                    order=subject_order,
                )
            )

    for number, row in (snapshot.get("orders") or {}).items():
        order = orders.get(number)
        compared += 1
        if order is None:
            diffs.append(Difference(kind, "order", number, "exists", "missing", "present"))
            continue
        uom = str(row.get("uom") or "")
        for field in ("produced_qty", "scrapped_qty"):
            if field not in row:
                continue
            ours = order.confirmed_qty if field == "produced_qty" else order.scrapped_qty
            theirs = _canonical_qty(plant, row[field], uom, order.uom.code)
            qty(order, field, ours, theirs)
        status = str(row.get("status") or "")
        if kind == "mes" and status == "completed" and order.state in RUNNING_STATES:
            diffs.append(
                Difference(kind, "order", number, "status", order.state, status, order=order)
            )
        if kind == "erp":
            settled = status == "settled"
            if settled != (order.state in POSTED_STATES):
                diffs.append(
                    Difference(kind, "order", number, "status", order.state, status, order=order)
                )

    lots_snapshot = snapshot.get("lots") or {}
    lots = {
        lot.number: lot for lot in Lot.objects.filter(plant=plant, number__in=list(lots_snapshot))
    }
    for number, row in lots_snapshot.items():
        compared += 1
        lot = lots.get(number)
        theirs = _canonical_status(plant, StatusDomain.LOT_STATUS, str(row.get("status") or ""))
        if lot is None:
            diffs.append(Difference(kind, "lot", number, "exists", "missing", "present"))
        elif lot.status != theirs:
            diffs.append(Difference(kind, "lot", number, "status", lot.status, theirs, lot=lot))

    inspections_snapshot = snapshot.get("inspections") or {}
    if inspections_snapshot or "counts" in snapshot:
        ours_by_number = {
            i.number: i
            for i in Inspection.objects.filter(
                plant=plant, number__in=list(inspections_snapshot)
            ).select_related("order", "lot")
        }
        ours_counts: dict[str, int] = {}
        for number, row in inspections_snapshot.items():
            if row.get("status") != "recorded":
                continue
            compared += 1
            theirs = _canonical_status(
                plant, StatusDomain.INSPECTION_OUTCOME, str(row.get("result") or "")
            )
            ours = ours_by_number.get(number)
            if ours is None:
                diffs.append(Difference(kind, "inspection", number, "exists", "missing", theirs))
                continue
            ours_counts[ours.state] = ours_counts.get(ours.state, 0) + 1
            if _outcome(ours) != theirs:
                diffs.append(
                    Difference(
                        kind,
                        "inspection",
                        number,
                        "result",
                        _outcome(ours),
                        theirs,
                        order=ours.order,
                        lot=ours.lot,
                    )
                )
        theirs_counts: dict[str, int] = {}
        for code, n in (snapshot.get("counts") or {}).items():
            canonical = _canonical_status(plant, StatusDomain.INSPECTION_OUTCOME, str(code))
            theirs_counts[canonical] = theirs_counts.get(canonical, 0) + int(n)
        ours_outcomes: dict[str, int] = {}
        for inspection in ours_by_number.values():
            outcome = _outcome(inspection)
            if outcome:
                ours_outcomes[outcome] = ours_outcomes.get(outcome, 0) + 1
        for outcome in sorted(set(theirs_counts) | set(ours_outcomes)):
            compared += 1
            a, b = ours_outcomes.get(outcome, 0), theirs_counts.get(outcome, 0)
            if a != b:
                diffs.append(
                    Difference(
                        kind,
                        "plant",
                        plant.code,
                        f"inspections_{outcome}",
                        str(a),
                        str(b),
                        Decimal(a - b),
                    )
                )
    return diffs, compared


def _outcome(inspection: Inspection) -> str:
    """The canonical outcome of an inspection (its state once decided)."""
    state = str(inspection.state)
    return state if state in ("passed", "failed", "conditionally_released") else ""


# --- the run ----------------------------------------------------------------------------------
def _audit(obj, *, actor: Any, transition: str, source: str, target: str, reason: str, cid: str):
    user, label = actor_identity(actor)
    audit_record(
        obj,
        actor=user,
        actor_label=label,
        transition=transition,
        source=source,
        target=target,
        reason=reason[:2000],
        correlation_id=cid,
    ).save()


def plant_systems(plant: Plant) -> list[ConnectedSystem]:
    return list(
        ConnectedSystem.objects.filter(plants=plant, kind__in=KINDS, active=True).order_by("code")
    )


def fetch_snapshot(system: ConnectedSystem, plant: Plant) -> dict:
    fetcher = FETCHERS.get(system.transport)
    if fetcher is None:
        raise SnapshotError(f"no snapshot fetcher for transport {system.transport!r}")
    snapshot = fetcher(system, plant)
    if not isinstance(snapshot, dict):
        raise SnapshotError(f"{system.code} answered a snapshot that is not an object")
    return snapshot


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
    _audit(
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
            _open_exception(run=run, plant=plant, d=d, cid=cid)
            opened += 1
        for key, exception in active.items():
            if key[0] in reached and key not in found:
                _verify(exception, run=run)
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
    _audit(
        run,
        actor=actor or SYSTEM_ACTOR,
        transition="finish",
        source="running",
        target=run.state,
        reason=f"{compared} compared, {len(found)} differences, {opened} opened, {closed} closed",
        cid=cid,
    )
    return run


def _open_exception(*, run: ReconciliationRun, plant: Plant, d: Difference, cid: str):
    exception = ReconciliationException(
        plant=plant,
        run=run,
        last_seen_run=run,
        system=d.system,
        subject_kind=d.subject_kind,
        subject=d.subject[:80],
        field=d.field,
        interlock_value=d.interlock_value[:200],
        system_value=d.system_value[:200],
        difference=d.difference,
        tolerance=d.tolerance,
        order=d.order,
        lot=d.lot,
        correlation_id=cid,
    )
    exception.state_changed_at = timezone.now()
    exception.save()
    _audit(
        exception,
        actor=SYSTEM_ACTOR,
        transition="open",
        source="",
        target=exception.state,
        reason=f"found by run {run.pk}",
        cid=cid,
    )
    role = str(site_parameter(key="reconciliation.role", plant=plant))
    due = site_parameter(key="reconciliation.due", plant=plant)
    task = open_task(
        plant=plant,
        role=role,
        kind=TaskKind.CORRECT,
        title=f"Reconcile {exception}",
        details={
            "reconciliation_exception": exception.pk,
            "run": run.pk,
            "system": d.system,
            "field": d.field,
            "interlock": d.interlock_value,
            "system_value": d.system_value,
            "tolerance": d.tolerance,
            "correction": describe_correction(exception) or "none automatic: accept with a reason",
        },
        due_in=due,
        order=d.order,
        lot=d.lot,
        subject=exception,
        rule="reconciliation",
        correlation_id=cid,
        key=f"reconciliation:{exception.pk}",
    )
    ReconciliationException.objects.filter(pk=exception.pk).update(task=task)
    return exception


def _verify(exception: ReconciliationException, *, run: ReconciliationRun) -> None:
    """A run no longer finds the difference: the exception closes (audited)."""
    transition_apply(
        obj=exception,
        transition="close",
        actor=SYSTEM_ACTOR,
        reason=f"run {run.pk} finds {exception.system.upper()} and Interlock in agreement",
        correlation_id=exception.correlation_id,
        updates={"last_seen_run": run},
    )
    if exception.task_id:
        task = exception.task
        if task.state in ACTIVE_STATES:
            task_complete_by_system(
                task=task, outcome="resolved", comment=f"verified by reconciliation run {run.pk}"
            )


# --- corrections ------------------------------------------------------------------------------
def correction_for(exception: ReconciliationException) -> tuple[str, dict] | None:
    """``(message type, canonical payload)`` that makes the system agree with Interlock,
    or None when no message can (the system is the source: accept with a reason)."""
    if exception.system != "erp":
        return None
    order = exception.order
    if exception.subject_kind == "order" and order is not None:
        diff = exception.difference or Decimal(0)
        if exception.field == "scrapped_qty" and diff > 0:
            return "scrap", {
                "order": order.number,
                "qty": _text(diff),
                "uom": order.uom.code,
                "reason": "reconciliation correction",
            }
        if exception.field == "produced_qty" and diff > 0:
            last = order.operations.order_by("-sequence").first()
            return "operation.confirmation", {
                "order": order.number,
                "operation": last.sequence if last else "",
                "qty": _text(diff),
                "uom": order.uom.code,
                "reason": "reconciliation correction",
            }
        if exception.field == "status" and order.state in POSTED_STATES:
            return "order.settle", {"order": order.number, "reason": "reconciliation correction"}
    if exception.subject_kind == "lot" and exception.field == "status" and exception.lot:
        return "lot.status_change", {
            "lot": exception.lot.number,
            "status": exception.lot.status,
            "reason": "reconciliation correction",
        }
    return None


def describe_correction(exception: ReconciliationException) -> str:
    correction = correction_for(exception)
    if correction is None:
        return ""
    message_type, payload = correction
    return f"post {message_type} to {exception.system.upper()}: " + ", ".join(
        f"{k}={v}" for k, v in payload.items() if k != "reason"
    )


def _may_work(actor: Any, exception: ReconciliationException) -> None:
    role = str(site_parameter(key="reconciliation.role", plant=exception.plant))
    if getattr(actor, "is_superuser", False) or holds_role(actor, role, exception.plant_id):
        return
    raise NotAllowed(
        f"Only a person holding the role {role!r} at plant {exception.plant.code} may work "
        "reconciliation exceptions."
    )


def _reason(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(
            message="Say why.",
            code="reason_required",
            details=[ErrorDetail(path="reason", code="required", message="A reason is required.")],
        )
    return text


def exception_assign(
    *, exception: ReconciliationException, actor: Any, assignee: Any = None
) -> ReconciliationException:
    """``assignee`` (default: the actor) works this exception."""
    _may_work(actor, exception)
    assignee = assignee or actor
    _may_work(assignee, exception)
    return transition_apply(
        obj=exception,
        transition="assign",
        actor=actor,
        reason=f"assigned to {assignee.get_username()}",
        correlation_id=exception.correlation_id,
        updates={"assignee": assignee},
    )


def exception_correct(
    *, exception: ReconciliationException, actor: Any, reason: str
) -> ReconciliationException:
    """Queue the correcting message to the system (outbox, idempotent per exception) and
    mark the exception ``correction_posted``; the next run verifies and closes it."""
    _may_work(actor, exception)
    reason = _reason(reason)
    correction = correction_for(exception)
    if correction is None:
        raise DomainError(
            message=f"No message can correct {exception.field} in {exception.system.upper()}: "
            "accept the difference with a reason, or fix the source.",
            code="no_correction",
            http_status=409,
        )
    message_type, payload = correction
    with transaction.atomic():
        system_id = outbox_system_for(plant_id=exception.plant_id, kind=exception.system)
        now = timezone.now()
        message, created = OutboxMessage.objects.get_or_create(
            idempotency_key=f"reconciliation:{exception.pk}:{message_type}",
            defaults={
                "plant_id": exception.plant_id,
                "target_system": exception.system,
                "system_id": system_id,
                "message_type": message_type,
                "payload": payload,
                "rule": "reconciliation",
                "correlation_id": exception.correlation_id,
                "created_at": now,
                "next_attempt_at": now,
            },
        )
        if created and system_id is not None:
            outbox_wake_on_commit({system_id})
        done = transition_apply(
            obj=exception,
            transition="post_correction",
            actor=actor,
            reason=f"{message_type} queued for {exception.system.upper()}: {reason}",
            correlation_id=exception.correlation_id,
            updates={"correction": message, "resolution": reason},
        )
        _finish_task(exception, actor=actor, outcome="corrected", comment=reason)
    return done


def exception_accept(
    *, exception: ReconciliationException, actor: Any, reason: str
) -> ReconciliationException:
    """The difference is right or explained: accepted with a reason (no message sent)."""
    _may_work(actor, exception)
    reason = _reason(reason)
    with transaction.atomic():
        done = transition_apply(
            obj=exception,
            transition="accept",
            actor=actor,
            reason=reason,
            correlation_id=exception.correlation_id,
            updates={"resolution": reason},
        )
        _finish_task(exception, actor=actor, outcome="accepted", comment=reason)
    return done


def exception_close(
    *, exception: ReconciliationException, actor: Any, reason: str
) -> ReconciliationException:
    """Close an accepted exception (or a posted correction a person checked)."""
    _may_work(actor, exception)
    if exception.state not in (ExceptionState.ACCEPTED, ExceptionState.CORRECTION_POSTED):
        raise DomainError(
            message="Correct or accept the difference first; a run closes it once the "
            "system agrees.",
            code="not_resolved",
            http_status=409,
        )
    return transition_apply(
        obj=exception,
        transition="close",
        actor=actor,
        reason=_reason(reason),
        correlation_id=exception.correlation_id,
    )


def _finish_task(exception: ReconciliationException, *, actor: Any, outcome: str, comment: str):
    task = exception.task
    if task is not None and task.state in ACTIVE_STATES:
        task_complete_by_system(task=task, outcome=outcome, comment=comment, actor=actor)


def _complete_exception_task(*, task: Any, actor: Any, outcome: str, comment: str) -> bool:
    """A ``correct`` task of an exception is done by correcting or accepting it."""
    if (
        task.subject_type_id is None
        or task.subject_type.model_class() is not ReconciliationException
    ):
        return False
    exception = ReconciliationException.objects.get(pk=task.subject_id)
    if outcome == "corrected":
        exception_correct(exception=exception, actor=actor, reason=comment)
    elif outcome == "accepted":
        exception_accept(exception=exception, actor=actor, reason=comment)
    else:
        raise DomainError(
            message="A reconciliation task is completed as 'corrected' or 'accepted'.",
            code="reconciliation_outcome_required",
            details=[ErrorDetail(path="outcome", code="invalid", message=outcome)],
        )
    return True


register_task_completer(_complete_exception_task)


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
