"""Where the CPU of a coalesced batch goes, in process: ``python -m bench profile``.

Seeds the ingest benchmark's world into its own database (``BENCH_PROFILE_DATABASE_URL``),
then feeds W2's single events to ``ingest_requests`` in batches of ``--batch`` (what the
group commit of ``coalesce.py`` hands it) and reports, per event: the Python CPU of the
process, the CPU of its PostgreSQL backend (``/proc``, same machine), the statements sent,
and with ``--profile`` the top functions by cumulative time (cProfile). Wall-clock figures
are not reported: the machine is shared, CPU per event is the figure to compare.

``--http bulk`` (or ``--http single``) drives the real ASGI application instead
(``interlock.asgi``: Django, DRF and the lean single-event path, no socket): one bulk
request of ``--batch`` events, or ``--batch`` concurrent single requests that the group
commit coalesces, so the figures include authentication, reading and parsing the body,
the answer and its JSON. PostgreSQL CPU is then that of every backend of the database.
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


def _print_profile(profiler, args) -> None:
    """Top functions by cumulative time (``--profile``); ``--profile-out`` keeps them."""
    if profiler is None:
        return
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    if args.profile_out:
        profiler.dump_stats(args.profile_out)
    print(out.getvalue())


def _settle_gc() -> None:
    """As the web entry points do after start-up (``interlock.gcsettle``): collect, freeze
    what survived, collect the young generation less often. Migrating and seeding leave
    ~330k cyclic objects behind; a full collection of them inside the measured window cost
    0.5-0.8 CPU-ms per event in some runs and not others, which no A/B could see through."""
    from interlock.gcsettle import settle_gc

    settle_gc()


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
    parser.add_argument(
        "--http",
        choices=("bulk", "single"),
        help="through the ASGI application: one bulk request per batch, or concurrent singles "
        "(--profile then sees the event loop's thread only, not the views' or the batch's)",
    )
    args = parser.parse_args(argv)
    if args.http:
        # The ASGI application's own settings, as a server would start it (bench/ingest_bench).
        os.environ.update(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0")

    from django.db import connection, connections, reset_queries
    from django.test.utils import CaptureQueriesContext

    from bench.ingest_load import make_event
    from bench.ingest_world import order_events, seed
    from orchestrator.ingest.pipeline import ingest_batch, ingest_requests, principal_for
    from plants.models import ConnectedSystem

    url = os.environ["DATABASE_URL"]  # bench/__main__.py: BENCH_PROFILE_DATABASE_URL
    key = None
    if not args.reuse:
        connections.close_all()
        recreate_database(url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        key = seed()
    system = ConnectedSystem.objects.get(code="MES-P1")
    principal = principal_for(system)
    if args.http:
        if key is None:
            from plants.services.apikeys import api_key_issue

            key = api_key_issue(system=system, name=f"profile {uuid.uuid4().hex[:8]}")[1]
        return _over_http(args, key, principal)
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
    _settle_gc()
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
    _print_profile(profiler, args)
    return 0


def _over_http(args, key: str, principal) -> int:
    """``--http``: the batches through ``interlock.asgi.application``, in this process."""
    import asyncio

    import orjson
    from django.db import connection

    from bench.ingest_load import make_event
    from bench.ingest_world import order_events
    from interlock.asgi import application  # after django.setup(): as uvicorn loads it
    from orchestrator.ingest.pipeline import ingest_batch

    if not args.reuse:
        ingest_batch(principal=principal, envelopes=order_events())
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Api-Key {key}".encode()),
        (b"content-type", b"application/json"),
    ]

    async def request(path: str, body: bytes) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await application(scope, receive, send)
        return status

    async def one_batch(events: list[dict]) -> list[int]:
        if args.http == "bulk":
            body = orjson.dumps({"events": events})
            return [await request("/api/v1/events/bulk", body)]
        bodies = [orjson.dumps(e) for e in events]
        return list(await asyncio.gather(*(request("/api/v1/events", b) for b in bodies)))

    def backends_cpu() -> dict[int, float]:
        # Django's ASGI handler runs each request's view on a thread of its own, with a
        # connection of its own: backends that start during the run count in full.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            pids = [pid for (pid,) in cursor.fetchall()]
        return {pid: _backend_cpu_ms(pid) for pid in pids}

    stream, client = int(time.time()) % 200, random.randrange(2, 100)
    events = [make_event(stream, client, n) for n in range(args.events)]
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    loop = asyncio.new_event_loop()
    # Warm up: imports, the key remembered, the batch thread and its connection.
    loop.run_until_complete(one_batch([make_event(stream, 1, n) for n in range(args.batch)]))
    _settle_gc()
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    codes: dict[int, int] = {}
    pg_before, cpu_before = backends_cpu(), time.process_time()
    for batch in batches:
        if profiler:
            profiler.enable()
        for code in loop.run_until_complete(one_batch(batch)):
            codes[code] = codes.get(code, 0) + 1
        if profiler:
            profiler.disable()
    python_ms = (time.process_time() - cpu_before) * 1000
    pg_ms = sum(ms - pg_before.get(pid, 0.0) for pid, ms in backends_cpu().items())
    n = len(events)
    print(
        f"{args.http} over ASGI, batches of {args.batch}, {n} events: HTTP {codes}\n"
        f"Python {python_ms / n:.3f} CPU-ms/event, PostgreSQL backends {pg_ms / n:.3f}"
        + (" (Python figure includes cProfile overhead)" if profiler else "")
    )
    _print_profile(profiler, args)
    return 0
