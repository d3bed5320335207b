"""Onboarding a plant from a template: copy another plant's configuration, diff first.

A new plant usually runs the same systems and speaks much the same codes as one that is
live already. :func:`plant_onboard_from_template` copies the template plant's

- **work centers** (canonical work centers belong to one plant, so each gets a code of its
  own: the template's plant code in it replaced by the target's, e.g. ``P1-ASSY1`` →
  ``P9-ASSY1``, else ``<target>-<code>``),
- **site mappings** of all four tables (same plant codes, validity and targets; work-center
  mappings point at the copied work centers),
- **parameter overrides** (the template's values, with the reason it was copied),
- **connected systems** (transport settings; the code renamed like work centers; *never*
  their API keys, and the credential variable's name renamed too, so no secret is shared);
  a company system that serves several plants (one ERP for all) is *joined* instead: the
  target is added to its plants,
- the **release calendar** (weekly windows; freezes are dated events and are not copied).

The result is a diff, one :class:`Change` per row: ``create``, ``join``, ``exists`` (the target has
the same row already), ``conflict`` (the target has that key with other values: left
alone) or ``skip`` (cannot be copied, with the reason). ``dry_run=True`` (the default of
the API and the admin action) writes nothing; otherwise every ``create`` is written in one
transaction through :mod:`plants.services.config`, so permissions and validation are
those of a person doing it row by row, and a single failure writes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction

from interlock.errors import DomainError

from ..models import (
    MAPPING_MODELS,
    ConnectedSystem,
    Plant,
    ReleaseWindow,
    SiteMapping,
    SiteParameterOverride,
    WorkCenter,
)
from ..permissions import require_perm
from .config import config_create, config_update

PARTS = ("work_centers", "mappings", "parameters", "systems", "calendar")


@dataclass
class Change:
    """One row of the onboarding diff."""

    table: str
    action: str  # create | join | exists | conflict | skip
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class OnboardResult:
    template: str
    target: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(c.action for c in self.changes))

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "target": self.target,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "changes": [asdict(c) for c in self.changes],
        }


def renamed(code: str, template: Plant, target: Plant) -> str:
    """``code`` of the template plant as the target's: its plant code swapped, else prefixed."""
    if template.code in code:
        return code.replace(template.code, target.code)
    return f"{target.code}-{code}"


def _plain(value: Any) -> Any:
    if hasattr(value, "code"):
        return value.code
    if hasattr(value, "key"):
        return value.key
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


class _Plan:
    """Collects the diff and, for each ``create``, how to write it."""

    def __init__(self, template: Plant, target: Plant) -> None:
        self.template, self.target = template, target
        self.changes: list[Change] = []
        self.writes: list[tuple[type, dict[str, Any], dict[str, Any]]] = []
        self.joins: list[ConnectedSystem] = []

    def add(self, table, key, model, values, *, existing=None, compare=(), m2m=None, note=""):
        shown = {k: _plain(v) for k, v in values.items() if k != "plant"}
        if m2m:
            shown |= {k: sorted(_plain(x) for x in v) for k, v in m2m.items()}
        if existing is not None:
            same = all(_plain(getattr(existing, f)) == _plain(values[f]) for f in compare)
            action = "exists" if same else "conflict"
            note = note or ("" if same else "the target has other values; left alone")
            self.changes.append(Change(table, action, key, shown, note))
            return
        self.changes.append(Change(table, "create", key, shown, note))
        self.writes.append((model, values, m2m or {}))

    def skip(self, table, key, note):
        self.changes.append(Change(table, "skip", key, {}, note))


def _plan_work_centers(plan: _Plan) -> dict[int, WorkCenter | str]:
    """Template work center id → the target's work center (existing or to be created: its code)."""
    mapping: dict[int, WorkCenter | str] = {}
    for wc in WorkCenter.objects.filter(plant=plan.template).order_by("code"):
        code = renamed(wc.code, plan.template, plan.target)
        existing = WorkCenter.objects.filter(code=code).first()
        if existing is not None and existing.plant_id != plan.target.pk:
            plan.skip("work_center", code, f"code {code} is taken by another plant's work center")
            continue
        values = {
            "plant": plan.target,
            "code": code,
            "name": wc.name,
            "constrained": wc.constrained,
            "capacity_per_hour": wc.capacity_per_hour,
            "active": wc.active,
        }
        plan.add(
            "work_center",
            code,
            WorkCenter,
            values,
            existing=existing,
            compare=("name", "constrained"),
            note=f"copy of {wc.code}",
        )
        mapping[wc.pk] = existing or code
    return mapping


