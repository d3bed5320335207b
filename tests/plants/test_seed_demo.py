"""``manage.py seed_demo``: three plants that really differ, loaded idempotently."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from plants.choices import Role
from plants.models import ConnectedSystem, ItemMapping, Membership, Plant
from plants.selectors import next_release_window, site_parameter
from plants.services.mapping import convert_quantity, map_item, map_status, map_work_center

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 2)


@pytest.fixture
def seeded(settings):
    # Demo passwords are hashed on creation; the fast hasher keeps the suite quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=StringIO())
    return {p.code: p for p in Plant.objects.all()}


def _history_rows() -> int:
    return sum(
        m.objects.count()
        for m in apps.get_app_config("plants").get_models()
        if m.__name__.startswith("Historical")
    )


def test_rerunning_the_seed_changes_nothing(seeded):
    history_before = _history_rows()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "0 created, 0 updated" in out.getvalue()
    assert _history_rows() == history_before


def test_the_seed_puts_back_what_was_changed_and_leaves_other_rows_alone(seeded):
    mapping = ItemMapping.objects.get(plant__code="P2", plant_code="BRKT-STD-A")
    mapping.note = "edited by hand"
    mapping.save()
    extra = ItemMapping.objects.create(
        plant=seeded["P2"],
        plant_code="LOCAL-ONLY",
        item=mapping.item,
        valid_from=dt.date(2026, 1, 1),
    )
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "0 created, 1 updated" in out.getvalue()
    mapping.refresh_from_db()
    assert mapping.note == ""
    assert ItemMapping.objects.filter(pk=extra.pk).exists()


def test_three_plants_with_their_own_time_zones(seeded):
    assert {code: p.timezone for code, p in seeded.items()} == {
        "P1": "Europe/Berlin",
        "P2": "America/Chicago",
        "P3": "Europe/Warsaw",
    }
    assert len({p.profile for p in seeded.values()}) == 3


def test_different_plant_codes_map_to_the_same_canonical_item(seeded):
    codes = {"P1": "000000000010004711", "P2": "BRKT-STD-A", "P3": "P3-4711"}
    refs = {
        plant: map_item(plant=seeded[plant], code=code, on=DAY) for plant, code in codes.items()
    }
    assert {ref.item_code for ref in refs.values()} == {"CMP-4711"}
    assert refs["P1"].revision == "B"
    assert refs["P2"].revision == "A"


def test_p1_changes_revision_on_an_engineering_change(seeded):
    code = "000000000010001000"
    assert map_item(plant=seeded["P1"], code=code, on=dt.date(2026, 9, 30)).revision == "A"
    assert map_item(plant=seeded["P1"], code=code, on=dt.date(2026, 10, 1)).revision == "B"


def test_units_differ_and_convert(seeded):
    assert convert_quantity(plant=seeded["P1"], quantity="24", uom="EA", on=DAY) == (
        Decimal(24),
        "EA",
    )
    assert convert_quantity(plant=seeded["P2"], quantity="24", uom="PCS", on=DAY) == (
        Decimal(24),
        "EA",
    )
    assert convert_quantity(plant=seeded["P3"], quantity="2", uom="BX12", on=DAY) == (
        Decimal(24),
        "EA",
    )
    assert convert_quantity(plant=seeded["P2"], quantity="10", uom="LB", on=DAY) == (
        Decimal("4.536"),
        "KG",
    )


def test_work_center_names_and_status_codes_differ_per_plant(seeded):
    assert map_work_center(plant=seeded["P1"], code="LINE_A", on=DAY).code == "P1-ASSY-01"
    assert map_work_center(plant=seeded["P2"], code="Assembly Cell 2", on=DAY).code == "P2-ASSY-02"
    assert map_work_center(plant=seeded["P3"], code="MONT-01", on=DAY).code == "P3-ASSY-01"
    blocked = {"P1": "BLOC", "P2": "HOLD", "P3": "S"}
    for plant, code in blocked.items():
        assert map_status(plant=seeded[plant], domain="lot_status", code=code, on=DAY) == "blocked"
    assert map_status(plant=seeded["P1"], domain="lot_status", code="UNRE", on=DAY) == "available"
    assert map_status(plant=seeded["P2"], domain="lot_status", code="QC", on=DAY) == "inspection"


def test_parameters_have_defaults_and_plant_overrides(seeded):
    assert site_parameter(key="cycle_count.variance_pct") == Decimal("2.0")
    assert site_parameter(key="cycle_count.variance_pct", plant=seeded["P1"]) == Decimal("1.0")
    assert site_parameter(key="cycle_count.variance_pct", plant=seeded["P2"]) == Decimal("2.0")
    assert site_parameter(key="scrap.spike_window", plant=seeded["P1"]) == dt.timedelta(minutes=30)
    for key in ("scrap.spike_threshold_pct", "sequencing.park_timeout", "completion.threshold_pct"):
        site_parameter(key=key)


def test_every_plant_has_release_windows(seeded):
    after = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
    for plant in seeded.values():
        assert next_release_window(plant=plant, after=after) is not None


def test_systems_one_erp_for_all_plants_and_mes_per_plant(seeded):
    erp = ConnectedSystem.objects.get(code="ERP")
    assert set(erp.plants.values_list("code", flat=True)) == {"P1", "P2", "P3"}
    for code in ("P1", "P2", "P3"):
        mes = ConnectedSystem.objects.get(code=f"MES-{code}")
        assert list(mes.plants.values_list("code", flat=True)) == [code]
        assert mes.base_url.startswith("http://127.0.0.1:")


def test_demo_users_for_every_role_log_in_with_the_demo_password(seeded, settings):
    for username in (
        "admin",
        "board1",
        "board2",
        "p1-admin",
        "p2-admin",
        "p3-admin",
        "operator",
        "quality",
        "auditor",
    ):
        user = authenticate(username=username, password=settings.INTERLOCK_DEMO_PASSWORD)
        assert user is not None, username
        assert user.is_staff
    assert get_user_model().objects.get(username="admin").is_superuser
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == set(Role.values)
    board = Membership.objects.filter(role=Role.GOVERNANCE_BOARD, plant__isnull=True)
    assert board.count() == 2  # four eyes: author and approver are different people
    p1_admin = get_user_model().objects.get(username="p1-admin")
    assert p1_admin.has_perm(
        "plants.change_itemmapping", ItemMapping.objects.filter(plant__code="P1").first()
    )
    assert not p1_admin.has_perm(
        "plants.change_itemmapping", ItemMapping.objects.filter(plant__code="P2").first()
    )
