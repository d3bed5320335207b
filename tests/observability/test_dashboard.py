"""The dashboard: scoped to the user's plants, every chart drawn and linked, and the same
number of queries with 100 or 100,000 events (it reads rollups, never the event log)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orchestrator.observability.services.rollups import rollups_run
from orchestrator.observability.services.samples import samples_record
from orchestrator.observability.services.sla import sla_evaluate
from plants.choices import Role
from tests.factories import ConnectedSystemFactory, PlantFactory, UserFactory, make_member
from tests.observability.helpers import insert_messages

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

URL = reverse("observability-dashboard")
CHARTS = ("throughput", "latency", "backlog", "oldest", "retries", "failed")


@pytest.fixture
def plants(db):
    p1, p2 = PlantFactory(code="P1"), PlantFactory(code="P2")
    mes1 = ConnectedSystemFactory(code="MES-P1")
    mes1.plants.set([p1])
    mes2 = ConnectedSystemFactory(code="MES-P2")
    mes2.plants.set([p2])
    return p1, p2, mes1, mes2


def _refresh(now):
    rollups_run(now=now + dt.timedelta(minutes=5))
    samples_record(now=now)
    sla_evaluate(now=now)


def _page(client, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, params)
    assert response.status_code == 200
    return response, len(queries)


def test_query_count_is_the_same_with_100_and_100000_events(client, plants):
    p1, _, mes1, _ = plants
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    now = timezone.now()
    start = now - dt.timedelta(hours=20)

    insert_messages(100, plant=p1, system=mes1, start=start, spread=dt.timedelta(hours=19))
    _refresh(now)
    small = {r: _page(client, range=r) for r in ("1h", "24h", "7d")}
    assert small["24h"][0].context["kpis"][0]["value"] == "100"

    insert_messages(99_900, plant=p1, system=mes1, start=start, spread=dt.timedelta(hours=19))
    _refresh(now)
    large = {r: _page(client, range=r) for r in ("1h", "24h", "7d")}
    assert large["24h"][0].context["kpis"][0]["value"] == "100k"
    assert large["7d"][0].context["kpis"][0]["value"] == "100k"
    assert large["24h"][0].context["kpis"][1]["value"] == "10k"  # every 10th quarantined

    for r in ("1h", "24h", "7d"):
        assert small[r][1] == large[r][1], f"range {r}: {small[r][1]} vs {large[r][1]} queries"
    assert large["24h"][1] <= 20


def test_every_chart_is_drawn_and_links_to_its_items(client, plants):
    p1, _, mes1, _ = plants
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    now = timezone.now()
    insert_messages(
        500, plant=p1, system=mes1, start=now - dt.timedelta(hours=3), spread=dt.timedelta(hours=2)
    )
    _refresh(now)
    response, _ = _page(client, range="24h")
    html = response.content.decode()
    for chart in CHARTS:
        assert f'id="chart-{chart}"' in html
    assert html.count('<svg class="ilk-chart"') == len(CHARTS)
    assert html.count('<rect class="bar"') > 0  # throughput bars were drawn
    inbound = reverse("admin:orchestrator_inboundmessage_changelist")
    assert f'href="{inbound}?status=quarantined"' in html
    # the links open admin lists that accept their filters
    for chart in response.context["charts"]:
        assert client.get(chart["href"]).status_code == 200, chart["href"]
    assert "lot_expired" in html  # the failed-validations reason table


def test_a_plant_admin_sees_only_their_plant(client, plants):
    p1, p2, mes1, mes2 = plants
    now = timezone.now()
    insert_messages(
        40, plant=p1, system=mes1, start=now - dt.timedelta(hours=2), spread=dt.timedelta(hours=1)
    )
    insert_messages(
        70, plant=p2, system=mes2, start=now - dt.timedelta(hours=2), spread=dt.timedelta(hours=1)
    )
    _refresh(now)
    client.force_login(make_member(Role.PLANT_ADMIN, p1))
    response, _ = _page(client, range="24h")
    assert response.context["plants"] == ["P1"]
    assert response.context["kpis"][0]["value"] == "40"
    assert [row["plant"] for row in response.context["sla_rows"]] == ["P1"]
    assert client.get(URL, {"plant": "P2"}).status_code == 403

    client.force_login(make_member(Role.OPERATOR, p2))
    response, _ = _page(client, range="24h", plant="P2")
    assert response.context["kpis"][0]["value"] == "70"


def test_people_without_a_plant_role_are_refused(client, db):
    client.force_login(UserFactory(is_staff=True))
    assert client.get(URL).status_code == 403
