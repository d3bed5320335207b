"""A task reads the same everywhere: one formatter (``orchestrator.selectors_tasks``) gives
its links to "My tasks", the task page and the task API, and its details as rows a
person reads (a list of records as a table, never a Python dict)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from orchestrator.models import Exposure, Gate, Task
from orchestrator.selectors_tasks import task_detail_rows, task_links
from orchestrator.services.tasks import open_task
from plants.choices import Role
from tests.factories import make_member
from tests.ingest.test_task_inbox import flow

__all__ = ["flow"]
pytestmark = pytest.mark.django_db


def _hrefs(html: str, task: Task) -> list[tuple[str, str, str]]:
    """``(rel, label, url)`` of the links in the task's row of My tasks."""
    row = re.search(rf'<tr class="task-row" data-task="{task.pk}">.*?</tr>', html, re.S)
    assert row is not None, html
    return re.findall(r'<a href="([^"]+)" data-rel="([^"]+)">([^<]+)</a>', row.group(0))


def test_links_say_what_a_task_is_about_and_where_it_came_from(flow):
    task = Task.objects.select_related("order", "lot", "event").get(role="planning")
    links = task_links(task)
    assert [(link.rel, link.label) for link in links] == [  # before any exposure exists
        ("order", "order WO-1001"),
        ("lot", "lot FG-WO-1001"),
        ("event", "event"),
        ("trace", "trace"),
    ]
    assert links[0].url == f"/admin/orchestrator/productionorder/{task.order_id}/change/"
    assert links[1].url == f"/admin/orchestrator/lot/{task.lot_id}/change/"
    assert links[2].url == f"/admin/orchestrator/event/{task.event_id}/change/"
    assert links[3].url == f"/admin/orchestrator/inboundmessage/trace/{task.correlation_id}/"

    exposure = Exposure.objects.create(
        plant=flow["p1"],
        kind="line_stoppage",
        title="P1-PRESS-01 stopped",
        since=timezone.now(),
        event=task.event,
        correlation_id=task.correlation_id,
        created_at=timezone.now(),
    )
    [exposed] = [link for link in task_links(task) if link.rel == "exposure"]
    assert exposed.url == f"/admin/orchestrator/exposure/{exposure.pk}/change/"

    gate = Gate.objects.first()
    about_gate = open_task(
        plant=flow["p1"], role="planning", kind="review", title="gate", subject=gate
    )
    [subject] = [link for link in task_links(about_gate) if link.rel == "subject"]
    assert (subject.label, subject.url) == ("gate", f"/admin/orchestrator/gate/{gate.pk}/change/")


def test_my_tasks_page_and_api_show_the_same_links(flow, client, api_client):
    planner = make_member(Role.PLANNING, flow["p1"], username="planner")
    planner.is_staff = True
    planner.save()
    task = Task.objects.get(role="planning")
    expected = [(link.url, link.rel, link.label) for link in task_links(task)]
    assert expected

    client.force_login(planner)
    assert _hrefs(client.get("/admin/orchestrator/task/mine/").content.decode(), task) == expected
    page = client.get(f"/admin/orchestrator/task/{task.pk}/change/").content.decode()
    # The card and its buttons sit before the admin's form: a form nested in it would
    # submit the change form (a 403) instead of claiming.
    assert page.index('id="task-card"') < page.index('id="task_form"')
    card = page.split('id="task-card"', 1)[1]
    for url, rel, label in expected:
        assert f'<a href="{url}" data-rel="{rel}">{label}</a>' in card

    api_client.force_authenticate(planner)
    [mine] = api_client.get("/api/v1/tasks/mine").json()
    assert [(link["url"], link["rel"], link["label"]) for link in mine["links"]] == [
        (f"http://testserver{url}", rel, label) for url, rel, label in expected
    ]
    claimed = api_client.post(f"/api/v1/tasks/{task.pk}/claim").json()
    assert claimed["links"] == mine["links"]


def test_details_read_as_rows_and_tables(db):
    rows = task_detail_rows(
        {
            "atp_update": "ATP-1",
            "backorders": [
                {"backorder": "BO-1", "customer": "ACME", "qty": "5"},
                {"backorder": "BO-2", "customer": "BIG", "note": None},
            ],
            "window": {"line": "P1-PRESS-01", "qty": 7},
            "started_at": "2026-11-30T09:10:56.126065+00:00",
            "exposure_url": "/admin/orchestrator/exposure/3/change/",
            "exposure": 999999,
            "lines": ["P1-PRESS-01", "P3-ASSY-01"],
            "critical": True,
            "empty": "",
        }
    )
    by_label = {row.label: row for row in rows}
    assert list(by_label) == [
        "atp update",
        "backorders",
        "window",
        "started at",
        "exposure url",
        "exposure",
        "lines",
        "critical",
        "empty",
    ]
    assert by_label["atp update"].value == "ATP-1"
    table = by_label["backorders"]
    assert table.columns == ("backorder", "customer", "qty", "note")
    assert table.rows == (("BO-1", "ACME", "5", "—"), ("BO-2", "BIG", "—", "—"))
    assert (by_label["window"].columns, by_label["window"].rows) == (
        ("line", "qty"),
        (("P1-PRESS-01", "7"),),
    )
    assert by_label["started at"].value == "2026-11-30 09:10"  # TIME_ZONE is UTC
    assert (by_label["exposure url"].value, by_label["exposure url"].url) == (
        "open",
        "/admin/orchestrator/exposure/3/change/",
    )
    assert (by_label["exposure"].value, by_label["exposure"].url) == ("exposure 999999 (gone)", "")
    assert by_label["lines"].value == "P1-PRESS-01, P3-ASSY-01"
    assert (by_label["critical"].value, by_label["empty"].value) == ("yes", "—")
    assert task_detail_rows(None) == []
