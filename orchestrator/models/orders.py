"""Production orders, their revisions and routing operations."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django_fsm import GET_STATE, FSMField, transition
from simple_history.models import HistoricalRecords

from plants.models.base import code_validator

from ..choices import ORDER_HOLDABLE_STATES, OperationState, OrderRevisionKind, OrderState
from .base import (
    PERM_DECIDE_DISPOSITION,
    PERM_HANDLE_EXCEPTIONS,
    LifecycleModel,
    OrderBound,
    PlantBound,
    qty_field,
)

S = OrderState


def _has_revisions_and_quantity(order: ProductionOrder) -> bool:
    # MES must never run an order without knowing which routing and BOM it follows.
    return bool(order.routing_revision and order.bom_revision and order.target_qty > 0)


def _held_from(order: ProductionOrder) -> str:
    return order.held_from


def _approved_disposition(*decisions: str):
    """Guard: quality approved one of ``decisions`` for the order's inspected output. The
    order leaves quality pending only through a person's disposition (DOMAIN.md)."""

    def guard(order: ProductionOrder) -> bool:
        from .quality import Disposition

        return Disposition.objects.filter(
            inspection__order=order, decision__in=decisions, approved_at__isnull=False
        ).exists()

    guard.__name__ = f"approved_{'_or_'.join(decisions)}_disposition"
    guard.__doc__ = f"quality approved a {' or '.join(decisions).replace('_', ' ')} disposition"
    return guard


