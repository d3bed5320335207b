"""The task inbox: work a person holding a role at a plant has to do.

Rules and services open a :class:`Task` when they need a person: approve a request,
investigate a variance, contain a suspect lot, reply to a supplier, correct a
reconciliation difference. A task belongs to a *role* at a *plant* (anyone holding the
role there sees it in "My tasks"), is claimed by one person, and is done with an outcome
and a comment. Past ``due_at`` it is escalated to ``escalate_to`` (the holders of that
role see it too). Every state change goes through a django-fsm transition and leaves an
audit record (``orchestrator.services.tasks``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django_fsm import FSMField, transition

from .base import LifecycleModel, PlantBound


class TaskKind(models.TextChoices):
    APPROVE = "approve", "Approve"
    INVESTIGATE = "investigate", "Investigate"
    CONTAIN = "contain", "Contain"
    REPLY = "reply", "Reply"
    CORRECT = "correct", "Correct"
    REVIEW = "review", "Review"
    ACKNOWLEDGE = "acknowledge", "Acknowledge"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    ESCALATED = "escalated", "Escalated (overdue)"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


#: What a person may answer when completing a task of each kind (value, label).
OUTCOMES: dict[str, list[tuple[str, str]]] = {
    TaskKind.APPROVE: [("approved", "Approve"), ("rejected", "Reject")],
    TaskKind.CORRECT: [("corrected", "Corrected"), ("accepted", "Accept the difference")],
    TaskKind.REPLY: [("replied", "Replied"), ("no_action", "No reply needed")],
}
DEFAULT_OUTCOMES = [("done", "Done"), ("no_action", "No action needed")]


def outcomes_for(kind: str) -> list[tuple[str, str]]:
    return OUTCOMES.get(kind, DEFAULT_OUTCOMES)


#: States in which a task still waits for someone (the inbox shows these).
ACTIVE_STATES = (TaskState.OPEN, TaskState.CLAIMED, TaskState.ESCALATED)


class Task(PlantBound, LifecycleModel):
    """One piece of work for the people holding ``role`` at ``plant``.

    ``role`` and ``escalate_to`` are the rule roles (``rules.actions``: ``planning``,
    ``quality_lead``, ``supervisor``...), mapped to people's roles by
    ``orchestrator.services.approvals.RULE_ROLES``. ``details`` carries the evidence the
    person needs (measurements, quantities, the difference found); the links say where it
    came from (event, rule, correlation id) and what it is about (order, lot, approval
    request, or any ``subject`` such as a gate or a reconciliation exception). ``key``
    makes opening idempotent: a re-applied event does not open the same task twice.
    """

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="tasks")
    role = models.CharField(max_length=40, db_index=True)
    kind = models.CharField(max_length=20, choices=TaskKind.choices)
    title = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    state = FSMField(
        default=TaskState.OPEN, choices=TaskState.choices, protected=True, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_tasks",
    )
    escalate_to = models.CharField(max_length=40, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=40, blank=True)
    comment = models.TextField(blank=True)
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the role's people were told by e-mail."
    )
    event = models.ForeignKey(
        "orchestrator.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order = models.ForeignKey(
        "orchestrator.ProductionOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    lot = models.ForeignKey(
        "orchestrator.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    approval = models.ForeignKey(
        "orchestrator.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True)
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True, db_index=True)
    key = models.CharField(max_length=500, db_index=True)

    class Meta:
        ordering = ["due_at", "-id"]
        indexes = [models.Index(fields=["plant", "role", "state"], name="task_inbox_idx")]

    def __str__(self) -> str:
        kind = self.get_kind_display()
        if self.title.lower().startswith(kind.lower()):  # "Approve: move …", not twice
            return f"{self.title} ({self.role})"
        return f"{kind} ({self.role}): {self.title}"

    @property
    def subject(self) -> models.Model | None:
        if self.subject_type_id is None or not self.subject_id:
            return None
        model = self.subject_type.model_class()
        return model._default_manager.filter(pk=self.subject_id).first() if model else None

    # --- lifecycle (only moves state; services.tasks saves and audits) --------------------
    @transition(field=state, source=[TaskState.OPEN, TaskState.ESCALATED], target=TaskState.CLAIMED)
    def claim(self) -> None:
        """A person takes the task (``assignee``)."""

    @transition(field=state, source=TaskState.CLAIMED, target=TaskState.OPEN)
    def release(self) -> None:
        """The assignee gives it back to the role."""

    @transition(
        field=state,
        source=[TaskState.OPEN, TaskState.CLAIMED, TaskState.ESCALATED],
        target=TaskState.DONE,
    )
    def complete(self) -> None:
        """Done, with an outcome and a comment."""

    @transition(field=state, source=[TaskState.OPEN, TaskState.CLAIMED], target=TaskState.ESCALATED)
    def escalate(self) -> None:
        """Overdue: the escalation role sees it too; the claim is dropped."""

    @transition(
        field=state,
        source=[TaskState.OPEN, TaskState.CLAIMED, TaskState.ESCALATED],
        target=TaskState.CANCELLED,
    )
    def cancel(self) -> None:
        """No longer needed (its subject was decided elsewhere)."""
