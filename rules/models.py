"""Rule sets as governed data: versions with a lifecycle, decisions, rollout per plant."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from .choices import DecisionKind, ScheduleStatus, VersionState


class RuleSet(models.Model):
    """A named family of rule set versions (``quality-gates``); the key matches the document."""

    key = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.key


class RuleSetVersion(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """One immutable-once-submitted text of a rule set and where it is in its lifecycle.

    ``plant`` set means a *plant override*: a version that applies only at that plant.
    The state moves only through the transitions below (``protected=True``); the services
    in :mod:`rules.services` check permissions, save, and record the decision.
    ``ConcurrentTransitionMixin`` makes two concurrent transitions of one row fail instead
    of both succeeding.
    """

    ruleset = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.TextField(help_text="The rule set document, YAML or JSON.")
    state = FSMField(default=VersionState.DRAFT, choices=VersionState.choices, protected=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    test_results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ruleset", "number"], name="rules_version_number"),
        ]
        permissions = [
            ("approve_rulesetversion", "Can approve a rule set version (four eyes)"),
            ("publish_rulesetversion", "Can publish or roll back a rule set version"),
            ("author_plantoverride", "Can author a plant override of a rule set"),
            ("publish_plantoverride", "Can publish or roll back a plant override at the plant"),
        ]

    def __str__(self) -> str:
        return f"{self.ruleset.key}@{self.number}"

    @property
    def label(self) -> str:
        return str(self)

    def scope_plant_ids(self) -> set[int] | None:
        return {self.plant_id} if self.plant_id else None

    @transition(field=state, source=VersionState.DRAFT, target=VersionState.IN_REVIEW)
    def submit(self) -> None:
        """Draft → in review (the service checks that the embedded tests pass)."""

    @transition(field=state, source=VersionState.IN_REVIEW, target=VersionState.DRAFT)
    def reject(self) -> None:
        """Back to draft with the reviewer's comment."""

    @transition(
        field=state,
        source=VersionState.IN_REVIEW,
        target=VersionState.APPROVED,
        conditions=[lambda v: v.approved_by_id is not None and v.approved_by_id != v.author_id],
    )
    def approve(self) -> None:
        """In review → approved; the guard is the four-eyes rule (approver ≠ author)."""

    @transition(
        field=state,
        source=[VersionState.APPROVED, VersionState.PUBLISHED],
        target=VersionState.PUBLISHED,
    )
    def publish(self) -> None:
        """Approved → published (again from published when widening a rollout)."""

    @transition(
        field=state,
        source=[VersionState.PUBLISHED, VersionState.APPROVED],
        target=VersionState.RETIRED,
    )
    def retire(self) -> None:
        """No longer active anywhere."""


class VersionDecision(models.Model):
    """A comment or governance decision on a version, kept forever."""

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField(blank=True)
    plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.version}"


class Activation(models.Model):
    """Which version of a rule set is live where: ``plant`` null is the global default.

    A plant row wins over the global row (a canary, or a plant override). ``previous`` is
    what the row pointed at before, so a rollback is one action. History keeps every change.
    """

    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="activations")
    plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    version = models.ForeignKey(RuleSetVersion, on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(
        RuleSetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField()
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ruleset", "plant"], name="rules_activation_plant"),
            # NULLs are distinct in a unique index: one global row needs its own constraint.
            models.UniqueConstraint(
                fields=["ruleset"], condition=Q(plant__isnull=True), name="rules_activation_global"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ruleset} at {self.plant or 'all plants'}: {self.version}"


class ScheduledPublish(models.Model):
    """A publish of a version to a plant, due at the start of the plant's release window."""

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="+")
    plant = models.ForeignKey("plants.Plant", on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(db_index=True)
    status = models.CharField(
        max_length=10, choices=ScheduleStatus.choices, default=ScheduleStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"publish {self.version} to {self.plant} at {self.due_at:%Y-%m-%d %H:%M}"


class SimulationReport(models.Model):
    """What a version would change at a plant, measured on stored events before approval.

    ``baseline`` is the version that was live at the plant for the same rule set when the
    simulation ran (null when the rule set had nothing live there). ``summary`` holds the
    counts and groups (by rule, by action difference, by event type; see
    :class:`rules.simulation.SimulationResult`), ``changes`` one entry per changed event
    (capped at :data:`rules.simulation.MAX_STORED_CHANGES`).
    """

    version = models.ForeignKey(
        RuleSetVersion, on_delete=models.CASCADE, related_name="simulations"
    )
    baseline = models.ForeignKey(
        RuleSetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    plant = models.ForeignKey("plants.Plant", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_n = models.PositiveIntegerField(null=True, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    events_evaluated = models.PositiveIntegerField(default=0)
    events_changed = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    changes = models.JSONField(default=list, blank=True)

    plant_lookup = "plant"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return (
            f"simulation of {self.version} at {self.plant}: "
            f"{self.events_changed}/{self.events_evaluated} events change"
        )

    def scope_plant_ids(self) -> set[int]:
        return {self.plant_id}
