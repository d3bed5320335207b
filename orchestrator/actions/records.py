"""Actions that leave a record for people or systems: outbox, notifications, approvals,
nonconformances and lot status changes."""

from __future__ import annotations

import datetime as dt
import hashlib

from ..ingest import caches
from ..ingest.context import TransitionRefused
from ..models import ApprovalRequest, Nonconformance, Notification, OutboxMessage
from ..models.gates import APPROVAL_GATE
from ..models.notifications import NotificationKind
from ..selectors_exposure import supplier_case_evidence
from ..services.lifecycle import transition_for_target
from ..services.outbox import outbox_wake_on_commit
from ..services.tasks import open_task_in_batch
from . import ActionContext, implements

#: The gate ``require_approval`` holds on the event's order (else lot).


def _key(a: ActionContext, *parts: str) -> str:
    key = "|".join([a.event.idempotency_key, a.rule, *parts])
    if len(key) > 500:
        key = key[:400] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


@implements("post_to_system")
def post_to_system(a: ActionContext) -> dict:
    params = a.action.params
    key = _key(a, params["system"], params["message"])
    system_id = _outbox_system(a, params["system"])
    payload = {**a.event.payload, **params.get("payload", {})}
    lot = a.step.lot
    if lot is not None and payload.get("lot") == lot.number and not payload.get("item"):
        # A message about a lot names its item (a finished lot's completion or inspection
        # does not): the WMS stores the lot under it, the ERP books it.
        payload["item"] = lot.item.code
    event, ctx = a.event, a.ctx
    make = ctx.maker(OutboxMessage, _OUTBOX_GIVEN, ("plant", "event"))
    # OutboxMessage(plant=…, event=…, …) without Model.__init__ (``ingest.instances``).
    row = make(
        (
            params["system"],
            system_id,
            ctx.now,
            params["message"],
            payload,
            key,
            a.rule,
            event.correlation_id,
            ctx.now,
            event.plant,
            event,
        )
    )
    ctx.add(row)
    return {"outbox": key}


#: What ``post_to_system`` gives an outbox row (then its plant and event), in this order.
_OUTBOX_GIVEN = (
    "target_system",
    "system_id",
    "next_attempt_at",
    "message_type",
    "payload",
    "idempotency_key",
    "rule",
    "correlation_id",
    "created_at",
)


def _outbox_system(a: ActionContext, kind: str) -> int | None:
    """The system the row goes to (looked up once per plant and kind in a batch), and the
    batch's wake-up: one delivery task per system after commit, however many rows."""
    systems = a.ctx.cache.setdefault("outbox_systems", {})
    lookup = (a.event.plant_id, kind)
    if lookup not in systems:
        systems[lookup] = caches.outbox_systems.get(a.event.plant_id).get(kind)
    system_id = systems[lookup]
    if system_id is not None:
        wake = a.ctx.cache.get("outbox_wake")
        if wake is None:
            wake = a.ctx.cache["outbox_wake"] = set()
            outbox_wake_on_commit(wake)
        wake.add(system_id)
    return system_id


def _task(
    a: ActionContext,
    *,
    role: str,
    kind: str,
    title: str,
    details: dict | None = None,
    due_in: int | None = None,
    escalate_to: str = "",
    approval: ApprovalRequest | None = None,
) -> bool:
    """Open the task a person holding ``role`` at the event's plant acts on: once per
    event, rule, role and kind; with the action's ``once_per`` facts, once while a task
    about the same values of them is open (a spike on a line is one task, not one per
    order)."""
    once_per = a.action.params.get("once_per")
    key, while_open = _key(a, "task", role, kind), False
    if once_per:
        values = [str(a.step.derived.get(f, a.event.payload.get(f, ""))) for f in once_per]
        key = "|".join(["open", a.rule, str(a.event.plant_id), role, kind, *values])[:500]
        while_open = True
    task = open_task_in_batch(
        a.ctx,
        plant=a.event.plant,
        role=role,
        kind=kind,
        title=title,
        details=details,
        due_in=due_in,
        escalate_to=escalate_to,
        event=a.event,
        order=a.step.order,
        lot=a.step.lot,
        approval=approval,
        subject=a.step.inspection,
        rule=a.rule,
        key=key,
        while_open=while_open,
    )
    return task is not None


def _notify(
    a: ActionContext, kind: str, role: str, message: str, *, task_kind: str = "review", **details
) -> dict:
    _task(a, role=role, kind=task_kind, title=message, details=details or None)
    # Notification(plant=…, event=…, …) without Model.__init__ (``ingest.instances``).
    make = a.ctx.maker(Notification, _NOTIFICATION_GIVEN, ("plant", "event"))
    event = a.event
    a.ctx.add(
        make(
            (
                kind,
                role,
                message[:500],
                details,
                a.rule,
                event.correlation_id,
                a.ctx.now,
                event.plant,
                event,
            )
        )
    )
    return {"notified": role}


#: What ``_notify`` gives a notification (then its plant and event), in this order.
_NOTIFICATION_GIVEN = ("kind", "role", "message", "details", "rule", "correlation_id", "created_at")


@implements("notify_role")
def notify_role(a: ActionContext) -> dict:
    return _notify(a, NotificationKind.NOTIFY, a.action.params["role"], a.action.params["message"])


