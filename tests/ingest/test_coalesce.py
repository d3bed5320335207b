"""Group commit of single events: concurrent requests share a batch, each keeps its answer."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from orchestrator.ingest import coalesce
from orchestrator.ingest.coalesce import GroupCommit
from orchestrator.ingest.pipeline import principal_for
from orchestrator.models import Event, InboundMessage
from tests.ingest.conftest import envelope, release
from tests.ingest.test_concurrency import _via_api, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 20


@pytest.fixture
def group(monkeypatch):
    """A group commit with a wide window, so the racing requests really share batches."""
    group = GroupCommit(window=0.2, max_batch=N)
    monkeypatch.setattr(coalesce, "_group", group)
    yield group
    group.close()


def test_concurrent_single_requests_share_batches_and_keep_their_own_answers(world, group):
    bodies = [
        envelope("production_order.released", release(order=f"WO-{2000 + i}"), source="ERP")
        for i in range(N)
    ]
    answers = race(N, lambda i: _via_api(world["erp_key"], bodies[i]))

    assert group.submissions == N
    assert group.batches < N  # coalesced: fewer batches (and commits) than requests
    assert Counter(a["status"] for a in answers) == {"accepted": N}
    # Each answer is its own request's: its order, its event, its message.
    for body, answer in zip(bodies, answers, strict=True):
        event = Event.objects.get(pk=answer["event_id"])
        assert event.payload["order"] == body["payload"]["order"]
        message = InboundMessage.objects.get(pk=answer["message_id"])
        assert message.body == body
        assert message.event_id == event.pk
        assert message.position == 0  # item 0 of its own request
    # Every message keeps the id of the request it came in, even when batched with others.
    assert InboundMessage.objects.values("request_id").distinct().count() == N


def test_a_bad_envelope_in_a_shared_batch_costs_only_its_own_request(world, group):
    good = [
        envelope("production_order.released", release(order=f"WO-{3000 + i}"), source="ERP")
        for i in range(N - 2)
    ]
    bad_payload = envelope("production_order.released", release(qty="many"), source="ERP")
    other_plant = envelope("production_order.released", release(order="WO-3999"), source="ERP")
    other_plant["plant"] = "P9"
    bodies = [*good, bad_payload, other_plant]

    def submit(i: int) -> dict:
        return group.submit(principal_for(world["erp"]), bodies[i]).as_dict()

    answers = race(N, submit)

    assert Counter(a["status"] for a in answers[: N - 2]) == {"accepted": N - 2}
    assert answers[N - 2]["status"] == "quarantined"
    assert answers[N - 2]["reasons"][0]["path"].startswith("payload")
    assert answers[N - 1]["status"] == "rejected"
    assert answers[N - 1]["reasons"][0]["code"] == "forbidden_plant"
    assert InboundMessage.objects.count() == N  # every request's raw message is kept


def test_repeats_within_one_shared_batch_are_decided_like_repeats_across_batches(world, group):
    body = envelope("production_order.released", release(order="WO-4000"), source="ERP")
    answers = race(10, lambda i: group.submit(principal_for(world["erp"]), body).as_dict())

    assert Counter(a["status"] for a in answers) == {"accepted": 1, "duplicate": 9}
    assert {a["event_id"] for a in answers} == {Event.objects.get().pk}


def test_a_failing_batch_is_raised_in_every_request_it_carried(world, group, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(coalesce, "ingest_requests", broken)
    body = envelope("production_order.released", release(), source="ERP")
    outcomes: list[str] = []

    def submit(i: int) -> dict:
        try:
            group.submit(principal_for(world["erp"]), body)
        except RuntimeError as exc:
            outcomes.append(str(exc))
        return {}

    race(8, submit)  # none hangs (race asserts that)
    assert outcomes == ["database gone"] * 8


def test_a_lone_request_does_not_wait_for_company(world, monkeypatch):
    group = GroupCommit(window=30.0, max_batch=64)  # a window no test could sit out
    monkeypatch.setattr(coalesce, "_group", group)
    body = envelope("production_order.released", release(), source="ERP")

    started = time.monotonic()
    result = coalesce.ingest_single(principal=principal_for(world["erp"]), envelope=body)

    assert time.monotonic() - started < 10
    assert result.status == "accepted"
    assert (group.batches, group.submissions) == (1, 1)
    group.close()
