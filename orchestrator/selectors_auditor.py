"""What an auditor follows. Genealogy: where did lot X go, what went into lot Y, and everything around a lot
or an order that an auditor follows (orders, inspections, nonconformances, dispositions).

Ingest writes the links: ``LotOrderLink`` (consumed and produced lots of an order) while
the order runs, ``LotGenealogy`` (component lot → produced lot) when the order completes,
``Inspection.lot`` / ``Inspection.order`` when the inspection is requested, and
``Disposition.nonconformance`` when quality decides. The walks below are breadth-first and
bounded (``MAX_DEPTH`` levels, ``MAX_LOTS`` lots) so a recall query on a long chain
answers quickly and never loops on bad data.

An order: its lots, deliveries to other systems, and its whole life as one timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from .models import Disposition, Inspection, Lot, LotGenealogy, LotOrderLink, Nonconformance

MAX_DEPTH = 10
MAX_LOTS = 500


@dataclass
class GenealogyLink:
    parent: Lot
    child: Lot
    qty: object
    order_number: str

    @property
    def qty_text(self) -> str:
        """``10``, ``2.5`` (a normalised Decimal would print ``1E+1``)."""
        return format(self.qty.normalize(), "f") if self.qty is not None else ""


@dataclass
class Genealogy:
    """The lots reachable from ``lot`` in one direction, with the links that lead there."""

    lot: Lot
    direction: str  # "up" (what went into it) or "down" (where it went)
    links: list[GenealogyLink] = field(default_factory=list)

    @property
    def lots(self) -> list[Lot]:
        seen: dict[int, Lot] = {}
        for link in self.links:
            other = link.parent if self.direction == "up" else link.child
            seen.setdefault(other.pk, other)
        return list(seen.values())


def _walk(lot: Lot, *, direction: str) -> Genealogy:
    result = Genealogy(lot=lot, direction=direction)
    frontier, seen = [lot.pk], {lot.pk}
    for _ in range(MAX_DEPTH):
        if not frontier or len(seen) >= MAX_LOTS:
            break
        lookup = {"child_id__in": frontier} if direction == "up" else {"parent_id__in": frontier}
        rows = LotGenealogy.objects.filter(**lookup).select_related(
            "parent__item", "child__item", "order"
        )
        frontier = []
        for row in rows:
            result.links.append(
                GenealogyLink(
                    parent=row.parent,
                    child=row.child,
                    qty=row.qty,
                    order_number=row.order.number if row.order_id else "",
                )
            )
            nxt = row.parent_id if direction == "up" else row.child_id
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return result


def lot_ingredients(*, lot: Lot) -> Genealogy:
    """What went into ``lot``: its component lots, and theirs, level by level."""
    return _walk(lot, direction="up")


def lot_where_used(*, lot: Lot) -> Genealogy:
    """Where ``lot`` went: the lots made from it, and what was made from those."""
    return _walk(lot, direction="down")


def lot_orders(*, lot: Lot) -> list[LotOrderLink]:
    """The orders that produced or consumed ``lot``."""
    return list(lot.order_links.select_related("order").order_by("relation", "order__number"))


def lot_quality(*, lot: Lot) -> dict[str, list]:
    """Inspections of the lot, its nonconformances, and the dispositions deciding them."""
    inspections = list(Inspection.objects.filter(lot=lot).order_by("requested_at"))
    nonconformances = list(
        Nonconformance.objects.filter(Q(lot=lot) | Q(inspection__in=inspections))
        .distinct()
        .order_by("pk")
    )
    dispositions = list(
        Disposition.objects.filter(inspection__in=inspections)
        .select_related("nonconformance", "decided_by", "approved_by")
        .order_by("decided_at")
    )
    return {
        "inspections": inspections,
        "nonconformances": nonconformances,
        "dispositions": dispositions,
    }


# --- an order, as an auditor follows it ------------------------------------------------------
def order_lots(*, order) -> dict[str, list[LotOrderLink]]:
    links = list(order.lot_links.select_related("lot").order_by("lot__number"))
    return {
        "produced": [link for link in links if link.relation == "produced"],
        "consumed": [link for link in links if link.relation == "consumed"],
    }


def order_deliveries(*, order) -> list:
    """Messages Interlock sent to other systems about the order (outbox rows naming it)."""
    from .models import OutboxMessage

    return list(
        OutboxMessage.objects.filter(plant_id=order.plant_id, payload__order=order.number)
        .select_related("system")
        .order_by("created_at", "pk")[:200]
    )


@dataclass
class TimelineRow:
    """One step in an order's life: a transition, a person's decision, an event received."""

    at: object
    who: str
    what: str
    subject: str
    detail: str = ""
    correlation_id: str = ""
    human: bool = False
    payload: object = None
    url: str = ""
    #: More named payloads, ``[(label, value)]`` (a message's body and canonical form).
    payloads: list = field(default_factory=list)
    #: What a page shows folded: ``[(label, text)]`` (``admin.auditor.with_folds``).
    folds: list = field(default_factory=list)
    #: What kind of step (message, event, transition, gate, delivery...), for the page.
    kind: str = ""


def audit_row(record) -> TimelineRow:
    """A timeline row of one audit record; a person's step (``actor`` set) is ``human``."""
    change = (
        f"{record.source_state} → {record.target_state}"
        if record.source_state
        else record.target_state
    )
    return TimelineRow(
        at=record.occurred_at,
        who=record.actor_label,
        what=record.transition,
        subject=record.object_repr,
        detail=change + (f" · {record.reason}" if record.reason else ""),
        correlation_id=record.correlation_id,
        human=record.actor_id is not None,
        kind="transition",
    )


