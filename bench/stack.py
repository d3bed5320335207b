"""The end-to-end stack that ``python -m bench w3`` and ``python -m bench faults`` run.

A dedicated PostgreSQL database, recreated, migrated and seeded with the P1 world
(``bench/ingest_world.py``); gunicorn (``bench/ingest_bench.start_server``); the ERP
simulator (``connectors.simulators.erp``) with its own SQLite ledger; the ``ERP``
``ConnectedSystem`` serving P1 and pointing at it; one Celery worker (prefork) on the
Redis the caller gives. Each process runs in a session of its own, so :func:`stop_all`
stops its whole group and says whether anything is left running.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg

from bench.ingest_bench import _admin_conninfo, recreate_database, stop_group
from bench.ingest_bench import _free_port as free_port

ROOT = Path(__file__).resolve().parent.parent


# --- the database ---------------------------------------------------------------------------
def migrations_fingerprint() -> str:
    """A hash of every installed app's migration files (the project's, Django's and the
    third-party apps'): equal fingerprints mean the same migrated schema and data."""
    from django.apps import apps

    digest = hashlib.sha256()
    for config in sorted(apps.get_app_configs(), key=lambda c: c.label):
        folder = Path(config.path) / "migrations"
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            digest.update(f"{config.label}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def prepare_database(url: str) -> str:
    """Recreate, migrate and seed the bench database ``url`` (its name must start with
    ``interlock_bench``); return MES-P1's raw API key.

    Migrating from scratch takes one to two minutes on two busy cores, so the migrated
    database is kept as a template, ``<name>_tpl_<fingerprint>``, named after the
    migration files (:func:`migrations_fingerprint`): a run with the same migrations
    copies it (``CREATE DATABASE … TEMPLATE``, seconds) and still runs ``migrate``, which
    then applies nothing but emits ``post_migrate`` (content types, permissions) as usual.
    A template of other migrations is dropped when the new one is made."""
    from django.core.management import call_command
    from django.db import connections

    from bench.ingest_world import seed

    admin, name = _admin_conninfo(url)
    template = f"{name}_tpl_{migrations_fingerprint()[:12]}"
    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        cached = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
        cached = cached.fetchone() is not None
    how = f"copying the migrated template {template}" if cached else "recreating, migrating"
    print(f"database {url}: {how}, seeding", flush=True)
    recreate_database(url, template=template if cached else None)
    call_command("migrate", verbosity=0)
    connections.close_all()
    if not cached:
        with psycopg.connect(admin, autocommit=True) as conn:
            stale = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                [name.replace("_", r"\_") + r"\_tpl\_%"],
            ).fetchall()
            for (old,) in stale:
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
    return seed()


def add_erp_system(erp_port: int, **options):
    """The ``ERP`` connected system (REST, no auth) serving P1, pointing at the simulator;
    ``options`` override its delivery settings (attempts, timeout…)."""
    from django.db import connections

    from plants.models import ConnectedSystem, Plant

    system = ConnectedSystem.objects.create(
        code="ERP",
        name="ERP simulator",
        kind="erp",
        transport="rest",
        base_url=f"http://127.0.0.1:{erp_port}/erp",
        auth_type="none",
        **options,
    )
    system.plants.set([Plant.objects.get(code="P1")])
    connections.close_all()  # the processes started next must not share this connection
    return system


def process_environment(*, url: str, redis_url: str, cache_prefix: str, **extra: str) -> dict:
    """The environment of a bench process (gunicorn or the worker): DEBUG off, a generated
    SECRET_KEY, the bench database and *only* the given Redis, as broker and cache (a
    ``CELERY_BROKER_URL`` or ``CACHE_URL`` of the caller's shell must not send it to
    another Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": cache_prefix,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


# --- processes ------------------------------------------------------------------------------
@dataclass
class Proc:
    """A process started in its own session (stopped with its whole group)."""

    name: str
    process: subprocess.Popen

    def pids(self) -> list[int]:
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        stop_group(self.process, timeout=20)


def group_left(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid``."""
    left = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc.pid)
    return left


