"""The per-batch mapping memo (``normalize.BatchMappings``): the same answers and errors as
the mapping service, and never an answer from before a mapping change in a later batch."""

import datetime as dt
from decimal import Decimal

import pytest

from orchestrator.ingest.normalize import BatchMappings, map_payload
from orchestrator.ingest.pipeline import ingest_batch, principal_for
from orchestrator.ingest.specs import SPECS
from orchestrator.models import Event
from plants.models import UomMapping, WorkCenterMapping
from plants.services.mapping import MappingMissing, map_status, map_uom, map_work_center
from tests.factories import WorkCenterFactory
from tests.ingest.conftest import envelope

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 5, 10)


def _confirmation(sequence, **overrides):
    payload = {
        "order": "WO-1001",
        "operation": "0010",
        "sequence": sequence,
        "qty": 2,
        "scrap_qty": 1,
        "uom": "BX12",
        "work_center": "LINE_A",
    }
    payload.update(overrides)
    return payload


def test_answers_and_errors_are_the_mapping_services(world):
    p1 = world["p1"]
    mappings = BatchMappings()
    assert mappings.find(p1, "work_center", "LINE_A", "LINE_A", DAY, "x") == map_work_center(
        plant=p1, code="LINE_A", on=DAY
    )
    assert mappings.find(p1, "uom", "LB", "LB", DAY, "x") == map_uom(plant=p1, code="LB", on=DAY)
    assert mappings.find(p1, "status", "lot_status:QUAL", "QUAL", DAY, "x") == map_status(
        plant=p1, domain="lot_status", code="QUAL", on=DAY
    )
    # An unknown code, and a known one outside its validity (the windows it has are named).
    for day, code in ((DAY, "NOPE"), (dt.date(2025, 1, 1), "LINE_A")):
        with pytest.raises(MappingMissing) as ours:
            mappings.find(p1, "work_center", code, code, day, "payload.work_center")
        with pytest.raises(MappingMissing) as theirs:
            map_work_center(plant=p1, code=code, on=day, path="payload.work_center")
        assert ours.value.message == theirs.value.message
        assert ours.value.windows == theirs.value.windows
        assert ours.value.details == theirs.value.details


def test_quantities_convert_as_before_and_repeat_from_the_memo(world):
    p1, spec = world["p1"], SPECS["operation.confirmed"]
    mappings = BatchMappings()
    for qty in (2, 2, 2.5, 2.5, 0):
        canonical, reasons = map_payload(
            spec=spec, plant=p1, payload=_confirmation(1, qty=qty), day=DAY, mappings=mappings
        )
        expected = map_uom(plant=p1, code="BX12", on=DAY).convert(qty)
        assert reasons == []
        assert canonical["qty"] == expected
        assert type(canonical["qty"]) is (
            int if expected == expected.to_integral_value() else float
        )
        assert canonical["uom"] == "EA"


def test_a_later_batch_maps_with_the_changed_mapping(world, django_capture_on_commit_callbacks):
    """A work center remapped and a conversion factor changed between two batches: the
    second batch maps with the new rows (a memo kept across batches would not)."""
    principal = principal_for(world["mes"])
    payloads = [_confirmation(1), _confirmation(2)]
    [first] = ingest_batch(
        principal=principal, envelopes=[envelope("operation.confirmed", payloads[0])]
    )
    event = Event.objects.get(pk=first.event_id)
    assert (event.payload["work_center"], event.payload["qty"]) == ("P1-ASSY1", 24)

    with django_capture_on_commit_callbacks(execute=True):
        WorkCenterMapping.objects.filter(plant=world["p1"], plant_code="LINE_A").get().delete()
        WorkCenterMapping.objects.create(
            plant=world["p1"],
            plant_code="LINE_A",
            work_center=WorkCenterFactory(plant=world["p1"], code="P1-ASSY9"),
            valid_from=dt.date(2026, 1, 1),
        )
        uom = UomMapping.objects.get(plant=world["p1"], plant_code="BX12")
        uom.factor = Decimal(10)
        uom.save()

    [second] = ingest_batch(
        principal=principal, envelopes=[envelope("operation.confirmed", payloads[1])]
    )
    event = Event.objects.get(pk=second.event_id)
    assert (event.payload["work_center"], event.payload["qty"]) == ("P1-ASSY9", 20)


def test_a_mapping_removed_between_batches_quarantines_the_next(
    world, django_capture_on_commit_callbacks
):
    principal = principal_for(world["mes"])
    [first] = ingest_batch(
        principal=principal, envelopes=[envelope("operation.confirmed", _confirmation(1))]
    )
    assert first.status != "quarantined" or first.reasons[0]["code"] != "mapping_missing"
    with django_capture_on_commit_callbacks(execute=True):
        WorkCenterMapping.objects.filter(plant=world["p1"], plant_code="LINE_A").delete()
    [second] = ingest_batch(
        principal=principal, envelopes=[envelope("operation.confirmed", _confirmation(2))]
    )
    assert second.status == "quarantined"
    assert [(r["code"], r["path"], r["found"]) for r in second.reasons] == [
        ("mapping_missing", "payload.work_center", "LINE_A")
    ]