def order_timeline(*, order, limit: int = 500) -> list[TimelineRow]:
    """The order's whole life on one page, oldest first: every audited change of the order,
    its operations, gates, lots, inspections, nonconformances and approvals; the events
    that caused them (payload attached); dispositions; and operators' replays and discards
    under the same correlation ids. Rows by a person are flagged ``human``."""
    from django.contrib.contenttypes.models import ContentType

    from .models import ApprovalRequest, AuditRecord, Event, Gate, InboundMessage, Operation

    lots = order_lots(order=order)
    lot_ids = [link.lot_id for group in lots.values() for link in group]
    inspections = list(Inspection.objects.filter(Q(order=order) | Q(lot_id__in=lot_ids)))
    subjects = {
        ContentType.objects.get_for_model(model): [str(pk) for pk in pks]
        for model, pks in (
            (type(order), [order.pk]),
            (Operation, list(order.operations.values_list("pk", flat=True))),
            (Gate, list(Gate.objects.filter(order=order).values_list("pk", flat=True))),
            (Lot, lot_ids),
            (Inspection, [i.pk for i in inspections]),
            (
                Nonconformance,
                list(
                    Nonconformance.objects.filter(
                        Q(order=order) | Q(inspection__in=inspections)
                    ).values_list("pk", flat=True)
                ),
            ),
            (
                ApprovalRequest,
                list(ApprovalRequest.objects.filter(order=order).values_list("pk", flat=True)),
            ),
        )
        if pks
    }
    condition = Q(pk__in=[])
    for ct, pks in subjects.items():
        condition |= Q(content_type=ct, object_id__in=pks)
    records = list(
        AuditRecord.objects.filter(condition)
        .select_related("actor")
        .order_by("occurred_at")[:limit]
    )
    correlations = {r.correlation_id for r in records if r.correlation_id}
    # Operators' replays and discards of the messages and events behind the order.
    workbench_cts = [
        ContentType.objects.get_for_model(InboundMessage),
        ContentType.objects.get_for_model(Event),
    ]
    records += list(
        AuditRecord.objects.filter(
            correlation_id__in=correlations, content_type__in=workbench_cts
        ).select_related("actor")[:limit]
    )
    rows = [audit_row(r) for r in records]
    events = Event.objects.filter(plant_id=order.plant_id, correlation_id__in=correlations)
    for event in events.select_related("system").order_by("received_at")[:limit]:
        rows.append(
            TimelineRow(
                at=event.received_at,
                who=event.system.code,
                what=f"event {event.event_type}",
                subject=f"event {event.pk}",
                detail=event.status,
                correlation_id=event.correlation_id,
                payload=event.payload,
            )
        )
    for d in Disposition.objects.filter(inspection__in=inspections).select_related(
        "decided_by", "approved_by", "inspection"
    ):
        rows.append(
            TimelineRow(
                at=d.decided_at,
                who=d.decided_by.get_username(),
                what=f"disposition: {d.get_decision_display().lower()}",
                subject=str(d.inspection),
                detail=d.reason,
                human=True,
            )
        )
        if d.approved_at:
            rows.append(
                TimelineRow(
                    at=d.approved_at,
                    who=d.approved_by.get_username(),
                    what="disposition approved",
                    subject=str(d.inspection),
                    detail="; ".join(d.outcome.get("steps", [])) if d.outcome else "",
                    human=True,
                )
            )
    rows.sort(key=lambda row: row.at)
    return rows[:limit]