class ProductionOrder(PlantBound, LifecycleModel):
    """A work order as the ERP released it, in canonical terms (item, revisions, quantity,
    unit), and where it stands in its lifecycle across ERP, MES and QMS.

    ``confirmed_qty`` and ``scrapped_qty`` are the running totals of MES confirmations and
    scrap declarations, kept here so rules and reconciliation read one row.
    """

    plant = models.ForeignKey("plants.Plant", on_delete=models.PROTECT, related_name="orders")
    number = models.CharField(max_length=40, validators=[code_validator])
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="orders")
    routing_revision = models.CharField(max_length=10, blank=True)
    bom_revision = models.CharField(max_length=10, blank=True)
    target_qty = models.DecimalField(
        max_digits=18, decimal_places=6, validators=[MinValueValidator(Decimal("0"))]
    )
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    confirmed_qty = qty_field(default=Decimal("0"))
    scrapped_qty = qty_field(default=Decimal("0"))
    erp_system = models.ForeignKey(
        "plants.ConnectedSystem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The ERP that owns this order (system of record).",
    )
    erp_reference = models.CharField(
        max_length=60, blank=True, help_text="The order's key in the ERP, if not the number."
    )
    state = FSMField(default=S.CREATED, choices=S.choices, protected=True, db_index=True)
    held_from = models.CharField(
        max_length=30,
        blank=True,
        choices=S.choices,
        editable=False,
        help_text="State the order was in when last put on hold; resume returns there.",
    )
    # History rows are read per order (``id``, ordered by ``history_date``) and written for
    # nearly every event: the indexes the copied fields would bring (state and its pattern
    # twin, plant, item, unit, ERP system) serve no query and cost an entry each per row.
    history = HistoricalRecords(
        excluded_fields=["updated_at"],
        no_db_index=["state", "plant", "item", "uom", "erp_system"],
    )

    class Meta:
        ordering = ["plant__code", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["plant", "number"], name="order_number_unique_per_plant"
            ),
            models.CheckConstraint(condition=Q(target_qty__gte=0), name="order_target_qty_gte_0"),
        ]
        indexes = [models.Index(fields=["plant", "state"], name="order_plant_state_idx")]
        permissions = [
            ("handle_exceptions", "Can act on stuck objects (hold, resume, manual transitions)"),
            ("override_gate", "Can let an object through a gate, with a reason"),
        ]

    def __str__(self) -> str:
        return f"{self.plant.code}/{self.number}"

    # --- lifecycle: transitions only move state and check their guard ------------------
    @transition(
        field=state,
        source=S.CREATED,
        target=S.RELEASED,
        conditions=[_has_revisions_and_quantity],
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def release(self) -> None:
        """ERP released the order (routing/BOM revisions and a quantity are required)."""

    @transition(
        field=state, source=S.RELEASED, target=S.ACKNOWLEDGED, permission=PERM_HANDLE_EXCEPTIONS
    )
    def acknowledge(self) -> None:
        """MES acknowledged the released order."""

    @transition(
        field=state, source=S.ACKNOWLEDGED, target=S.IN_PROCESS, permission=PERM_HANDLE_EXCEPTIONS
    )
    def start(self) -> None:
        """The first operation started."""

    @transition(
        field=state,
        source=S.IN_PROCESS,
        target=S.PARTIALLY_CONFIRMED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def confirm_partially(self) -> None:
        """Some, not all, of the quantity was confirmed."""

    @transition(
        field=state,
        source=[S.IN_PROCESS, S.PARTIALLY_CONFIRMED],
        target=S.COMPLETED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def complete(self) -> None:
        """MES reported the order complete."""

    @transition(
        field=state, source=S.COMPLETED, target=S.QUALITY_PENDING, permission=PERM_HANDLE_EXCEPTIONS
    )
    def await_quality(self) -> None:
        """Final inspection was requested; goods receipt waits for quality release."""

    @transition(
        field=state,
        source=S.QUALITY_PENDING,
        target=S.FINANCIALLY_POSTED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def post_financially(self) -> None:
        """ERP posted the goods receipt and settled the order."""

    @transition(
        field=state,
        source=list(ORDER_HOLDABLE_STATES),
        target=S.ON_HOLD,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def hold(self) -> None:
        """Stop the order where it is; ``resume`` returns to this state."""
        # Remembering where we came from is part of the state, not a side effect:
        # without it the machine could not know where ``resume`` leads.
        self.held_from = self.state

    @transition(
        field=state,
        source=S.ON_HOLD,
        target=GET_STATE(_held_from, states=list(ORDER_HOLDABLE_STATES)),
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def resume(self) -> None:
        """Continue from the state the order was held in."""

    @transition(
        field=state,
        source=[S.CREATED, S.RELEASED, S.ACKNOWLEDGED, S.ON_HOLD],
        target=S.CANCELLED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def cancel(self) -> None:
        """Withdraw the order before production ran (or while it is on hold)."""

    @transition(
        field=state,
        source=S.QUALITY_PENDING,
        target=S.IN_PROCESS,
        conditions=[_approved_disposition("rework")],
        permission=PERM_DECIDE_DISPOSITION,
    )
    def rework(self) -> None:
        """Back to production for a rework operation (quality's rework disposition)."""

    @transition(
        field=state,
        source=S.QUALITY_PENDING,
        target=S.CLOSED,
        conditions=[_approved_disposition("scrap", "return_to_supplier")],
        permission=PERM_DECIDE_DISPOSITION,
    )
    def close(self) -> None:
        """No goods receipt: quality scrapped the output or returned it to the supplier."""


class OrderRevision(OrderBound, models.Model):
    """One change of an order's routing revision, BOM revision, quantity or due date, as
    the ERP sent it: the history MES must follow so it never runs an outdated routing."""

    order = models.ForeignKey(ProductionOrder, on_delete=models.CASCADE, related_name="revisions")
    kind = models.CharField(max_length=20, choices=OrderRevisionKind.choices)
    previous_value = models.CharField(max_length=60, blank=True)
    new_value = models.CharField(max_length=60)
    revised_at = models.DateTimeField(auto_now_add=True)
    actor_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "revised_at", "id"]

    def __str__(self) -> str:
        return f"{self.order}: {self.kind} {self.previous_value or '∅'} → {self.new_value}"


class Operation(OrderBound, LifecycleModel):
    """One step of an order's routing ("0010", "0020", ...) at a work center, with its own
    small lifecycle: pending → started ⇄ paused → confirmed."""

    order = models.ForeignKey(ProductionOrder, on_delete=models.CASCADE, related_name="operations")
    sequence = models.CharField(
        max_length=4, validators=[RegexValidator(r"^\d{4}$", "Four digits, e.g. 0010.")]
    )
    description = models.CharField(max_length=200, blank=True)
    work_center = models.ForeignKey(
        "plants.WorkCenter", on_delete=models.PROTECT, related_name="operations"
    )
    planned_qty = qty_field()
    confirmed_qty = qty_field(default=Decimal("0"))
    scrapped_qty = qty_field(default=Decimal("0"))
    state = FSMField(default=OperationState.PENDING, choices=OperationState.choices, protected=True)

    class Meta:
        ordering = ["order", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sequence"], name="operation_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}/{self.sequence}"

    @transition(
        field=state,
        source=OperationState.PENDING,
        target=OperationState.STARTED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def start(self) -> None:
        """MES started the operation."""

    @transition(
        field=state,
        source=OperationState.STARTED,
        target=OperationState.PAUSED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def pause(self) -> None:
        """Work stopped for a while (break, downtime, missing material)."""

    @transition(
        field=state,
        source=OperationState.PAUSED,
        target=OperationState.STARTED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def resume(self) -> None:
        """Work continues."""

    @transition(
        field=state,
        source=[OperationState.STARTED, OperationState.PAUSED],
        target=OperationState.CONFIRMED,
        permission=PERM_HANDLE_EXCEPTIONS,
    )
    def confirm(self) -> None:
        """Final confirmation: the operation is done."""


class OrderComponent(OrderBound, models.Model):
    """A component the ERP reserved for the order (its BOM explosion as released): the
    reservation a material issue is matched against ("component not reserved")."""

    order = models.ForeignKey(ProductionOrder, on_delete=models.CASCADE, related_name="components")
    item = models.ForeignKey("plants.Item", on_delete=models.PROTECT, related_name="+")
    qty = qty_field()
    uom = models.ForeignKey("plants.UnitOfMeasure", on_delete=models.PROTECT, related_name="+")
    issued_qty = qty_field(default=Decimal("0"))

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "item"], name="order_component_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}: {self.item.code} {self.qty.normalize()} {self.uom.code}"
