"""The plants admin: scoping by plant, history pages, API keys shown once."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from plants.admin_scoping import PlantScopedAdminMixin
from plants.choices import Role
from plants.models import ApiKey, ItemMapping, ReleaseWindow
from tests.factories import (
    ConnectedSystemFactory,
    ItemFactory,
    ItemMappingFactory,
    UserFactory,
    WorkCenterMappingFactory,
    issue_api_key,
)

pytestmark = pytest.mark.django_db


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:plants_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def mappings(plant_p1, plant_p2):
    item = ItemFactory(code="CMP-4711")
    return {
        "p1": ItemMappingFactory(plant=plant_p1, plant_code="000000000010004711", item=item),
        "p2": ItemMappingFactory(plant=plant_p2, plant_code="BRKT-STD-A", item=item),
    }


def test_every_plants_model_has_a_history_admin():
    plants_models = [
        m
        for m in apps.get_app_config("plants").get_models()
        if not m.__name__.startswith("Historical")
    ]
    assert plants_models
    for model in plants_models:
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, f"{model.__name__} is not registered"
        assert isinstance(model_admin, SimpleHistoryAdmin), model.__name__
        if hasattr(model, "plant_lookup") and model.__name__ != "Membership":
            assert isinstance(model_admin, PlantScopedAdminMixin), model.__name__


def test_superuser_opens_every_changelist_and_add_page(client, superuser, mappings, plant_p1):
    WorkCenterMappingFactory(plant=plant_p1)
    system = ConnectedSystemFactory(code="MES-P1")
    system.plants.set([plant_p1])
    issue_api_key(system)
    client.force_login(superuser)
    for model in admin.site._registry:
        if model._meta.app_label != "plants":
            continue
        assert client.get(_url(model, "changelist")).status_code == 200, model.__name__
        assert client.get(_url(model, "add")).status_code == 200, model.__name__
    for obj in (mappings["p1"], plant_p1, system, system.api_keys.get()):
        assert client.get(_url(type(obj), "change", obj.pk)).status_code == 200
        assert client.get(_url(type(obj), "history", obj.pk)).status_code == 200


def test_plant_admin_sees_only_their_plants_mappings(client, member, plant_p1, mappings):
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    response = client.get(_url(ItemMapping, "changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "000000000010004711" in content
    assert "BRKT-STD-A" not in content


def test_plant_admin_cannot_open_or_change_another_plants_mapping(
    client, member, plant_p1, mappings
):
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    other = mappings["p2"]
    assert client.get(_url(ItemMapping, "change", other.pk)).status_code in (302, 403, 404)
    response = client.post(
        _url(ItemMapping, "change", other.pk),
        {
            "plant": other.plant_id,
            "plant_code": "HACKED",
            "item": other.item_id,
            "valid_from": "2026-01-01",
        },
    )
    assert response.status_code in (302, 403, 404)
    other.refresh_from_db()
    assert other.plant_code == "BRKT-STD-A"
    assert client.get(_url(ItemMapping, "history", other.pk)).status_code == 403


def test_plant_admin_cannot_add_a_mapping_for_another_plant(client, member, plant_p1, plant_p2):
    item = ItemFactory(code="CMP-1")
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    response = client.post(
        _url(ItemMapping, "add"),
        {"plant": plant_p2.pk, "plant_code": "X-1", "item": item.pk, "valid_from": "2026-01-01"},
    )
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert not ItemMapping.objects.filter(plant_code="X-1").exists()


def test_plant_admin_edits_own_mapping_and_history_shows_it(client, member, plant_p1, mappings):
    own = mappings["p1"]
    user = member(Role.PLANT_ADMIN, plant_p1)
    client.force_login(user)
    response = client.post(
        _url(ItemMapping, "change", own.pk),
        {
            "plant": plant_p1.pk,
            "plant_code": own.plant_code,
            "item": own.item_id,
            "revision": "",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-01",
            "note": "ends with rev change",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    history = client.get(_url(ItemMapping, "history", own.pk))
    assert history.status_code == 200
    assert own.history.count() == 2
    assert user.username in history.content.decode()


def test_mapping_changelist_shows_validity_today(client, superuser, plant_p1):
    item = ItemFactory(code="CMP-9")
    ItemMappingFactory(
        plant=plant_p1,
        plant_code="ENDED",
        item=item,
        valid_from=dt.date(2020, 1, 1),
        valid_to=dt.date(2021, 1, 1),
    )
    ItemMappingFactory(
        plant=plant_p1, plant_code="CURRENT", item=item, valid_from=dt.date(2021, 1, 1)
    )
    client.force_login(superuser)
    content = client.get(_url(ItemMapping, "changelist")).content.decode()
    assert "valid today" in content.lower()
    today_only = client.get(_url(ItemMapping, "changelist") + "?validity=today").content.decode()
    assert "CURRENT" in today_only
    assert "ENDED" not in today_only
    ended = client.get(_url(ItemMapping, "changelist") + "?validity=ended").content.decode()
    assert "ENDED" in ended
    assert "CURRENT" not in ended


def test_api_key_is_shown_once_and_only_its_hash_is_stored(client, superuser, plant_p1):
    system = ConnectedSystemFactory(code="MES-P1")
    system.plants.set([plant_p1])
    client.force_login(superuser)

    response = client.post(_url(ApiKey, "add"), {"system": system.pk, "name": "MES prod"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(system=system)
    content = response.content.decode()
    raw = content.split('class="interlock-raw-key">', 1)[1].split("<", 1)[0]
    assert raw.startswith(f"ilk_{key.prefix}_")
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(list(ApiKey.objects.values_list()))
    assert raw not in str(list(key.history.values_list()))
    # Not on any later page (nor in a flash message carried to the next request).
    for url in (
        _url(ApiKey, "changelist"),
        _url(ApiKey, "change", key.pk),
        _url(type(system), "change", system.pk),
    ):
        later = client.get(url)
        assert later.status_code == 200
        assert raw not in later.content.decode()
        assert key.prefix in later.content.decode()


def test_issue_action_on_systems_and_revoke_action(client, superuser, plant_p1):
    system = ConnectedSystemFactory(code="QMS-P1")
    system.plants.set([plant_p1])
    client.force_login(superuser)
    response = client.post(
        _url(type(system), "changelist"),
        {"action": "issue_api_key", admin.helpers.ACTION_CHECKBOX_NAME: [system.pk]},
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(system=system)
    assert f"ilk_{key.prefix}_" in response.content.decode()

    response = client.post(
        _url(ApiKey, "changelist"),
        {"action": "revoke", admin.helpers.ACTION_CHECKBOX_NAME: [key.pk]},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by == superuser


def test_plant_admin_issues_keys_of_own_plant_but_may_not_manage_memberships(
    client, member, plant_p1, plant_p2
):
    from plants.models import Membership
    from tests.factories import ConnectedSystemFactory

    own = ConnectedSystemFactory(code="MES-OWN")
    own.plants.set([plant_p1])
    other = ConnectedSystemFactory(code="MES-OTHER")
    other.plants.set([plant_p2])
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    page = client.get(_url(ApiKey, "add"))
    assert page.status_code == 200
    options = page.content.decode()
    assert "MES-OWN" in options
    assert "MES-OTHER" not in options
    issued = client.post(_url(ApiKey, "add"), {"system": own.pk, "name": "line PC"})
    assert issued.status_code == 200
    assert ApiKey.objects.filter(system=own, name="line PC").exists()
    forged = client.post(_url(ApiKey, "add"), {"system": other.pk, "name": "forged"})
    assert not ApiKey.objects.filter(system=other).exists()
    assert forged.status_code == 200  # the form refuses a system outside the choices
    assert client.get(_url(Membership, "changelist")).status_code == 403


def test_release_windows_inline_read_only_for_plant_admin_editable_in_own_admin(
    client, member, plant_p1, plant_p2
):
    window = ReleaseWindow.objects.create(
        plant=plant_p1, name="Sunday", weekday=6, start_time=dt.time(6), end_time=dt.time(10)
    )
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    page = client.get(_url(type(plant_p1), "change", plant_p1.pk))
    assert page.status_code == 200
    assert "Sunday" in page.content.decode()
    assert client.get(_url(type(plant_p2), "change", plant_p2.pk)).status_code == 302

    response = client.post(
        _url(ReleaseWindow, "change", window.pk),
        {
            "plant": plant_p1.pk,
            "name": "Sunday early",
            "weekday": 6,
            "start_time": "05:00",
            "end_time": "10:00",
            "active": "on",
        },
    )
    assert response.status_code == 302
    window.refresh_from_db()
    assert window.name == "Sunday early"


def test_admin_index_links_to_api_docs(client, superuser):
    client.force_login(superuser)
    content = client.get(reverse("admin:index")).content.decode()
    assert reverse("swagger-ui") in content
    assert reverse("schema") in content


def test_autocomplete_offers_only_the_plant_admins_work_centers(client, member, plant_p1, plant_p2):
    from tests.factories import WorkCenterFactory

    WorkCenterFactory(plant=plant_p1, code="P1-ASSY-01")
    WorkCenterFactory(plant=plant_p2, code="P2-ASSY-02")
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "plants",
            "model_name": "workcentermapping",
            "field_name": "work_center",
            "term": "ASSY",
        },
    )
    assert response.status_code == 200
    texts = [row["text"] for row in response.json()["results"]]
    assert len(texts) == 1
    assert texts[0].startswith("P1-ASSY-01")


def test_parameter_page_shows_only_the_viewers_plant_overrides(client, member, plant_p1, plant_p2):
    from plants.models import SiteParameter, SiteParameterOverride

    parameter = SiteParameter.objects.create(
        key="cycle_count.variance_pct",
        description="variance",
        value_type="decimal",
        default_value="2.0",
    )
    SiteParameterOverride.objects.create(
        parameter=parameter, plant=plant_p1, value="1.5", reason="tight at P1"
    )
    SiteParameterOverride.objects.create(
        parameter=parameter, plant=plant_p2, value="7.5", reason="loose at P2"
    )
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    content = client.get(_url(SiteParameter, "change", parameter.pk)).content.decode()
    assert "tight at P1" in content
    assert "loose at P2" not in content


def test_plant_admin_adds_a_system_for_own_plant_only_and_sees_a_shared_one_read_only(
    client, member, plant_p1, plant_p2
):
    from plants.models import ConnectedSystem
    from tests.factories import ConnectedSystemFactory

    shared = ConnectedSystemFactory(code="ERP-ALL", kind="erp")
    shared.plants.set([plant_p1, plant_p2])
    client.force_login(member(Role.PLANT_ADMIN, plant_p1))
    form = {
        "code": "QMS-P1",
        "name": "QMS",
        "kind": "qms",
        "plants": [plant_p1.pk],
        "active": "on",
        "transport": "rest",
        "auth_type": "none",
        "timeout_seconds": "10",
        "rate_limit_per_second": "50",
        "max_attempts": "8",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    }
    assert client.post(_url(ConnectedSystem, "add"), form).status_code == 302
    assert list(ConnectedSystem.objects.get(code="QMS-P1").plants.all()) == [plant_p1]
    tampered = client.post(
        _url(ConnectedSystem, "add"), {**form, "code": "QMS-X", "plants": [plant_p2.pk]}
    )
    assert tampered.status_code == 200  # P2 is not a choice: the form refuses it
    assert not ConnectedSystem.objects.filter(code="QMS-X").exists()
    page = client.get(_url(ConnectedSystem, "change", shared.pk))
    assert page.status_code == 200
    assert b'name="code"' not in page.content  # read-only: it serves P2 as well
