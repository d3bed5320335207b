"""The plant-scoping matrix: each role × own plant / other plant × read / write,
checked through the permission backend, the REST API and the admin."""

import pytest

from plants.choices import Role
from tests.factories import ItemMappingFactory

pytestmark = pytest.mark.django_db

# role → (may read own plant, may read other plant, may write own plant, may write other plant)
# Own plant is P1: plant roles are members of P1; company-wide roles have no plant.
MATRIX = {
    Role.GOVERNANCE_BOARD: (True, True, False, False),
    Role.PLANT_ADMIN: (True, False, True, False),
    Role.OPERATOR: (True, False, False, False),
    Role.QUALITY_LEAD: (True, False, False, False),
    Role.AUDITOR: (True, True, False, False),
}
GLOBAL = {Role.GOVERNANCE_BOARD, Role.AUDITOR}


@pytest.fixture
def world(plant_p1, plant_p2, member):
    own = ItemMappingFactory(plant=plant_p1, plant_code="OWN")
    other = ItemMappingFactory(plant=plant_p2, plant_code="OTHER")

    def user_for(role):
        return member(role, None if role in GLOBAL else plant_p1)

    return own, other, user_for


@pytest.mark.parametrize("role", list(MATRIX))
def test_backend_matrix(world, role):
    own, other, user_for = world
    user = user_for(role)
    read_own, read_other, write_own, write_other = MATRIX[role]
    assert user.has_perm("plants.view_itemmapping", own) is read_own
    assert user.has_perm("plants.view_itemmapping", other) is read_other
    assert user.has_perm("plants.change_itemmapping", own) is write_own
    assert user.has_perm("plants.change_itemmapping", other) is write_other
    assert user.has_perm("plants.delete_itemmapping", other) is write_other


@pytest.mark.parametrize("role", list(MATRIX))
def test_api_matrix(world, role, api_client):
    own, other, user_for = world
    api_client.force_authenticate(user_for(role))
    read_own, read_other, write_own, write_other = MATRIX[role]
    listed = {
        row["plant_code"] for row in api_client.get("/api/v1/mappings/items").json()["results"]
    }
    assert ("OWN" in listed) is read_own
    assert ("OTHER" in listed) is read_other
    assert (api_client.get(f"/api/v1/mappings/items/{other.pk}").status_code == 200) is read_other
    # Writes through the configuration API follow the same matrix; a refusal names the
    # permission.
    for row, may_read, may_write in ((own, read_own, write_own), (other, read_other, write_other)):
        response = api_client.patch(
            f"/api/v1/mappings/items/{row.pk}", {"note": "changed"}, format="json"
        )
        # Without the permission anywhere: 403 at once. With it elsewhere only (a plant
        # admin and another plant's row): the row is not even visible, 404.
        expected = 200 if may_write else (404 if write_own and not may_read else 403)
        assert response.status_code == expected, response.content
        if expected == 403:
            assert "plants.change_itemmapping" in response.json()["message"]


@pytest.mark.parametrize("role", list(MATRIX))
def test_admin_matrix(world, role, client):
    own, other, user_for = world
    client.force_login(user_for(role))
    read_own, read_other, write_own, write_other = MATRIX[role]
    changelist = client.get("/admin/plants/itemmapping/")
    assert changelist.status_code == 200
    assert (b"OWN" in changelist.content) is read_own
    assert (b"OTHER" in changelist.content) is read_other

    for obj, may_read, may_write in ((own, read_own, write_own), (other, read_other, write_other)):
        page = client.get(f"/admin/plants/itemmapping/{obj.pk}/change/")
        if not may_read:
            assert page.status_code in {302, 403, 404}
            continue
        assert page.status_code == 200
        # The change form offers a save button only to those who may write.
        assert (b'name="_save"' in page.content) is may_write
        response = client.post(
            f"/admin/plants/itemmapping/{obj.pk}/change/",
            {
                "plant": obj.plant_id,
                "plant_code": obj.plant_code + "-X",
                "item": obj.item_id,
                "valid_from": "2026-01-01",
                "revision": "",
                "note": "",
                "valid_to": "",
            },
        )
        obj.refresh_from_db()
        assert obj.plant_code.endswith("-X") is may_write, response.status_code


def test_plant_admin_cannot_move_a_mapping_into_another_plant(world, client, plant_p2):
    own, _, user_for = world
    client.force_login(user_for(Role.PLANT_ADMIN))
    client.post(
        f"/admin/plants/itemmapping/{own.pk}/change/",
        {
            "plant": plant_p2.pk,
            "plant_code": "MOVED",
            "item": own.item_id,
            "valid_from": "2026-01-01",
            "revision": "",
            "note": "",
            "valid_to": "",
        },
    )
    own.refresh_from_db()
    assert own.plant_id != plant_p2.pk
    assert own.plant_code == "OWN"
