"""W3 end to end: events in through the API → outbox → Celery → ERP simulator applied,
side by side with a naive baseline (one Celery task per event, no batching) in the same run.

``python -m bench w3 [--quick] [--duration S] [--clients N] [--batch N] [--concurrency N]
[--only naive,product] [--profile]``

1. Recreates its dedicated database (``BENCH_W3_DATABASE_URL``, default
   ``interlock_bench_w3``: not ``bench ingest``'s, which may run at the same time),
   migrates and seeds the P1 world (``bench/ingest_world.py``), adds the ERP
   ``ConnectedSystem`` (REST, no auth, the product's default rate limit) serving P1 and
   pointing at the ERP simulator. No rule set is published: the shipped packs run as the
   default rule set (``order-to-receipt`` posts ``operation.confirmed`` → ERP
   ``operation.confirmation`` and ``material.issued`` → ``goods_issue``).
2. Starts, each in its own session: the ERP simulator (``connectors.simulators.erp``, its
   own SQLite ledger in a temporary directory), gunicorn (as ``bench ingest``: ``bench.settings``,
   DEBUG off) and one Celery worker (prefork) on a dedicated Redis database
   (``BENCH_W3_REDIS_URL``, default ``redis://127.0.0.1:6379/12``, flushed at start).
3. Per implementation, the same load: ``--clients`` processes posting ``--batch`` unique
   events per request (3 of 4 ``operation.confirmed``, 1 of 4 ``material.issued``, as W1)
   for ``--duration`` seconds, closed loop. Each request's send and answer times are kept
   per event. Then it waits until everything accepted has reached the ERP (or
   ``--drain-timeout``).

   - **naive**: ``/bench/naive/w3/events/bulk`` stores the rows (DRF ModelSerializer) and
     enqueues one task per event (``bench/naive/tasks.py``) that POSTs it alone to
     ``/erp/messages``;
   - **product**: ``/api/v1/events/bulk`` (the ingest pipeline, rules, outbox rows in the
     same transaction, one delivery wake-up per commit; ``deliver_outbox`` claims with SKIP
     LOCKED and posts batches of up to 100 to ``/erp/messages/batch``).

Reported per implementation: events/s end to end in steady state (effects applied at the
ERP per second while the load runs, the first quarter left out), the same over the whole
run (all events, first send → last effect), p50/p99 lag = ERP ``applied_at`` − the moment
the API answered for that event, CPU-seconds per 1,000 events (gunicorn + Celery worker +
the bench database's PostgreSQL backends, sampled every 0.5 s; the ERP simulator and
Redis, shared with others, shown apart), and the three-way ledger: accepted by the API /
delivered rows in PostgreSQL / effects in the ERP ledger, with duplicate effects (an event
with more than one effect, or an effect of no accepted event) counted.

Results go to ``bench/results/latest_w3.md`` and the W3 section of ``bench/RESULTS.md``.
Every process started here is stopped on exit and on Ctrl-C (checked and printed).
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
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psutil
import psycopg

from bench.ingest_bench import (
    PRODUCT_BULK,
    Server,
    _db_conn,
    post_json,
    start_server,
)
from bench.ingest_load import make_event
from bench.ingest_world import order_events
from bench.stack import (
    Proc,
    add_erp_system,
    erp_stats,
    prepare_database,
    process_environment,
    start_erp,
    start_worker,
    stop_all,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
NAIVE_W3 = "/bench/naive/w3/events/bulk"
#: Its own database and Redis number: ``bench ingest`` (interlock_bench, Redis 13) may run
#: at the same time on this machine and recreates its database at start.
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/interlock_bench_w3"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
TARGET = "≥2,000 ev/s, p99 lag <2 s, 0 duplicate effects"
SECTION_START = "<!-- W3 start (written by python -m bench w3) -->"
SECTION_END = "<!-- W3 end -->"


# --- CPU accounting -------------------------------------------------------------------------
class CpuSampler:
    """CPU seconds per group (``ours``: gunicorn + worker + PostgreSQL backends of the bench
    DB; ``postgres`` its share; ``erp``: the simulator), sampled every 0.5 s so processes
    that come and go between the two ends of a phase are counted up to their last sample."""

    def __init__(self, server: Server, worker: Proc, erp: Proc, db_url: str) -> None:
        self.server, self.worker, self.erp = server, worker, erp
        self.db = _db_conn(db_url)
        self.lock = threading.Lock()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.group: dict[int, str] = {}
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def _pids(self) -> dict[int, str]:
        rows = self.db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
        groups = {r[0]: "postgres" for r in rows}
        groups.update(
            dict.fromkeys([self.server.process.pid, *self.server.worker_pids()], "gunicorn")
        )
        groups.update(dict.fromkeys(self.worker.pids(), "worker"))
        groups.update(dict.fromkeys(self.erp.pids(), "erp"))
        return groups

    def _sample(self, *, baseline: bool) -> None:
        for pid, group in self._pids().items():
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                value = times.user + times.system
                with self.lock:
                    self.group[pid] = group
                    if pid not in self.first:
                        self.first[pid] = value if baseline else 0.0
                    self.last[pid] = value

    def start(self) -> None:
        with self.lock:
            self.first, self.last, self.group = {}, {}, {}
        self._sample(baseline=True)
        self.stop_event.clear()

        def loop() -> None:
            while not self.stop_event.wait(0.5):
                self._sample(baseline=False)

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def finish(self) -> dict[str, float]:
        self.stop_event.set()
        if self.thread:
            self.thread.join()
        self._sample(baseline=False)
        spent: dict[str, float] = {}
        with self.lock:
            for pid, value in self.last.items():
                group = self.group[pid]
                spent[group] = spent.get(group, 0.0) + value - self.first[pid]
        return spent

    def close(self) -> None:
        self.stop_event.set()
        self.db.close()


# --- load -----------------------------------------------------------------------------------
@dataclass
class LoadSpec:
    port: int
    path: str
    api_key: str | None
    stream: int
    client: int
    duration: float
    start_at: float
    batch: int
    connections: int = 1
    rate: float | None = None  # events/s of this process (open loop); None = closed loop


@dataclass
class LoadResult:
    #: One per request: (first n, events, send time, answer time) — wall clock (time.time()).
    requests: list[tuple[int, int, float, float]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0


def _client_init() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _load_thread(spec: LoadSpec, index: int, out: LoadResult, lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=120)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    if spec.api_key:
        headers["Authorization"] = f"Api-Key {spec.api_key}"
    local = LoadResult()
    n = index * spec.batch
    stride = spec.batch * spec.connections
    delay = spec.start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    deadline = spec.start_at + spec.duration
    interval = spec.batch * spec.connections / spec.rate if spec.rate else 0.0
    scheduled = spec.start_at + (index * spec.batch / spec.rate if spec.rate else 0.0)
    while True:
        body = orjson.dumps(
            {"events": [make_event(spec.stream, spec.client, i) for i in range(n, n + spec.batch)]}
        )
        if spec.rate:
            if scheduled >= deadline:
                break
            if scheduled > time.time():
                time.sleep(scheduled - time.time())
            sent = scheduled  # open loop: a late request counts from when it was due
            scheduled += interval
        else:
            sent = time.time()
        if sent >= deadline:
            break
        conn.request("POST", spec.path, body=body, headers=headers)
        response = conn.getresponse()
        status, data = response.status, response.read()
        answered = time.time()
        local.requests.append((n, spec.batch, sent, answered))
        if status >= 300:
            local.errors += 1
            key = f"http_{status}"
            local.statuses[key] = local.statuses.get(key, 0) + spec.batch
        else:
            for item in orjson.loads(data).get("results", []):
                key = item.get("status") or ("created" if "id" in item else "?")
                local.statuses[key] = local.statuses.get(key, 0) + 1
        n += stride
    conn.close()
    with lock:
        out.requests.extend(local.requests)
        out.errors += local.errors
        for key, value in local.statuses.items():
            out.statuses[key] = out.statuses.get(key, 0) + value


def run_load(spec: LoadSpec) -> LoadResult:
    out, lock = LoadResult(), threading.Lock()
    threads = [
        threading.Thread(target=_load_thread, args=(spec, i, out, lock), daemon=True)
        for i in range(spec.connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


# --- ledgers --------------------------------------------------------------------------------
def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ErpLedger:
    """Reads the simulator's SQLite ledger directly (read-only; WAL lets it write on)."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port

    def _conn(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)

    def count(self, naive: bool) -> int:
        op = "LIKE" if naive else "NOT LIKE"
        with contextlib.closing(self._conn()) as conn:
            return conn.execute(
                f"SELECT COUNT(*) FROM ledger WHERE idempotency_key {op} 'naive|%'"
            ).fetchone()[0]

    def entries(self, naive: bool) -> list[tuple[str, float]]:
        op = "LIKE" if naive else "NOT LIKE"
        with contextlib.closing(self._conn()) as conn:
            rows = conn.execute(
                f"SELECT idempotency_key, applied_at FROM ledger "
                f"WHERE idempotency_key {op} 'naive|%'"
            ).fetchall()
        return [(key, _epoch(applied)) for key, applied in rows]

    def stats(self) -> dict:
        return erp_stats(self.port)


