"""Exposures: what one supply delay (scenario 7) or one line stoppage (scenario 8) puts at
risk, across plants, in one record a planner and customer service read together.

An exposure is written once, by the rule action that found it (``record_supply_exposure``
or ``record_line_stoppage``) in the batch of the event, and never edited: a later delay
or stoppage is another event and another exposure. Its lines are the orders at risk, each
with the proposal Interlock makes (borrow stock from another plant; run on an alternate
work center or at another plant) for planning to approve.

Only the fate of the proposals changes, by transition (``proposal_state``): ``propose``
when a rule asks a person to approve them (``approve_proposals``), then ``approve`` (the
proposals are posted to the planning system through the outbox) or ``reject`` (closed,
nothing posted), with the person who decided as the actor
(``orchestrator.services.proposals``).
"""

from __future__ import annotations

from django.db import models
from django_fsm import FSMField, transition

from .base import PERM_HANDLE_EXCEPTIONS, LifecycleModel, PlantBound, qty_field


class ExposureKind(models.TextChoices):
    SUPPLY_DELAY = "supply_delay", "Supply delay (ASN)"
    LINE_STOPPAGE = "line_stoppage", "Line stoppage"


class ProposalKind(models.TextChoices):
    NONE = "none", "No proposal (nothing available)"
    REALLOCATION = "reallocation", "Inter-plant reallocation of stock"
    ALTERNATE_ROUTING = "alternate_routing", "Alternate routing (same plant)"
    ALTERNATE_PLANT = "alternate_plant", "Another plant"


class ProposalState(models.TextChoices):
    NONE = "none", "Nothing asked"
    PROPOSED = "proposed", "Proposed, waiting for approval"
    APPROVED = "approved", "Approved and posted"
    REJECTED = "rejected", "Rejected (closed)"


P = ProposalState


class Exposure(PlantBound, LifecycleModel):
    """One delay or stoppage and everything it puts at risk (the consolidated view).

    Seen by whoever holds a role at its plant **or at any plant with an order at risk**
    (:meth:`scope_plant_ids`; the admin filters the list the same way): customer service
    at every affected plant works from the same page."""

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=ExposureKind.choices)
    title = models.CharField(max_length=300)
    asn = models.ForeignKey(
        "orchestrator.AdvanceShippingNotice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exposures",
    )
    work_center = models.ForeignKey(
        "plants.WorkCenter", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateTimeField(help_text="Stoppage start, or the ASN's original arrival.")
    until = models.DateTimeField(
        null=True, blank=True, help_text="Stoppage end, or the ASN's new arrival (None: open)."
    )
    lost_hours = models.FloatField(default=0, help_text="Capacity hours lost (stoppage).")
    plants_at_risk = models.JSONField(default=list, blank=True)
    event = models.ForeignKey(
        "orchestrator.Event", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, db_index=True)
    created_at = models.DateTimeField(db_index=True)
    proposal_state = FSMField(
        default=P.NONE, choices=P.choices, protected=True, db_index=True, verbose_name="proposals"
    )
    approval = models.ForeignKey(
        "orchestrator.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The approval whose decision applies or closes the proposals.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def scope_plant_ids(self) -> set[int]:
        """Its own plant and every plant with an order at risk."""
        return {self.plant_id, *self.lines.values_list("plant_id", flat=True)}

    @transition(
        field=proposal_state, source=P.NONE, target=P.PROPOSED, permission=PERM_HANDLE_EXCEPTIONS
    )
    def propose(self) -> None:
        """A rule asked a person to approve the proposals."""

    @transition(
        field=proposal_state,
        source=P.PROPOSED,
        target=P.APPROVED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def approve(self) -> None:
        """Approved: the proposals are posted to the planning system."""

    @transition(
        field=proposal_state,
        source=P.PROPOSED,
        target=P.REJECTED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def reject(self) -> None:
        """Rejected: the proposals are closed, nothing is posted."""


class ExposureLine(models.Model):
    """One order at risk, why, and what Interlock proposes."""

    exposure = models.ForeignKey(Exposure, on_delete=models.CASCADE, related_name="lines")
    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(
        "orchestrator.ProductionOrder", on_delete=models.PROTECT, related_name="exposure_lines"
    )
    item = models.ForeignKey(
        "plants.Item",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The delayed component (supply delay).",
    )
    need_date = models.DateField(null=True, blank=True)
    due_date = models.DateField()
    open_qty = qty_field(default=0)
    proposal = models.CharField(
        max_length=20, choices=ProposalKind.choices, default=ProposalKind.NONE
    )
    from_plant = models.ForeignKey(
        "plants.Plant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    alternate = models.ForeignKey(
        "plants.WorkCenter", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposal_qty = qty_field(default=0)
    proposal_text = models.CharField(max_length=300, blank=True)

    plant_lookup = "plant"

    class Meta:
        ordering = ["exposure", "due_date", "id"]

    def __str__(self) -> str:
        return f"{self.order.number} ({self.plant.code}): {self.get_proposal_display()}"

    def scope_plant_ids(self) -> set[int]:
        return self.exposure.scope_plant_ids()
