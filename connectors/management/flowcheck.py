"""``demo --check``'s scenario check: does scenario 1 reach financially posted at every plant?

It watches the database the demo's processes write (orders by state, outbox rows by
status, quarantined events) and answers as soon as every plant has an order financially
posted. It never waits longer than its time limit, and gives up earlier when nothing has
moved past the release for ``stall`` seconds; either way it says, per plant, where the
orders stopped and what they wait for — for instance that outbox rows stay pending because
nothing delivers them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

#: What an order in this state waits for (the furthest state of a plant's orders).
WAITS_FOR = {
    "created": "its release to be applied",
    "released": "MES's acknowledgment: production_order.release must be delivered to the "
    "MES simulator (outbox → MES)",
    "acknowledged": "MES to report the run (see the MES simulator's /_runs)",
    "in_process": "MES to report the run (see the MES simulator's /_runs)",
    "partially_confirmed": "MES's last confirmations and the completion",
    "completed": "the rules to request the inspection",
    "quality_pending": "the inspection result (inspection.request delivered to QMS) and "
    "then the ERP goods receipt (goods_receipt delivered to ERP, its document number "
    "ingested as goods_receipt.posted)",
}
ORDER = [
    "created",
    "released",
    "acknowledged",
    "in_process",
    "partially_confirmed",
    "completed",
    "quality_pending",
    "financially_posted",
]


def snapshot() -> dict:
    """Per plant: orders by state, outbox rows by (target, type, status), quarantined
    events; plus the latest dead-letter errors."""
    from django.db.models import Count

    from orchestrator.models import Event, OutboxMessage, ProductionOrder
    from plants.models import Plant

    plants = {
        code: {"orders": Counter(), "outbox": Counter(), "quarantined": 0}
        for code in Plant.objects.order_by("code").values_list("code", flat=True)
    }
    for row in ProductionOrder.objects.values("plant__code", "state").annotate(n=Count("id")):
        plants[row["plant__code"]]["orders"][row["state"]] += row["n"]
    for row in OutboxMessage.objects.values(
        "plant__code", "target_system", "message_type", "status"
    ).annotate(n=Count("id")):
        key = (row["target_system"], row["message_type"], row["status"])
        plants[row["plant__code"]]["outbox"][key] += row["n"]
    for row in (
        Event.objects.filter(status="quarantined").values("plant__code").annotate(n=Count("id"))
    ):
        if row["plant__code"] in plants:
            plants[row["plant__code"]]["quarantined"] = row["n"]
    dead = list(
        OutboxMessage.objects.filter(status="dead")
        .order_by("-id")
        .values_list("plant__code", "message_type", *_last_error_field())[:5]
    )
    return {"plants": plants, "dead": dead}


def _last_error_field() -> tuple[str, ...]:
    from orchestrator.models import OutboxMessage

    names = {f.name for f in OutboxMessage._meta.get_fields()}
    return ("last_error",) if "last_error" in names else ()


def _progress(snap: dict) -> tuple:
    """What counts as movement: orders past their release, outbox rows no longer pending."""
    moved = []
    for code, plant in sorted(snap["plants"].items()):
        past = sorted(
            (s, n) for s, n in plant["orders"].items() if s not in ("created", "released")
        )
        outbox = sorted((k, n) for k, n in plant["outbox"].items() if k[2] != "pending")
        moved.append((code, tuple(past), tuple(outbox)))
    return tuple(moved)


def describe(snap: dict) -> list[str]:
    lines = []
    for code, plant in sorted(snap["plants"].items()):
        orders = plant["orders"]
        if not orders:
            lines.append(
                f"{code}: no order released yet — the ERP simulator's release driver has not "
                "reached Interlock (see logs/sim-erp.log)"
            )
            continue
        states = ", ".join(
            f"{s} {orders[s]}" for s in ORDER + sorted(set(orders) - set(ORDER)) if orders.get(s)
        )
        line = f"{code}: orders {states}"
        if not orders.get("financially_posted"):
            furthest = max((s for s in orders if s in ORDER), key=ORDER.index, default=None)
            if furthest in WAITS_FOR:
                line += f"; the furthest ({furthest}) waits for {WAITS_FOR[furthest]}"
        lines.append(line)
        if plant["outbox"]:
            outbox = ", ".join(
                f"{target} {type_} {status} {n}"
                for (target, type_, status), n in sorted(plant["outbox"].items())
            )
            lines.append(f"    outbox: {outbox}")
        if plant["quarantined"]:
            lines.append(f"    quarantined events: {plant['quarantined']} (see the workbench)")
    all_outbox = Counter()
    for plant in snap["plants"].values():
        for (_, _, status), n in plant["outbox"].items():
            all_outbox[status] += n
    if all_outbox and set(all_outbox) == {"pending"}:
        lines.append(
            "MISSING: outbox rows stay pending and none was ever delivered — nothing delivers "
            "the outbox yet (outbound delivery in connectors/outbound with its Celery task, "
            "and a worker that runs it)."
        )
    for dead in snap["dead"]:
        lines.append(f"dead-lettered: {' '.join(str(x) for x in dead)[:300]}")
    return lines


def _finished(plant: dict, per_plant: int, every_order: bool) -> bool:
    orders = plant["orders"]
    if orders.get("financially_posted", 0) < per_plant:
        return False
    if not every_order:
        return True
    unfinished = sum(n for s, n in orders.items() if s != "financially_posted")
    undelivered = sum(n for k, n in plant["outbox"].items() if k[2] in ("pending", "in_flight"))
    return unfinished == 0 and undelivered == 0


def wait_for_scenario_1(
    *,
    timeout: float,
    out: Callable[[str], None],
    per_plant: int = 1,
    every_order: bool = False,
    stall: float = 45.0,
    poll: float = 1.0,
) -> str | None:
    """``None`` once every plant has ``per_plant`` orders financially posted (with
    ``every_order``: and no order anywhere else, no message undelivered — a finite run is
    over), else what went wrong."""
    started = time.monotonic()
    deadline = started + timeout
    last_progress, last_move = None, started
    reported = 0.0
    while True:
        snap = snapshot()
        plants = snap["plants"]
        done = sorted(c for c, p in plants.items() if _finished(p, per_plant, every_order))
        if plants and len(done) == len(plants):
            elapsed = time.monotonic() - started
            what = "every order" if every_order else "an order"
            out(
                f"  check scenario 1: {what} financially posted at {', '.join(done)} "
                f"in {elapsed:.0f} s"
            )
            for line in describe(snap):
                out("    " + line)
            return None
        now = time.monotonic()
        progress = _progress(snap)
        if progress != last_progress:
            last_progress, last_move = progress, now
        if now - reported >= 10:
            reported = now
            out(
                f"  … scenario 1 after {now - started:.0f} s: financially posted at "
                f"{', '.join(done) or 'no plant yet'}"
            )
        stalled = now - last_move > stall and any(p["orders"] for p in plants.values())
        if now > deadline or stalled:
            why = (
                f"nothing moved past the release for {stall:.0f} s"
                if stalled
                else f"not every plant reached financially posted within {timeout:.0f} s"
            )
            lines = describe(snap)
            for line in lines:
                out("    " + line)
            missing = sorted(set(plants) - set(done))
            return f"scenario 1: {why}; missing at {', '.join(missing)}: " + " | ".join(lines)
        time.sleep(poll)
