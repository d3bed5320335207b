"""Telling people about their tasks: :func:`tasks_mail_pending` (beat, and woken after
commit by :func:`tasks_mail_wake`) e-mails the people holding a task's role at its plant
(and, once escalated, the escalation role: :func:`escalation_role_for`) a link to each
new or escalated task, through Django's e-mail backend (console in the demo).
``orchestrator.services.tasks`` opens, escalates and reassigns the tasks and wakes the
mailer."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from plants.choices import Role
from plants.models import Membership

from ..models.tasks import ACTIVE_STATES, Task
from .roles import RULE_ROLES

logger = logging.getLogger(__name__)

MAIL_TASK = "orchestrator.mail_tasks"


def escalation_role_for(task: Task) -> str:
    """Who an overdue task goes to: its ``escalate_to``, else the plant admin."""
    return task.escalate_to or Role.PLANT_ADMIN


def task_url(task: Task) -> str:
    base = settings.INTERLOCK_BASE_URL.rstrip("/")
    return f"{base}{reverse('admin:orchestrator_task_change', args=[task.pk])}"


def role_recipients(rule_role: str, plant_id: int) -> list[str]:
    """E-mail addresses of the active people holding ``rule_role`` at the plant."""
    roles = RULE_ROLES.get(rule_role, ())
    rows = (
        Membership.objects.filter(
            Q(plant_id=plant_id) | Q(plant__isnull=True), role__in=roles, user__is_active=True
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    return sorted(set(rows))


def tasks_mail_pending(*, limit: int = 200) -> int:
    """E-mail the people of the role (and, once escalated, the escalation role) a link
    to each active task not mailed yet. Each row is claimed by a conditional UPDATE
    (``emailed_at`` null → now) before sending, so two workers never mail the same task;
    a failed send is logged and the row is released for the next run."""
    sent = 0
    pending = list(
        Task.objects.filter(emailed_at__isnull=True, state__in=ACTIVE_STATES)
        .select_related("plant")
        .order_by("pk")[:limit]
    )
    for task in pending:
        now = timezone.now()
        if Task.objects.filter(pk=task.pk, emailed_at__isnull=True).update(emailed_at=now) != 1:
            continue
        roles = [task.role]
        if task.escalated_at:
            roles.append(escalation_role_for(task))
        to = sorted({addr for r in roles for addr in role_recipients(r, task.plant_id)})
        if not to:
            continue
        escalated = "ESCALATED: " if task.escalated_at else ""
        subject = (
            f"[Interlock {task.plant.code}] {escalated}{task.get_kind_display()}: {task.title}"
        )
        due = f"Due: {task.due_at:%Y-%m-%d %H:%M %Z}\n" if task.due_at else ""
        body = (
            f"A task for {', '.join(roles)} at plant {task.plant.code}:\n\n"
            f"{task.title}\n\n{due}Open it: {task_url(task)}\n"
        )
        try:
            send_mail(subject[:250], body, settings.DEFAULT_FROM_EMAIL, to)
            sent += 1
        except Exception as exc:  # the SMTP server is away: try again next run
            Task.objects.filter(pk=task.pk, emailed_at=now).update(emailed_at=None)
            logger.warning("could not e-mail task %s: %s", task.pk, exc)
    return sent


_mail_wake_paused_until = 0.0


def tasks_mail_wake() -> None:
    """Ask a worker to mail new tasks now. Best effort: beat sweeps every 30 s anyway, so
    after a broker failure no request pays for another attempt for a while."""
    global _mail_wake_paused_until
    from celery import current_app

    from .outbox import WAKE_PAUSE_SECONDS

    if time.monotonic() < _mail_wake_paused_until:
        return
    try:
        current_app.send_task(MAIL_TASK, retry=False)
    except Exception as exc:
        _mail_wake_paused_until = time.monotonic() + WAKE_PAUSE_SECONDS
        logger.warning("could not wake the task mailer: %s", exc)
