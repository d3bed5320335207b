"""The facts an event was judged on, rebuilt from what the orchestrator stored.

When ingest evaluated an event it handed the rules the *state before the change*: the
order, lot and inspection as they stood, the plant's site parameters of that moment and
facts it derived (``window_qty``, the scrap summed over the plant's window). None of that
is stored with the event, and the rows have moved on since. :class:`PlantHistory` rebuilds
it from records that carry their own time:

- **state of an order, lot or inspection**: the audit trail
  (:class:`~orchestrator.models.AuditRecord`, one immutable row per transition, written at
  the batch's processing time): the target of the last transition before the event was
  processed, else the source state of the first one after it, else the current state;
- **quantities of an order**: its confirmations and scrap declarations, which keep the
  business time of the event that created them (``confirmed_at`` / ``declared_at`` are the
  event's ``occurred_at``). The order's ``confirmed_qty`` counts the good quantity of its
  last operation, ``scrap_qty`` every scrap, exactly as the handlers add them up;
- **site parameters**: django-simple-history of ``SiteParameter`` and
  ``SiteParameterOverride``, as of the moment the event was processed;
- **derived facts**: ``window_qty`` of ``scrap.declared`` is the scrap of the same item
  on the same line of the plant declared within ``scrap.spike_window`` (the parameter *as of then*) before the event, plus its
  own quantity (``handlers.production._scrap_window``); ``reserved`` of a material issue
  is whether its item is a component of the order (the release's BOM, which never
  changes); ``supplier`` and ``defects`` of an
  inspection result come from its lot and result lines.

What cannot be rebuilt is named rather than guessed: a lot's quantity and expiry are the
current ones (lots keep no movement history of their own); ``variance_pct`` of a cycle
count and ``duration_minutes`` of a downtime are recomputed from the payload.
Two events of one batch share one processing time, so the second one is judged without
the first one's state change; this is the one approximation, and it is visible in the
fidelity count of the report (how many events the rebuilt context reproduces).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime

from plants.models import Item, Plant, SiteParameter, SiteParameterOverride, WorkCenter

from ..ingest.rules_bridge import event_facts
from ..ingest.world import inspection_facts, lot_facts, order_facts
from ..models import (
    AdvanceShippingNotice,
    AuditRecord,
    Event,
    Inspection,
    InspectionResult,
    Lot,
    OperationConfirmation,
    ProductionOrder,
    ScrapDeclaration,
)

#: The default of ``scrap.spike_window`` in the scrap handler, used when the plant has none.
DEFAULT_SCRAP_WINDOW_SECONDS = 3600.0


def processed_at(event: Event) -> dt.datetime:
    """When the pipeline judged ``event``: applied (or parked, quarantined) at, else received."""
    return event.applied_at or event.parked_at or event.received_at


def _plain(value: Any) -> Any:
    # As rules_bridge._plain: CEL knows no Decimal or duration.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


class _States:
    """The transitions of one object: its state at any moment."""

    def __init__(self, rows: list[tuple[dt.datetime, int, str, str]], current: str) -> None:
        # One batch writes several transitions at the same time: the id orders them.
        self.rows = sorted(rows, key=lambda r: (r[0], r[1]))
        self.times = [r[0] for r in self.rows]
        self.current = current

    def at(self, moment: dt.datetime) -> str:
        i = bisect.bisect_left(self.times, moment)  # transitions strictly before ``moment``
        if i > 0:
            return self.rows[i - 1][3]
        return self.rows[0][2] if self.rows else self.current


class _Parameters:
    """The plant's site parameter map at any moment, from the history tables."""

    def __init__(self, plant: Plant) -> None:
        self.parameters = {p.pk: p for p in SiteParameter.objects.all()}
        self.defaults = self._timeline(SiteParameter.history.all(), "id", "default_value")
        self.overrides = self._timeline(
            SiteParameterOverride.history.filter(plant_id=plant.pk), "parameter_id", "value"
        )
        self.current_overrides = dict(
            SiteParameterOverride.objects.filter(plant=plant).values_list("parameter_id", "value")
        )
        self._memo: dict[tuple, dict[str, Any]] = {}

    @staticmethod
    def _timeline(history, key: str, value: str) -> dict[int, list[tuple]]:
        rows: dict[int, list[tuple]] = defaultdict(list)
        for row in history.order_by("history_date", "history_id").values(
            key, value, "history_date", "history_type"
        ):
            rows[row[key]].append((row["history_date"], row["history_type"], row[value]))
        return rows

    @staticmethod
    def _value_at(rows: list[tuple], moment: dt.datetime) -> tuple[bool, str | None]:
        """``(known, value)``: the value at ``moment`` (None when the row did not exist)."""
        before = [r for r in rows if r[0] <= moment]
        if before:
            _, kind, value = before[-1]
            return True, None if kind == "-" else value
        if rows and rows[0][1] == "+":
            return True, None  # created after the moment
        return False, None

    def at(self, moment: dt.datetime) -> dict[str, Any]:
        result: dict[str, Any] = {}
        stamp = []
        for pk, parameter in self.parameters.items():
            known, raw = self._value_at(self.defaults.get(pk, []), moment)
            if known and raw is None:
                continue  # the parameter did not exist yet
            if not known:
                raw = parameter.default_value  # created without history (a data migration)
            o_known, o_raw = self._value_at(self.overrides.get(pk, []), moment)
            if o_known and o_raw is not None:
                raw = o_raw
            elif not o_known and pk in self.current_overrides:
                raw = self.current_overrides[pk]
            stamp.append((pk, raw))
            result[parameter.key] = raw
        key = tuple(stamp)
        if key not in self._memo:
            typed = {}
            for pk, raw in stamp:
                parameter = self.parameters[pk]
                try:
                    typed[parameter.key] = _plain(parameter.parse(raw))
                except Exception:  # an invalid old value is shown as text
                    typed[parameter.key] = raw
            self._memo[key] = typed
        return self._memo[key]