@dataclass
class Phase:
    name: str
    label: str
    accepted: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    db_rows: int = 0
    db_delivered: int = 0
    effects: int = 0
    duplicate_effects: int = 0
    orphan_effects: int = 0
    missing: int = 0
    erp_duplicates_answered: int = 0
    steady_eps: float = 0.0
    overall_eps: float = 0.0
    ingest_eps: float = 0.0
    p50_lag: float = float("nan")
    p99_lag: float = float("nan")
    max_lag: float = float("nan")
    p99_request: float = float("nan")
    cpu: dict[str, float] = field(default_factory=dict)
    events: int = 0
    requests: int = 0
    drained: bool = True
    drain_seconds: float = 0.0
    ratio: float | None = None

    @property
    def cpu_per_1k(self) -> float:
        ours = sum(v for k, v in self.cpu.items() if k != "erp")
        return ours / self.effects * 1000 if self.effects else float("nan")

    @property
    def pg_share(self) -> float:
        ours = sum(v for k, v in self.cpu.items() if k != "erp")
        return self.cpu.get("postgres", 0.0) / ours if ours else 0.0

    @property
    def erp_per_1k(self) -> float:
        return self.cpu.get("erp", 0.0) / self.effects * 1000 if self.effects else float("nan")

    @property
    def ledger_ok(self) -> bool:
        return (
            self.accepted == self.db_delivered == self.effects
            and self.duplicate_effects == 0
            and self.orphan_effects == 0
        )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the run --------------------------------------------------------------------------------
