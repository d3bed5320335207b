"""pytest plugin, loaded with ``-p tests.services`` before pytest-django reads the settings.

It probes PostgreSQL and Redis on localhost. When PostgreSQL answers and ``DATABASE_URL``
is not set, the whole suite runs on PostgreSQL; otherwise on SQLite, and tests marked
``postgres`` are skipped *by name* (listed at the end of the run). Tests marked ``redis``
get ``INTERLOCK_TEST_REDIS_URL`` or are skipped the same way. With
``INTERLOCK_REQUIRE_SERVICES=1`` a missing service fails those tests instead.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/interlock"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
REQUIRE = os.environ.get("INTERLOCK_REQUIRE_SERVICES", "").strip().lower() in {"1", "true", "yes"}


def _postgres_answers(url: str) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    parsed = urlparse(url)
    try:
        with psycopg.connect(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password or None,
            dbname="postgres",
            connect_timeout=2,
        ):
            return True
    except Exception:
        return False


def _redis_answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2
        ) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("INTERLOCK_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))
# Tests assert the mapping cache's invalidation, not its time-to-live.
os.environ.setdefault("INTERLOCK_MAPPING_CACHE_SECONDS", "0")

if "DATABASE_URL" not in os.environ:
    candidate = os.environ.get("INTERLOCK_TEST_DATABASE_URL", DEFAULT_PG)
    if _postgres_answers(candidate):
        os.environ["DATABASE_URL"] = candidate

_redis_candidate = os.environ.get("INTERLOCK_TEST_REDIS_URL", DEFAULT_REDIS)
REDIS_URL: str | None = _redis_candidate if _redis_answers(_redis_candidate) else None
POSTGRES: bool = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))

_missing: list[tuple[str, str]] = []


def _unavailable(item) -> str | None:
    for marker, available in (("postgres", POSTGRES), ("redis", REDIS_URL is not None)):
        if item.get_closest_marker(marker) and not available:
            return marker
    return None


def pytest_collection_modifyitems(config, items):
    if REQUIRE:
        return  # pytest_runtest_setup fails them instead
    for item in items:
        service = _unavailable(item)
        if service:
            item.add_marker(pytest.mark.skip(reason=f"needs {service}, which is not reachable"))


def pytest_runtest_setup(item):
    service = _unavailable(item) if REQUIRE else None
    if service == "postgres":
        pytest.fail(
            "PostgreSQL is required (INTERLOCK_REQUIRE_SERVICES=1) but DATABASE_URL is not PostgreSQL"
        )
    elif service == "redis":
        pytest.fail("Redis is required (INTERLOCK_REQUIRE_SERVICES=1) but it does not answer")


def pytest_report_header(config):
    db = "PostgreSQL" if POSTGRES else "SQLite"
    return [
        f"interlock: database={db} redis={'yes' if REDIS_URL else 'no'} require_services={REQUIRE}"
    ]


_SKIP_SUFFIX = ", which is not reachable"


def _name(report) -> str:
    # Files outside the rootdir get node ids like "::test_x"; add the file then.
    return (
        report.nodeid if not report.nodeid.startswith("::") else report.location[0] + report.nodeid
    )


def pytest_runtest_logreport(report):
    # Runs in the controlling process too when tests are spread over xdist workers.
    if report.when == "setup" and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if reason.endswith(_SKIP_SUFFIX):
            service = "postgres" if "needs postgres" in reason else "redis"
            _missing.append((service, _name(report)))
    elif (
        report.when == "setup"
        and report.failed
        and "is required (INTERLOCK_REQUIRE" in str(report.longrepr)
    ):
        service = "postgres" if "PostgreSQL" in str(report.longrepr) else "redis"
        _missing.append((service, _name(report)))


def pytest_terminal_summary(terminalreporter):
    if not _missing:
        return
    verb = "FAILED (required)" if REQUIRE else "skipped"
    terminalreporter.section(f"tests {verb} because a service was missing")
    for service, nodeid in _missing:
        terminalreporter.line(f"{service:8} {nodeid}")
