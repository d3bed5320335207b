"""The operations dashboard in the admin (``/admin/dashboard/``).

Throughput, latency p50/p95, outbox backlog and oldest age, retries, failed validations,
unresolved business exceptions by plant, interface and type, and per-plant SLA compliance,
over 1 h, 24 h or 7 d; every chart and row links to the admin list of the items behind it.
A person sees the plants where they may view SLA breaches (``plants.roles``), the same
scoping as every admin list; the numbers come from ``selectors_dashboard`` only.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from plants.auth import plant_ids_for

from . import selectors_dashboard as q
from .charts import PALETTE, Chart, Series, format_value, render
from .choices import SampleMetric, SlaFlow
from .selectors import plant_codes, system_codes
from .services.sla import SOURCES as SLA_SOURCES

#: Who may open the dashboard, and for which plants.
DASHBOARD_PERMISSION = "observability.view_slabreach"

OUTCOME_COLORS = {
    "accepted": PALETTE["green"],
    "duplicate": PALETTE["slate"],
    "quarantined": PALETTE["amber"],
    "rejected": PALETTE["red"],
    "conflict": PALETTE["violet"],
    "received": PALETTE["teal"],
    "delivered": PALETTE["green"],
    "transient": PALETTE["amber"],
    "permanent": PALETTE["red"],
}


def _link(name: str, **params) -> str:
    url = reverse(f"admin:{name}_changelist")
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def dashboard_view(request):
    allowed = plant_ids_for(request.user, DASHBOARD_PERMISSION)
    if allowed is not None and not allowed:
        raise PermissionDenied("The dashboard shows the plants you may look after; you have none.")
    plants = plant_codes()
    systems = system_codes()
    visible = {pk: code for pk, code in plants.items() if allowed is None or pk in allowed}
    selected = request.GET.get("plant", "")
    plant_ids: set[int] | None = allowed
    selected_id = None
    if selected:
        selected_id = next((pk for pk, code in visible.items() if code == selected), None)
        if selected_id is None:
            raise PermissionDenied(f"Plant {selected!r} is not one of yours.")
        plant_ids = {selected_id}
    rng = q.RANGES.get(request.GET.get("range", "24h"), q.RANGES["24h"])
    window = q.Window.ending(rng, timezone.now())
    plant_filter = {"plant__id__exact": selected_id}

    # --- series (one query each) ------------------------------------------------------------
    received = q.throughput(window, plant_ids)
    p50, p95, p95_range = q.latency(window, plant_ids)
    reasons = q.failure_reasons(window, plant_ids)
    attempts, retries, delivery_totals = q.deliveries(window, plant_ids)
    backlog, oldest = q.backlog_history(window, plant_ids)
    as_of, latest = q.latest_samples(plant_ids)
    compliance = q.sla_compliance(window, plant_ids)
    breaches = q.open_breaches(plant_ids)

    inbound_list = "orchestrator_inboundmessage"
    outbox_list = "orchestrator_outboxmessage"
    failed = [received.get(o, window.zeros()) for o in q.FAILED_OUTCOMES]
    failed_total = [sum(v) for v in zip(*failed, strict=True)] if failed else window.zeros()
    charts = [
        {
            "id": "throughput",
            "title": "Throughput",
            "subtitle": "messages received per bucket, by outcome",
            "href": _link(inbound_list, status="all", **plant_filter),
            "chart": Chart(
                window.times,
                [
                    Series(
                        o,
                        OUTCOME_COLORS.get(o, PALETTE["slate"]),
                        received[o],
                        _link(inbound_list, status=o, **plant_filter),
                    )
                    for o in (
                        "accepted",
                        "duplicate",
                        "quarantined",
                        "rejected",
                        "conflict",
                        "received",
                    )
                    if o in received
                ],
                kind="bars",
            ),
        },
        {
            "id": "latency",
            "title": "Ingest latency",
            "subtitle": "stored → decided, p50 and p95",
            "href": _link(inbound_list, status="all", **plant_filter),
            "chart": Chart(
                window.times,
                [Series("p50", PALETTE["blue"], p50), Series("p95", PALETTE["violet"], p95)],
                unit="s",
            ),
        },
        {
            "id": "backlog",
            "title": "Outbox backlog",
            "subtitle": "messages not delivered yet (worst minute per bucket)",
            "href": _link(outbox_list, status__exact="pending", **plant_filter),
            "chart": Chart(window.times, [Series("backlog", PALETTE["blue"], backlog)]),
        },
        {
            "id": "oldest",
            "title": "Oldest pending delivery",
            "subtitle": "age of the oldest undelivered message",
            "href": _link(outbox_list, status__exact="pending", **plant_filter),
            "chart": Chart(
                window.times, [Series("oldest age", PALETTE["amber"], oldest)], unit="s"
            ),
        },
        {
            "id": "retries",
            "title": "Deliveries and retries",
            "subtitle": "attempts by outcome; line: retries",
            "href": _link(outbox_list, **plant_filter),
            "chart": Chart(
                window.times,
                [
                    Series(
                        o,
                        OUTCOME_COLORS.get(o, PALETTE["slate"]),
                        attempts[o],
                        _link(
                            outbox_list,
                            status__exact="dead" if o == "permanent" else "",
                            **plant_filter,
                        ),
                    )
                    for o in ("delivered", "duplicate", "transient", "permanent", "rejected")
                    if o in attempts
                ],
                kind="bars",
                overlays=[Series("of which retries", PALETTE["violet"], retries)],
            ),
        },
        {
            "id": "failed",
            "title": "Failed validations",
            "subtitle": "quarantined, rejected or conflicting messages",
            "href": _link(inbound_list, status="attention", **plant_filter),
            "chart": Chart(
                window.times, [Series("failed", PALETTE["red"], failed_total)], kind="bars"
            ),
        },
    ]
    for c in charts:
        c["svg"] = render(c["chart"], label=f"{c['title']}, {rng.label}")
        c["series"] = [*c["chart"].series, *c["chart"].overlays]

    # --- current figures (latest minute's samples) -------------------------------------------
    now_backlog: dict[tuple[int, int], dict] = {}
    exceptions: list[dict] = []
    for r in latest:
        key = (r["plant_id"], r["system_id"])
        if r["metric"] == SampleMetric.OPEN_EXCEPTIONS:
            exceptions.append(
                {
                    "plant": plants.get(r["plant_id"], "—"),
                    "system": systems.get(r["system_id"], "—"),
                    "type": r["dim"] or "—",
                    "count": int(r["value"]),
                    "href": _link(
                        inbound_list,
                        status="attention",
                        plant__id__exact=r["plant_id"] or None,
                        system__id__exact=r["system_id"] or None,
                        event_type=r["dim"],
                    ),
                }
            )
            continue
        row = now_backlog.setdefault(
            key,
            {
                "plant": plants.get(r["plant_id"], "—"),
                "system": systems.get(r["system_id"], "—"),
                SampleMetric.OUTBOX_BACKLOG: 0,
                SampleMetric.OUTBOX_OLDEST_AGE: 0,
                SampleMetric.DEAD_LETTERS: 0,
                "href": _link(
                    outbox_list,
                    plant__id__exact=r["plant_id"] or None,
                    system__id__exact=r["system_id"] or None,
                ),
            },
        )
        row[r["metric"]] = r["value"]
    systems_now = sorted(now_backlog.values(), key=lambda r: (r["plant"], r["system"]))
    for row in systems_now:
        row["backlog"] = int(row[SampleMetric.OUTBOX_BACKLOG])
        row["oldest"] = (
            format_value(row[SampleMetric.OUTBOX_OLDEST_AGE], "s") if row["backlog"] else "—"
        )
        row["dead"] = int(row[SampleMetric.DEAD_LETTERS])
    exceptions.sort(key=lambda r: (-r["count"], r["plant"], r["system"], r["type"]))
    max_exceptions = max((r["count"] for r in exceptions), default=0)
    for r in exceptions:
        r["width"] = round(100 * r["count"] / max_exceptions) if max_exceptions else 0

    for r in reasons:
        r["plant"] = plants.get(r["plant_id"], "—")
        r["href"] = _link(
            inbound_list,
            status="attention",
            plant__id__exact=r["plant_id"] or None,
            event_type=r["event_type"] if r["event_type"] != "other" else None,
        )

    # --- SLA compliance per plant and flow ----------------------------------------------------
    flows = list(SlaFlow)
    sla_rows = []
    for pk, code in sorted(visible.items(), key=lambda kv: kv[1]):
        if plant_ids is not None and pk not in plant_ids:
            continue
        cells = []
        for flow in flows:
            c = compliance.get((pk, flow.value))
            measured = flow.value in SLA_SOURCES
            cells.append(
                {
                    "flow": flow,
                    "measured": measured,
                    "pct": c["pct"] if c else None,
                    "target": format_value(c["target"], "s") if c else "",
                    "worst": format_value(c["worst"], "s") if c and c["worst"] else "—",
                    "href": _link(
                        "observability_slabreach",
                        plant__id__exact=pk,
                        flow__exact=flow.value,
                        state__exact="all",
                    ),
                    "level": (
                        "none"
                        if not c or c["pct"] is None
                        else "good"
                        if c["pct"] >= 99
                        else "warn"
                        if c["pct"] >= 95
                        else "bad"
                    ),
                }
            )
        sla_rows.append({"plant": code, "cells": cells})

    counts = {o: sum(v) for o, v in received.items()}
    kpis = [
        {
            "label": "Messages received",
            "value": format_value(sum(counts.values())),
            "href": charts[0]["href"],
        },
        {
            "label": "Failed validations",
            "value": format_value(sum(failed_total)),
            "href": charts[5]["href"],
            "tone": "bad" if sum(failed_total) else "",
        },
        {
            "label": "Ingest p95",
            "value": format_value(p95_range, "s") if p95_range is not None else "—",
            "href": charts[1]["href"],
        },
        {
            "label": "Backlog now",
            "value": format_value(sum(r["backlog"] for r in systems_now)),
            "href": charts[2]["href"],
        },
        {
            "label": "Dead letters",
            "value": format_value(sum(r["dead"] for r in systems_now)),
            "href": _link(outbox_list, status__exact="dead", **plant_filter),
            "tone": "bad" if any(r["dead"] for r in systems_now) else "",
        },
        {
            "label": "Open exceptions",
            "value": format_value(sum(r["count"] for r in exceptions)),
            "href": _link(inbound_list, status="attention", **plant_filter),
            "tone": "warn" if exceptions else "",
        },
        {
            "label": "Delivered within SLA",
            "value": format_value(
                100 * delivery_totals["sla_met"] / delivery_totals["delivered"], "%"
            )
            if delivery_totals["delivered"]
            else "—",
            "href": charts[4]["href"],
        },
        {
            "label": "SLA breaches open",
            "value": str(len(breaches)),
            "href": _link("observability_slabreach", state__exact="open", **plant_filter),
            "tone": "bad" if breaches else "good",
        },
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "range": rng,
        "ranges": q.RANGES.values(),
        "plants": sorted(visible.values()),
        "selected_plant": selected,
        "window": window,
        "as_of": as_of,
        "kpis": kpis,
        "charts": charts,
        "systems_now": systems_now,
        "exceptions": exceptions[:15],
        "reasons": reasons,
        "flows": flows,
        "sla_rows": sla_rows,
        "breaches": breaches,
        "breach_list": _link("observability_slabreach", state__exact="open", **plant_filter),
    }
    return TemplateResponse(request, "admin/dashboard/index.html", context)
