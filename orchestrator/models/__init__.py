"""Models of the orchestrator app (one module per concern)."""

from .audit import AuditRecord, AuditRecordImmutable, AuditSeal
from .events import Event, EventStatus, IdempotencyRule, InboundMessage, MessageStatus
from .exposures import Exposure, ExposureKind, ExposureLine, ProposalKind, ProposalState
from .gates import CheckRecord, Gate, GateState
from .inventory import AdvanceShippingNotice, AsnLine, CycleCount, GoodsReceipt
from .lots import Lot, LotGenealogy, LotOrderLink
from .notifications import ApprovalRequest, ApprovalState, Notification, NotificationKind
from .orders import Operation, OrderComponent, OrderRevision, ProductionOrder
from .outbox import OutboxMessage, OutboxStatus
from .production import MachineDowntime, MaterialIssue, OperationConfirmation, ScrapDeclaration
from .quality import Disposition, Inspection, InspectionPlan, InspectionResult, Nonconformance
from .reconciliation import ReconciliationException, ReconciliationRun
from .tasks import Task, TaskKind, TaskState
from .workbench import PayloadEdit, PayloadEditState

#: Every model with a lifecycle, by API/admin name (the state picture and tests iterate it).
LIFECYCLE_MODELS = {
    "order": ProductionOrder,
    "operation": Operation,
    "lot": Lot,
    "inspection": Inspection,
    "nonconformance": Nonconformance,
    "goods_receipt": GoodsReceipt,
    "cycle_count": CycleCount,
    "asn": AdvanceShippingNotice,
    "gate": Gate,
}

__all__ = [
    "LIFECYCLE_MODELS",
    "AdvanceShippingNotice",
    "ApprovalRequest",
    "ApprovalState",
    "AsnLine",
    "AuditRecord",
    "AuditRecordImmutable",
    "AuditSeal",
    "CheckRecord",
    "CycleCount",
    "Disposition",
    "Event",
    "EventStatus",
    "Exposure",
    "ExposureKind",
    "ExposureLine",
    "Gate",
    "GateState",
    "GoodsReceipt",
    "IdempotencyRule",
    "InboundMessage",
    "Inspection",
    "InspectionPlan",
    "InspectionResult",
    "Lot",
    "LotGenealogy",
    "LotOrderLink",
    "MachineDowntime",
    "MaterialIssue",
    "MessageStatus",
    "Nonconformance",
    "Notification",
    "NotificationKind",
    "Operation",
    "OperationConfirmation",
    "OrderComponent",
    "OrderRevision",
    "OutboxMessage",
    "OutboxStatus",
    "PayloadEdit",
    "PayloadEditState",
    "ProductionOrder",
    "ProposalKind",
    "ProposalState",
    "ReconciliationException",
    "ReconciliationRun",
    "ScrapDeclaration",
    "Task",
    "TaskKind",
    "TaskState",
]
