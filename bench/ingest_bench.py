"""Ingest throughput over real HTTP, side by side with a naive DRF baseline in the same run.

``python -m bench ingest [--quick] [--workers N] [--threads N] [--only W1,W2,W4]``

1. Drops and recreates a dedicated PostgreSQL database (``BENCH_DATABASE_URL``, default
   ``postgres://postgres@127.0.0.1:5432/interlock_bench``), migrates it and seeds the P1
   world (``bench/ingest_world.py``). ``synchronous_commit`` stays on (checked, printed).
2. Starts gunicorn (``interlock.wsgi`` with ``bench.settings``: the product plus the naive
   app) with DEBUG off and a generated SECRET_KEY, gthread workers sized for two cores.
3. Releases and acknowledges the benchmark's orders through the API (not timed), then runs
   the workloads from separate client processes (``bench/ingest_load.py``) over loopback:

   - **W1** bulk ingest: concurrent clients posting ``--batch`` events per request to
     ``/api/v1/events/bulk``, and the same bodies to the naive bulk endpoint;
   - **W4** duplicate storm: W1's accepted events sent again, in bulk;
   - **W2** single events: the peak (closed loop), then a paced open-loop client at 70% of
     that peak (latency counted from the intended send time, so queueing shows).

CPU-seconds per 1,000 events are the server's: the gunicorn workers plus the PostgreSQL
backends serving the benchmark database (``/proc/<pid>/stat`` through psutil), not the
clients. Results go to ``bench/results/latest.md`` (and are printed); ``bench/RESULTS.md``
is the committed copy. The server and every client are stopped on exit and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import datetime as dt
import http.client
import multiprocessing
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import orjson
import psutil
import psycopg

from bench.ingest_load import ClientResult, ClientSpec, run_client

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/interlock_bench"
PRODUCT_BULK = "/api/v1/events/bulk"
PRODUCT_SINGLE = "/api/v1/events"
NAIVE_BULK = "/bench/naive/events/bulk"
NAIVE_SINGLE = "/bench/naive/events"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)


# --- database ---------------------------------------------------------------------------
def _admin_conninfo(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    return admin, name


def recreate_database(url: str, *, template: str | None = None) -> None:
    """Drop and create the bench database (a copy of ``template`` when given)."""
    admin, name = _admin_conninfo(url)
    if not name.startswith("interlock_bench"):
        raise SystemExit(
            f"refusing to drop {name!r}: the bench database name must start with interlock_bench"
        )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{copy}')


def drop_database(url: str) -> None:
    admin, name = _admin_conninfo(url)
    if not name.startswith("interlock_bench"):
        raise SystemExit(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _db_conn(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)


# --- server -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    def worker_pids(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        stop_group(self.process, timeout=15)


def stop_group(process: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM the session ``process`` leads (all its children too), SIGKILL after
    ``timeout`` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def start_server(
    *, url: str, workers: int, threads: int, pipeline_only: bool = False, kind: str = "gunicorn"
) -> Server:
    """gunicorn gthread on ``interlock.wsgi`` (``kind="gunicorn"``) or uvicorn on
    ``interlock.asgi`` (``kind="uvicorn"``: the lean single-event path in front of Django,
    with the httptools parser; ``"uvicorn-h11"`` the same with the pure-Python h11)."""
    port = _free_port()
    # Only the bench's Redis: a CELERY_BROKER_URL or CACHE_URL of the caller's shell would
    # send the server's wake-ups and cache elsewhere.
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL")},
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CACHE_KEY_PREFIX": "interlock-bench",
        "LOG_LEVEL": "WARNING",
        "BENCH_PIPELINE_ONLY": "1" if pipeline_only else "0",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "interlock.wsgi",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--keep-alive",
        "60",
        "--backlog",
        "2048",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
    ]
    if kind.startswith("uvicorn"):
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "interlock.asgi:application",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backlog",
            "2048",
            "--timeout-keep-alive",
            "60",
            "--no-access-log",
            "--log-level",
            "warning",
            "--app-dir",
            str(ROOT),
            # httptools (C) unless the pure-Python h11 parser is asked for, to compare them.
            "--http",
            "h11" if kind == "uvicorn-h11" else "httptools",
        ]
    # Own session: the whole process group is stopped with it, whatever happens here.
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    server = Server(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{kind} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", NAIVE_SINGLE)
            conn.getresponse().read()
            conn.close()
            # uvicorn with one worker serves in its own process (no children to wait for).
            single = kind.startswith("uvicorn") and workers == 1
            if len(server.worker_pids()) >= (0 if single else workers):
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"{kind} did not answer within 60 s")


def post_json(port: int, path: str, body: object, key: str | None) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Api-Key {key}"
    conn.request("POST", path, body=orjson.dumps(body), headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, orjson.loads(data)


# --- CPU accounting ---------------------------------------------------------------------
class CpuMeter:
    """CPU seconds of the gunicorn workers and the PostgreSQL backends of the bench DB."""

    def __init__(self, server: Server, db: psycopg.Connection) -> None:
        self.server, self.db = server, db

    def _pids(self) -> list[int]:
        rows = self.db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
        return [self.server.process.pid, *self.server.worker_pids(), *(r[0] for r in rows)]

    def sample(self) -> dict[int, float]:
        out = {}
        for pid in self._pids():
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                out[pid] = times.user + times.system
        return out

    def spent(self, before: dict[int, float], after: dict[int, float]) -> tuple[float, float]:
        """``(server seconds, PostgreSQL seconds)`` between two samples."""
        server = {self.server.process.pid, *self.server.worker_pids()}
        spent = [0.0, 0.0]
        for pid, value in after.items():
            spent[pid not in server] += value - before.get(pid, 0.0)
        return spent[0], spent[1]


# --- running a phase ----------------------------------------------------------------------
@dataclass
class Row:
    workload: str
    implementation: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_per_1k: float
    db_share: float  # PostgreSQL's part of cpu_per_1k
    statuses: dict[str, int]
    requests: int
    note: str = ""
    ratio: float | None = None
    next_n: dict[int, int] | None = None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _client_init() -> None:
    # Clients die quietly with the run (Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Runner:
    def __init__(self, server: Server, meter: CpuMeter, key: str) -> None:
        self.server, self.meter, self.key = server, meter, key
        self.pool = cf.ProcessPoolExecutor(
            max_workers=8,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_client_init,
        )

    def close(self, *, interrupted: bool = False) -> None:
        if interrupted:
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        self.pool.shutdown(wait=not interrupted, cancel_futures=True)

    def run(
        self,
        workload: str,
        implementation: str,
        specs: list[ClientSpec],
        *,
        count_status: str | None = None,
        note: str = "",
    ) -> Row:
        before = self.meter.sample()
        results: list[ClientResult] = [
            f.result() for f in [self.pool.submit(run_client, s) for s in specs]
        ]
        after = self.meter.sample()
        latencies = [x for r in results for x in r.latencies]
        events = sum(r.events for r in results)
        statuses: dict[str, int] = {}
        for r in results:
            for k, v in r.statuses.items():
                statuses[k] = statuses.get(k, 0) + v
        wall = max(r.last_end for r in results) - min(r.first_start for r in results)
        counted = statuses.get(count_status, 0) if count_status else events
        server_cpu, db_cpu = self.meter.spent(before, after)
        cpu = server_cpu + db_cpu
        row = Row(
            workload=workload,
            implementation=implementation,
            events_per_s=counted / wall if wall > 0 else 0.0,
            p50_ms=_pct(latencies, 0.50),
            p99_ms=_pct(latencies, 0.99),
            cpu_per_1k=cpu / events * 1000 if events else float("nan"),
            db_share=db_cpu / cpu if cpu else 0.0,
            statuses=statuses,
            requests=sum(r.requests for r in results),
            note=note,
            next_n={s.client: r.next_n for s, r in zip(specs, results, strict=True)},
        )
        errors = sum(r.errors for r in results)
        print(
            f"  {workload:<4} {implementation:<28} {row.events_per_s:>9,.0f} ev/s  "
            f"p50 {row.p50_ms:7.1f} ms  p99 {row.p99_ms:7.1f} ms  "
            f"cpu {row.cpu_per_1k:6.3f} s/1k ({row.db_share:.0%} PostgreSQL)  "
            f"{dict(sorted(statuses.items()))}" + (f"  ERRORS {errors}" if errors else ""),
            flush=True,
        )
        return row

    def specs(
        self,
        *,
        path: str,
        key: str | None,
        stream: int,
        clients: int,
        duration: float,
        batch: int = 1,
        connections: int = 1,
        rate: float | None = None,
        wrap: dict[int, int] | None = None,
    ) -> list[ClientSpec]:
        start_at = time.time() + 1.0 + 0.3 * clients
        return [
            ClientSpec(
                port=self.server.port,
                path=path,
                api_key=key,
                stream=stream,
                client=c,
                duration=duration,
                start_at=start_at,
                batch=batch,
                connections=connections,
                rate=rate / clients if rate else None,
                wrap=wrap[c] if wrap else None,
            )
            for c in range(clients)
        ]


# --- report -------------------------------------------------------------------------------
TARGETS = {
    "W1": "≥10,000 ev/s, p99 <250 ms, ≥25× naive",
    "W2": "≥1,000 ev/s, p99 <50 ms at 70% of peak, ≥2.5× naive",
    "W4": "≥20,000 duplicates/s",
}


def render(rows: list[Row], header: list[str]) -> str:
    lines = [*header, ""]
    lines.append(
        "| workload | implementation | events/s | p50 ms | p99 ms | CPU-s / 1k events "
        "(PostgreSQL share) | × naive | target |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ratio = f"{row.ratio:.1f}×" if row.ratio else ""
        lines.append(
            f"| {row.workload} | {row.implementation} | {row.events_per_s:,.0f} | "
            f"{row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.cpu_per_1k:.3f} ({row.db_share:.0%}) | "
            f"{ratio} | "
            f"{TARGETS.get(row.workload, '') if row.ratio or 'W4' in row.workload else ''} |"
        )
    lines.append("")
    lines.append("Outcomes per row (status → count):")
    lines.append("")
    for row in rows:
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(row.statuses.items()))
        lines.append(
            f"- {row.workload} {row.implementation}: {statuses}; {row.requests:,} requests"
        )
    return "\n".join(lines) + "\n"


# --- main -------------------------------------------------------------------------------
def _handlers_loaded() -> list[str]:
    from orchestrator.ingest import handlers

    return sorted(handlers.HANDLERS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--quick", action="store_true", help="short phases (a smoke run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="events per bulk request")
    parser.add_argument("--clients", type=int, default=3, help="bulk client processes")
    parser.add_argument("--only", default="W1,W4,W2", help="comma-separated workloads")
    parser.add_argument("--no-naive", action="store_true", help="skip the baseline rows")
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="run the server without the event handlers (the pipeline's own cost)",
    )
    parser.add_argument("--hold", action="store_true", help="keep the server up until Ctrl-C")
    parser.add_argument(
        "--w2-levels",
        default="2,4,8",
        help="connections per client process tried for the W2 peak (2 processes each)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--server",
        choices=("gunicorn", "uvicorn", "uvicorn-h11"),
        default="gunicorn",
        help="gunicorn gthread on interlock.wsgi, or uvicorn on interlock.asgi (lean single path)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    scale = 0.3 if args.quick else 1.0

    url = database_url()
    from django.db import connections

    connections.close_all()
    print(f"database {url}: recreating, migrating, seeding", flush=True)
    recreate_database(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench.ingest_world import order_events, seed

    key = seed()
    connections.close_all()
    db = _db_conn(url)
    sync_commit = db.execute("SHOW synchronous_commit").fetchone()[0]
    fsync = db.execute("SHOW fsync").fetchone()[0]
    pg_version = db.info.server_version // 10000
    if sync_commit != "on":
        print(f"WARNING: synchronous_commit is {sync_commit}", flush=True)
    handlers = _handlers_loaded()
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()

    server = start_server(
        url=url,
        workers=args.workers,
        threads=args.threads,
        pipeline_only=args.pipeline_only,
        kind=args.server,
    )
    if args.pipeline_only:
        handlers = ["none (--pipeline-only)"]
    runner = None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rows: list[Row] = []
    interrupted = False
    try:
        print(
            f"{args.server} {args.workers}×{args.threads} on :{server.port} "
            f"(DEBUG off, synchronous_commit={sync_commit}); handlers: {', '.join(handlers) or 'none'}",
            flush=True,
        )
        status, body = post_json(server.port, PRODUCT_BULK, {"events": order_events()}, key)
        setup: dict[str, int] = {}
        for item in body.get("results", []) if isinstance(body, dict) else []:
            setup[item["status"]] = setup.get(item["status"], 0) + 1
        print(f"  setup: orders released + acknowledged → HTTP {status} {setup}", flush=True)

        meter = CpuMeter(server, db)
        runner = Runner(server, meter, key)
        w1_next: dict[int, int] | None = None
        naive_w1 = naive_w2 = None

        if "W1" in only:
            common = {"clients": args.clients, "batch": args.batch}
            if not args.no_naive:
                naive_w1 = runner.run(
                    "W1",
                    "naive DRF ModelSerializer",
                    runner.specs(path=NAIVE_BULK, key=None, stream=1, duration=8 * scale, **common),
                )
                rows.append(naive_w1)
            ours = runner.run(
                "W1",
                f"Interlock bulk ({args.batch}/request)",
                runner.specs(path=PRODUCT_BULK, key=key, stream=2, duration=15 * scale, **common),
                count_status=None,
            )
            if naive_w1:
                ours.ratio = ours.events_per_s / naive_w1.events_per_s
            rows.append(ours)
            w1_next = ours.next_n

        if "W4" in only and w1_next:
            rows.append(
                runner.run(
                    "W4",
                    f"Interlock duplicates ({args.batch}/request)",
                    runner.specs(
                        path=PRODUCT_BULK,
                        key=key,
                        stream=2,
                        clients=args.clients,
                        batch=args.batch,
                        duration=10 * scale,
                        wrap=w1_next,
                    ),
                    count_status="duplicate",
                )
            )

        if "W2" in only:
            # The peak: closed loop at a few concurrencies, the best one kept (each
            # implementation gets its own best).
            levels = tuple(int(x) for x in args.w2_levels.split(","))

            def peak_of(label: str, path: str, key_: str | None, stream: int) -> Row:
                best = None
                for level, connections in enumerate(levels):
                    row = runner.run(
                        "W2",
                        f"{label} (peak, 2×{connections} connections)",
                        runner.specs(
                            path=path,
                            key=key_,
                            stream=stream + 10 * level,
                            clients=2,
                            connections=connections,
                            duration=6 * scale,
                        ),
                    )
                    if best is None or row.events_per_s > best.events_per_s:
                        best = row
                return best

            if not args.no_naive:
                naive_w2 = peak_of("naive DRF ModelSerializer", NAIVE_SINGLE, None, 3)
                rows.append(naive_w2)
            peak = peak_of("Interlock single", PRODUCT_SINGLE, key, 4)
            if naive_w2:
                peak.ratio = peak.events_per_s / naive_w2.events_per_s
            rows.append(peak)
            rate = 0.7 * peak.events_per_s
            rows.append(
                runner.run(
                    "W2",
                    f"Interlock single at 70% of peak ({rate:,.0f}/s paced)",
                    runner.specs(
                        path=PRODUCT_SINGLE,
                        key=key,
                        stream=45,
                        clients=2,
                        connections=8,
                        rate=rate,
                        duration=12 * scale,
                    ),
                )
            )
        if args.hold:
            print(f"server up on :{server.port} (key {key}); Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
    except (KeyboardInterrupt, cf.process.BrokenProcessPool):
        # Ctrl-C reaches the clients too; they die first and break the pool.
        interrupted = True
        print("interrupted (or a client died); stopping server and clients", flush=True)
        return 130
    finally:
        if runner is not None:
            runner.close(interrupted=interrupted)
        server.stop()
        db.close()
        signal.signal(signal.SIGTERM, previous)

    header = [
        f"Ingest benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {git}"
        + (" (with uncommitted changes)" if dirty else ""),
        "",
        f"`python -m bench ingest{' ' + ' '.join(argv) if argv else ''}` on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), shared with clients and PostgreSQL "
        f"{pg_version} (synchronous_commit={sync_commit}, fsync={fsync}); "
        f"{args.server} {args.workers} workers"
        + (f" × {args.threads} threads" if args.server == "gunicorn" else "")
        + ", DEBUG off; "
        f"handlers loaded: {', '.join(handlers) or 'none'}. "
        f"Bulk: {args.clients} clients × {args.batch} events/request; single: 2 processes × N "
        f"connections (peak: the best of 2×{{{args.w2_levels}}} closed-loop connections), then 2 × 8 "
        "connections paced at 70% of the peak "
        "(open loop, latency from the intended send time). CPU = gunicorn + PostgreSQL backends "
        "of the bench database.",
    ]
    text = render(rows, header)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / ("latest-pipeline-only.md" if args.pipeline_only else "latest.md")
    target.write_text(text)
    print()
    print(text)
    print(f"written to {target} (bench/RESULTS.md is the committed copy, updated by hand)")
    if args.json:
        emit_json(rows, argv)
    return 0


def _figures(row: Row) -> dict:
    from bench.report import figures

    # CPU-s per 1,000 events is CPU-ms per event.
    return figures(
        f"{row.workload} {row.implementation}",
        events_per_s=row.events_per_s,
        p50_ms=row.p50_ms,
        p99_ms=row.p99_ms,
        cpu_ms_per_event=row.cpu_per_1k,
        postgres_share=row.db_share,
        statuses=row.statuses,
    )


def emit_json(rows: list[Row], argv: list[str]) -> None:
    """The headline pair: W1 bulk against the naive bulk endpoint when W1 ran, else the W2
    peak against the naive single endpoint; every row is listed under ``rows``."""
    from bench.report import emit, result

    def find(workload: str, naive: bool) -> Row | None:
        for row in rows:
            naive_row = "naive" in row.implementation
            if row.workload == workload and naive_row == naive and "70%" not in row.implementation:
                return row
        return None

    workload = "W1" if find("W1", False) else "W2"
    product, baseline = find(workload, False), find(workload, True)
    emit(
        result(
            f"ingest {workload}",
            _figures(product) if product else {},
            _figures(baseline) if baseline else None,
            command="python -m bench ingest " + " ".join(argv),
            rows=[_figures(r) for r in rows],
        )
    )
