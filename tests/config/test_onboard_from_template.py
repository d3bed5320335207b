"""Onboarding from a template plant: a dry-run diff first, then the copy (never secrets)."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from plants.choices import Role, StatusDomain
from plants.models import (
    ApiKey,
    ConnectedSystem,
    ItemMapping,
    ReleaseWindow,
    SiteParameter,
    SiteParameterOverride,
    StatusMapping,
    WorkCenter,
    WorkCenterMapping,
)
from tests.factories import (
    ConnectedSystemFactory,
    ItemMappingFactory,
    PlantFactory,
    WorkCenterFactory,
    WorkCenterMappingFactory,
    issue_api_key,
    make_member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(plant_p1):
    ItemMappingFactory(plant=plant_p1, plant_code="000010004711", valid_from=dt.date(2024, 1, 1))
    WorkCenterMappingFactory(
        plant=plant_p1,
        plant_code="LINE_A",
        work_center=WorkCenterFactory(plant=plant_p1, code="P1-ASSY1", constrained=True),
    )
    StatusMapping.objects.create(
        plant=plant_p1,
        domain=StatusDomain.LOT_STATUS,
        plant_code="UNRE",
        canonical_status="available",
        valid_from=dt.date(2024, 1, 1),
    )
    parameter = SiteParameter.objects.get(key="completion.threshold_pct")
    SiteParameterOverride.objects.create(parameter=parameter, plant=plant_p1, value="95")
    mes = ConnectedSystemFactory(
        code="MES-P1", kind="mes", auth_type="bearer", credential_env="MES_P1_TOKEN"
    )
    mes.plants.set([plant_p1])
    issue_api_key(mes)
    erp = ConnectedSystemFactory(code="ERP", kind="erp")
    erp.plants.set([plant_p1, PlantFactory(code="P2")])
    ReleaseWindow.objects.create(
        plant=plant_p1, name="Sunday", weekday=6, start_time=dt.time(6), end_time=dt.time(10)
    )
    return plant_p1


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_dry_run_shows_the_diff_and_writes_nothing_then_the_copy_matches_it(template):
    target = PlantFactory(code="P9")
    # A target that already has one of the codes, differently: a conflict, left alone.
    ItemMappingFactory(plant=target, plant_code="000010004711", valid_from=dt.date(2025, 1, 1))
    superuser = make_member(Role.GOVERNANCE_BOARD, username="root")
    superuser.is_superuser = True
    superuser.save()
    client = client_for(superuser)

    dry = client.post("/api/v1/plants/P9/onboard", {"template": "P1"}, format="json")
    assert dry.status_code == 200, dry.content
    diff = dry.json()
    assert diff["dry_run"] is True
    changes = {(c["table"], c["key"]): c for c in diff["changes"]}
    assert changes[("work_center", "P9-ASSY1")]["action"] == "create"
    assert changes[("work_center", "LINE_A@2026-01-01")]["values"]["work_center"] == "P9-ASSY1"
    conflict = changes[("item", "000010004711@2024-01-01")]
    assert conflict["action"] == "conflict"
    assert "2025-01-01" in conflict["note"]
    system = changes[("system", "MES-P9")]
    assert system["values"]["credential_env"] == "MES_P9_TOKEN"
    assert "no API keys" in system["note"]
    assert changes[("system", "ERP")]["action"] == "join"  # one company ERP, not a copy
    assert not WorkCenter.objects.filter(plant=target).exists()

    applied = client.post(
        "/api/v1/plants/P9/onboard", {"template": "P1", "dry_run": False}, format="json"
    )
    assert applied.status_code == 200, applied.content
    assert applied.json()["counts"] == diff["counts"]
    wc = WorkCenter.objects.get(code="P9-ASSY1")
    assert (wc.plant, wc.constrained) == (target, True)
    assert WorkCenterMapping.objects.get(plant=target, plant_code="LINE_A").work_center == wc
    assert StatusMapping.objects.filter(plant=target, plant_code="UNRE").exists()
    assert ItemMapping.objects.get(plant=target).valid_from == dt.date(2025, 1, 1)  # untouched
    assert SiteParameterOverride.objects.get(plant=target).value == "95"
    copied = ConnectedSystem.objects.get(code="MES-P9")
    assert list(copied.plants.all()) == [target]
    assert not ApiKey.objects.filter(system=copied).exists()  # secrets are never copied
    assert ReleaseWindow.objects.filter(plant=target, name="Sunday").exists()
    erp = ConnectedSystem.objects.get(code="ERP")
    assert sorted(erp.plants.values_list("code", flat=True)) == ["P1", "P2", "P9"]

    again = client.post(
        "/api/v1/plants/P9/onboard", {"template": "P1", "dry_run": False}, format="json"
    )
    assert "create" not in again.json()["counts"]  # a second run changes nothing


def test_plant_admin_of_the_target_cannot_read_another_plants_template(template):
    target = PlantFactory(code="P9")
    admin = make_member(Role.PLANT_ADMIN, target, username="p9-admin")
    response = client_for(admin).post(
        "/api/v1/plants/P9/onboard", {"template": "P1"}, format="json"
    )
    assert response.status_code == 403
    assert "plants.view_plant at plant P1" in response.json()["message"]
