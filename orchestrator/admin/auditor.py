"""The auditor's view: every object links what is around it, an order's life is one
timeline, and a lot's genealogy is a picture.

- The order page lists its operations, lots (consumed and produced), inspections,
  nonconformances, dispositions, goods receipts, deliveries to other systems, and links
  its timeline; lot, inspection and nonconformance pages link their neighbours the same
  way (``related_groups``).
- **Timeline** (``…/productionorder/<id>/timeline/``): one compact table of everything
  that happened to the order and the objects around it, people's steps (approvals,
  overrides, dispositions, replays) marked, payloads folded away in ``<details>``.
- **Genealogy** (``…/lot/<id>/genealogy/``): Graphviz picture answering "what went into
  this lot" (left) and "where did it go" (right), with orders, inspections,
  nonconformances and dispositions attached; every box links to its page.

All reads go through ``orchestrator.selectors_auditor`` and the admin's plant-scoped
querysets: a person sees the page only for objects of plants they may view.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from ..selectors_auditor import (
    lot_ingredients,
    lot_orders,
    lot_quality,
    lot_where_used,
    order_deliveries,
    order_lots,
    order_timeline,
)

FONT = "Helvetica,Arial,sans-serif"
SVG_NS = "http://www.w3.org/2000/svg"


def url_of(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def _group(title: str, objs, label=str) -> dict:
    return {"title": title, "items": [(label(o), url_of(o)) for o in objs]}


def _link_panel(title: str, text: str, url: str) -> dict:
    """A panel of the related objects that is one link to a page (no count)."""
    return {"title": title, "no_count": True, "items": [(text, url)]}


def order_related_groups(order) -> list[dict]:
    from ..models import Disposition, Inspection, Nonconformance

    lots = order_lots(order=order)
    inspections = list(Inspection.objects.filter(order=order).order_by("requested_at"))
    return [
        _link_panel(
            "Timeline",
            "the order's whole life, step by step",
            reverse("admin:orchestrator_productionorder_timeline", args=[order.pk]),
        ),
        _group(
            "Operations",
            order.operations.order_by("sequence"),
            lambda op: f"{op.sequence} {op.get_state_display().lower()}",
        ),
        _group("Lots produced", [link.lot for link in lots["produced"]], lambda lot: lot.number),
        _group("Lots consumed", [link.lot for link in lots["consumed"]], lambda lot: lot.number),
        _group(
            "Inspections",
            inspections,
            lambda i: f"{i.number} ({i.get_state_display().lower()})",
        ),
        _group(
            "Nonconformances",
            Nonconformance.objects.filter(order=order).order_by("pk"),
            lambda nc: f"{nc.number} ({nc.get_state_display().lower()})",
        ),
        _group(
            "Dispositions",
            Disposition.objects.filter(inspection__order=order).select_related("inspection"),
            lambda d: f"{d.get_decision_display()} of {d.inspection.number}",
        ),
        _group(
            "Goods receipts",
            order.goods_receipts.order_by("pk"),
            lambda gr: f"{gr.number} ({gr.get_state_display().lower()})",
        ),
        _group(
            "Deliveries",
            order_deliveries(order=order),
            lambda o: f"{o.message_type} → {o.target_system} ({o.status})",
        ),
    ]


def lot_related_groups(lot) -> list[dict]:
    quality = lot_quality(lot=lot)
    return [
        _link_panel(
            "Genealogy",
            "what went into it, where it went (picture)",
            reverse("admin:orchestrator_lot_genealogy", args=[lot.pk]),
        ),
        {
            "title": "Orders",
            "items": [
                (f"{link.order.number} ({link.relation})", url_of(link.order))
                for link in lot_orders(lot=lot)
            ],
        },
        _group("Inspections", quality["inspections"], lambda i: i.number),
        _group("Nonconformances", quality["nonconformances"], lambda nc: nc.number),
        _group(
            "Dispositions",
            quality["dispositions"],
            lambda d: f"{d.get_decision_display()} ({d.inspection.number})",
        ),
    ]


def inspection_related_groups(inspection) -> list[dict]:
    groups = []
    if inspection.order_id:
        groups.append(_group("Order", [inspection.order], lambda o: o.number))
    if inspection.lot_id:
        groups.append(_group("Lot", [inspection.lot], lambda lot: lot.number))
    groups.append(_group("Nonconformances", inspection.nonconformances.all(), lambda n: n.number))
    groups.append(
        _group(
            "Dispositions",
            inspection.dispositions.all(),
            lambda d: f"{d.get_decision_display()} by {d.decided_by.get_username()}",
        )
    )
    return groups


def nonconformance_related_groups(nc) -> list[dict]:
    groups = []
    for title, obj in (("Order", nc.order), ("Lot", nc.lot), ("Inspection", nc.inspection)):
        if obj is not None:
            groups.append(_group(title, [obj]))
    groups.append(_group("Dispositions", nc.dispositions.all(), lambda d: d.get_decision_display()))
    return groups


# --- the genealogy picture ---------------------------------------------------------------------
def genealogy_svg(lot) -> str:
    """Lots upstream (what went into ``lot``) and downstream (where it went), the orders
    that linked them, and the lot's inspections, nonconformances and dispositions."""
    import graphviz

    up, down = lot_ingredients(lot=lot), lot_where_used(lot=lot)
    quality = lot_quality(lot=lot)
    dot = graphviz.Digraph(
        graph_attr={
            "rankdir": "LR",
            "fontname": FONT,
            "bgcolor": "transparent",
            "nodesep": "0.3",
            "ranksep": "0.6",
            "pad": "0.1",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": "#f8fafc",
            "color": "#64748b",
            "fontname": FONT,
            "fontsize": "11",
        },
        edge_attr={"fontname": FONT, "fontsize": "9", "color": "#555555", "fontcolor": "#555555"},
    )

    def lot_node(node_lot, *, focus=False):
        attrs = {"URL": url_of(node_lot), "target": "_top", "id": f"lot-{node_lot.number}"}
        if focus:
            attrs.update(fillcolor="#dbeafe", color="#1d4ed8", penwidth="2")
        label = f"{node_lot.number}\n{node_lot.item.code} · {node_lot.get_status_display()}"
        dot.node(f"lot{node_lot.pk}", label, **attrs)

    lot_node(lot, focus=True)
    for link in [*up.links, *down.links]:
        lot_node(link.parent)
        lot_node(link.child)
        label = link.qty_text + (f" via {link.order_number}" if link.order_number else "")
        dot.edge(f"lot{link.parent.pk}", f"lot{link.child.pk}", label=label)
    for link in lot_orders(lot=lot):
        order = link.order
        dot.node(
            f"order{order.pk}",
            f"order {order.number}\n{order.get_state_display()}",
            shape="component",
            fillcolor="#fefce8",
            URL=url_of(order),
            target="_top",
        )
        if link.relation == "produced":
            dot.edge(f"order{order.pk}", f"lot{lot.pk}", label="produced", style="dashed")
        else:
            dot.edge(f"lot{lot.pk}", f"order{order.pk}", label="consumed by", style="dashed")
    for inspection in quality["inspections"]:
        dot.node(
            f"ins{inspection.pk}",
            f"inspection {inspection.number}\n{inspection.get_state_display()}",
            shape="note",
            fillcolor="#f0fdf4",
            URL=url_of(inspection),
            target="_top",
        )
        dot.edge(f"lot{lot.pk}", f"ins{inspection.pk}", label="inspected", style="dotted")
    for nc in quality["nonconformances"]:
        dot.node(
            f"nc{nc.pk}",
            f"NC {nc.number}\n{nc.get_state_display()}",
            shape="note",
            fillcolor="#fef2f2",
            URL=url_of(nc),
            target="_top",
        )
        source = f"ins{nc.inspection_id}" if nc.inspection_id else f"lot{lot.pk}"
        dot.edge(source, f"nc{nc.pk}", style="dotted")
    for d in quality["dispositions"]:
        dot.node(
            f"disp{d.pk}",
            f"{d.get_decision_display()}\nby {d.decided_by.get_username()}",
            shape="note",
            fillcolor="#fff7ed",
            URL=url_of(d),
            target="_top",
        )
        source = f"nc{d.nonconformance_id}" if d.nonconformance_id else f"ins{d.inspection_id}"
        dot.edge(source, f"disp{d.pk}", label="decided", style="dotted")
    svg = dot.pipe(format="svg", encoding="utf-8")
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(svg)  # noqa: S314 - Graphviz's output for our own graph
    width = root.attrib.pop("width", "")
    root.attrib.pop("height", None)
    root.set("class", "genealogy-graph")
    root.set("style", f"max-width:min(100%, {width});height:auto")
    return ET.tostring(root, encoding="unicode")


