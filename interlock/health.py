"""Health endpoints for deployers: ``/healthz`` (liveness) and ``/readyz`` (readiness).

Served by :class:`HealthMiddleware`, first in the chain, so that a probe is answered
before host validation and the HTTPS redirect: a load balancer or kubelet probes by pod IP
over plain HTTP, and neither its ``Host`` header nor its scheme says anything about health.

``/healthz`` answers 200 as long as the process can answer at all (nothing is checked: a
restart would not fix a database outage). ``/readyz`` checks the database, the broker and
the cache, each with its latency in milliseconds, and answers 503 when one of them is
down, so that traffic goes elsewhere until it is back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse

#: Seconds a readiness check may take before it counts as down.
CHECK_TIMEOUT = 2.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        # The embedded broker is a folder: ready when it exists (the Celery app creates
        # it on first use, so create it here too) and this process may write to it.
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"broker folder {folder} is not writable")
        return
    from kombu import Connection

    with Connection(url, connect_timeout=CHECK_TIMEOUT) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT
        )


def check_cache() -> None:
    token = str(time.monotonic_ns())
    cache.set("interlock:readyz", token, 10)
    if cache.get("interlock:readyz") != token:
        raise RuntimeError("the cache did not return what was just written")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
}


def readiness() -> tuple[bool, dict]:
    """Run every check; ``(all up, {name: {"status", "latency_ms", "error"?}})``."""
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure means "not ready", with why
            results[name] = {
                "status": "down",
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "error": f"{type(exc).__name__}: {exc}"[:300],
            }
        else:
            results[name] = {
                "status": "up",
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            }
    if results["database"]["status"] == "down":
        # A broken connection must not be reused by the next request of this process.
        connection.close_if_unusable_or_obsolete()
    return all(r["status"] == "up" for r in results.values()), results


def _json(body: dict, status: int) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


class HealthMiddleware:
    """Answers ``GET /healthz`` and ``GET /readyz`` before anything else runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return _json({"status": "ok"}, 200)
        if request.path == "/readyz":
            ready, checks = readiness()
            return _json(
                {"status": "ready" if ready else "unavailable", "checks": checks},
                200 if ready else 503,
            )
        return self.get_response(request)