class Bench:
    def __init__(self, args, *, key: str, server: Server, erp_port: int, ledger: ErpLedger):
        self.args, self.key, self.server = args, key, server
        self.erp_port, self.ledger = erp_port, ledger
        self.pool = cf.ProcessPoolExecutor(
            max_workers=max(2, args.clients),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_client_init,
        )

    def close(self, *, interrupted: bool = False) -> None:
        if interrupted:
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        self.pool.shutdown(wait=not interrupted, cancel_futures=True)

    # The database side of each implementation: (rows, delivered) and a key → message_id map.
    def _naive_db(self, db: psycopg.Connection) -> tuple[int, int]:
        from bench.naive.models import NaiveEvent

        table = NaiveEvent._meta.db_table
        return db.execute(f"SELECT COUNT(*), COUNT(delivered_at) FROM {table}").fetchone()

    def _product_db(self, db: psycopg.Connection, erp_id: int) -> tuple[int, int]:
        from orchestrator.models import OutboxMessage

        table = OutboxMessage._meta.db_table
        return db.execute(
            f"SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'delivered') "
            f"FROM {table} WHERE system_id = %s",
            [erp_id],
        ).fetchone()

    def _product_keys(self, db: psycopg.Connection, erp_id: int) -> dict[str, str]:
        from orchestrator.models import InboundMessage, OutboxMessage

        rows = db.execute(
            f"SELECT o.idempotency_key, i.message_id FROM {OutboxMessage._meta.db_table} o "
            f"JOIN {InboundMessage._meta.db_table} i ON i.event_id = o.event_id "
            "WHERE o.system_id = %s",
            [erp_id],
        ).fetchall()
        return dict(rows)

    def run(self, name: str, db: psycopg.Connection, sampler: CpuSampler, erp_id: int) -> Phase:
        args = self.args
        naive = name == "naive"
        phase = Phase(
            name,
            "naive: one Celery task per event → /erp/messages"
            if naive
            else "Interlock: outbox + deliver_outbox batches (≤100) → /erp/messages/batch",
        )
        stream = 61 if naive else 62
        path, key = (NAIVE_W3, None) if naive else (PRODUCT_BULK, self.key)
        erp_before = self.ledger.stats().get("message_duplicate", 0)
        start_at = time.time() + 1.0 + 0.2 * args.clients
        specs = [
            LoadSpec(
                port=self.server.port,
                path=path,
                api_key=key,
                stream=stream,
                client=c,
                duration=args.duration,
                start_at=start_at,
                batch=args.batch,
                connections=args.connections,
                rate=args.rate / args.clients if args.rate else None,
            )
            for c in range(args.clients)
        ]
        futures = [self.pool.submit(run_load, s) for s in specs]
        sampler.start()  # after the clients are forked (they wait for start_at)
        results = [f.result() for f in futures]
        load_end = max(r[3] for res in results for r in res.requests)

        # Wait until every accepted event has its effect at the ERP (or the drain timeout).
        drain_start = time.time()
        accepted = sum(res.statuses.get("created" if naive else "accepted", 0) for res in results)
        last_progress, last_count = time.time(), -1
        while True:
            rows, delivered = self._naive_db(db) if naive else self._product_db(db, erp_id)
            effects = self.ledger.count(naive)
            if delivered >= accepted and effects >= accepted and rows == delivered:
                break
            if effects != last_count:
                last_progress, last_count = time.time(), effects
            if time.time() - drain_start > args.drain_timeout or time.time() - last_progress > 30:
                phase.drained = False
                break
            time.sleep(0.5)
        phase.drain_seconds = time.time() - drain_start
        time.sleep(0.5)  # let the last delivery task record its outcome
        phase.cpu = sampler.finish()

        # Ledger and lags.
        sends: dict[str, tuple[float, float]] = {}
        for spec, res in zip(specs, results, strict=True):
            for first, count, sent, answered in res.requests:
                for i in range(first, first + count):
                    sends[make_event(stream, spec.client, i)["message_id"]] = (sent, answered)
                phase.requests += 1
            for k, v in res.statuses.items():
                phase.statuses[k] = phase.statuses.get(k, 0) + v
        phase.events = len(sends)
        phase.accepted = accepted
        phase.db_rows, phase.db_delivered = (
            self._naive_db(db) if naive else self._product_db(db, erp_id)
        )
        entries = self.ledger.entries(naive)
        phase.effects = len(entries)
        to_message = {f"naive|{m}": m for m in sends} if naive else self._product_keys(db, erp_id)
        seen: dict[str, int] = {}
        lags, applied_times = [], []
        for ledger_key, applied in entries:
            message = to_message.get(ledger_key)
            if message is None or message not in sends:
                phase.orphan_effects += 1
                continue
            seen[message] = seen.get(message, 0) + 1
            lags.append(applied - sends[message][1])
            applied_times.append(applied)
        phase.duplicate_effects = sum(n - 1 for n in seen.values() if n > 1)
        phase.missing = accepted - len(seen)
        phase.erp_duplicates_answered = self.ledger.stats().get("message_duplicate", 0) - erp_before
        phase.p50_lag, phase.p99_lag = _pct(lags, 0.50), _pct(lags, 0.99)
        phase.max_lag = max(lags) if lags else float("nan")
        phase.p99_request = _pct([r[3] - r[2] for res in results for r in res.requests], 0.99)
        first_send = min(r[2] for res in results for r in res.requests)
        window_start = first_send + 0.25 * (load_end - first_send)
        in_window = sum(1 for t in applied_times if window_start <= t <= load_end)
        phase.steady_eps = in_window / (load_end - window_start)
        phase.ingest_eps = accepted / (load_end - first_send)
        if applied_times:
            phase.overall_eps = len(applied_times) / (max(applied_times) - first_send)
        print(
            f"  {name:<8} steady {phase.steady_eps:8,.0f} ev/s  all-in {phase.overall_eps:8,.0f}"
            f" ev/s  ingest {phase.ingest_eps:8,.0f} ev/s  lag p50 {phase.p50_lag:6.2f} s "
            f"p99 {phase.p99_lag:6.2f} s  cpu {phase.cpu_per_1k:6.3f} s/1k  "
            f"ledger {phase.accepted:,}/{phase.db_delivered:,}/{phase.effects:,} "
            f"dup {phase.duplicate_effects} orphan {phase.orphan_effects}"
            + ("" if phase.drained else f"  NOT DRAINED after {phase.drain_seconds:.0f} s"),
            flush=True,
        )
        return phase


