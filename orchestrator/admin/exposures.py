"""Exposures (scenarios 7 and 8): one consolidated page per supply delay or line stoppage,
with every order it puts at risk at every plant and what Interlock proposes for each.
Written by rule actions only (read-only here); the notifications and tasks of the
people involved link to it.

Who sees one: a person with a role at the exposure's plant **or at any plant with an
order at risk** (customer service at every affected plant opens the same page from its
task, and sees every line); anyone else gets a 404."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from plants.admin_scoping import PlantScopedAdminMixin
from plants.auth import plant_ids_for

from .. import models as om
from . import ScopedAdmin, ServiceWritten


def quantity(value: Decimal | None) -> str:
    """A quantity as people write it: ``98``, ``12.5``, ``1,250`` (not ``98.000000``)."""
    if value is None:
        return "—"
    value = value.normalize()
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,f}"


def exposure_links(exposures) -> str:
    """Links to the exposure pages (the ASN and downtime pages show them)."""
    links = [
        format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orchestrator_exposure_change", args=[e.pk]),
            e.title,
        )
        for e in exposures
    ]
    return format_html_join(mark_safe("<br>"), "{}", ((link,) for link in links)) or "—"


class ExposureLineInline(ServiceWritten, admin.TabularInline):
    model = om.ExposureLine
    extra = 0
    fields = [
        "order_link",
        "plant",
        "item",
        "need_date",
        "due_date",
        "open",
        "proposal",
        "from_plant",
        "proposed",
        "proposal_text",
    ]
    readonly_fields = fields

    @admin.display(description="open qty")
    def open(self, line: om.ExposureLine) -> str:
        return quantity(line.open_qty)

    @admin.display(description="proposed qty")
    def proposed(self, line: om.ExposureLine) -> str:
        return quantity(line.proposal_qty) if line.proposal_qty else "—"

    @admin.display(description="order")
    def order_link(self, line: om.ExposureLine) -> str:
        url = reverse("admin:orchestrator_productionorder_change", args=[line.order_id])
        return format_html('<a href="{}">{}</a>', url, line.order.number)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("order", "plant", "item", "from_plant", "alternate")
        )


@admin.register(om.Exposure)
class ExposureAdmin(ServiceWritten, ScopedAdmin):
    """What one delay or stoppage puts at risk, across plants (consolidated view)."""

    list_display = [
        "created_at",
        "kind",
        "title",
        "plant",
        "at_risk",
        "plants",
        "proposal_state",
        "since",
        "until",
    ]
    list_filter = ["kind", "proposal_state", "plant"]
    list_select_related = ["plant"]
    search_fields = ["title", "correlation_id", "lines__order__number"]
    raw_id_fields = ["plant", "asn", "work_center", "event", "approval"]
    inlines = [ExposureLineInline]
    # The plants at risk as a list a person reads ("P1, P2, P3"), not the stored JSON.
    fields = [
        "plant",
        "kind",
        "title",
        "asn",
        "work_center",
        "since",
        "until",
        "lost_hours",
        "plants",
        "proposal_state",
        "approval",
        "event",
        "rule",
        "correlation_id",
        "created_at",
    ]

    def get_queryset(self, request):
        from django.db.models import Count

        # Not ``ScopedAdmin``'s filter on the exposure's own plant alone: every plant with
        # an order at risk sees it too (``Exposure.scope_plant_ids`` for the object checks).
        qs = super(PlantScopedAdminMixin, self).get_queryset(request)
        plants = plant_ids_for(request.user, "orchestrator.view_exposure")
        if plants is not None:
            visible = om.ExposureLine.objects.filter(plant__in=plants).values("exposure_id")
            qs = qs.filter(Q(plant__in=plants) | Q(pk__in=visible))
        return qs.annotate(line_count=Count("lines"))

    @admin.display(description="orders at risk", ordering="line_count")
    def at_risk(self, exposure: om.Exposure) -> int:
        return exposure.line_count

    @admin.display(description="plants at risk")
    def plants(self, exposure: om.Exposure) -> str:
        return ", ".join(exposure.plants_at_risk)
