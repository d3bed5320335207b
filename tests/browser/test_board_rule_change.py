"""The governance board's job, in the browser: author a rule change, check it, simulate it,
submit it; a second member approves it and publishes it as a canary to one plant; from
then on the behaviour changes at that plant only.

The change doubles the scrap-spike threshold (``scrap-spike`` pack). P1 alerts over 5 %,
P2 over 8 % (the demo's site parameters). A run with 5 scrap on 60 confirmed (8.3 %)
alerts at both plants before; after the canary at P1 it alerts only at P2.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import expect

from connectors.simulators.world import load_world
from orchestrator.models import Event, ScrapDeclaration
from plants.models import ConnectedSystem
from rules import services
from rules.choices import VersionState
from rules.models import Activation, RuleSetVersion
from tests.factories import issue_api_key

SPIKE = (
    'event.window_qty * 100.0 / order.confirmed_qty > double(plant["scrap.spike_threshold_pct"])'
)
TYPO = SPIKE.replace("order.confirmed_qty", "order.confirmd_qty")
DOUBLED = SPIKE.replace("> double(", "> 2.0 * double(")
#: The pack's "over the threshold alerts" test, moved over the doubled threshold.
OVER_OLD = "window_qty: 6.0}\n    context:\n      order: {number: WO-1001, confirmed_qty: 100.0}\n      plant: {scrap.spike_threshold_pct: 5.0}\n    expect: {actions: [threshold_alert"
OVER_NEW = OVER_OLD.replace("window_qty: 6.0}", "window_qty: 11.0}")


@pytest.fixture
def live_packs(demo_users):
    """The shipped packs published as the global default, as ``make demo`` does."""
    users = get_user_model().objects
    for path in services.rule_pack_paths():
        services.rule_pack_load(
            source=path.read_text(encoding="utf-8"),
            author=users.get(username="board1"),
            approver=users.get(username="board2"),
        )


class Plants:
    """Posts a short order run per plant through the REST API, in the plant's own codes."""

    def __init__(self, request_context, base_url: str) -> None:
        self.http, self.url = request_context, f"{base_url}/api/v1/events"
        self.world = load_world()
        self.keys = {
            code: issue_api_key(ConnectedSystem.objects.get(code=code))
            for code in ("ERP", "MES-P1", "MES-P2")
        }

    def post(self, system: str, plant: str, type_: str, payload: dict, at: dt.datetime) -> dict:
        envelope = {
            "source": system,
            "plant": plant,
            "type": type_,
            "occurred_at": at.isoformat(),
            "payload": payload,
        }
        response = self.http.post(
            self.url, data=envelope, headers={"Authorization": f"Api-Key {self.keys[system]}"}
        )
        assert response.status == 202, response.text()
        body = response.json()
        assert body["status"] == "accepted", body
        return body

    def scrap_run(self, plant: str, number: str, *, confirmed: int = 60, scrap: int = 5) -> Event:
        """Release, acknowledge, confirm, then declare scrap; returns the scrap event."""
        world = self.world[plant]
        product = world.products[0]
        revision = world.item_ref(product.item)[1] or "A"
        ops = [op for op, _ in product.routing]
        t = timezone.now() - dt.timedelta(minutes=5)
        mes = f"MES-{plant}"
        release = {
            "order": number,
            "item": product.item,
            "routing_revision": revision,
            "bom_revision": revision,
            "qty": 100,
            "uom": product.uom,
            "due_date": (t.date() + dt.timedelta(days=14)).isoformat(),
            "operations": [
                {"operation": op, "work_center": wc, "qty": 100} for op, wc in product.routing
            ],
        }
        self.post("ERP", plant, "production_order.released", release, t)
        ack = {"order": number, "routing_revision": revision, "bom_revision": revision}
        self.post(mes, plant, "production_order.acknowledged", ack, t + dt.timedelta(seconds=10))
        for i, (op, qty) in enumerate(((ops[0], 100), (ops[-1], confirmed))):
            confirmation = {
                "order": number,
                "operation": op,
                "sequence": 1,
                "qty": qty,
                "uom": product.uom,
            }
            self.post(
                mes, plant, "operation.confirmed", confirmation, t + dt.timedelta(seconds=20 + i)
            )
        body = self.post(
            mes,
            plant,
            "scrap.declared",
            {
                "order": number,
                "operation": ops[-1],
                "qty": scrap,
                "uom": product.uom,
                "reason": world.scrap_reasons[0],
            },
            t + dt.timedelta(seconds=40),
        )
        return Event.objects.get(pk=body["event_id"])


def alerts(event: Event) -> bool:
    return any(
        a["action"] == "threshold_alert"
        for ruleset in event.explanation.get("rulesets", [])
        for a in ruleset["actions"]
    )


def set_editor(page, text: str) -> None:
    # django-ace builds the editor on window "load": wait for it, then type as a paste.
    page.wait_for_function("() => document.querySelector('.django-ace-widget')?.editor")
    page.evaluate(
        "text => document.querySelector('.django-ace-widget').editor.setValue(text, -1)", text
    )


def said(page, text: str | re.Pattern) -> None:
    """The admin's message list says ``text``, on the page the last click led to: waited
    for, since the page before it has a message list of its own."""
    expect(page.locator("ul.messagelist")).to_contain_text(text)


