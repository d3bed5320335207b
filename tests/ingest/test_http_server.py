"""Chunked uploads and oversized bodies over a real socket (issue 11, findings 6 and 7).

The other ingest tests hand Django a request object; here the bytes go through the
servers Interlock runs under, on a free loopback port, against the test database:
uvicorn with ``interlock.asgi:application`` (the lean single-event path in front of
Django, README "Single events") and gunicorn gthread with ``interlock.wsgi``. Each server
de-chunks a ``Transfer-Encoding: chunked`` body its own way, and decides its own way how
much of an oversized body to read before the application answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from orchestrator.ingest.intake import RAW_PREFIX_BYTES
from orchestrator.models import InboundMessage
from tests.ingest.conftest import envelope, release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
#: The servers' INTERLOCK_MAX_REQUEST_BYTES: above the stored prefix, so a refused body
#: shows both bounds (the prefix kept, the size and hash of all of it).
LIMIT = 2 * RAW_PREFIX_BYTES
SINGLE, BULK = "/api/v1/events", "/api/v1/events/bulk"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(kind: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", "interlock.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
            *("--no-access-log", "--log-level", "warning"),
        ]
    return [
        *(sys.executable, "-m", "gunicorn", "interlock.wsgi", "--worker-class", "gthread"),
        *("--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}"),
        *("--log-level", "warning"),
    ]


@contextlib.contextmanager
def _running(kind: str, var_dir: Path):
    """``kind`` on a free port, with production settings (DEBUG off) on the test database;
    stopped with its whole process group."""
    port = _free_port()
    db = connection.settings_dict
    drop = ("CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE")
    env = {
        **{k: v for k, v in os.environ.items() if k not in drop},
        "DJANGO_SETTINGS_MODULE": "interlock.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": "",
        # Its delivery wake-ups (filesystem broker) stay in a directory of its own.
        "INTERLOCK_VAR_DIR": str(var_dir),
        "INTERLOCK_MAX_REQUEST_BYTES": str(LIMIT),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(_command(kind, port), cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"{kind} exited with {process.returncode}"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", SINGLE)
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"{kind} did not answer within 90 s"
                time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(params=["uvicorn", "gunicorn"])
def server(request, world, tmp_path):
    """A server of its own for a test whose event is decided: the flush between
    transactional tests gives the content types new ids, which a server process would
    still hold in its cache (the audit record of the next decision would not commit)."""
    with _running(request.param, tmp_path) as port:
        yield port


@pytest.fixture(scope="module", params=["uvicorn", "gunicorn"])
def refusing_server(request, django_db_setup, tmp_path_factory):
    """One server per module for the refusals, which store a message and nothing else."""
    with _running(request.param, tmp_path_factory.mktemp(request.param)) as port:
        yield port


def _post(port: int, path: str, key: str, body: bytes, *, chunked: bool) -> tuple[int, dict]:
    """POST ``body``, either with a Content-Length or as 8 KiB chunks without one."""
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        pieces = (body[i : i + 8192] for i in range(0, len(body), 8192))
        conn.request("POST", path, body=pieces, headers=headers, encode_chunked=True)
    else:
        conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    status, data = response.status, response.read()
    content_type = response.getheader("Content-Type", "")
    conn.close()
    assert content_type.startswith("application/json"), (status, content_type, data[:300])
    return status, json.loads(data)


def _release(order: str) -> dict:
    return envelope("production_order.released", release(order), source="ERP")


@pytest.mark.parametrize("path", [SINGLE, BULK])
def test_a_chunked_event_is_accepted_and_stored_with_its_body(server, world, path):
    event = _release("WO-CHUNK-1")
    doc = event if path == SINGLE else {"events": [event]}
    raw = json.dumps(doc).encode()

    status, answer = _post(server, path, world["erp_key"], raw, chunked=True)

    assert status == (202 if path == SINGLE else 200), answer
    result = answer if path == SINGLE else answer["results"][0]
    assert result["status"] == "accepted", answer
    message = InboundMessage.objects.get(pk=result["message_id"])
    assert message.status == "accepted"
    assert message.body["payload"]["order"] == "WO-CHUNK-1"
    assert message.body["payload"]["operations"] == event["payload"]["operations"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", [SINGLE, BULK])
def test_an_oversized_body_is_a_413_naming_the_limit_and_kept_as_a_bounded_prefix(
    refusing_server, world, path, chunked
):
    event = _release("WO-BIG-1")
    event["payload"]["note"] = "x" * (LIMIT * 2)  # over the limit, under the drain bound
    doc = event if path == SINGLE else {"events": [event]}
    raw = json.dumps(doc).encode()

    status, answer = _post(refusing_server, path, world["erp_key"], raw, chunked=chunked)

    assert status == 413, answer
    assert answer["code"] == "request_too_large"
    assert str(LIMIT) in answer["message"]
    assert answer["details"][0]["expected"] == LIMIT
    assert answer["details"][0]["found"] == len(raw)
    message = InboundMessage.objects.get(pk=answer["message_id"])
    assert message.status == "rejected"
    stored = message.body
    assert stored["size"] == len(raw)
    assert stored["sha256"] == hashlib.sha256(raw).hexdigest()
    assert stored["truncated"] is True
    assert len(stored["raw"].encode()) <= RAW_PREFIX_BYTES
    assert raw.decode().startswith(stored["raw"])
    assert message.reasons[0]["code"] == "request_too_large"
