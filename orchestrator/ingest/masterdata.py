"""Master-data checks shared by the ingest handlers and the synchronous check API.

Each function is pure: it takes the objects already looked up (by the batch's preload in
ingest, by a plain query in the check API) and returns the machine-readable reasons why
the step may not happen (empty: allowed). One implementation answers both "may lot L-88
be issued to WO-1001?" *before* MES commits it and "was it right?" when the issue arrives,
so the two can never disagree.
"""

from __future__ import annotations

from ..choices import OrderState
from ..models import Lot, Operation, ProductionOrder
from .normalize import Reason

#: Order states in which MES may run the order (it acknowledged the released revision).
RUNNABLE_ORDER_STATES = frozenset(
    {OrderState.ACKNOWLEDGED, OrderState.IN_PROCESS, OrderState.PARTIALLY_CONFIRMED}
)


def order_unknown(number: str, plant_code: str) -> Reason:
    return Reason(
        code="order_unknown",
        path="payload.order",
        message=f"order {number} is not known at plant {plant_code}",
        expected="a released production order",
        found=number,
    )


def revision_reasons(
    *,
    order: ProductionOrder,
    routing_revision: str | None,
    bom_revision: str | None = None,
) -> list[Reason]:
    """The routing/BOM revisions a plant system reports must be the ones ERP released."""
    reasons = []
    for name, found in (("routing_revision", routing_revision), ("bom_revision", bom_revision)):
        expected = getattr(order, name)
        if found is not None and found != expected:
            reasons.append(
                Reason(
                    code="revision_mismatch",
                    path=f"payload.{name}",
                    message=f"order {order.number} was released with {name.replace('_', ' ')} "
                    f"{expected}, not {found}",
                    expected=expected,
                    found=found,
                )
            )
    return reasons


def structural_issue_reasons(*, lot: Lot | None, lot_number: str) -> list[Reason]:
    """Why an issue of ``lot_number`` cannot even be recorded: the lot is not known.

    Whether a known lot *may* be issued (expiry, restricted status, item, reservation) is
    not decided here but by the published ``material-gates`` rule set, in ingest and in
    the synchronous check alike (``rules_bridge``): a board edit changes both at once.
    """
    if lot is not None:
        return []
    return [
        Reason(
            code="lot_unknown",
            path="payload.lot",
            message=f"lot {lot_number} is not known at this plant",
            expected="an existing lot",
            found=lot_number,
        )
    ]


def operation_start_reasons(
    *,
    order: ProductionOrder | None,
    order_number: str,
    plant_code: str,
    operation: Operation | None,
    operation_number: str,
    routing_revision: str | None = None,
) -> list[Reason]:
    """Why the operation may not start: unknown order or operation, an order MES has not
    acknowledged (or that is finished), or another routing revision than released."""
    if order is None:
        return [order_unknown(order_number, plant_code)]
    reasons = revision_reasons(order=order, routing_revision=routing_revision)
    if order.state not in RUNNABLE_ORDER_STATES:
        reasons.append(
            Reason(
                code="order_not_runnable",
                path="payload.order",
                message=f"order {order.number} is {order.state}",
                expected=sorted(RUNNABLE_ORDER_STATES),
                found=order.state,
            )
        )
    if operation is None:
        reasons.append(
            Reason(
                code="operation_unknown",
                path="payload.operation",
                message=f"order {order.number} has no operation {operation_number}",
                expected="an operation of the released routing",
                found=operation_number,
            )
        )
    return reasons
