"""CSV import/export buttons of the mapping change lists."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from plants.choices import Role
from plants.models import ItemMapping
from tests.factories import ItemFactory, ItemMappingFactory

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:plants_itemmapping_import_csv")
EXPORT = reverse("admin:plants_itemmapping_export_csv")
CHANGELIST = reverse("admin:plants_itemmapping_changelist")


def _upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("items.csv", text.encode("utf-8"), content_type="text/csv")


@pytest.fixture
def p1_admin(member, plant_p1, plant_p2):
    ItemFactory(code="CMP-4711")
    return member(Role.PLANT_ADMIN, plant_p1)


def test_changelist_offers_import_and_export(client, p1_admin):
    client.force_login(p1_admin)
    content = client.get(CHANGELIST).content.decode()
    assert IMPORT in content
    assert EXPORT in content


def test_upload_imports_and_reports_counts(client, p1_admin):
    client.force_login(p1_admin)
    csv_text = "plant,plant_code,item,valid_from\nP1,4711,CMP-4711,2026-01-01\n"
    response = client.post(IMPORT, {"file": _upload(csv_text)}, follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "1 were created" in response.content.decode()
    assert ItemMapping.objects.get().plant_code == "4711"


def test_upload_with_errors_shows_the_error_table_and_imports_nothing(client, p1_admin):
    client.force_login(p1_admin)
    response = client.post(
        IMPORT,
        {
            "file": _upload(
                "plant,plant_code,item,valid_from\nP1,4711,CMP-4711,2026-01-01\n"
                "P2,BRKT-STD-A,CMP-4711,2026-01-01\nP1,9,NOPE,2026-13-01\n"
            )
        },
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="import-errors"' in content
    assert "Nothing was imported: 3 problems" in content
    assert "<td>3</td><td>plant</td>" in content
    assert "<td>4</td><td>item</td>" in content
    assert "<td>4</td><td>valid_from</td>" in content
    assert not ItemMapping.objects.exists()


def test_garbage_upload_is_a_clear_error_not_a_500(client, p1_admin):
    client.force_login(p1_admin)
    response = client.post(IMPORT, {"file": SimpleUploadedFile("x.xlsx", b"PK\x03\x04\x00\x00")})
    assert response.status_code == 400
    assert "binary file" in response.content.decode()


def test_people_who_may_not_add_mappings_cannot_open_the_import(client, member, plant_p1):
    client.force_login(member(Role.AUDITOR))
    assert client.get(IMPORT).status_code == 403
    assert client.get(EXPORT).status_code == 200  # auditors read everything


def test_export_is_the_scoped_filtered_changelist(client, p1_admin, plant_p1, plant_p2):
    item = ItemFactory(code="CMP-4711")
    ItemMappingFactory(plant=plant_p1, plant_code="P1-A", item=item)
    ItemMappingFactory(plant=plant_p1, plant_code="P1-B", item=item, note="second")
    ItemMappingFactory(plant=plant_p2, plant_code="P2-A", item=item)
    client.force_login(p1_admin)

    response = client.get(EXPORT)
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8-sig")
    assert body.startswith("plant,plant_code,item,revision,valid_from,valid_to,note")
    assert "P1-A" in body
    assert "P1-B" in body
    assert "P2-A" not in body

    searched = client.get(EXPORT + "?q=second").content.decode("utf-8-sig")
    assert "P1-B" in searched
    assert "P1-A" not in searched


def test_export_selected_action(client, p1_admin, plant_p1):
    item = ItemFactory(code="CMP-4711")
    chosen = ItemMappingFactory(plant=plant_p1, plant_code="CHOSEN", item=item)
    ItemMappingFactory(plant=plant_p1, plant_code="OTHER", item=item)
    client.force_login(p1_admin)
    response = client.post(
        CHANGELIST,
        {"action": "export_selected_csv", admin.helpers.ACTION_CHECKBOX_NAME: [chosen.pk]},
    )
    body = response.content.decode("utf-8-sig")
    assert "CHOSEN" in body
    assert "OTHER" not in body
