"""CSV import/export of site mappings: all rows or none, every problem by row and column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from plants.choices import Role
from plants.models import ItemMapping, StatusMapping, UomMapping, WorkCenterMapping
from plants.services.mapping import map_item
from plants.services.mapping_io import mappings_export_csv, mappings_import_csv
from tests.factories import (
    ItemFactory,
    ItemMappingFactory,
    ItemRevisionFactory,
    UomFactory,
    UserFactory,
    WorkCenterFactory,
)

pytestmark = pytest.mark.django_db

HEADER = "plant,plant_code,item,revision,valid_from,valid_to,note\n"


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def items(db):
    item = ItemFactory(code="CMP-4711")
    ItemRevisionFactory(item=item, revision="A")
    return {"4711": item, "fg": ItemFactory(code="FG-1000")}


def _errors(result) -> set[tuple[int, str]]:
    return {(e.row, e.column) for e in result.errors}


def test_import_creates_mappings_that_the_mapping_service_then_uses(plant_p1, items, superuser):
    csv_text = HEADER + (
        "P1,000000000010004711,CMP-4711,A,2026-01-01,,SAP material\n"
        "P1,000000000010001000,FG-1000,,2026-01-01,2027-01-01,\n"
    )
    result = mappings_import_csv(table="item", file=csv_text.encode(), actor=superuser)

    assert result.ok, result.errors
    assert (result.rows, result.created, result.updated, result.unchanged) == (2, 2, 0, 0)
    ref = map_item(plant=plant_p1, code="000000000010004711", on=dt.date(2026, 3, 1))
    assert (ref.item_code, ref.revision) == ("CMP-4711", "A")
    mapping = ItemMapping.objects.get(plant_code="000000000010004711")
    assert mapping.note == "SAP material"
    assert mapping.history.get().history_user == superuser


def test_semicolons_bom_crlf_blank_lines_and_header_spelling_are_accepted(
    plant_p1, items, superuser
):
    csv_text = (
        "\ufeffPlant;Plant Code;Item;valid_from\r\n"
        "\r\n"
        "P1;4711;CMP-4711;2026-01-01\r\n"
        ";;;\r\n"
        'P1;"47;12";FG-1000;2026-01-01\r\n'
    )
    result = mappings_import_csv(table="item", file=csv_text.encode("utf-8"), actor=superuser)
    assert result.ok, result.errors
    assert set(ItemMapping.objects.values_list("plant_code", flat=True)) == {"4711", "47;12"}


def test_every_bad_row_is_reported_with_row_and_column_and_nothing_is_imported(
    plant_p1, items, superuser
):
    ItemMappingFactory(
        plant=plant_p1, plant_code="EXISTING", item=items["fg"], valid_from=dt.date(2026, 1, 1)
    )
    csv_text = HEADER + (
        "P1,GOOD,CMP-4711,A,2026-01-01,,\n"  # row 2: fine on its own
        "P9,X1,CMP-4711,,2026-01-01,,\n"  # row 3: unknown plant
        "P1,X2,NOPE,,2026-01-01,,\n"  # row 4: unknown item
        "P1,X3,CMP-4711,,01.02.2026,,\n"  # row 5: not ISO date
        "P1,X4,CMP-4711,,2026-05-01,2026-04-01,\n"  # row 6: ends before it starts
        "P1,EXISTING,CMP-4711,,2026-06-01,,\n"  # row 7: overlaps the mapping in the database
        "P1,X5,CMP-4711,Z,2026-01-01,,\n"  # row 8: no such revision
        "P1,,CMP-4711,,2026-01-01,,\n"  # row 9: plant code missing
        "P1,X6,CMP-4711,,,,\n"  # row 10: valid_from missing
        "P1,X7,CMP-4711,,2026-01-01,,note,surplus\n"  # row 11: more values than columns
    )
    result = mappings_import_csv(table="item", file=csv_text, actor=superuser)

    assert not result.ok
    assert _errors(result) == {
        (3, "plant"),
        (4, "item"),
        (5, "valid_from"),
        (6, "valid_to"),
        (7, "valid_from"),
        (8, "revision"),
        (9, "plant_code"),
        (10, "valid_from"),
        (11, ""),
    }
    by_row = {e.row: e for e in result.errors}
    assert by_row[3].value == "P9"
    assert "P9" in by_row[3].message
    assert by_row[5].value == "01.02.2026"
    assert "overlaps" in by_row[7].message
    assert result.created == 0
    assert list(ItemMapping.objects.values_list("plant_code", flat=True)) == ["EXISTING"]


def test_header_problems_are_reported_before_any_row(plant_p1, superuser):
    result = mappings_import_csv(
        table="item", file="plant,plant_code,colour,plant\nP1,X,red,P1\n", actor=superuser
    )
    assert _errors(result) == {(1, "colour"), (1, "plant"), (1, "item"), (1, "valid_from")}
    assert all(e.row == 1 for e in result.errors)


def test_overlap_within_the_file_is_a_row_error(plant_p1, items, superuser):
    csv_text = HEADER + (
        "P1,4711,CMP-4711,,2026-01-01,2026-07-01,\n"
        "P1,4711,FG-1000,,2026-06-01,2026-07-01,\n"  # overlaps June with row 2
        "P1,4711,FG-1000,,2026-07-01,,\n"  # would be fine after row 2 …
        "P1,4711,FG-1000,,2026-07-01,,\n"  # … but this one repeats its key
    )
    result = mappings_import_csv(table="item", file=csv_text, actor=superuser)
    assert _errors(result) == {(3, "valid_from"), (5, "valid_from")}
    assert "row 2" in result.errors[0].message
    assert not ItemMapping.objects.exists()


def test_plant_admin_importing_another_plants_row_imports_nothing(
    plant_p1, plant_p2, items, member
):
    p1_admin = member(Role.PLANT_ADMIN, plant_p1)
    csv_text = HEADER + "P1,4711,CMP-4711,,2026-01-01,,\nP2,BRKT-STD-A,CMP-4711,,2026-01-01,,\n"
    result = mappings_import_csv(table="item", file=csv_text, actor=p1_admin)
    assert _errors(result) == {(3, "plant")}
    assert "P2" in result.errors[0].message
    assert not ItemMapping.objects.exists()

    ok = mappings_import_csv(
        table="item", file=HEADER + "P1,4711,CMP-4711,,2026-01-01,,\n", actor=p1_admin
    )
    assert ok.ok, ok.errors
    assert ItemMapping.objects.get().plant == plant_p1


def test_people_without_a_plant_admin_role_cannot_import(plant_p1, items, member):
    operator = member(Role.OPERATOR, plant_p1)
    result = mappings_import_csv(
        table="item", file=HEADER + "P1,4711,CMP-4711,,2026-01-01,,\n", actor=operator
    )
    assert _errors(result) == {(2, "plant")}
    assert not ItemMapping.objects.exists()


def test_export_then_import_round_trips_every_table(plant_p1, items, superuser):
    kg = UomFactory(code="KG", dimension="mass")
    wc = WorkCenterFactory(plant=plant_p1, code="P1-ASSY-01")
    ItemMappingFactory(
        plant=plant_p1,
        plant_code="000000000010004711",
        item=items["4711"],
        revision="A",
        note="=cmd|' /C calc'!A0",
        valid_to=dt.date(2027, 1, 1),
    )
    UomMapping.objects.create(
        plant=plant_p1,
        plant_code="LB",
        uom=kg,
        factor=Decimal("0.45359237"),
        decimal_places=3,
        rounding_mode="ROUND_HALF_EVEN",
        valid_from=dt.date(2026, 1, 1),
    )
    WorkCenterMapping.objects.create(
        plant=plant_p1,
        plant_code="LINE_A",
        work_center=wc,
        valid_from=dt.date(2026, 1, 1),
        note="Linie A, Halle 2",
    )
    StatusMapping.objects.create(
        plant=plant_p1,
        domain="lot_status",
        plant_code="UNRE",
        canonical_status="available",
        valid_from=dt.date(2026, 1, 1),
    )
    models = {
        "item": ItemMapping,
        "uom": UomMapping,
        "work_center": WorkCenterMapping,
        "status": StatusMapping,
    }

    for table, model in models.items():
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        before = list(model.objects.values(*fields))
        exported = mappings_export_csv(table=table, queryset=model.objects.all())

        again = mappings_import_csv(table=table, file=exported, actor=superuser)
        assert again.ok, again.errors
        assert (again.created, again.updated, again.unchanged) == (0, 0, 1)

        model.objects.all().delete()
        restored = mappings_import_csv(table=table, file=exported, actor=superuser)
        assert restored.ok, restored.errors
        assert restored.created == 1
        assert list(model.objects.values(*fields)) == before, table

    exported = mappings_export_csv(table="item", queryset=ItemMapping.objects.all())
    assert "'=cmd" in exported  # a spreadsheet shows the formula as text, never runs it


def test_a_row_with_an_existing_key_updates_it_so_a_file_can_end_and_replace_a_mapping(
    plant_p1, items, superuser
):
    old = ItemMappingFactory(
        plant=plant_p1, plant_code="4711", item=items["4711"], valid_from=dt.date(2026, 1, 1)
    )
    csv_text = HEADER + (
        "P1,4711,FG-1000,,2026-09-01,,successor\n"  # listed first on purpose
        "P1,4711,CMP-4711,,2026-01-01,2026-09-01,ended\n"
    )
    result = mappings_import_csv(table="item", file=csv_text, actor=superuser)
    assert result.ok, result.errors
    assert (result.created, result.updated) == (1, 1)
    old.refresh_from_db()
    assert (old.valid_to, old.note) == (dt.date(2026, 9, 1), "ended")
    assert map_item(plant=plant_p1, code="4711", on=dt.date(2026, 9, 1)).item_code == "FG-1000"


def test_uom_and_status_values_are_checked(plant_p1, superuser):
    UomFactory(code="EA")
    uom_csv = (
        "plant,plant_code,uom,factor,decimal_places,rounding_mode,valid_from\n"
        "P1,BX12,EA,12,0,half_up,2026-01-01\n"
        "P1,PCS,EA,twelve,0,,2026-01-01\n"
        "P1,DZ,EA,-12,x,sideways,2026-01-01\n"
    )
    result = mappings_import_csv(table="uom", file=uom_csv, actor=superuser)
    assert _errors(result) == {(3, "factor"), (4, "decimal_places"), (4, "rounding_mode")}

    status_csv = (
        "plant,domain,plant_code,canonical_status,valid_from\n"
        "P1,lot_status,UNRE,available,2026-01-01\n"
        "P1,lot_colour,QUAL,inspection,2026-01-01\n"
        "P1,lot_status,BLOC,locked,2026-01-01\n"
    )
    result = mappings_import_csv(table="status", file=status_csv, actor=superuser)
    assert _errors(result) == {(3, "domain"), (4, "canonical_status")}
    assert not UomMapping.objects.exists()
    assert not StatusMapping.objects.exists()


def test_dry_run_validates_and_writes_nothing(plant_p1, items, superuser):
    result = mappings_import_csv(
        table="item",
        file=HEADER + "P1,4711,CMP-4711,,2026-01-01,,\n",
        actor=superuser,
        dry_run=True,
    )
    assert result.ok
    assert result.created == 1
    assert not ItemMapping.objects.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "binary"),
        (b"plant,plant_code\nP1,M\xfcller\n", "UTF-8"),
        (b"", "empty"),
        (b"\n\n", "empty"),
        (HEADER.encode(), "no rows"),
        (b"%PDF-1.7 this is not a table", "Unknown column"),
        (b"x" * 5000, "larger than"),
    ],
)
def test_files_that_are_not_usable_csv_get_a_clear_error(plant_p1, superuser, content, fragment):
    result = mappings_import_csv(table="item", file=content, actor=superuser, max_bytes=4096)
    assert not result.ok
    assert any(fragment in e.message for e in result.errors), result.errors
    assert not ItemMapping.objects.exists()
