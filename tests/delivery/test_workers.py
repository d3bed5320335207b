"""Delivery through real Celery workers on real PostgreSQL and a private Redis: a worker
killed with SIGKILL mid-delivery, and Redis stopped while events arrive."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from orchestrator.models.outbox import OutboxMessage, OutboxStatus

from .conftest import make_rows
from .receiver import Receiver, ReceiverServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def _worker(redis_url: str, tmp_path: Path, *, log: Path | None = None) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DEBUG": "1",
        "CELERY_BROKER_URL": redis_url,
        "REDIS_URL": redis_url,
        "INTERLOCK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "INTERLOCK_OUTBOX_BACKOFF_SECONDS": "0.1",
        "INTERLOCK_OUTBOX_LEASE_MARGIN_SECONDS": "1",
        "INTERLOCK_OUTBOX_BATCH_SIZE": "10",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "interlock",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log is not None else subprocess.DEVNULL,
        start_new_session=True,
    )


def _forget_connections(app) -> None:
    """Drop the app's connection pool and its cached producer pool (an earlier test in this
    process may have built them for another broker; Celery keeps both once made)."""
    app._pool = None
    app.amqp._producer_pool = None


def _kill(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


def _wait(predicate, timeout: float, *, tick=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if tick is not None:
            tick()
        time.sleep(0.5)
    return False


def _open_rows(system) -> int:
    return OutboxMessage.objects.filter(
        system=system, status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT]
    ).count()


def test_a_worker_killed_mid_delivery_is_replaced_and_every_row_has_one_effect(
    private_redis, tmp_path
):
    from tests.factories import ConnectedSystemFactory, PlantFactory

    with ReceiverServer(Receiver(slow=1, slow_seconds=4.0)) as server:
        plant = PlantFactory(code="P1")
        erp = ConnectedSystemFactory(
            kind="erp",
            code="ERP-K",
            base_url=server.url,
            timeout_seconds=6,
            rate_limit_per_second=1000,
            max_attempts=10,
        )
        erp.plants.set([plant])
        rows = make_rows(erp, plant, 40)
        client = Celery("interlock-test", broker=private_redis.url)
        worker = _worker(private_redis.url, tmp_path / "a")
        try:
            client.send_task("connectors.deliver_outbox", args=[erp.pk], queue="interlock")
            rx = server.receiver
            # the first batch was applied at the receiver, whose answer is still on its way
            assert _wait(lambda: len(rx.requests) >= 1, 20)
            _kill(worker)
            in_flight = OutboxMessage.objects.filter(system=erp, status="in_flight").count()
            assert in_flight == 10  # claimed, applied at the receiver, never recorded
            worker = _worker(private_redis.url, tmp_path / "b")
            # beat's sweeper re-dispatches what the dead worker held once its lease is over
            sweep = lambda: client.send_task("connectors.sweep_outbox", queue="interlock")  # noqa: E731
            assert _wait(lambda: _open_rows(erp) == 0, 25, tick=sweep)
        finally:
            _kill(worker)
        # ledger: 40 accepted = 40 rows delivered = 40 effects, one each
        assert OutboxMessage.objects.filter(system=erp, status="delivered").count() == 40
        assert rx.applied() == {r.idempotency_key for r in rows}
        assert set(rx.effects.values()) == {1}
        assert rx.duplicates >= 10  # the killed batch came back as duplicates
        lost = OutboxMessage.objects.filter(
            system=erp, attempts_log__error__startswith="worker lost"
        )
        assert lost.distinct().count() == 10


def test_redis_stopped_while_events_arrive_then_delivered_when_it_returns(private_redis, tmp_path):

    from orchestrator.services.outbox import outbox_wake, outbox_wake_resume
    from tests.factories import ConnectedSystemFactory, PlantFactory

    with ReceiverServer(Receiver()) as server:
        plant = PlantFactory(code="P1")
        erp = ConnectedSystemFactory(
            kind="erp",
            code="ERP-R",
            base_url=server.url,
            timeout_seconds=2,
            rate_limit_per_second=1000,
            max_attempts=10,
        )
        erp.plants.set([plant])
        from interlock.celery import app

        # The producer's URL: with the Django namespace, Celery 5.5 keeps reading
        # CELERY_BROKER_URL for ``broker_url``; ``broker_write_url`` is what it sends with.
        app.conf.broker_write_url = private_redis.url
        # A process configured for the filesystem broker also names its transport class
        # (interlock.fsbroker), which would override the URL's scheme; read, like the URL,
        # under the Django namespace.
        transport = app.conf.get("CELERY_BROKER_TRANSPORT")
        app.conf["CELERY_BROKER_TRANSPORT"] = None
        _forget_connections(app)
        try:
            private_redis.stop()
            # rows written while the broker is away: their wake-up fails quietly
            rows = make_rows(erp, plant, 30)
            outbox_wake([erp.pk])  # fails quietly (the broker's own connect attempts)
            # ...and during the outage later requests do not pay for it again.
            started = time.monotonic()
            for _ in range(20):
                outbox_wake([erp.pk])
            assert time.monotonic() - started < 0.5
            assert _open_rows(erp) == 30
            private_redis.start()
            _forget_connections(app)
            outbox_wake_resume()
            worker = _worker(private_redis.url, tmp_path / "w")
            try:
                sweep = lambda: app.send_task("connectors.sweep_outbox", queue="interlock")  # noqa: E731
                assert _wait(lambda: _open_rows(erp) == 0, 25, tick=sweep)
            finally:
                _kill(worker)
        finally:
            app.conf.broker_write_url = None
            app.conf["CELERY_BROKER_TRANSPORT"] = transport
            _forget_connections(app)
        rx = server.receiver
        assert OutboxMessage.objects.filter(system=erp, status="delivered").count() == 30
        assert rx.applied() == {r.idempotency_key for r in rows}
        assert set(rx.effects.values()) == {1}