class _AuditorPageMixin:
    """An object page with a page of its own beside it (the order's timeline, the lot's
    genealogy): the URL ``…/<id>/<page>/``, a button above the object, and the links to
    the objects around it."""

    #: URL segment, button class and URL name suffix of the page.
    page = ""
    #: The button's label.
    page_label = ""
    template = ""

    def related_groups(self, request, obj) -> list[dict]:  # pragma: no cover - overridden
        raise NotImplementedError

    def page_context(self, obj) -> dict:  # pragma: no cover - overridden
        """The title and whatever else the page's template shows."""
        raise NotImplementedError

    def _page_url(self, obj) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{self.page}", args=[obj.pk])

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                f"<path:object_id>/{self.page}/",
                self.admin_site.admin_view(self.page_view),
                name=f"{opts.app_label}_{opts.model_name}_{self.page}",
            ),
            *super().get_urls(),
        ]

    def object_buttons(self, request, obj) -> list[dict]:
        button = {"label": self.page_label, "url": self._page_url(obj), "cls": self.page}
        return [button, *super().object_buttons(request, obj)]

    def page_view(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))  # plant-scoped
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id} that you may see.")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "change_url": url_of(obj),
            **self.page_context(obj),
        }
        return TemplateResponse(request, self.template, context)


class OrderAuditorMixin(_AuditorPageMixin):
    """Order page: related objects, and the timeline view."""

    page, page_label, template = "timeline", "Timeline", "admin/orchestrator/timeline.html"

    def related_groups(self, request, obj) -> list[dict]:
        return order_related_groups(obj)

    def page_context(self, obj) -> dict:
        rows = with_folds(order_timeline(order=obj))
        return {
            "title": f"Timeline of order {obj.number}",
            "rows": rows,
            "people": sum(1 for r in rows if r.human),
        }


class LotAuditorMixin(_AuditorPageMixin):
    """Lot page: related objects, and the genealogy picture."""

    page, page_label, template = "genealogy", "Genealogy", "admin/orchestrator/genealogy.html"

    def related_groups(self, request, obj) -> list[dict]:
        return lot_related_groups(obj)

    def page_context(self, obj) -> dict:
        return {
            "title": f"Genealogy of lot {obj.number}",
            "svg": mark_safe(genealogy_svg(obj)),  # noqa: S308 - escaped by Graphviz/ElementTree
            "ingredients": lot_ingredients(lot=obj),
            "where_used": lot_where_used(lot=obj),
        }


def with_folds(rows: list) -> list:
    """Give each timeline row ``folds``: its payloads as ``(label, pretty JSON)``, which the
    template shows folded in ``<details>``."""
    for row in rows:
        payloads = list(row.payloads)
        if row.payload is not None:
            payloads.insert(0, ("payload", row.payload))
        row.folds = [
            (label, json.dumps(value, indent=2, sort_keys=True, default=str))
            for label, value in payloads
        ]
    return rows