@implements("threshold_alert")
def threshold_alert(a: ActionContext) -> dict:
    params = a.action.params
    for role in params["roles"]:
        _notify(
            a,
            NotificationKind.THRESHOLD_ALERT,
            role,
            params.get("message") or f"{params['parameter']} crossed",
            task_kind="investigate",
            parameter=params["parameter"],
        )
    return {"notified": params["roles"]}


@implements("open_supplier_case")
def open_supplier_case(a: ActionContext) -> dict:
    lot = a.step.lot
    supplier = lot.supplier.code if lot is not None and lot.supplier_id else ""
    return _notify(
        a,
        NotificationKind.SUPPLIER_CASE,
        "procurement",
        a.action.params["reason"],
        task_kind="reply",
        supplier=supplier,
        lot=lot.number if lot is not None else "",
        evidence=a.event.payload,
        **supplier_case_evidence(lot=lot, inspection=a.step.inspection, payload=a.event.payload),
    )


@implements("require_approval")
def require_approval(a: ActionContext) -> dict:
    """Record the request and hold the subject's ``approval`` gate (closed, created if
    needed): the flow waits on it until a person with the role approves
    (``services.approvals.approval_decide`` opens it, releasing the parked events)."""
    from ..models import GateState
    from .gates import _gate

    params = a.action.params
    minutes = params.get("timeout_minutes")
    waits_for = f"approval by {params['role']}: {params['reason']}"[:300]
    gate = _gate(a, APPROVAL_GATE, create=True)
    if gate is not None:
        if gate.state in (GateState.OPEN, GateState.OVERRIDDEN):
            a.ctx.transition(gate, "close", event=a.event, reason=params["reason"][:300])
        gate.waits_for = waits_for
        gate.reason = params["reason"][:300]
        gate.rule = a.rule[:200]
        a.ctx.mark(gate, "waits_for", "reason", "rule")
    request = new_approval_request(a, params["reason"], order=a.step.order, gate=gate)
    _task(
        a,
        role=params["role"],
        kind="approve",
        title=f"Approve: {params['reason']}",
        details={"approval_request": request.pk, "evidence": a.event.payload},
        due_in=minutes,
        escalate_to=params.get("escalate_to", ""),
        approval=request,
    )
    return {"approval": params["role"], "gate": APPROVAL_GATE if gate is not None else None}


@implements("open_nonconformance")
def open_nonconformance(a: ActionContext) -> dict:
    """One nonconformance per inspection (or event): re-applying adds no second one."""
    step, event = a.step, a.event
    subject = step.inspection.number if step.inspection is not None else str(event.pk)
    number = f"NC-{subject}"[:40]
    if Nonconformance.objects.filter(plant=event.plant, number=number).exists():
        return {"nonconformance": number, "result": "exists"}
    params = a.action.params
    nc = Nonconformance(
        plant=event.plant,
        number=number,
        title=(params.get("reason") or f"{params['severity']} nonconformance")[:200],
        description=f"severity {params['severity']}; opened by rule {a.rule} on event "
        f"{event.pk} ({event.event_type})",
        lot=step.lot,
        order=step.order,
        inspection=step.inspection,
    )
    nc.save()
    a.ctx.audit(
        nc,
        transition="open",
        source="",
        target=nc.state,
        correlation_id=event.correlation_id,
        reason=f"rule {a.rule}",
    )
    return {"nonconformance": number}


@implements("change_lot_status")
def change_lot_status(a: ActionContext) -> dict:
    lot, status = a.step.lot, a.action.params["status"]
    if lot is None:
        return {"result": "no lot"}
    if lot.status == status:
        return {"lot": lot.number, "result": "unchanged"}
    name = transition_for_target(lot, status)
    if name is None:
        return {"lot": lot.number, "result": f"no transition from {lot.status} to {status}"}
    try:
        a.ctx.transition(lot, name, event=a.event, reason=a.action.params.get("reason", a.rule))
    except TransitionRefused as exc:
        return {"lot": lot.number, "result": exc.why}
    return {"lot": lot.number, "status": status}


@implements("open_task")
def open_task(a: ActionContext) -> dict:
    params = a.action.params
    details = {**params.get("details", {}), "evidence": a.event.payload}
    opened = _task(
        a,
        role=params["role"],
        kind=params["kind"],
        title=params["title"],
        details=details,
        due_in=params.get("due_in"),
        escalate_to=params.get("escalate_to", ""),
    )
    return {"task": params["role"], "result": "opened" if opened else "exists"}


def new_approval_request(a: ActionContext, reason: str, **links) -> ApprovalRequest:
    """Save the approval request an action asks a role for (``params``: role,
    escalate_to, timeout_minutes), linked to the event and to ``links``. Saved at once,
    not buffered: the task and the records that point at it need its key."""
    params = a.action.params
    minutes = params.get("timeout_minutes")
    request = ApprovalRequest(
        plant=a.event.plant,
        role=params["role"],
        reason=reason[:500],
        escalate_to=params.get("escalate_to", ""),
        due_at=a.ctx.now + dt.timedelta(minutes=minutes) if minutes else None,
        event=a.event,
        rule=a.rule,
        correlation_id=a.event.correlation_id,
        created_at=a.ctx.now,
        **links,
    )
    request.save()
    return request