def _mapping_values(row: SiteMapping, target: Plant) -> dict[str, Any]:
    values: dict[str, Any] = {
        "plant": target,
        "plant_code": row.plant_code,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "note": row.note,
    }
    if row.table == "item":
        values |= {"item": row.item, "revision": row.revision}
    elif row.table == "uom":
        values |= {
            "uom": row.uom,
            "factor": row.factor,
            "decimal_places": row.decimal_places,
            "rounding_mode": row.rounding_mode,
        }
    elif row.table == "status":
        values |= {"domain": row.domain, "canonical_status": row.canonical_status}
    return values


_TARGET_FIELD = {"item": "item", "uom": "uom", "work_center": "work_center", "status": None}


def _plan_mappings(plan: _Plan, work_centers: dict[int, WorkCenter | str] | None) -> None:
    for table, model in MAPPING_MODELS.items():
        related = [f for f in ("item", "uom", "work_center") if hasattr(model, f"{f}_id")]
        rows = model.objects.filter(plant=plan.template).select_related(*related)
        for row in rows.order_by("plant_code", "valid_from"):
            values = _mapping_values(row, plan.target)
            label = f"{getattr(row, 'domain', '') + ':' if table == 'status' else ''}"
            key = f"{label}{row.plant_code}@{row.valid_from.isoformat()}"
            if table == "work_center":
                if work_centers is None:
                    plan.skip(table, key, "work centers are not copied (include work_centers)")
                    continue
                copied = work_centers.get(row.work_center_id)
                if copied is None:
                    plan.skip(table, key, f"work center {row.work_center.code} was not copied")
                    continue
                values["work_center"] = copied
            lookup = {"plant": plan.target, "plant_code": row.plant_code}
            if table == "status":
                lookup["domain"] = row.domain
            candidates = model.objects.filter(**lookup)
            existing = candidates.filter(valid_from=row.valid_from).first()
            target_field = _TARGET_FIELD[table]
            compare = ("valid_to", target_field or "canonical_status")
            if existing is None:
                clash = next((m for m in candidates if _overlaps(m, row)), None)
                if clash is not None:
                    until = clash.valid_to.isoformat() if clash.valid_to else "open-ended"
                    plan.changes.append(
                        Change(
                            table,
                            "conflict",
                            key,
                            {k: _plain(v) for k, v in values.items() if k != "plant"},
                            f"overlaps the target's mapping valid {clash.valid_from} → {until}",
                        )
                    )
                    continue
            plan.add(table, key, model, values, existing=existing, compare=compare)


def _overlaps(a: SiteMapping, b: SiteMapping) -> bool:
    return (a.valid_to is None or b.valid_from < a.valid_to) and (
        b.valid_to is None or a.valid_from < b.valid_to
    )


def _plan_parameters(plan: _Plan) -> None:
    rows = SiteParameterOverride.objects.filter(plant=plan.template).select_related("parameter")
    for row in rows:
        existing = SiteParameterOverride.objects.filter(
            plant=plan.target, parameter=row.parameter
        ).first()
        values = {
            "parameter": row.parameter,
            "plant": plan.target,
            "value": row.value,
            "reason": f"copied from {plan.template.code}: {row.reason}".strip(": ")[:300],
        }
        plan.add(
            "parameter_override",
            row.parameter.key,
            SiteParameterOverride,
            values,
            existing=existing,
            compare=("value",),
        )


