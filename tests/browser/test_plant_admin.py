"""p1-admin edits and imports P1's mappings in the browser (issue 8, item 9); P2's are not
theirs to change."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from plants.models import ItemMapping, Plant


@pytest.mark.timeout(300)
def test_p1_admin_edits_and_imports_p1_mappings(login, shot, tmp_path):
    page = login("p1-admin")
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/plants/itemmapping/")
    # Only P1's mappings are listed for P1's admin.
    rows = page.locator("#result_list tbody tr")
    expect(rows.first).to_be_visible()
    assert all("P1" in text for text in rows.locator("td.field-plant").all_inner_texts())

    # Edit one: a note on the CMP-4711 mapping.
    mapping = ItemMapping.objects.get(plant__code="P1", plant_code="000000000010004711")
    page.goto(f"{base}/admin/plants/itemmapping/{mapping.pk}/change/")
    page.fill("#id_note", "Laser-cut brackets since ECN-2201")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    mapping.refresh_from_db()
    assert mapping.note == "Laser-cut brackets since ECN-2201"
    shot(page, "plant-admin-edited")

    # Import a CSV: one bad row first (nothing is imported), then the fixed file.
    page.get_by_role("link", name="Import CSV").click()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "plant,plant_code,item,valid_from\n"
        "P1,000000000010005555,CMP-3002,2026-02-01\n"
        "P2,FK-M8,CMP-3002,2026-02-01\n"
    )
    page.set_input_files("input[type=file]", str(bad))
    page.locator("input[type=submit]").click()
    expect(page.locator("#import-errors")).to_contain_text("P2")
    shot(page, "plant-admin-import-errors")
    assert not ItemMapping.objects.filter(plant_code="000000000010005555").exists()

    good = tmp_path / "good.csv"
    good.write_text("plant,plant_code,item,valid_from\nP1,000000000010005555,CMP-3002,2026-02-01\n")
    page.set_input_files("input[type=file]", str(good))
    page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("1 were created")
    shot(page, "plant-admin-imported")
    imported = ItemMapping.objects.get(plant_code="000000000010005555")
    assert imported.plant == Plant.objects.get(code="P1")
    assert imported.item.code == "CMP-3002"
