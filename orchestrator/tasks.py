"""Celery tasks of the orchestrator: thin, idempotent, calling one service each."""

from __future__ import annotations

from celery import shared_task

from .ingest.sequencing import escalate_parked


@shared_task(acks_late=True, name="orchestrator.escalate_parked_events")
def escalate_parked_events() -> int:
    """Beat task (every minute): escalate events parked longer than their plant's
    ``sequencing.park_timeout`` (parked → escalated, audited). Safe to run twice.

    Add to ``CELERY_BEAT_SCHEDULE`` in the settings package::

        "orchestrator-escalate-parked": {"task": "orchestrator.escalate_parked_events",
                                         "schedule": 60.0}
    """
    return escalate_parked()


@shared_task(acks_late=True, name="orchestrator.escalate_overdue_approvals")
def escalate_overdue_approvals() -> int:
    """Beat task (every minute): pending approvals past ``due_at`` → escalated, with a
    notification to ``escalate_to`` (else the plant admin) and an audit record. Safe to
    run twice (only still-pending rows change).

    Add to ``CELERY_BEAT_SCHEDULE`` in the settings package::

        "orchestrator-escalate-approvals": {"task": "orchestrator.escalate_overdue_approvals",
                                            "schedule": 60.0}
    """
    from .services.approvals import approvals_escalate

    return approvals_escalate()


@shared_task(acks_late=True, name="orchestrator.seal_audit_trail")
def seal_audit_trail() -> int:
    """Beat task (every minute): chain the audit records written since the last run.
    Serial and safe to run twice (only unsealed records are taken)."""
    from .services.audit_chain import audit_seal

    return audit_seal()


@shared_task(acks_late=True, name="orchestrator.verify_audit_trail")
def verify_audit_trail() -> dict:
    """Beat task (hourly): recompute the audit chain; a break is logged as an ERROR and
    raised as an ``audit_alert`` notification to the auditors (once per break)."""
    from .services.audit_chain import audit_verify_and_alert

    result = audit_verify_and_alert()
    return {"ok": result.ok, "checked": result.checked, "head_seq": result.head_seq}


@shared_task(acks_late=True, name="orchestrator.escalate_overdue_tasks")
def escalate_overdue_tasks() -> int:
    """Beat task (every minute): open or claimed tasks past ``due_at`` → escalated to
    their escalation role (audited, e-mailed). Safe to run twice."""
    from .services.tasks import tasks_escalate_overdue

    return tasks_escalate_overdue()


@shared_task(acks_late=True, name="orchestrator.mail_tasks")
def mail_tasks() -> int:
    """Beat task (every 30 s) and woken after a task opens: e-mail new and escalated tasks
    to the people of the role. Each task is claimed by a conditional update: safe twice."""
    from .services.tasks_mail import tasks_mail_pending

    return tasks_mail_pending()


@shared_task(acks_late=True, name="orchestrator.escalate_gate_timeouts")
def escalate_gate_timeouts() -> int:
    """Beat task (every minute): a gate closed longer than its plant's
    ``gate.timeout.<kind>`` opens a task for ``gate.escalate_to.<kind>`` (audited on the
    gate); tasks of gates opened since are resolved. Safe to run twice (keyed tasks)."""
    from .services.gate_timeouts import gates_escalate_overdue

    return gates_escalate_overdue()


@shared_task(acks_late=True, name="orchestrator.reconcile_plants")
def reconcile_plants() -> list[int]:
    """Beat task (every 5 minutes): reconcile each plant whose last run is older than its
    ``reconciliation.interval`` with its ERP, MES and QMS (scenario 9)."""
    from .services.reconciliation import reconcile_due_plants

    return reconcile_due_plants()


@shared_task(acks_late=True, name="orchestrator.reconcile_plant")
def reconcile_plant(plant_id: int) -> int:
    """Reconcile one plant now (the admin's "Reconcile now")."""
    from plants.models import Plant

    from .services.reconciliation import reconcile_plant as run

    return run(plant=Plant.objects.get(pk=plant_id)).pk