def _plan_systems(plan: _Plan) -> None:
    systems = ConnectedSystem.objects.filter(plants=plan.template).prefetch_related("plants")
    for system in systems.order_by("code"):
        served = sorted(p.code for p in system.plants.all())
        if len(served) > 1:
            # A company system (one ERP for every plant) is joined, not duplicated.
            if plan.target.code in served:
                plan.changes.append(
                    Change("system", "exists", system.code, {}, "serves it already")
                )
                continue
            plan.changes.append(
                Change(
                    "system",
                    "join",
                    system.code,
                    {"plants": [*served, plan.target.code]},
                    f"company system serving {', '.join(served)}: {plan.target.code} is added",
                )
            )
            plan.joins.append(system)
            continue
        code = renamed(system.code, plan.template, plan.target)
        existing = ConnectedSystem.objects.filter(code=code).first()
        env = renamed(system.credential_env, plan.template, plan.target).replace("-", "_")
        values = {
            "code": code,
            "name": renamed(system.name, plan.template, plan.target)
            if plan.template.code in system.name
            else f"{system.name} ({plan.target.code})",
            "kind": system.kind,
            "transport": system.transport,
            "base_url": system.base_url,
            "auth_type": system.auth_type,
            "credential_env": env if system.credential_env else "",
            "token_url": system.token_url,
            "timeout_seconds": system.timeout_seconds,
            "rate_limit_per_second": system.rate_limit_per_second,
            "max_attempts": system.max_attempts,
            "active": system.active,
        }
        note = f"copy of {system.code}; no API keys are copied (issue new ones)"
        plan.add(
            "system",
            code,
            ConnectedSystem,
            values,
            existing=existing,
            compare=("kind", "transport"),
            m2m={"plants": [plan.target]},
            note=note,
        )


def _plan_calendar(plan: _Plan) -> None:
    for window in ReleaseWindow.objects.filter(plant=plan.template):
        key = f"{window.get_weekday_display()} {window.start_time:%H:%M}-{window.end_time:%H:%M}"
        existing = ReleaseWindow.objects.filter(
            plant=plan.target,
            weekday=window.weekday,
            start_time=window.start_time,
            end_time=window.end_time,
        ).first()
        values = {
            "plant": plan.target,
            "name": window.name,
            "weekday": window.weekday,
            "start_time": window.start_time,
            "end_time": window.end_time,
            "active": window.active,
        }
        plan.add("release_window", key, ReleaseWindow, values, existing=existing, compare=())


def plant_onboard_from_template(
    *,
    template: Plant,
    target: Plant,
    actor,
    dry_run: bool = True,
    include: set[str] | None = None,
) -> OnboardResult:
    """Copy ``template``'s configuration to ``target`` (see the module docstring).

    The actor needs to read the template plant's configuration and, for each row written,
    the add permission at the target (checked row by row by the config service).
    """
    if template.pk == target.pk:
        raise DomainError(message="a plant cannot be its own template", code="same_plant")
    include = set(include or PARTS)
    unknown = include - set(PARTS)
    if unknown:
        raise DomainError(
            message=f"unknown part(s) {', '.join(sorted(unknown))}; use {', '.join(PARTS)}",
            code="invalid_include",
        )
    require_perm(actor, "plants.view_plant", plants={template.pk})
    plan = _Plan(template, target)
    work_centers = _plan_work_centers(plan) if "work_centers" in include else None
    if "mappings" in include:
        _plan_mappings(plan, work_centers)
    if "parameters" in include:
        _plan_parameters(plan)
    if "systems" in include:
        _plan_systems(plan)
    if "calendar" in include:
        _plan_calendar(plan)
    result = OnboardResult(template.code, target.code, dry_run, plan.changes)
    if dry_run:
        return result
    reason = f"onboarded from template {template.code}"
    with transaction.atomic():
        created: dict[str, WorkCenter] = {}
        for model, values, m2m in plan.writes:
            values = dict(values)
            if isinstance(values.get("work_center"), str):
                values["work_center"] = created[values["work_center"]]
            obj = config_create(model=model, values=values, actor=actor, m2m=m2m, reason=reason)
            if isinstance(obj, WorkCenter):
                created[obj.code] = obj
        for system in plan.joins:
            config_update(
                obj=system,
                values={},
                m2m={"plants": [*system.plants.all(), target]},
                actor=actor,
                reason=reason,
            )
    return result
