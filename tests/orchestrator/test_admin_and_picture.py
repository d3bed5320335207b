"""The state picture and the admin's transition buttons."""

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from interlock.fsm_graph import build_graph, render_svg
from orchestrator.models import LIFECYCLE_MODELS, AuditRecord, Lot
from plants.choices import LotStatus, Role
from tests.factories_orchestrator import LotFactory, ProductionOrderFactory

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", sorted(LIFECYCLE_MODELS))
def test_picture_shows_every_state_and_transition(name):
    model = LIFECYCLE_MODELS[name]
    field = model.lifecycle_field()
    svg = render_svg(model, current=field.get_default())
    root = ET.fromstring(svg)  # noqa: S314 - our own output; well-formed XML
    drawn = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert drawn == {str(value) for value, _ in field.choices}
    current = [g.get("data-state") for g in root.iter(f"{SVG}g") if "current" in g.get("class", "")]
    assert current == [str(field.get_default())]
    labels = " ".join(
        p.get("data-transitions") for p in root.iter(f"{SVG}path") if p.get("data-transitions")
    )
    declared = {t.name for t in field.get_all_transitions(model)}
    assert declared == build_graph(model).transition_names()
    assert all(name in labels for name in declared)


def test_picture_draws_computed_resume_to_every_holdable_state():
    graph = build_graph(LIFECYCLE_MODELS["order"])
    resume_targets = {e.target for e in graph.edges if "resume" in e.names}
    assert resume_targets == {
        "created",
        "released",
        "acknowledged",
        "in_process",
        "partially_confirmed",
        "completed",
        "quality_pending",
    }


@pytest.mark.django_db
def test_quality_lead_blocks_a_lot_from_the_admin(client, plant_p1, member):
    lot = LotFactory(plant=plant_p1)
    lead = member(Role.QUALITY_LEAD, plant_p1)
    client.force_login(lead)

    page = client.get(reverse("admin:orchestrator_lot_change", args=[lot.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-state="available"' in body
    assert 'data-transition="block"' in body

    url = reverse("admin:orchestrator_lot_transition", args=[lot.pk, "block"])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "supplier recall"})
    assert response.status_code == 302
    lot.refresh_from_db()
    assert lot.status == LotStatus.BLOCKED
    record = AuditRecord.objects.get()
    assert (record.actor, record.reason, record.transition) == (lead, "supplier recall", "block")


@pytest.mark.django_db
def test_transition_needs_a_reason(client, plant_p1, member):
    lot = LotFactory(plant=plant_p1)
    client.force_login(member(Role.QUALITY_LEAD, plant_p1))
    url = reverse("admin:orchestrator_lot_transition", args=[lot.pk, "block"])
    assert client.post(url, {"reason": ""}).status_code == 200  # form shown again
    assert Lot.objects.get().status == LotStatus.AVAILABLE


@pytest.mark.django_db
def test_admin_transition_refused_for_another_plant_and_without_permission(
    client, plant_p1, plant_p2, member
):
    lot = LotFactory(plant=plant_p1)
    url = reverse("admin:orchestrator_lot_transition", args=[lot.pk, "block"])

    client.force_login(member(Role.QUALITY_LEAD, plant_p2))  # right role, wrong plant
    assert client.post(url, {"reason": "x"}).status_code in (403, 404)

    client.force_login(member(Role.PLANT_ADMIN, plant_p1))  # right plant, may only view
    assert client.post(url, {"reason": "x"}).status_code == 403
    page = client.get(reverse("admin:orchestrator_lot_change", args=[lot.pk]))
    assert page.status_code == 200
    assert b'data-transition="block"' not in page.content

    assert Lot.objects.get().status == LotStatus.AVAILABLE
    assert not AuditRecord.objects.exists()


@pytest.mark.django_db
def test_illegal_transition_from_admin_is_a_message_not_a_crash(admin_client, plant_p1):
    order = ProductionOrderFactory(plant=plant_p1)
    change = admin_client.get(reverse("admin:orchestrator_productionorder_change", args=[order.pk]))
    assert change.status_code == 200
    assert b'data-transition="release"' in change.content
    url = reverse("admin:orchestrator_productionorder_transition", args=[order.pk, "complete"])
    response = admin_client.post(url, {"reason": "try"}, follow=True)
    assert response.status_code == 200
    assert b"Cannot complete" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(LIFECYCLE_MODELS))
def test_changelist_and_lifecycle_pages_render(admin_client, name):
    opts = LIFECYCLE_MODELS[name]._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    page = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_lifecycle"))
    assert page.status_code == 200
    assert b"<svg" in page.content


@pytest.mark.django_db
def test_audit_records_are_read_only_in_the_admin(admin_client, plant_p1):
    from orchestrator.services.orders import order_release

    order = ProductionOrderFactory(plant=plant_p1)
    order_release(order=order, actor=None)
    record = AuditRecord.objects.get()
    assert admin_client.get(reverse("admin:orchestrator_auditrecord_add")).status_code == 403
    assert (
        admin_client.get(
            reverse("admin:orchestrator_auditrecord_delete", args=[record.pk])
        ).status_code
        == 403
    )
    admin_client.post(
        reverse("admin:orchestrator_auditrecord_change", args=[record.pk]), {"reason": "forged"}
    )
    assert AuditRecord.objects.get().reason == ""
