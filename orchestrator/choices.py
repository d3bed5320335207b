"""Choice lists of the orchestrator app: lifecycle states and the small vocabularies of the
canonical business objects.

Where ``plants.choices`` already defines a canonical vocabulary (lot status, inspection
outcome) we reuse its values, because plant status codes are mapped onto exactly those
values by the site mappings; a second spelling here would drift.
"""

from django.db import models

from plants.choices import InspectionOutcome, LotStatus

__all__ = [
    "AsnState",
    "CycleCountState",
    "DispositionDecision",
    "GoodsReceiptState",
    "InspectionKind",
    "InspectionState",
    "LotOrderRelation",
    "LotStatus",
    "NonconformanceDisposition",
    "NonconformanceState",
    "OperationState",
    "OrderRevisionKind",
    "OrderState",
]


class OrderState(models.TextChoices):
    """Production order lifecycle (DOMAIN.md). ``on_hold`` and ``cancelled`` are side exits."""

    CREATED = "created", "Created"
    RELEASED = "released", "Released"
    ACKNOWLEDGED = "acknowledged", "Acknowledged by MES"
    IN_PROCESS = "in_process", "In process"
    PARTIALLY_CONFIRMED = "partially_confirmed", "Partially confirmed"
    COMPLETED = "completed", "Completed"
    QUALITY_PENDING = "quality_pending", "Quality pending"
    FINANCIALLY_POSTED = "financially_posted", "Financially posted"
    ON_HOLD = "on_hold", "On hold"
    CANCELLED = "cancelled", "Cancelled"
    # A quality disposition (scrap, return to supplier) ended the order without a receipt.
    CLOSED = "closed", "Closed without receipt"


#: States an order can be put on hold from (and so the states ``resume`` may return to).
ORDER_HOLDABLE_STATES = (
    OrderState.CREATED,
    OrderState.RELEASED,
    OrderState.ACKNOWLEDGED,
    OrderState.IN_PROCESS,
    OrderState.PARTIALLY_CONFIRMED,
    OrderState.COMPLETED,
    OrderState.QUALITY_PENDING,
)


class OrderRevisionKind(models.TextChoices):
    """What an order revision changed."""

    ROUTING = "routing", "Routing revision"
    BOM = "bom", "BOM revision"
    QUANTITY = "quantity", "Target quantity"
    DUE_DATE = "due_date", "Due date"


class OperationState(models.TextChoices):
    """Lifecycle of one routing operation: pending → started ⇄ paused → confirmed."""

    PENDING = "pending", "Pending"
    STARTED = "started", "Started"
    PAUSED = "paused", "Paused"
    CONFIRMED = "confirmed", "Confirmed"


class LotOrderRelation(models.TextChoices):
    """How a lot is linked to a production order."""

    PRODUCED = "produced", "Produced by the order"
    CONSUMED = "consumed", "Consumed by the order"


class InspectionKind(models.TextChoices):
    INCOMING = "incoming", "Incoming (supplier lot)"
    IN_PROCESS = "in_process", "In-process"
    FINAL = "final", "Final (finished goods)"


class InspectionState(models.TextChoices):
    """Inspection lifecycle; the three end states use the canonical inspection outcomes."""

    REQUESTED = "requested", "Requested"
    IN_PROGRESS = "in_progress", "In progress"
    PASSED = InspectionOutcome.PASSED.value, InspectionOutcome.PASSED.label
    FAILED = InspectionOutcome.FAILED.value, InspectionOutcome.FAILED.label
    CONDITIONALLY_RELEASED = (
        InspectionOutcome.CONDITIONALLY_RELEASED.value,
        InspectionOutcome.CONDITIONALLY_RELEASED.label,
    )


class DispositionDecision(models.TextChoices):
    """What quality decided about the material an inspection covered."""

    RELEASE = "release", "Release"
    CONDITIONAL_RELEASE = "conditional_release", "Release with conditions"
    REWORK = "rework", "Rework"
    SCRAP = "scrap", "Scrap"
    RETURN_TO_SUPPLIER = "return_to_supplier", "Return to supplier"


class NonconformanceState(models.TextChoices):
    OPENED = "opened", "Opened"
    UNDER_REVIEW = "under_review", "Under review"
    DISPOSITION_DECIDED = "disposition_decided", "Disposition decided"
    CLOSED = "closed", "Closed"


class NonconformanceDisposition(models.TextChoices):
    USE_AS_IS = "use_as_is", "Use as is"
    REWORK = "rework", "Rework"
    SCRAP = "scrap", "Scrap"
    RETURN_TO_SUPPLIER = "return_to_supplier", "Return to supplier"


class GoodsReceiptState(models.TextChoices):
    PENDING = "pending", "Pending"
    POSTED = "posted", "Posted"
    REVERSED = "reversed", "Reversed"


class CycleCountState(models.TextChoices):
    RECORDED = "recorded", "Recorded"
    APPROVAL_PENDING = "approval_pending", "Approval pending"
    APPROVED = "approved", "Approved"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected"


class AsnState(models.TextChoices):
    ANNOUNCED = "announced", "Announced"
    DELAYED = "delayed", "Delayed"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"
