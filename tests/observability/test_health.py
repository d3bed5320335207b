"""/healthz is liveness; /readyz checks database, broker and cache with their latency and
answers 503 when one is down (pointed at closed ports; the shared servers stay up)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.observability.helpers import run_python

READYZ = (
    "from django.test import Client\n"
    "r = Client().get('/readyz')\n"
    "print(r.status_code); print(r.content.decode())\n"
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readyz(env: dict) -> tuple[int, dict]:
    proc = run_python(READYZ, env=env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    status, body = out.strip().split("\n", 1)
    return int(status), json.loads(body)


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")  # probes use the pod IP
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency_with_its_latency(client):
    response = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert set(checks) == {"database", "broker", "cache"}
    for check in checks.values():
        assert check["status"] == "up"
        assert check["latency_ms"] >= 0


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable():
    from tests.services import REDIS_URL

    closed = f"redis://127.0.0.1:{_closed_port()}/0"
    status, body = _readyz({"REDIS_URL": closed, "CELERY_BROKER_URL": closed})
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "up"
    assert body["checks"]["cache"]["status"] == "down"
    assert body["checks"]["broker"]["status"] == "down"
    assert "latency_ms" in body["checks"]["broker"]
    # and the same process setup with the real Redis is ready
    status, body = _readyz({"REDIS_URL": REDIS_URL, "CELERY_BROKER_URL": REDIS_URL})
    assert status == 200, body


@pytest.mark.postgres
@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_unreachable():
    status, body = _readyz(
        {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{_closed_port()}/interlock"}
    )
    assert status == 503
    assert body["checks"]["database"]["status"] == "down"
    assert "error" in body["checks"]["database"]
    assert body["checks"]["cache"]["status"] == "up"