def stop_all(started: list[tuple[str, Any]]) -> list[int]:
    """Stop each ``(name, process)`` in order (anything with ``process``, a
    ``subprocess.Popen`` started in its own session, and ``stop()``; ``None`` when it never
    started), then check their groups; print one line naming them and anything still
    running, and return those pids."""
    groups, names = [], []
    for name, proc in started:
        if proc is None:
            continue
        if getattr(proc, "process", None) is not None:
            groups.append(proc.process.pid)
        names.append(name)
        proc.stop()
    left = [pid for pgid in groups for pid in group_left(pgid)]
    print(
        f"stopped: {', '.join(dict.fromkeys(names))}"
        + (f" — STILL RUNNING: {left}" if left else " (nothing left running)"),
        flush=True,
    )
    return left


# --- the ERP simulator ----------------------------------------------------------------------
#: The simulator's ``http.server`` writes an answer's headers and body in two sends; with
#: Nagle's algorithm on, the body waits for the client's delayed ACK: ~43 ms per request
#: on loopback (measured: 44 ms → 1.1 ms per single message, 50 → 5.7 ms per batch of 100).
#: That would measure a socket option of the simulator, not delivery, so the bench starts
#: it with TCP_NODELAY (``--sim-nagle`` keeps the stock behaviour).
NODELAY_LAUNCHER = (
    "import http.server, sys; "
    "http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True; "
    "from connectors.simulators import erp; erp.main(sys.argv[1:])"
)


def start_erp(
    var_dir: Path, interlock_port: int, *, nagle: bool, log: Path | None = None
) -> tuple[Proc, int]:
    """The ERP simulator on a free port, its ledger in ``var_dir/sim/erp.sqlite3``;
    ``log`` takes its stderr (a worker killed mid-request leaves it a broken pipe)."""
    port = free_port()
    launcher = ["-m", "connectors.simulators.erp"] if nagle else ["-c", NODELAY_LAUNCHER]
    command = [
        sys.executable,
        *launcher,
        *("--host", "127.0.0.1", "--port", str(port), "--var-dir", str(var_dir)),
        *("--interlock-url", f"http://127.0.0.1:{interlock_port}", "--log-level", "WARNING"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_SIM_")}
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(log.open("ab")) if log is not None else None
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    proc = Proc("erp simulator", process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ERP simulator exited with {process.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/erp/_health")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        time.sleep(0.2)
    proc.stop()
    raise SystemExit("ERP simulator did not answer within 30 s")


def erp_stats(port: int) -> dict:
    """The simulator's counters (``/erp/_stats``: applied, duplicates answered, 500s…)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/erp/_stats")
    data = orjson.loads(conn.getresponse().read())
    conn.close()
    return data


# --- the Celery worker ----------------------------------------------------------------------
def start_worker(
    env: dict[str, str],
    concurrency: int,
    log: Path,
    *,
    spawned: Callable[[Proc], None] | None = None,
) -> Proc:
    """One Celery worker (prefork ×``concurrency``) on the ``interlock`` queue, output to
    ``log``; returns once its pool is up. ``spawned`` gets it as soon as it exists (so a
    caller stopping everything knows it even while it starts)."""
    command = [
        *(sys.executable, "-m", "celery", "-A", "interlock", "worker", "-Q", "interlock"),
        *("--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "WARNING"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        *("-n", f"bench-{os.getpid()}@%h"),
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out
        )
    worker = Proc("celery worker", process)
    if spawned is not None:
        spawned(worker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"celery worker exited with {process.returncode}; see {log}")
        if len(worker.pids()) > concurrency:
            time.sleep(1.0)  # the consumer connects right after the pool is up
            return worker
        time.sleep(0.2)
    worker.stop()
    raise SystemExit(f"celery worker not up within 60 s; see {log}")
