"""Where the CPU of a coalesced batch goes, in process: ``python -m bench profile``.

Seeds the ingest benchmark's world into its own database (``BENCH_PROFILE_DATABASE_URL``),
then feeds W2's single events to ``ingest_requests`` in batches of ``--batch`` (what the
group commit of ``coalesce.py`` hands it) and reports, per event: the Python CPU of the
process, the CPU of its PostgreSQL backend (``/proc``, same machine), the statements sent,
and with ``--profile`` the top functions by cumulative time (cProfile). Wall-clock figures
are not reported: the machine is shared, CPU per event is the figure to compare.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import time
import uuid

from bench.ingest_bench import recreate_database


def _backend_cpu_ms(pid: int) -> float:
    # utime + stime of the backend, in clock ticks (fields 14 and 15 of /proc/PID/stat).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile")
    parser.add_argument("--batch", type=int, default=16, help="events per coalesced batch")
    parser.add_argument("--events", type=int, default=1600)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile, top functions by CPU time, cumulative"
    )
    parser.add_argument(
        "--statements", action="store_true", help="wall ms per statement kind, per event"
    )
    parser.add_argument("--profile-out", help="also write the cProfile stats to this file")
    parser.add_argument("--reuse", action="store_true", help="do not recreate the database")
    args = parser.parse_args(argv)

    from django.db import connection, connections, reset_queries
    from django.test.utils import CaptureQueriesContext

    from bench.ingest_load import make_event
    from bench.ingest_world import order_events, seed
    from orchestrator.ingest.pipeline import ingest_batch, ingest_requests, principal_for
    from plants.models import ConnectedSystem

    url = os.environ["DATABASE_URL"]  # bench/__main__.py: BENCH_PROFILE_DATABASE_URL
    if not args.reuse:
        connections.close_all()
        recreate_database(url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        seed()
    principal = principal_for(ConnectedSystem.objects.get(code="MES-P1"))
    if not args.reuse:
        ingest_batch(principal=principal, envelopes=order_events())
    # A fresh (stream, client) per run: runs with --reuse must not resend earlier keys
    # (duplicates are decided at the raw store and would make the figures meaningless).
    stream, client = int(time.time()) % 200, random.randrange(2, 100)
    events = [make_event(stream, client, n) for n in range(args.events)]
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    # Warm up (imports, caches, prepared SQL text) on a first batch of other keys.
    ingest_requests(
        principal=principal,
        envelopes=[make_event(stream, 1, n) for n in range(args.batch)],
        request_ids=[uuid.uuid4() for _ in range(args.batch)],
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    statements = 0
    pg_before, cpu_before = _backend_cpu_ms(backend), time.process_time()
    statuses: dict[str, int] = {}
    timing: dict[str, list[float]] = {}

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = " ".join(sql.split()[:4])[:70]
            entry = timing.setdefault(kind, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - start

    for batch in batches:
        with (
            CaptureQueriesContext(connection) as queries,
            connection.execute_wrapper(
                timed if args.statements else lambda execute, *a: execute(*a)
            ),
        ):
            if profiler:
                profiler.enable()
            results = ingest_requests(
                principal=principal,
                envelopes=batch,
                request_ids=[uuid.uuid4() for _ in batch],
            )
            if profiler:
                profiler.disable()
        statements += len(queries.captured_queries)
        for r in results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        reset_queries()
    python_ms = (time.process_time() - cpu_before) * 1000
    pg_ms = _backend_cpu_ms(backend) - pg_before
    n = len(events)
    print(
        f"batches of {args.batch}, {n} events: {statuses}\n"
        f"Python {python_ms / n:.3f} CPU-ms/event, PostgreSQL backend {pg_ms / n:.3f}, "
        f"statements {statements / len(batches):.1f} per batch"
        + (" (Python figure includes cProfile overhead)" if profiler else "")
    )
    if args.statements:
        for kind, (count, seconds) in sorted(timing.items(), key=lambda kv: -kv[1][1]):
            print(f"{seconds * 1000 / n:8.3f} ms/event  {count / len(batches):5.1f}/batch  {kind}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        print(out.getvalue())
    return 0