# --- profiling ------------------------------------------------------------------------------
def start_profiles(phase: str, targets: dict[str, list[int]], seconds: float):
    """py-spy on each process of ``targets`` (raw collapsed stacks, summarised later). The
    worker is sampled with ``--idle`` too, so its waits (broker, HTTP, database) show."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    for old in RESULTS_DIR.glob(f"w3-profile-{phase}-*.txt"):
        old.unlink()
    procs = []
    for name, pids in targets.items():
        for pid in pids:
            out = RESULTS_DIR / f"w3-profile-{phase}-{name}-{pid}.txt"
            command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
            command += ["--rate", "50", "--format", "raw", "--nonblocking", "-o", str(out)]
            if name == "worker":
                command.append("--idle")
            procs.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
    return procs


#: Frames kept in the inclusive view: the project's own code and a few library calls that
#: name where time goes (the rest of the stack is the same for every sample).
PROJECT_DIRS = ("connectors/", "orchestrator/", "rules/", "plants/", "interlock/", "bench/")
KEY_CALLS = {
    "bulk_update",
    "bulk_create",
    "_fetch_all",
    "execute",
    "commit",
    "send_task",
    "apply_async",
    "post",
    "get",
    "update",
    "_recv",
    "recv_into",
    "brpop",
    "wait",
}


def summarise_profile(paths: list[Path], top: int = 30) -> list[str]:
    """Inclusive shares of the project's functions (and a few telling library calls), and
    self shares of every function, over py-spy's raw collapsed stacks."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            kept, last = set(), ""
            for frame in stack.split(";"):
                match = re.match(r"(.*?) \((.*?):\d+\)$", frame)
                if not match:
                    continue
                function, where = match.groups()
                last = f"{function} [{where}]"
                if where.startswith(PROJECT_DIRS) or function.rsplit(".", 1)[-1] in KEY_CALLS:
                    kept.add(last)
            for frame in kept:
                inclusive[frame] = inclusive.get(frame, 0) + n
            if last:
                own[last] = own.get(last, 0) + n
    if not total:
        return ["(no samples)"]
    lines = [f"{total:,} samples at 50 Hz", "inclusive (project code and key calls):"]
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {n / total:6.1%}  {frame}")
    lines.append("self:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[: top // 2]:
        lines.append(f"  {n / total:6.1%}  {frame}")
    return lines


# --- report ---------------------------------------------------------------------------------
def render(phases: list[Phase], header: list[str]) -> str:
    lines = [*header, ""]
    lines.append(
        "| implementation | events/s steady (all-in) | ingest ev/s | lag p50 s | lag p99 s | "
        "CPU-s / 1k events (PostgreSQL share) | ERP sim CPU-s / 1k | × naive | "
        "ledger accepted / delivered / ERP effects | duplicate effects | target |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for p in phases:
        ratio = f"{p.ratio:.1f}×" if p.ratio else ""
        ledger = f"{p.accepted:,} / {p.db_delivered:,} / {p.effects:,}" + (
            " ✓" if p.ledger_ok else " ✗"
        )
        met = p.steady_eps >= 2000 and p.p99_lag < 2.0 and p.duplicate_effects == 0 and p.ledger_ok
        lines.append(
            f"| {p.label} | {p.steady_eps:,.0f} ({p.overall_eps:,.0f}) | {p.ingest_eps:,.0f} | "
            f"{p.p50_lag:.2f} | {p.p99_lag:.2f} | {p.cpu_per_1k:.3f} ({p.pg_share:.0%}) | "
            f"{p.erp_per_1k:.3f} | {ratio} | {ledger} | {p.duplicate_effects} | "
            + (f"{TARGET}: {'met' if met else 'missed'}" if p.name == "product" else "")
            + " |"
        )
    lines.append("")
    lines.append("Per implementation:")
    lines.append("")
    for p in phases:
        statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(p.statuses.items()))
        cpu = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(p.cpu.items()))
        lines.append(
            f"- {p.name}: {p.events:,} events in {p.requests:,} requests ({statuses}); "
            f"DB rows {p.db_rows:,}, delivered {p.db_delivered:,}; ERP effects {p.effects:,}, "
            f"missing {p.missing:,}, duplicate effects {p.duplicate_effects}, effects of no "
            f"accepted event {p.orphan_effects}, redeliveries the ERP answered `duplicate` "
            f"{p.erp_duplicates_answered:,}; max lag {p.max_lag:.2f} s; p99 request "
            f"{p.p99_request * 1000:.0f} ms; drained {p.drain_seconds:.1f} s after the load"
            + ("" if p.drained else " (NOT drained: timeout)")
            + f"; CPU {cpu}"
        )
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) the W3 section of bench/RESULTS.md, nothing else."""
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text() if path.exists() else ""
    section = f"{SECTION_START}\n## W3 end to end: ingest → ERP simulator applied\n\n{text}{SECTION_END}\n"
    if SECTION_START in current and SECTION_END in current:
        before, rest = current.split(SECTION_START, 1)
        _, after = rest.split(SECTION_END, 1)
        new = before + section + after.lstrip("\n")
    else:
        new = current.rstrip("\n") + "\n\n" + section
    path.write_text(new)


# --- main -----------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench w3")
    parser.add_argument("--quick", action="store_true", help="short phases (a smoke run)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per phase")
    parser.add_argument("--clients", type=int, default=2, help="load client processes")
    parser.add_argument("--connections", type=int, default=1, help="connections per client")
    parser.add_argument("--batch", type=int, default=200, help="events per bulk request")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--only", default="naive,product", help="comma-separated phases")
    parser.add_argument("--drain-timeout", type=float, default=240.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offered events/s in all (paced); default: closed loop",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the Celery worker and gunicorn during the product phase",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    parser.add_argument(
        "--sim-nagle",
        action="store_true",
        help="run the ERP simulator as shipped (Nagle on: ~43 ms per request on loopback)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 6.0)
        args.drain_timeout = min(args.drain_timeout, 60.0)
    only = [p for p in ("naive", "product") if p in args.only.split(",")]

    url = os.environ.get("DATABASE_URL", DEFAULT_DB)  # bench/__main__.py: BENCH_W3_DATABASE_URL
    redis_url = os.environ.get("BENCH_W3_REDIS_URL", DEFAULT_REDIS)
    if redis_url.rstrip("/").rsplit("/", 1)[-1] in ("0", "13", "14", "15"):
        raise SystemExit(f"refusing Redis {redis_url}: give the bench a database of its own")
    key = prepare_database(url)
    import redis

    redis.Redis.from_url(redis_url).flushdb()

    var_dir = Path(tempfile.mkdtemp(prefix="interlock-w3-"))
    log = var_dir / "worker.log"
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()

    procs: list[Proc] = []
    server: Server | None = None
    bench: Bench | None = None
    sampler: CpuSampler | None = None
    spies: list[subprocess.Popen] = []
    db = _db_conn(url)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    interrupted = False
    phases: list[Phase] = []
    profile_lines: list[str] = []
    try:
        os.environ["BENCH_REDIS_URL"] = redis_url
        # The server first (the simulator only needs its address for inbound calls, unused).
        server = start_server(url=url, workers=args.workers, threads=args.threads)
        erp, erp_port = start_erp(var_dir, server.port, nagle=args.sim_nagle)
        procs.append(erp)
        system = add_erp_system(erp_port)
        erp_id, erp_rps = system.pk, system.rate_limit_per_second
        worker_env = process_environment(
            url=url,
            redis_url=redis_url,
            cache_prefix="interlock-bench",
            BENCH_ERP_URL=f"http://127.0.0.1:{erp_port}/erp",
        )
        worker = start_worker(worker_env, args.concurrency, log)
        procs.append(worker)
        sync_commit = db.execute("SHOW synchronous_commit").fetchone()[0]
        pg_version = db.info.server_version // 10000
        print(
            f"gunicorn gthread {args.workers}×{args.threads} on :{server.port}, celery prefork "
            f"×{args.concurrency} on {redis_url}, ERP simulator on :{erp_port} "
            f"(ledger {var_dir / 'sim' / 'erp.sqlite3'}); synchronous_commit={sync_commit}",
            flush=True,
        )
        status, body = post_json(server.port, PRODUCT_BULK, {"events": order_events()}, key)
        setup: dict[str, int] = {}
        for item in body.get("results", []) if isinstance(body, dict) else []:
            setup[item["status"]] = setup.get(item["status"], 0) + 1
        print(f"  setup: orders released + acknowledged → HTTP {status} {setup}", flush=True)

        ledger = ErpLedger(var_dir / "sim" / "erp.sqlite3", erp_port)
        sampler = CpuSampler(server, worker, erp, url)
        bench = Bench(args, key=key, server=server, erp_port=erp_port, ledger=ledger)
        for name in only:
            if args.profile:
                spies += start_profiles(
                    name,
                    {"worker": worker.pids()[1:], "gunicorn": server.worker_pids()},
                    args.duration + 3,
                )
            phases.append(bench.run(name, db, sampler, erp_id))
        naive = next((p for p in phases if p.name == "naive"), None)
        for p in phases:
            if p.name == "product" and naive and naive.steady_eps:
                p.ratio = p.steady_eps / naive.steady_eps
        for spy in spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)
        if args.profile:
            for name in only:
                for group in ("worker", "gunicorn"):
                    files = sorted(RESULTS_DIR.glob(f"w3-profile-{name}-{group}-*.txt"))
                    profile_lines += [f"### py-spy, {name} phase, {group}", "", "```"]
                    profile_lines += summarise_profile(files)
                    profile_lines += ["```", ""]
    except (KeyboardInterrupt, BrokenProcessPool):
        interrupted = True
        print("interrupted (or a client died); stopping everything", flush=True)
        return 130
    finally:
        for spy in spies:
            with contextlib.suppress(ProcessLookupError):
                if spy.poll() is None:
                    os.killpg(spy.pid, signal.SIGINT)
        if bench is not None:
            bench.close(interrupted=interrupted)
        if sampler is not None:
            sampler.close()
        stop_all([*((p.name, p) for p in reversed(procs)), ("gunicorn", server)])
        db.close()
        shutil.rmtree(var_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)

    header = [
        f"W3 benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {git}"
        + (" (with uncommitted changes)" if dirty else ""),
        "",
        f"`python -m bench w3{' ' + ' '.join(argv) if argv else ''}` on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), shared with the load clients, the "
        f"ERP simulator, Redis and PostgreSQL {pg_version} (synchronous_commit={sync_commit}). "
        f"gunicorn gthread {args.workers}×{args.threads}, DEBUG off; one Celery worker, prefork "
        f"×{args.concurrency} (acks_late, prefetch 1); ERP `ConnectedSystem` REST, no auth, "
        f"rate limit {erp_rps:g} requests/s; ERP simulator "
        + (
            "as shipped (Nagle on). "
            if args.sim_nagle
            else "with TCP_NODELAY (as shipped its http.server sends headers and body apart "
            "and, with Nagle on, every answer waits ~43 ms for the client's delayed ACK: a "
            "socket option of the simulator, not delivery; `--sim-nagle` keeps it). "
        )
        + f"Load: {args.clients} client processes × "
        f"{args.connections} connection(s), {args.batch} unique events per request (3 of 4 "
        f"`operation.confirmed`, 1 of 4 `material.issued`), "
        + (f"paced at {args.rate:,.0f} events/s in all" if args.rate else "closed loop")
        + f" for "
        f"{args.duration:g} s per implementation, then drained. Events/s steady = ERP effects "
        "applied per second while the load runs (first quarter left out); all-in = every "
        "effect over first send → last effect. Lag = ERP `applied_at` − the API's answer for "
        "that event. CPU = gunicorn + Celery worker + PostgreSQL backends of the bench "
        "database over load and drain (the ERP simulator apart; Redis not counted).",
    ]
    text = render(phases, header)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / "latest_w3.md"
    target.write_text(text + ("\n" + "\n".join(profile_lines) if profile_lines else ""))
    if not args.no_write and set(only) == {"naive", "product"} and not args.rate:
        write_section(text)  # the profiles stay in latest_w3.md
    print()
    print(target.read_text())
    print(f"written to {target}" + ("" if args.no_write else " and bench/RESULTS.md (W3 section)"))
    if args.json:
        emit_json(phases, argv)
    return 0 if all(p.ledger_ok for p in phases) else 1


def emit_json(phases: list[Phase], argv: list[str]) -> None:
    """Events/s = ERP effects applied per second (steady); p50/p99 = ingest → applied lag."""
    from bench.report import emit, figures, result

    def fig(p: Phase) -> dict:
        return figures(
            p.label,
            events_per_s=p.steady_eps,
            p50_ms=p.p50_lag * 1000,
            p99_ms=p.p99_lag * 1000,
            cpu_ms_per_event=p.cpu_per_1k,
            duplicate_effects=p.duplicate_effects,
            missing=p.missing,
            ledger_ok=p.ledger_ok,
        )

    product = next((p for p in phases if p.name == "product"), None)
    naive = next((p for p in phases if p.name == "naive"), None)
    emit(
        result(
            "w3",
            fig(product) if product else {},
            fig(naive) if naive else None,
            command="python -m bench w3 " + " ".join(argv),
        )
    )
