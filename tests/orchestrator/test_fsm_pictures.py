"""Lifecycle pictures laid out by Graphviz: readable, human labels, laptop-sized
(issue 8, item 8); and a page that says why no transition applies."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from interlock.fsm_graph import render_svg
from orchestrator.models import LIFECYCLE_MODELS
from plants.choices import Role
from tests.factories_orchestrator import LotFactory, ProductionOrderFactory

SVG = "{http://www.w3.org/2000/svg}"
#: A laptop's admin content area, in CSS pixels (Graphviz sizes are points: 1pt = 4/3 px).
LAPTOP_WIDTH_PX, LAPTOP_HEIGHT_PX = 1100, 760


def _pt(value: str) -> float:
    return float(value.removesuffix("pt"))


@pytest.mark.parametrize("name", sorted(LIFECYCLE_MODELS))
def test_picture_fits_a_laptop_and_speaks_human(name):
    model = LIFECYCLE_MODELS[name]
    root = ET.fromstring(render_svg(model))  # noqa: S314 - our own output
    assert _pt(root.get("data-width")) * 4 / 3 <= LAPTOP_WIDTH_PX
    assert _pt(root.get("data-height")) * 4 / 3 <= LAPTOP_HEIGHT_PX
    assert "max-width" in root.get("style")  # and it scales down with the window
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    transitions = {t.name for t in model.lifecycle_field().get_all_transitions(model)}
    snake = [t for t in texts if re.fullmatch(r"[a-z]+(_[a-z]+)+", t.strip())]
    assert not snake, f"code names shown to people: {snake}"
    for multiword in (t for t in transitions if "_" in t):
        assert any(multiword.replace("_", " ") in t for t in texts), multiword


def test_edge_labels_do_not_overlap():
    """Graphviz places each label as a node of its own; check the result anyway."""
    for model in LIFECYCLE_MODELS.values():
        root = ET.fromstring(render_svg(model))  # noqa: S314
        boxes = []
        for text in root.iter(f"{SVG}text"):
            x, y = float(text.get("x")), float(text.get("y"))
            size = float(text.get("font-size", "10"))
            width = len(text.text or "") * size * 0.5
            anchor = text.get("text-anchor", "start")
            left = x - width / 2 if anchor == "middle" else x
            boxes.append((left, y - size * 0.8, left + width, y))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                assert not overlap, (model.__name__, a, b)


@pytest.mark.django_db
def test_the_page_says_why_no_transition_applies(client, plant_p1, plant_p2, member):
    order = ProductionOrderFactory(plant=plant_p1)
    client.force_login(member(Role.AUDITOR))
    body = client.get(reverse("admin:orchestrator_productionorder_change", args=[order.pk]))
    text = body.content.decode()
    assert "release</strong>: not now (role: only" in text

    lot = LotFactory(plant=plant_p1)
    # Sees every plant (auditor), may block lots only at P2 (quality lead there).
    both = member(Role.QUALITY_LEAD, plant_p2)
    member(Role.AUDITOR, username=both.username)
    client.force_login(both)
    text = client.get(reverse("admin:orchestrator_lot_change", args=[lot.pk])).content.decode()
    assert "block</strong>: not now (plant:" in text
