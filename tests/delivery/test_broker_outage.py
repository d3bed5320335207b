"""Finding 1 of issue 11: a Celery worker must survive its broker going away.

With celery/kombu 5.7.0 the worker died for good (``Unrecoverable error: AttributeError
'NoneType' … 'hostname'`` in kombu) when Redis dropped; the lock (requirements/lock.txt)
pins a pair whose worker reconnects. This test is the proof for whatever the lock holds:
a real worker on a private Redis, Redis stopped under it and started again on the same
port, and tasks sent after its return must still be delivered by the *same* worker.
"""

from __future__ import annotations

import time

import pytest
from celery import Celery

from orchestrator.models.outbox import OutboxMessage, OutboxStatus

from .conftest import make_rows
from .receiver import Receiver, ReceiverServer
from .test_workers import PrivateRedis, _kill, _wait, _worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _delivered(system) -> int:
    return OutboxMessage.objects.filter(system=system, status=OutboxStatus.DELIVERED).count()


def test_the_worker_reconnects_after_redis_stops_and_delivers_what_is_sent_after(tmp_path):
    from tests.factories import ConnectedSystemFactory, PlantFactory

    redis = PrivateRedis(tmp_path)
    redis.start()
    log = tmp_path / "worker.log"
    with ReceiverServer(Receiver()) as server:
        plant = PlantFactory(code="P1")
        erp = ConnectedSystemFactory(
            kind="erp",
            code="ERP-B",
            base_url=server.url,
            timeout_seconds=2,
            rate_limit_per_second=1000,
            max_attempts=10,
        )
        erp.plants.set([plant])
        worker = _worker(redis.url, tmp_path / "w", log=log)
        try:
            client = Celery("interlock-test", broker=redis.url)
            before = make_rows(erp, plant, 20, prefix="BEFORE")
            client.send_task("connectors.deliver_outbox", args=[erp.pk], queue="interlock")
            assert _wait(lambda: _delivered(erp) == 20, 30), "the worker never started"

            redis.stop()
            time.sleep(6)  # long enough for the worker to notice and start reconnecting
            assert worker.poll() is None, log.read_text()[-3000:]
            redis.start()  # same port, empty: nothing sent before the outage survives

            after = make_rows(erp, plant, 30, prefix="AFTER")
            client = Celery("interlock-test", broker=redis.url)  # a fresh connection
            client.send_task("connectors.deliver_outbox", args=[erp.pk], queue="interlock")
            assert _wait(lambda: _delivered(erp) == 50, 60), log.read_text()[-3000:]
            assert worker.poll() is None  # the same worker, still running
        finally:
            _kill(worker)
            redis.stop()
        rx = server.receiver
        assert rx.applied() == {r.idempotency_key for r in before + after}
        assert set(rx.effects.values()) == {1}
    text = log.read_text()
    assert "Unrecoverable error" not in text
