"""What a supply delay or a line stoppage puts at risk, and the exposure record of it.

Two finders, called by the ingest handlers of ``asn.delayed`` and ``machine.downtime``
(they give the rules their facts: how many orders, at how many plants, whether anything
can be proposed), and :func:`exposure_record`, called by the rule actions that decide to
record it (``orchestrator.actions.planning``). Both read master data only from the
plants app: which components are critical and how many days before an order's due date
each is needed (``Item.critical``, ``Item.need_lead_days``), which work centers are
constrained and where their load can go instead (``WorkCenter.constrained``,
``AlternateRouting``).

*At risk*, for a delayed ASN: an open order at **any** plant still needing a delayed
critical component (reserved quantity not issued yet) whose need date (due date minus
the component's lead days) falls before the ASN's new arrival. The proposal: stock of the
item other plants hold available beyond their own open orders' needs, from the plant
with the most to spare (an inter-plant reallocation).

*At risk*, for a stoppage: an open order with an operation still to run on the stopped
work center. The proposal: its first active alternate routing (for the order's item,
else for any item), on another line of the plant or at another plant.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Sum

from plants.choices import LotStatus
from plants.models import AlternateRouting, Item, Plant, WorkCenter

from ..choices import OperationState, OrderState
from ..ingest.context import BatchContext
from ..models import (
    AdvanceShippingNotice,
    Event,
    Exposure,
    ExposureKind,
    ExposureLine,
    Lot,
    OrderComponent,
    ProductionOrder,
    ProposalKind,
)

#: Orders that have not finished production: their dates can still slip.
OPEN_ORDER_STATES = (
    OrderState.CREATED,
    OrderState.RELEASED,
    OrderState.ACKNOWLEDGED,
    OrderState.IN_PROCESS,
    OrderState.PARTIALLY_CONFIRMED,
    OrderState.ON_HOLD,
)


@dataclass
class AtRisk:
    """One order at risk and the proposal for it (an :class:`ExposureLine` to be)."""

    order: ProductionOrder
    due_date: dt.date
    item: Item | None = None
    need_date: dt.date | None = None
    open_qty: Decimal = Decimal(0)
    proposal: str = ProposalKind.NONE
    from_plant: Plant | None = None
    alternate: WorkCenter | None = None
    proposal_qty: Decimal = Decimal(0)
    proposal_text: str = ""


@dataclass
class Found:
    """What a delay or stoppage puts at risk (an :class:`Exposure` to be)."""

    kind: str
    title: str
    since: dt.datetime
    until: dt.datetime | None
    asn: AdvanceShippingNotice | None = None
    work_center: WorkCenter | None = None
    lost_hours: float = 0.0
    lines: list[AtRisk] = field(default_factory=list)

    @property
    def plants(self) -> list[str]:
        return sorted({line.order.plant.code for line in self.lines})

    @property
    def proposals(self) -> int:
        return sum(1 for line in self.lines if line.proposal != ProposalKind.NONE)


def _spare_stock(item: Item, exclude_plant_ids: set[int]) -> dict[int, Decimal]:
    """Per other plant: available stock of ``item`` minus its open orders' open needs."""
    stock = dict(
        Lot.objects.filter(item=item, status=LotStatus.AVAILABLE)
        .exclude(plant_id__in=exclude_plant_ids)
        .values("plant_id")
        .annotate(q=Sum("qty"))
        .values_list("plant_id", "q")
    )
    needs: dict[int, Decimal] = defaultdict(Decimal)
    for plant_id, qty, issued in OrderComponent.objects.filter(
        item=item, order__state__in=OPEN_ORDER_STATES, order__plant_id__in=stock
    ).values_list("order__plant_id", "qty", "issued_qty"):
        needs[plant_id] += max(qty - issued, Decimal(0))
    return {p: q - needs[p] for p, q in stock.items() if q - needs[p] > 0}


