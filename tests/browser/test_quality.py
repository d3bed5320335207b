"""The quality lead takes failed inspections to each of the four dispositions, in the
browser (issue 8, items 4 and 9)."""

from __future__ import annotations

import re

import pytest

from orchestrator.models import Inspection, Nonconformance, OutboxMessage, ProductionOrder
from tests.browser.demo_flow import run_order

#: disposition → the order's state and what the page says was done.
EXPECTED = {
    "use_as_is": ("quality_pending", "goods-receipt gate"),
    "rework": ("in_process", "rework operation"),
    "scrap": ("closed", "scrap of"),
    "return_to_supplier": ("closed", "supplier case"),
}


@pytest.mark.timeout(300)
def test_quality_lead_takes_a_failed_inspection_to_each_disposition(login, shot):
    orders = {d: run_order(f"WO-Q{n}", result="R") for n, d in enumerate(EXPECTED, 1)}
    assert {o.number: ProductionOrder.objects.get(pk=o.pk).state for o in orders.values()} == {
        o.number: "quality_pending" for o in orders.values()
    }
    page = login("quality")
    for disposition, order in orders.items():
        inspection = Inspection.objects.get(number=f"INS-{order.number}")
        assert inspection.state == "failed"
        page.goto(
            page.url.split("/admin/")[0] + f"/admin/orchestrator/inspection/{inspection.pk}/change/"
        )
        page.get_by_role("link", name="Decide disposition…").click()
        if disposition == "use_as_is":
            shot(page, "quality-disposition-form")
        page.locator(f"input[name=disposition][value={disposition}]").check()
        page.fill("#id_reason", f"{disposition.replace('_', ' ')}: checked by the quality lead")
        page.get_by_role("button", name="Decide").click()
        state, said = EXPECTED[disposition]
        success = page.locator(".messagelist .success")
        assert re.search(said, success.inner_text(), re.I), success.inner_text()
        shot(page, f"quality-{disposition}")
        order.refresh_from_db()
        assert order.state == state
        assert Nonconformance.objects.get(order=order).state == "closed"
    # use as is: the receipt went to the ERP; scrap: the scrap did.
    assert OutboxMessage.objects.filter(
        message_type="goods_receipt", payload__order=orders["use_as_is"].number
    ).exists()
    assert OutboxMessage.objects.filter(
        message_type="scrap", payload__order=orders["scrap"].number
    ).exists()
    # The order page of the reworked order shows its new operation and says why the
    # remaining transitions do not apply.
    reworked = orders["rework"]
    page.goto(
        page.url.split("/admin/")[0] + f"/admin/orchestrator/productionorder/{reworked.pk}/change/"
    )
    assert page.locator(".related-objects").get_by_text("9010").count() == 1
    shot(page, "quality-reworked-order")
