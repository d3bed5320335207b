"""Configuration in the admin: the refusal page names what is missing, and a plant is
onboarded from a template (diff first, then the copy)."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_a_refused_plant_admin_sees_the_missing_permission_and_their_roles(
    login, live_server, shot
):
    page = login("p1-admin")
    response = page.goto(f"{live_server.url}/admin/plants/plant/add/")
    assert response.status == 403
    text = page.locator("#content-main").inner_text()
    assert "plants.add_plant" in text
    assert "plant_admin@P1" in text
    shot(page, "config-403-plant-admin")


def test_admin_onboards_a_new_plant_from_a_template(login, live_server, shot):
    from plants.models import ConnectedSystem, ItemMapping, Plant

    target = Plant.objects.create(code="P9", name="Plant 9", profile="custom")
    page = login("admin")
    page.goto(f"{live_server.url}/admin/plants/plant/{target.pk}/onboard/")
    page.select_option("#id_template", label=str(Plant.objects.get(code="P1")))
    page.click("input[type=submit]")
    diff = page.locator("#onboard-diff")
    expect(diff).to_be_visible()
    assert page.locator("#onboard-diff tr.onboard-create").count() > 5
    shot(page, "config-onboard-diff")
    assert not ItemMapping.objects.filter(plant=target).exists()  # a dry run

    page.check("#id_apply")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf".*/admin/plants/plant/{target.pk}/change/$"))
    assert "P9 onboarded from P1" in page.locator(".messagelist").inner_text()
    assert ItemMapping.objects.filter(plant=target).exists()
    assert ConnectedSystem.objects.filter(plants=target).exists()
    shot(page, "config-onboard-done")