def supply_at_risk(
    *, asn: AdvanceShippingNotice | None, items: list[Item], since, until: dt.datetime
) -> Found:
    """The open orders at every plant that need a delayed critical item before ``until``."""
    critical = [i for i in items if i.critical]
    codes = ", ".join(i.code for i in critical) or "no critical item"
    found = Found(
        kind=ExposureKind.SUPPLY_DELAY,
        title=f"ASN {asn.number if asn else '?'} late until {until:%Y-%m-%d %H:%M}: {codes}",
        since=since,
        until=until,
        asn=asn,
    )
    if not critical:
        return found
    components = (
        OrderComponent.objects.filter(item__in=critical, order__state__in=OPEN_ORDER_STATES)
        .select_related("order__plant", "item")
        .order_by("order__due_date", "order__plant__code", "order__number")
    )
    plants = {p.pk: p for p in Plant.objects.all()}
    for component in components:
        order, item = component.order, component.item
        open_qty = max(component.qty - component.issued_qty, Decimal(0))
        need = order.due_date - dt.timedelta(days=item.need_lead_days)
        if open_qty <= 0 or need >= until.date():
            continue
        line = AtRisk(order=order, due_date=order.due_date, item=item, need_date=need)
        line.open_qty = open_qty
        found.lines.append(line)
    # A plant either lends an item or borrows it, never both, so two plants never borrow
    # from each other: donors are chosen among plants with no order at risk for the item
    # first, then among the others that have not borrowed it; a plant that lends covers its
    # own orders from its own stock.
    short: dict[int, set[int]] = defaultdict(set)
    for line in found.lines:
        short[line.item.pk].add(line.order.plant_id)
    spare_by_item: dict[int, dict[int, Decimal]] = {}
    lenders: dict[int, set[int]] = defaultdict(set)
    borrowers: dict[int, set[int]] = defaultdict(set)
    for line in found.lines:
        order, item, open_qty = line.order, line.item, line.open_qty
        if order.plant_id in lenders[item.pk]:
            continue
        spare = spare_by_item.setdefault(item.pk, _spare_stock(item, set()))
        candidates = {
            p: q for p, q in spare.items() if p != order.plant_id and p not in borrowers[item.pk]
        }
        if candidates:
            plant_id = max(candidates, key=lambda p: (p not in short[item.pk], candidates[p], -p))
            qty = min(spare[plant_id], open_qty)
            spare[plant_id] -= qty  # the next order does not count the same stock twice
            if spare[plant_id] <= 0:
                del spare[plant_id]
            lenders[item.pk].add(plant_id)
            borrowers[item.pk].add(order.plant_id)
            line.proposal = ProposalKind.REALLOCATION
            line.from_plant = plants[plant_id]
            line.proposal_qty = qty
            line.proposal_text = (
                f"reallocate {qty.normalize():f} {item.code} from {plants[plant_id].code} "
                f"to {order.plant.code}"
            )[:300]
    return found


def stoppage_at_risk(
    *, work_center: WorkCenter, since: dt.datetime, until: dt.datetime | None
) -> Found:
    """The open orders with operations still to run on the stopped ``work_center``."""
    hours = (until - since).total_seconds() / 3600 if until else 0.0
    found = Found(
        kind=ExposureKind.LINE_STOPPAGE,
        title=f"{work_center.code} stopped {since:%Y-%m-%d %H:%M}"
        + (f" for {hours:.1f} h" if until else " (open)"),
        since=since,
        until=until,
        work_center=work_center,
        lost_hours=hours,
    )
    orders = (
        ProductionOrder.objects.filter(
            state__in=OPEN_ORDER_STATES,
            operations__work_center=work_center,
            operations__state__in=[
                OperationState.PENDING,
                OperationState.STARTED,
                OperationState.PAUSED,
            ],
        )
        .select_related("plant", "item")
        .distinct()
        .order_by("due_date", "number")
    )
    routings = list(
        AlternateRouting.objects.filter(work_center=work_center, active=True)
        .select_related("alternate__plant")
        .order_by("priority", "pk")
    )
    for order in orders:
        line = AtRisk(order=order, due_date=order.due_date)
        choice = next((r for r in routings if r.item_id == order.item_id), None) or next(
            (r for r in routings if r.item_id is None), None
        )
        if choice is not None:
            alternate = choice.alternate
            same_plant = alternate.plant_id == work_center.plant_id
            line.proposal = (
                ProposalKind.ALTERNATE_ROUTING if same_plant else ProposalKind.ALTERNATE_PLANT
            )
            line.alternate = alternate
            line.from_plant = None if same_plant else alternate.plant
            line.proposal_text = (
                f"move the operations of {order.number} from {work_center.code} to "
                f"{alternate.code}" + ("" if same_plant else f" at {alternate.plant.code}")
            )[:300]
        found.lines.append(line)
    return found


def exposure_record(*, ctx: BatchContext, event: Event, found: Found, rule: str) -> Exposure:
    """Write the exposure and its lines (once per event: a re-applied event finds it)."""
    existing = Exposure.objects.filter(event=event, rule=rule[:200]).first()
    if existing is not None:
        ctx.cache.setdefault("exposure_records", {})[event.pk] = existing
        return existing
    exposure = Exposure(
        plant=event.plant,
        kind=found.kind,
        title=found.title[:300],
        asn=found.asn,
        work_center=found.work_center,
        since=found.since,
        until=found.until,
        lost_hours=found.lost_hours,
        plants_at_risk=found.plants,
        event=event,
        rule=rule[:200],
        correlation_id=event.correlation_id,
        created_at=ctx.now,
    )
    exposure.save()  # one per delay or stoppage; its lines need the key
    # ``approve_proposals`` (a later rule of the same event) works on this very row.
    ctx.cache.setdefault("exposure_records", {})[event.pk] = exposure
    ExposureLine.objects.bulk_create(
        ExposureLine(
            exposure=exposure,
            plant=line.order.plant,
            order=line.order,
            item=line.item,
            need_date=line.need_date,
            due_date=line.due_date,
            open_qty=line.open_qty,
            proposal=line.proposal,
            from_plant=line.from_plant,
            alternate=line.alternate,
            proposal_qty=line.proposal_qty,
            proposal_text=line.proposal_text,
        )
        for line in found.lines
    )
    ctx.audit(
        exposure,
        transition="record",
        source="",
        target=found.kind,
        correlation_id=event.correlation_id,
        reason=f"rule {rule}: {len(found.lines)} order(s) at risk at "
        + (", ".join(found.plants) or "no plant"),
        field_name="kind",
    )
    return exposure
