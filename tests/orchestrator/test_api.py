"""Read API: plant scoping, filters, nested data and query counts independent of size."""

import pytest

from orchestrator.services.orders import order_release
from plants.choices import Role
from tests.factories_orchestrator import (
    InspectionFactory,
    InspectionResultFactory,
    LotFactory,
    NonconformanceFactory,
    OperationFactory,
    ProductionOrderFactory,
    lot_genealogy,
)

pytestmark = pytest.mark.django_db


def _orders(plant, n):
    orders = [ProductionOrderFactory(plant=plant) for _ in range(n)]
    for order in orders:
        OperationFactory(order=order, sequence="0010")
        OperationFactory(order=order, sequence="0020")
    return orders


def test_plant_admin_sees_only_own_plant_orders(api_client, plant_p1, plant_p2, member):
    mine, theirs = _orders(plant_p1, 2), _orders(plant_p2, 2)
    api_client.force_authenticate(member(Role.PLANT_ADMIN, plant_p1))
    response = api_client.get("/api/v1/orders")
    assert response.status_code == 200
    assert {o["number"] for o in response.data["results"]} == {o.number for o in mine}
    assert api_client.get(f"/api/v1/orders/{theirs[0].pk}").status_code == 404
    assert api_client.get("/api/v1/orders?plant=P2").status_code == 403
    assert api_client.get("/api/v1/orders?plant=P1").data["count"] == 2


def test_system_key_sees_only_its_plants(api_client, plant_p1, plant_p2, system_with_key):
    mine, _ = _orders(plant_p1, 1), _orders(plant_p2, 1)
    _, key = system_with_key(plant_p1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.get("/api/v1/orders")
    assert [o["number"] for o in response.data["results"]] == [mine[0].number]
    assert api_client.get("/api/v1/orders?plant=P2").status_code == 403


def test_order_detail_has_state_and_operations(api_client, plant_p1):
    (order,) = _orders(plant_p1, 1)
    order_release(order=order, actor=None)
    api_client.force_authenticate(_superuser())
    data = api_client.get(f"/api/v1/orders/{order.pk}").data
    assert (data["plant"], data["state"], data["item"]) == ("P1", "released", order.item.code)
    assert [op["sequence"] for op in data["operations"]] == ["0010", "0020"]
    assert data["operations"][0]["state"] == "pending"


def test_order_filters(api_client, plant_p1):
    a, b = _orders(plant_p1, 2)
    order_release(order=a, actor=None)
    api_client.force_authenticate(_superuser())
    assert _numbers(api_client.get("/api/v1/orders?state=released")) == {a.number}
    assert _numbers(api_client.get(f"/api/v1/orders?number={b.number}")) == {b.number}
    assert _numbers(api_client.get(f"/api/v1/orders?item={a.item.code}")) == {a.number}
    assert api_client.get("/api/v1/orders?state=bogus").status_code == 400


@pytest.mark.parametrize(
    ("url", "make"),
    [
        ("/api/v1/orders", lambda plant, n: _orders(plant, n)),
        ("/api/v1/lots", lambda plant, n: [LotFactory(plant=plant) for _ in range(n)]),
        (
            "/api/v1/inspections",
            lambda plant, n: [
                InspectionResultFactory(inspection=InspectionFactory(plant=plant)) for _ in range(n)
            ],
        ),
        (
            "/api/v1/nonconformances",
            lambda plant, n: [
                NonconformanceFactory(plant=plant, lot=LotFactory(plant=plant)) for _ in range(n)
            ],
        ),
        (
            "/api/v1/audit-records",
            lambda plant, n: [order_release(order=o, actor=None) for o in _orders(plant, n)],
        ),
    ],
)
def test_list_query_count_does_not_grow_with_rows(
    api_client, plant_p1, member, django_assert_max_num_queries, url, make
):
    api_client.force_authenticate(member(Role.AUDITOR))
    make(plant_p1, 2)
    with django_assert_max_num_queries(8) as small:
        assert api_client.get(url).status_code == 200
    make(plant_p1, 12)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = api_client.get(url)
    assert response.data["count"] == 14


def test_lot_detail_shows_genealogy(api_client, plant_p1):
    component, product = LotFactory(plant=plant_p1), LotFactory(plant=plant_p1)
    lot_genealogy(component, product, "3")
    api_client.force_authenticate(_superuser())
    data = api_client.get(f"/api/v1/lots/{product.pk}").data
    assert data["status"] == "available"
    assert [(p["lot"], p["qty"]) for p in data["parents"]] == [(component.number, "3.000000")]
    assert api_client.get(f"/api/v1/lots/{component.pk}").data["children"][0]["lot"] == (
        product.number
    )


def test_audit_records_by_correlation_id_and_object(api_client, plant_p1):
    a, b = _orders(plant_p1, 2)
    order_release(order=a, actor=None, correlation_id="evt-1")
    order_release(order=b, actor=None, correlation_id="evt-2")
    api_client.force_authenticate(_superuser())
    by_corr = api_client.get("/api/v1/audit-records?correlation_id=evt-1").data["results"]
    assert [(r["object_repr"], r["target_state"]) for r in by_corr] == [(str(a), "released")]
    by_obj = api_client.get(
        f"/api/v1/audit-records?object_type=orchestrator.productionorder&object_id={b.pk}"
    ).data["results"]
    assert [r["correlation_id"] for r in by_obj] == ["evt-2"]


def test_inspections_and_nonconformances_are_scoped(api_client, plant_p1, plant_p2, member):
    InspectionFactory(plant=plant_p1)
    InspectionFactory(plant=plant_p2)
    NonconformanceFactory(plant=plant_p2)
    api_client.force_authenticate(member(Role.QUALITY_LEAD, plant_p1))
    assert api_client.get("/api/v1/inspections").data["count"] == 1
    assert api_client.get("/api/v1/nonconformances").data["count"] == 0
    assert api_client.get("/api/v1/nonconformances?plant=P2").status_code == 403


def _numbers(response):
    return {o["number"] for o in response.data["results"]}


def _superuser():
    from tests.factories import UserFactory

    return UserFactory(username="root", is_superuser=True)
