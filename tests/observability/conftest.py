"""Fixtures of the observability tests: the ingest world, a poster, metric parsing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.ingest.conftest import post, world  # noqa: F401 - fixtures used by these tests


@pytest.fixture
def later():
    """A moment past the rollup's settle time: every row written so far has settled."""
    return timezone.now() + dt.timedelta(minutes=5)


def scrape(client) -> dict[tuple[str, tuple], float]:
    """GET /metrics → {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def pick(values: dict, name: str, **labels) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in values.items() if n == name and want <= set(ls))


@pytest.fixture
def sla_parameters(db):
    """The SLA site parameters as migration 0002 creates them (a transactional test run
    earlier in the session may have flushed migration data)."""
    import importlib

    from plants.models import SiteParameter

    migration = importlib.import_module(
        "orchestrator.observability.migrations.0002_sla_site_parameters"
    )
    for row in migration.PARAMETERS:
        row = dict(row)
        SiteParameter.objects.get_or_create(
            key=row.pop("key"),
            defaults={**row, "value_type": "duration", "unit": "s", "minimum": 1},
        )
