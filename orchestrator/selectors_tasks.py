"""How a task reads to a person, wherever it is shown: the links to what it is about and
where it came from, and its details as label/value rows. "My tasks" and a task's page in
the admin and the task API (``links``) all use these, so that they say the same thing.
Read-only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Exposure, Task


@dataclass(frozen=True)
class TaskLink:
    """One link of a task: ``rel`` says what it points to (``order``, ``lot``,
    ``approval``, ``event``, ``subject``, ``trace``), ``label`` is what a person reads,
    ``url`` the admin page (a path; the API makes it absolute)."""

    rel: str
    label: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"rel": self.rel, "label": self.label, "url": self.url}


def tasks_links(tasks: Iterable[Task]) -> dict[int, list[TaskLink]]:
    """The links of each task, by its id, in one query for the exposures their events
    recorded (a list of tasks: "My tasks", the API)."""
    tasks = list(tasks)
    exposures: dict[int, int] = {}
    event_ids = {t.event_id for t in tasks if t.event_id}
    if event_ids:
        rows = Exposure.objects.filter(event_id__in=event_ids).order_by("pk")
        for pk, event_id in rows.values_list("pk", "event_id"):
            exposures.setdefault(event_id, pk)
    return {t.pk: _links(t, exposures.get(t.event_id)) for t in tasks}


def task_links(task: Task) -> list[TaskLink]:
    """The links of ``task``: what it is about (order, lot, approval request, the exposure
    its event recorded, its subject such as a gate or a reconciliation exception) and where
    it came from (the event, the trace of its correlation id). A subject without an admin
    page has no link."""
    return tasks_links([task])[task.pk]


def _links(task: Task, exposure_id: int | None) -> list[TaskLink]:
    links: list[TaskLink] = []
    if task.order_id:
        url = reverse("admin:orchestrator_productionorder_change", args=[task.order_id])
        links.append(TaskLink("order", f"order {task.order.number}", url))
    if task.lot_id:
        url = reverse("admin:orchestrator_lot_change", args=[task.lot_id])
        links.append(TaskLink("lot", f"lot {task.lot.number}", url))
    if task.approval_id:
        url = reverse("admin:orchestrator_approvalrequest_change", args=[task.approval_id])
        links.append(TaskLink("approval", "approval request", url))
    subject = None
    if task.subject_type_id and task.subject_id:
        model = task.subject_type.model_class()
        if model is not None:
            name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
            with contextlib.suppress(NoReverseMatch):
                url = reverse(name, args=[task.subject_id])
                subject = TaskLink("subject", str(model._meta.verbose_name), url)
    is_exposure = subject is not None and task.subject_type.model_class() is Exposure
    if exposure_id and not (is_exposure and str(exposure_id) == task.subject_id):
        url = reverse("admin:orchestrator_exposure_change", args=[exposure_id])
        links.append(TaskLink("exposure", "exposure", url))
    if subject is not None:
        links.append(subject)
    if task.event_id:
        url = reverse("admin:orchestrator_event_change", args=[task.event_id])
        links.append(TaskLink("event", "event", url))
    if task.correlation_id:
        url = reverse("admin:orchestrator_inboundmessage_trace", args=[task.correlation_id])
        links.append(TaskLink("trace", "trace", url))
    return links


@dataclass(frozen=True)
class DetailRow:
    """One line of a task's details: a plain ``value`` (with a ``url`` when it names a
    record that has an admin page), or a ``table`` (``columns`` and ``rows``) for a record
    or a list of records such as backorders or measurements."""

    label: str
    value: str = ""
    url: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


#: Detail keys whose integer value is the id of a record with an admin page.
REFERENCES = {
    "approval_request": "orchestrator.approvalrequest",
    "approval": "orchestrator.approvalrequest",
    "exposure": "orchestrator.exposure",
    "reconciliation_exception": "orchestrator.reconciliationexception",
    "run": "orchestrator.reconciliationrun",
    "gate": "orchestrator.gate",
    "disposition": "orchestrator.disposition",
}


def _label(key: str) -> str:
    return str(key).replace("_", " ")


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)}: {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "—"
    if isinstance(value, str) and "T" in value[:11]:
        moment = parse_datetime(value)
        if moment is not None:  # an ISO timestamp reads as the admin's dates do
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return f"{moment:%Y-%m-%d %H:%M}"
    return str(value)


def _reference(key: str, value: Any) -> DetailRow | None:
    """A record's id under a known key: its name and admin page, or None."""
    model_name = REFERENCES.get(key)
    if model_name is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    model = apps.get_model(model_name)
    obj = model.objects.filter(pk=value).first()
    url = ""
    with contextlib.suppress(NoReverseMatch):
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[value]
        )
    text = str(obj) if obj is not None else f"{model._meta.verbose_name} {value} (gone)"
    return DetailRow(label=_label(key), value=text, url=url if obj is not None else "")


def _table(label: str, records: list[dict]) -> DetailRow:
    columns: list[str] = []
    for record in records:
        columns.extend(k for k in record if k not in columns)
    return DetailRow(
        label=label,
        columns=tuple(_label(c) for c in columns),
        rows=tuple(tuple(_text(r.get(c)) for c in columns) for r in records),
    )


def task_detail_rows(details: dict | None) -> list[DetailRow]:
    """``details`` as a person reads them: one row per key (underscores as spaces); a
    record, or a list of records, becomes a small table; timestamps read as dates; the id
    of a known record (approval request, exposure, reconciliation run...) its name and a
    link; an admin path a link."""
    rows: list[DetailRow] = []
    for key, value in (details or {}).items():
        label = _label(key)
        reference = _reference(key, value)
        if reference is not None:
            rows.append(reference)
        elif isinstance(value, dict) and value:
            rows.append(_table(label, [value]))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            rows.append(_table(label, value))
        elif isinstance(value, str) and value.startswith("/admin/"):
            rows.append(DetailRow(label=label, value="open", url=value))
        else:
            rows.append(DetailRow(label=label, value=_text(value)))
    return rows
