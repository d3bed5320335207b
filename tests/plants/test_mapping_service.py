import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from plants.choices import RoundingMode
from plants.models import ItemMapping
from plants.services.mapping import MappingMissing, convert_quantity, map_item, mapping_cache
from tests.factories import ItemFactory, ItemMappingFactory, UomFactory, UomMappingFactory

pytestmark = pytest.mark.django_db


def test_item_code_maps_to_canonical_item_on_the_day(plant_p1):
    old, new = ItemFactory(code="BRKT-100"), ItemFactory(code="BRKT-200")
    ItemMappingFactory(
        plant=plant_p1,
        plant_code="4711",
        item=old,
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 6, 1),
    )
    ItemMappingFactory(plant=plant_p1, plant_code="4711", item=new, valid_from=dt.date(2026, 6, 1))

    assert map_item(plant=plant_p1, code="4711", on=dt.date(2026, 5, 31)).item_code == "BRKT-100"
    assert map_item(plant=plant_p1, code="4711", on=dt.date(2026, 6, 1)).item_code == "BRKT-200"


def test_unmapped_code_is_a_typed_error_naming_plant_table_and_code(plant_p1):
    with pytest.raises(MappingMissing) as excinfo:
        map_item(plant=plant_p1, code="NOPE", on=dt.date(2026, 3, 1))
    err = excinfo.value
    assert (err.plant, err.table, err.unmapped_code, err.code) == (
        "P1",
        "item",
        "NOPE",
        "mapping_missing",
    )
    assert "P1" in err.message
    assert "'NOPE'" in err.message
    assert err.details[0].found == "NOPE"


def test_mapping_saved_after_a_miss_is_seen_without_restart(
    plant_p1, django_capture_on_commit_callbacks
):
    with pytest.raises(MappingMissing):
        map_item(plant=plant_p1, code="4711", on=dt.date(2026, 3, 1))
    with django_capture_on_commit_callbacks(execute=True):
        ItemMappingFactory(plant=plant_p1, plant_code="4711", item=ItemFactory(code="NEW"))
    assert map_item(plant=plant_p1, code="4711", on=dt.date(2026, 3, 1)).item_code == "NEW"


@pytest.mark.parametrize(
    ("factor", "places", "mode", "qty", "expected"),
    [
        ("12", 0, RoundingMode.HALF_UP, "3", "36"),  # box of 12 → EA
        ("0.45359237", 3, RoundingMode.HALF_UP, "10", "4.536"),  # LB → KG
        ("0.45359237", 2, RoundingMode.DOWN, "10", "4.53"),
        ("0.45359237", 2, RoundingMode.UP, "10", "4.54"),
        ("1", 0, RoundingMode.HALF_EVEN, "2.5", "2"),
        ("1", 0, RoundingMode.HALF_UP, "2.5", "3"),
    ],
)
def test_unit_conversion_rounds_as_configured(plant_p1, factor, places, mode, qty, expected):
    UomMappingFactory(
        plant=plant_p1,
        plant_code="X",
        uom=UomFactory(code="KG"),
        factor=Decimal(factor),
        decimal_places=places,
        rounding_mode=mode,
    )
    converted, uom = convert_quantity(plant=plant_p1, quantity=qty, uom="X", on=dt.date(2026, 2, 1))
    assert (converted, uom) == (Decimal(expected), "KG")


def test_overlapping_validity_is_refused_by_clean(plant_p1):
    ItemMappingFactory(plant=plant_p1, plant_code="4711", valid_from=dt.date(2026, 1, 1))
    clash = ItemMapping(
        plant=plant_p1, plant_code="4711", item=ItemFactory(), valid_from=dt.date(2026, 3, 1)
    )
    with pytest.raises(ValidationError) as excinfo:
        clash.full_clean()
    assert excinfo.value.error_dict["valid_from"][0].code == "overlapping_validity"


def test_adjacent_validity_is_allowed(plant_p1):
    ItemMappingFactory(
        plant=plant_p1,
        plant_code="4711",
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 3, 1),
    )
    ItemMapping(
        plant=plant_p1, plant_code="4711", item=ItemFactory(), valid_from=dt.date(2026, 3, 1)
    ).full_clean()


@pytest.mark.postgres
def test_postgres_refuses_overlap_even_without_clean(plant_p1):
    ItemMappingFactory(
        plant=plant_p1,
        plant_code="4711",
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 6, 1),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ItemMapping.objects.create(
            plant=plant_p1, plant_code="4711", item=ItemFactory(), valid_from=dt.date(2026, 5, 1)
        )


def test_snapshot_is_reused_between_lookups(plant_p1, django_assert_num_queries, settings):
    settings.INTERLOCK_MAPPING_CACHE_SECONDS = 60
    ItemMappingFactory(plant=plant_p1, plant_code="4711")
    mapping_cache.clear()
    map_item(plant=plant_p1, code="4711", on=dt.date(2026, 3, 1))
    with django_assert_num_queries(0):
        for _ in range(100):
            map_item(plant=plant_p1, code="4711", on=dt.date(2026, 3, 1))


def test_without_a_shared_cache_a_snapshot_expires_after_its_ttl(plant_p1, settings):
    """Local-memory caches are per process, so a generation counter kept there cannot
    tell other processes about a change: the snapshot must simply expire."""
    from plants.services.mapping import MappingCache

    settings.INTERLOCK_MAPPING_CACHE_SECONDS = 0
    assert MappingCache._shared() is False  # tests run on the local-memory cache
    mapping = ItemMappingFactory(plant=plant_p1, plant_code="4711", item=ItemFactory(code="OLD"))
    reader = MappingCache()
    assert reader.snapshot(plant_p1.pk, "item").find("4711", dt.date(2026, 3, 1)).item_code == "OLD"
    # Another process changes it (no signal reaches this cache object).
    type(mapping).objects.filter(pk=mapping.pk).update(item=ItemFactory(code="NEW"))
    assert reader.snapshot(plant_p1.pk, "item").find("4711", dt.date(2026, 3, 1)).item_code == "NEW"


def test_an_event_before_the_mappings_validity_is_told_which_validity_exists(plant_p1):
    ItemMappingFactory(plant=plant_p1, plant_code="4711", valid_from=dt.date(2026, 5, 10))
    with pytest.raises(MappingMissing) as excinfo:
        map_item(plant=plant_p1, code="4711", on=dt.date(2026, 5, 1))
    assert excinfo.value.windows == [(dt.date(2026, 5, 10), None)]
    assert "mapped only for 2026-05-10 → open" in excinfo.value.message


def test_a_new_mapping_is_valid_from_the_open_start_so_back_dated_events_map(plant_p1):
    mapping = ItemMapping(plant=plant_p1, plant_code="NEW", item=ItemFactory(code="X-1"))
    assert mapping.valid_from == dt.date(2000, 1, 1)
