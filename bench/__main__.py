"""Dispatcher: ``python -m bench rules`` runs ``bench/rules_bench.py``, ``python -m bench
ingest`` runs ``bench/ingest_bench.py``, ``python -m bench w3`` runs ``bench/w3_bench.py``,
``python -m bench peer`` runs ``bench/peer_bench.py`` (Node-RED beside Interlock's single
events); ``python -m bench`` (``make bench``) runs them all, each in its own process (they
need different settings).

Every benchmark accepts ``--quick`` (a run under three minutes) and ``--json`` (one JSON
object on stdout, progress on stderr: ``bench/report.py``)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

#: name → (module, environment it runs in)
BENCHMARKS: dict[str, tuple[str, dict[str, str]]] = {
    "rules": ("bench.rules_bench", {}),
    "ingest": (
        "bench.ingest_bench",
        {
            # The orchestrating process seeds the dedicated benchmark database; the server it
            # starts gets its own environment (DEBUG off, generated SECRET_KEY).
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": os.environ.get(
                "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/interlock_bench"
            ),
            "REDIS_URL": "",
        },
    ),
    # Node-RED (key + dedupe + insert) against Interlock's W2 single events, same run.
    "peer": (
        "bench.peer_bench",
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": os.environ.get(
                "BENCH_PEER_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/interlock_bench_peer",
            ),
            "REDIS_URL": "",
        },
    ),
    # The decision of a coalesced batch in process: CPU per event and where it goes.
    "profile": (
        "bench.profile_decide",
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": os.environ.get(
                "BENCH_PROFILE_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/interlock_bench_profile",
            ),
            "REDIS_URL": "",
        },
    ),
    # End to end (gunicorn, Celery on its own Redis database, the ERP simulator).
    "w3": (
        "bench.w3_bench",
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            # Not the ingest bench's database: both recreate theirs at start.
            "DATABASE_URL": os.environ.get(
                "BENCH_W3_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/interlock_bench_w3"
            ),
            "REDIS_URL": "",
        },
    ),
    # Faults under load (worker SIGKILL, Redis and database outages, a failing ERP, a
    # duplicate storm); its own database and a private redis-server.
    "faults": (
        "bench.faults",
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": os.environ.get(
                "BENCH_FAULTS_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/interlock_bench_faults",
            ),
            "REDIS_URL": "",
        },
    ),
}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        status = 0
        for name in BENCHMARKS:
            print(f"== python -m bench {name}", flush=True)
            status = subprocess.call([sys.executable, "-m", "bench", name]) or status
        return status
    if argv[1] not in BENCHMARKS:
        print(f"usage: python -m bench [{'|'.join(BENCHMARKS)}] [args]")
        return 2
    module_name, env = BENCHMARKS[argv[1]]
    if "--json" in argv[2:]:
        from bench.report import capture_stdout

        capture_stdout()
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    module = importlib.import_module(module_name)
    return module.main(argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