def test_board_authors_simulates_and_canaries_a_threshold_change(
    live_server, live_packs, login, shot, context
):
    plants = Plants(context.request, live_server.url)
    before = plants.scrap_run("P1", "1000000901")
    assert alerts(before)  # 8.3 % > 5 %: the live rule alerts at P1 today
    # The board works through the afternoon: the first run's scrap leaves P1's sliding
    # window (scrap.spike_window, an hour) before the same run is made again below.
    ScrapDeclaration.objects.filter(order__number="1000000901").update(
        declared_at=F("declared_at") - dt.timedelta(hours=2)
    )
    published = RuleSetVersion.objects.get(ruleset__key="scrap-spike", state=VersionState.PUBLISHED)

    # --- board1: new draft from the published version, a typo first -----------------------
    page = login("board1")
    page.goto(f"{live_server.url}/admin/rules/rulesetversion/")
    page.get_by_role("link", name=str(published)).click()
    # The published document: read-only, highlighted and indented in the editor.
    page.locator(".field-document .ace_content").wait_for()
    assert page.locator(".field-document .ace_indent-guide").count() > 0
    page.get_by_role("button", name="New draft from this version").click()
    said(page, "created as a draft")
    draft = RuleSetVersion.objects.get(ruleset__key="scrap-spike", state=VersionState.DRAFT)
    assert draft.author.username == "board1"

    source = published.source
    assert SPIKE in source
    assert OVER_OLD in source
    set_editor(page, source.replace(SPIKE, TYPO))
    # Marked in the editor while typing: a gutter annotation and the problem listed.
    page.locator(".ace_gutter-cell.ace_error").first.wait_for()
    assert "confirmd_qty" in page.locator(".rules-problems").inner_text()
    page.get_by_role("button", name="Save and continue editing").click()
    # After the refused save, the error is marked in the editor again, at its line.
    page.locator(".ace_gutter-cell.ace_error").first.wait_for()
    assert page.locator(".rules-error-marker").count() >= 1
    typo_line = (
        source.replace(SPIKE, TYPO)
        .splitlines()
        .index(
            next(
                line for line in source.replace(SPIKE, TYPO).splitlines() if "confirmd_qty" in line
            )
        )
        + 1
    )
    assert f"line {typo_line}" in page.locator(".rules-problems").inner_text()
    shot(page, "board-1-cel-typo-marked-in-editor")
    draft.refresh_from_db()
    assert "confirmd_qty" not in draft.source  # nothing saved

    set_editor(page, source.replace(SPIKE, DOUBLED).replace(OVER_OLD, OVER_NEW))
    page.locator(".rules-problems.rules-ok").wait_for()
    page.get_by_role("button", name="Save and continue editing").click()
    said(page, "changed successfully")

    page.get_by_role("button", name="Run tests").click()
    said(page, "all 3 embedded tests pass")
    page.get_by_label("Plant to simulate at").select_option("P1")
    page.get_by_role("button", name="Simulate").click()
    said(page, re.compile(r"simulated at P1: 1 of \d+ events would change"))
    assert "-threshold_alert" in page.locator(".field-latest_simulation").inner_text()
    shot(page, "board-2-simulated")
    page.get_by_role("button", name="Submit for review").click()
    said(page, "submitted for review")

    # --- board2: approve with a comment, publish a canary to P1 ---------------------------
    context.clear_cookies()  # board1 leaves; board2 signs in on the same browser
    page = login("board2")
    page.goto(f"{live_server.url}/admin/rules/rulesetversion/{draft.pk}/change/")
    page.get_by_label("Review comment").fill("Doubling matches the press line's scrap study")
    page.get_by_role("button", name="Approve").click()
    said(page, "approved")
    page.locator("form.rules-publish").get_by_label("P1").check()
    page.get_by_role("button", name="Publish to chosen plants (canary)").click()
    said(page, "published at P1 (canary)")
    shot(page, "board-3-canary-published")
    live = {
        a.plant.code if a.plant else "all": a.version_id
        for a in Activation.objects.filter(ruleset__key="scrap-spike")
    }
    assert live == {"all": published.pk, "P1": draft.pk}

    # --- the same run now: no alert at P1, an alert at P2 ---------------------------------
    assert not alerts(plants.scrap_run("P1", "1000000902"))
    assert alerts(plants.scrap_run("P2", "WO-2-0902"))

    # --- the full report links the changed event; the rule set page rolls the canary back --
    page.goto(f"{live_server.url}/admin/rules/rulesetversion/{draft.pk}/change/")
    page.get_by_role("link", name=re.compile(r"Full report #\d+")).click()
    page.get_by_role("link", name=str(before.pk)).first.wait_for()
    shot(page, "board-4-simulation-report")
    page.goto(f"{live_server.url}/admin/rules/ruleset/")
    page.get_by_role("link", name="scrap-spike").click()
    page.get_by_label("Rollback reason for P1").fill("canary seen enough")
    page.get_by_role("button", name="Roll back P1").click()
    said(page, "at P1 is back on scrap-spike@1")
    shot(page, "board-5-rolled-back")
    assert not Activation.objects.filter(ruleset__key="scrap-spike", plant__code="P1").exists()
