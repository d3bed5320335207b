"""The lean ASGI path for single events answers exactly as the DRF view does.

Runs ``interlock.asgi.application`` in process (httpx's ASGI transport): remembered keys
take the lean path through the asyncio group commit, everything else is Django's.
"""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from django.db import connection

from orchestrator.ingest import coalesce
from orchestrator.ingest.coalesce import AsyncGroupCommit
from orchestrator.models import InboundMessage
from tests.ingest.conftest import envelope, release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def group(monkeypatch):
    # Django runs the fallback views on asgiref's threads: their connections must close
    # at the end of each request, or the test database cannot be dropped afterwards.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    group = AsyncGroupCommit(window=0.002, max_batch=64)
    monkeypatch.setattr(coalesce, "_async_group", group)
    yield group
    group._executor.submit(coalesce.connections.close_all).result()


def _post_all(key: str, bodies: list[bytes | dict]) -> list[httpx.Response]:
    from interlock.asgi import application

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
            # The first request alone (the key is read from the database), then the rest race.
            first = await client.post("/api/v1/events", content=_raw(bodies[0]), headers=headers)
            rest = await asyncio.gather(
                *(
                    client.post("/api/v1/events", content=_raw(b), headers=headers)
                    for b in bodies[1:]
                )
            )
            return [first, *rest]

    return asyncio.run(run())


def _raw(body: bytes | dict) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


def test_remembered_key_is_answered_by_the_lean_path_in_shared_batches(world, group):
    bodies = [
        envelope("production_order.released", release(order=f"WO-{5000 + i}"), source="ERP")
        for i in range(12)
    ]
    responses = _post_all(world["erp_key"], bodies)

    assert [r.status_code for r in responses] == [202] * 12
    assert group.submissions == 12
    assert group.batches < group.submissions  # they shared batches
    for body, response in zip(bodies, responses, strict=True):
        data = response.json()
        assert set(data) == {
            "event_id",
            "message_id",
            "status",
            "correlation_id",
            "idempotency_key",
            "reasons",
        }
        assert data["status"] == "accepted"
        assert InboundMessage.objects.get(pk=data["message_id"]).body == body


def test_errors_keep_the_shapes_of_the_drf_view(world, group):
    forbidden = envelope("production_order.released", release(order="WO-6001"), source="ERP")
    forbidden["plant"] = "P9"
    bad_envelope = {"source": "ERP", "plant": "P1"}
    responses = _post_all(
        world["erp_key"],
        [
            envelope("production_order.released", release(order="WO-6000"), source="ERP"),
            forbidden,
            bad_envelope,
            b'{"source": "ERP",\n "plant": }',
        ],
    )

    assert [r.status_code for r in responses] == [202, 403, 400, 400]
    assert responses[1].json()["code"] == "permission_denied"
    assert responses[1].json()["details"][0]["code"] == "forbidden_plant"
    assert responses[2].json()["code"] == "validation_error"
    assert InboundMessage.objects.get(pk=responses[2].json()["message_id"]).status == "rejected"
    # Not JSON: handed to Django, which names line and column and keeps the raw body.
    detail = responses[3].json()["details"][0]
    assert (responses[3].json()["code"], detail["line"], detail["column"]) == (
        "invalid_json",
        2,
        11,
    )
    assert InboundMessage.objects.get(pk=detail["message_id"]).body["raw"].startswith('{"source"')


def test_unknown_key_is_refused_by_django_as_before(world, group):
    responses = _post_all("not-a-key", [envelope("production_order.released", release())])

    assert responses[0].status_code in (401, 403)
    assert set(responses[0].json()) == {"code", "message", "details"}
    assert group.submissions == 0
    assert InboundMessage.objects.count() == 0