class PlantHistory:
    """Rebuilds, for stored events of one plant, the rule context they were judged with.

    Objects and their records are read once per object (not per event), so a simulation of
    N events costs a few queries per order, lot and inspection it touches.
    """

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.parameters = _Parameters(plant)
        self._orders: dict[str, ProductionOrder | None] = {}
        self._lots: dict[str, Lot | None] = {}
        self._inspections: dict[str, Inspection | None] = {}
        self._states: dict[tuple[str, int], _States] = {}
        self._quantities: dict[int, dict[str, list]] = {}

    # --- objects ------------------------------------------------------------------------
    def _order(self, number: str | None) -> ProductionOrder | None:
        if not number:
            return None
        if number not in self._orders:
            self._orders[number] = (
                ProductionOrder.objects.filter(plant=self.plant, number=number)
                .select_related("item", "uom")
                .first()
            )
        return self._orders[number]

    def _lot(self, number: str | None) -> Lot | None:
        if not number:
            return None
        if number not in self._lots:
            self._lots[number] = (
                Lot.objects.filter(plant=self.plant, number=number)
                .select_related("item", "uom", "supplier")
                .first()
            )
        return self._lots[number]

    def _inspection(self, number: str | None) -> Inspection | None:
        if not number:
            return None
        if number not in self._inspections:
            self._inspections[number] = (
                Inspection.objects.filter(plant=self.plant, number=number)
                .select_related("lot", "lot__item", "lot__uom", "lot__supplier", "order")
                .first()
            )
        return self._inspections[number]

    def _state(self, obj, field: str, moment: dt.datetime) -> str:
        key = (obj._meta.label, obj.pk)
        if key not in self._states:
            rows = AuditRecord.objects.for_object(obj).filter(field=field)
            self._states[key] = _States(
                [
                    (r.occurred_at, r.pk, r.source_state, r.target_state)
                    for r in rows.only("occurred_at", "source_state", "target_state")
                ],
                getattr(obj, field),
            )
        return self._states[key].at(moment)

    def _order_quantities(self, order: ProductionOrder) -> dict[str, list]:
        if order.pk not in self._quantities:
            confirmations = list(
                OperationConfirmation.objects.filter(operation__order=order).values(
                    "operation__sequence", "good_qty", "scrap_qty", "confirmed_at"
                )
            )
            last = max((c["operation__sequence"] for c in confirmations), default=None)
            sequences = list(order.operations.values_list("sequence", flat=True))
            if sequences:
                last = max(sequences)
            self._quantities[order.pk] = {
                "good": [
                    (c["confirmed_at"], c["good_qty"])
                    for c in confirmations
                    if c["operation__sequence"] == last
                ],
                "scrap": [(c["confirmed_at"], c["scrap_qty"]) for c in confirmations]
                + list(
                    ScrapDeclaration.objects.filter(order=order).values_list("declared_at", "qty")
                ),
                "declared": list(
                    ScrapDeclaration.objects.filter(order=order).values_list("declared_at", "qty")
                ),
            }
        return self._quantities[order.pk]

    # --- facts --------------------------------------------------------------------------
    def order_facts(self, order: ProductionOrder, event: Event) -> dict[str, Any]:
        quantities = self._order_quantities(order)
        before = event.occurred_at
        facts = order_facts(order)
        facts["status"] = self._state(order, "state", processed_at(event))
        facts["confirmed_qty"] = float(sum((q for t, q in quantities["good"] if t < before), 0))
        facts["scrap_qty"] = float(sum((q for t, q in quantities["scrap"] if t < before), 0))
        return facts

    def _scrap_key(self, order: ProductionOrder, event: Event) -> tuple[Any, Any, str]:
        """(line id, item id, line code) of a scrap declaration, as the handler keys it."""
        payload = event.payload
        operation = (
            order.operations.filter(sequence=payload["operation"])
            .select_related("work_center")
            .first()
            if payload.get("operation")
            else None
        )
        item_id = order.item_id
        if payload.get("item"):
            item_id = (
                Item.objects.filter(code=payload["item"]).values_list("pk", flat=True).first()
                or item_id
            )
        work_center = operation.work_center if operation is not None else None
        return (
            work_center.pk if work_center is not None else None,
            item_id,
            work_center.code if work_center is not None else "",
        )

    def window_qty(self, order: ProductionOrder, event: Event, parameters) -> float:
        """Scrap of the same item on the same line of the plant within the window."""
        window = float(parameters.get("scrap.spike_window", DEFAULT_SCRAP_WINDOW_SECONDS))
        since = processed_at(event) - dt.timedelta(seconds=window)
        work_center_id, item_id, _ = self._scrap_key(order, event)
        earlier = ScrapDeclaration.objects.filter(
            order__plant_id=order.plant_id,
            work_center_id=work_center_id,
            item_id=item_id,
            declared_at__gte=since,
            declared_at__lt=event.occurred_at,
        ).values_list("qty", flat=True)
        return float(sum(earlier, Decimal(0)) + Decimal(str(event.payload.get("qty", 0))))

    def derived(self, event: Event, order, lot, inspection, parameters) -> dict[str, Any]:
        payload = event.payload
        if event.event_type == "scrap.declared" and order is not None:
            _, item_id, line = self._scrap_key(order, event)
            item = Item.objects.filter(pk=item_id).values_list("code", flat=True).first()
            return {
                "window_qty": self.window_qty(order, event, parameters),
                "line": line,
                "window_item": item or "",
            }
        if event.event_type == "material.issued":
            reserved = order is not None and any(
                c.item.code == payload.get("item") for c in order.components.all()
            )
            return {"reserved": reserved}
        if event.event_type == "inspection.recorded":
            lines = InspectionResult.objects.filter(inspection=inspection) if inspection else []
            return {
                "supplier": lot.supplier.code if lot is not None and lot.supplier_id else "",
                "defects": sum(1 for line in lines if not line.conforming),
            }
        if event.event_type == "cycle_count.recorded":
            system = float(payload.get("system_qty") or 0)
            counted = float(payload.get("counted_qty") or 0)
            return {"variance_pct": abs(counted - system) * 100.0 / system if system else 0.0}
        if event.event_type in ("asn.delayed", "machine.downtime"):
            return self.exposure_facts(event)
        return {}

    def exposure_facts(self, event: Event) -> dict[str, Any]:
        """Critical / constrained from master data; the orders at risk as they are *now*
        (open orders and stock have no history of their own: named, not guessed)."""
        from ..services.exposures import stoppage_at_risk, supply_at_risk

        payload = event.payload
        if event.event_type == "machine.downtime":
            wc = WorkCenter.objects.filter(
                plant_id=event.plant_id, code=payload.get("work_center")
            ).first()
            started = parse_datetime(payload.get("started_at") or "")
            ended = parse_datetime(payload["ended_at"]) if payload.get("ended_at") else None
            if wc is None or started is None:
                return {"constrained": False, "duration_minutes": 0.0}
            found = stoppage_at_risk(work_center=wc, since=started, until=ended)
            return {
                "constrained": wc.constrained,
                "duration_minutes": (ended - started).total_seconds() / 60 if ended else 0.0,
                "orders_at_risk": len(found.lines),
                "alternates": found.proposals,
            }
        codes = {line.get("item") for line in payload.get("lines") or []}
        asn = AdvanceShippingNotice.objects.filter(
            plant_id=event.plant_id, number=payload.get("asn")
        ).first()
        if asn is not None:
            codes |= set(asn.lines.values_list("item__code", flat=True))
        items = list(Item.objects.filter(code__in=codes))
        eta = parse_datetime(payload.get("expected_at") or "")
        if eta is None:
            return {"critical": any(i.critical for i in items)}
        before = asn.expected_at if asn is not None else eta
        found = supply_at_risk(asn=asn, items=items, since=before, until=eta)
        return {
            "critical": any(i.critical for i in items),
            "delay_hours": max((eta - before).total_seconds() / 3600, 0.0),
            "orders_at_risk": len(found.lines),
            "plants_at_risk": len(found.plants),
            "reallocations": found.proposals,
        }

    def context(self, event: Event) -> dict[str, Any]:
        """The rule context of ``event`` as the pipeline built it when it judged the event."""
        moment = processed_at(event)
        payload = event.payload
        parameters = self.parameters.at(moment)
        inspection = self._inspection(payload.get("inspection"))
        lot = self._lot(payload.get("lot"))
        order = self._order(payload.get("order"))
        if inspection is not None:
            lot = lot or inspection.lot
            if order is None and inspection.order_id:
                order = self._order(inspection.order.number)
        context: dict[str, Any] = {
            "event": event_facts(event, self.derived(event, order, lot, inspection, parameters)),
            "plant": parameters,
            "now": moment,
        }
        if order is not None:
            context["order"] = self.order_facts(order, event)
        if lot is not None:
            facts = lot_facts(lot)
            facts["status"] = self._state(lot, "status", moment)
            context["lot"] = facts
        if inspection is not None:
            facts = inspection_facts(inspection)
            state = self._state(inspection, "state", moment)
            final = state in ("passed", "failed", "conditionally_released")
            facts.update(status=state, result=state if final else "pending")
            context["inspection"] = facts
        return context
