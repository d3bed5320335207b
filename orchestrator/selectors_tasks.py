"""How a task reads to a person, wherever it is shown: the links to what it is about and
where it came from, and its details as label/value rows. "My tasks" and a task's page in
the admin and the task API (``links``) all use these, so that they say the same thing.
Read-only."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse

from .models import Task


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


def task_links(task: Task) -> list[TaskLink]:
    """The links of ``task``: what it is about (order, lot, approval request, its subject
    such as an exposure or a reconciliation exception) and where it came from (the event,
    the trace of its correlation id). A subject without an admin page has no link."""
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
    if task.event_id:
        url = reverse("admin:orchestrator_event_change", args=[task.event_id])
        links.append(TaskLink("event", "event", url))
    if task.subject_type_id and task.subject_id:
        model = task.subject_type.model_class()
        if model is not None:
            name = f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
            with contextlib.suppress(NoReverseMatch):
                url = reverse(name, args=[task.subject_id])
                links.append(TaskLink("subject", str(model._meta.verbose_name), url))
    if task.correlation_id:
        url = reverse("admin:orchestrator_inboundmessage_trace", args=[task.correlation_id])
        links.append(TaskLink("trace", "trace", url))
    return links


@dataclass(frozen=True)
class DetailRow:
    """One line of a task's details: a plain ``value``, or a ``table`` (``columns``
    and ``rows``) for a list of records such as backorders or measurements."""

    label: str
    value: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


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
    return str(value)


def task_detail_rows(details: dict | None) -> list[DetailRow]:
    """``details`` as a person reads them: one row per key (underscores as spaces);
    a list of records becomes a small table, nested values plain text."""
    rows: list[DetailRow] = []
    for key, value in (details or {}).items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns: list[str] = []
            for record in value:
                columns.extend(k for k in record if k not in columns)
            rows.append(
                DetailRow(
                    label=_label(key),
                    columns=tuple(_label(c) for c in columns),
                    rows=tuple(tuple(_text(r.get(c)) for c in columns) for r in value),
                )
            )
        else:
            rows.append(DetailRow(label=_label(key), value=_text(value)))
    return rows
