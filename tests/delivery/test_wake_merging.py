"""Outbox wake-ups are merged per system (issue 12, demo finding a): however many
transactions commit rows for a system, at most one delivery task waits in the broker for
it. The task clears its flag as it starts, so a later commit wakes delivery again.

A live demo run without this queued ~1,200 wake-ups in 10–15 minutes, two in three of them
finding nothing to do, and deliveries fell minutes behind."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.cache import caches
from django.db import transaction

from connectors.tasks import deliver_outbox, sweep_outbox
from orchestrator.models.outbox import OutboxMessage, OutboxStatus
from orchestrator.services import outbox
from tests.factories import ConnectedSystemFactory

from .conftest import make_rows

pytestmark = pytest.mark.django_db(transaction=True)


class Broker:
    """Records the delivery tasks sent instead of sending them."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[int, dict]] = []
        self.fail = fail

    def send_task(self, name, args=(), kwargs=None, countdown=None, retry=True):
        assert name == outbox.DELIVER_TASK
        if self.fail:
            raise ConnectionError("broker away")
        self.sent.append((args[0], dict(kwargs or {})))

    def systems(self) -> list[int]:
        return [system for system, _ in self.sent]

    def wake_of(self, index: int) -> str | None:
        return self.sent[index][1].get("wake")


@pytest.fixture(params=["files", pytest.param("redis", marks=pytest.mark.redis)])
def wake_store(request, settings, tmp_path):
    """The flag store of each deployment: files under the var directory (the demo: no
    server) and Redis (production), each private to the test."""
    if request.param == "files":
        store = {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "outbox-wake"),
        }
    else:
        from tests.services import REDIS_URL

        store = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    settings.CACHES = {**settings.CACHES, outbox.WAKE_CACHE: store}
    return caches[outbox.WAKE_CACHE]  # the Redis keys expire by themselves


@pytest.fixture
def broker(monkeypatch, wake_store):
    fake = Broker()
    monkeypatch.setattr(outbox, "current_app", fake)
    return fake


@pytest.fixture
def mes(plant):
    system = ConnectedSystemFactory(kind="mes", code="MES-P1", base_url="http://127.0.0.1:9/")
    system.plants.set([plant])
    return system


def _commit_rows(system, plant, n: int, prefix: str) -> None:
    """``n`` transactions, each writing one row and asking for a wake-up (as an event's
    handler does)."""
    for i in range(n):
        with transaction.atomic():
            make_rows(system, plant, 1, prefix=f"{prefix}{i}")
            outbox.outbox_wake_on_commit({system.pk})


def test_fifty_commits_for_one_system_send_one_wake_up(broker, erp, plant):
    _commit_rows(erp, plant, 50, "A")
    assert broker.systems() == [erp.pk]  # one per event would be 50
    assert broker.wake_of(0)


def test_each_system_gets_its_own_single_wake_up(broker, erp, mes, plant):
    for i in range(10):
        with transaction.atomic():
            make_rows(erp, plant, 1, prefix=f"E{i}")
            make_rows(mes, plant, 1, prefix=f"M{i}")
            outbox.outbox_wake_on_commit({erp.pk, mes.pk})
    assert sorted(broker.systems()) == sorted([erp.pk, mes.pk])


def test_no_wake_up_before_the_commit_nor_after_a_rollback(broker, erp, plant):
    sent_inside = None

    def write_then_fail():
        nonlocal sent_inside
        with transaction.atomic():
            make_rows(erp, plant, 1)
            outbox.outbox_wake_on_commit({erp.pk})
            sent_inside = list(broker.sent)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert sent_inside == []
    assert broker.sent == []
    _commit_rows(erp, plant, 1, "B")
    assert broker.systems() == [erp.pk]  # the rollback left no flag behind


def test_the_task_starting_clears_its_flag_so_the_next_commit_wakes_again(
    broker, erp, plant, receiver
):
    _commit_rows(erp, plant, 5, "C")
    assert len(broker.sent) == 1
    # The worker runs the task it was sent: it delivers what is there and clears the flag.
    result = deliver_outbox.run(erp.pk, wake=broker.wake_of(0))
    assert result["delivered"] == 5
    _commit_rows(erp, plant, 5, "D")
    assert broker.systems() == [erp.pk, erp.pk]
    assert broker.wake_of(1) != broker.wake_of(0)
    deliver_outbox.run(erp.pk, wake=broker.wake_of(1))
    statuses = OutboxMessage.objects.filter(system=erp).values_list("status", flat=True)
    assert set(statuses) == {OutboxStatus.DELIVERED}


def test_a_task_that_is_not_the_pending_one_leaves_its_flag(broker, erp, plant, receiver):
    _commit_rows(erp, plant, 1, "E")
    deliver_outbox.run(erp.pk)  # a retry's or an old wake-up's run: no token
    deliver_outbox.run(erp.pk, wake="someone-else")
    _commit_rows(erp, plant, 3, "F")
    assert len(broker.sent) == 1  # still pending: the one sent first has not started


def test_a_flag_whose_task_was_lost_expires(broker, erp, plant, monkeypatch):
    monkeypatch.setattr(outbox, "WAKE_FLAG_SECONDS", 1)
    _commit_rows(erp, plant, 1, "G")
    # The broker lost that task: nobody clears the flag, so it expires on its own.
    _commit_rows(erp, plant, 3, "H")
    assert len(broker.sent) == 1
    time.sleep(1.3)
    _commit_rows(erp, plant, 3, "I")
    assert len(broker.sent) == 2
    monkeypatch.undo()
    assert 0 < outbox.WAKE_FLAG_SECONDS <= 60  # production's period is short too


def test_a_failed_send_leaves_no_flag_so_the_next_commit_tries_again(
    wake_store, erp, plant, monkeypatch
):
    down = Broker(fail=True)
    monkeypatch.setattr(outbox, "current_app", down)
    _commit_rows(erp, plant, 1, "J")
    assert down.sent == []
    outbox.outbox_wake_resume()  # the broker is back
    down.fail = False
    _commit_rows(erp, plant, 1, "K")
    assert down.systems() == [erp.pk]


def test_without_the_flag_store_every_commit_still_wakes(
    broker, wake_store, erp, plant, monkeypatch
):
    def broken(*args, **kwargs):
        raise ConnectionError("cache away")

    calls = []
    monkeypatch.setattr(wake_store, "add", lambda *a, **k: calls.append(1) or broken())
    _commit_rows(erp, plant, 3, "L")
    assert broker.systems() == [erp.pk] * 3  # duplicates are harmless, a missed one is not
    assert calls == [1]  # and only the first commit waited for the store that failed


def test_the_sweeper_wakes_only_systems_without_a_pending_wake_up(broker, erp, mes, plant):
    _commit_rows(erp, plant, 1, "M")
    make_rows(mes, plant, 1, prefix="N")  # written without a wake-up (a lost message)
    assert sweep_outbox.run() == sorted([erp.pk, mes.pk])
    assert sorted(broker.systems()) == sorted([erp.pk, mes.pk])  # not erp twice


def test_flags_are_shared_by_every_process_of_the_deployment():
    # Set by the web server, cleared by the worker: a per-process cache would keep the
    # web server's flag set and starve delivery until the sweeper.
    from django.conf import settings

    backend = settings.CACHES[outbox.WAKE_CACHE]["BACKEND"]
    assert "locmem" not in backend.lower()
    assert "dummy" not in backend.lower()
