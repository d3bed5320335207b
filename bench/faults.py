"""The fault suite: ``python -m bench faults [--quick] [--only a,b] [--events N]``.

Runs the whole path (gunicorn → ingest → outbox → Celery → ERP simulator) on a dedicated
PostgreSQL database (``BENCH_FAULTS_DATABASE_URL``, default ``interlock_bench_faults``)
and a **private** ``redis-server`` on a free port (broker and cache; the shared Redis is
never touched), and breaks one thing per scenario while events arrive:

- ``worker_kill``: the Celery worker is killed with SIGKILL twice mid-run and replaced;
- ``redis_outage``: the private Redis is stopped for a few seconds, then started again
  (empty, on the same port);
- ``db_terminate``: every database connection of the app (gunicorn and the worker) is
  ended with ``pg_terminate_backend`` three times;
- ``erp_failing``: the ERP simulator answers 30% of its message requests with a 500;
- ``duplicate_storm``: every batch is sent many times at once from many connections.

The load client behaves like a correct plant system: it re-sends a batch until it gets a
200 (a 503, a 5xx or a dropped connection means "try again"), and keeps the last answer
per event. Meanwhile a beat stand-in dispatches the outbox sweeper, and after the load the
recovery sweeper (``reprocess_received``) decides what a fault left undecided, as beat does
in production (with a 2 s threshold instead of 30 s, to keep the suite short).

Each scenario prints its ledger, counted per event the client sent:

- **sent**: unique events; **acknowledged**: answered ``accepted`` or ``duplicate``;
- **stored**: events in PostgreSQL; **delivered**: their outbox rows delivered;
- **applied**: events with an effect in the ERP simulator's own ledger;
- **duplicates**: effects beyond one per event (and events stored twice);
- **lost**: sent − applied.

Events answered neither ``accepted`` nor ``duplicate`` are listed with their stored
reasons (code and path), so a refusal shows at once what the product objected to.

The command exits 1 on any loss, double effect, undrained scenario or process left
running. ``--quick`` (CI) sends 400 events per scenario and shortens the waits; the whole
run takes about two minutes on two busy cores (four when the database must be migrated
first: see :func:`bench.stack.prepare_database`). The stack is set up by
``bench/stack.py`` (shared with ``bench w3``). On the way out (also on Ctrl-C or SIGTERM)
every process it started is stopped; after a run that passed the temporary directory and
the database are removed (``--keep`` keeps the database), after a failure both are kept
for a look and named.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psycopg

from bench.ingest_bench import PRODUCT_BULK, _db_conn, drop_database, start_server
from bench.ingest_load import make_event
from bench.ingest_world import order_events
from bench.stack import (
    Proc,
    add_erp_system,
    erp_stats,
    free_port,
    prepare_database,
    process_environment,
    start_erp,
    start_worker,
    stop_all,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/interlock_bench_faults"
SCENARIOS = ("worker_kill", "redis_outage", "db_terminate", "erp_failing", "duplicate_storm")
#: Delivery tunables of the worker: short backoffs and leases, so that the retries and
#: re-claims the faults cause happen within the run (production defaults are minutes).
WORKER_TUNING = {
    "INTERLOCK_OUTBOX_BACKOFF_SECONDS": "0.2",
    "INTERLOCK_OUTBOX_BACKOFF_MAX_SECONDS": "3",
    "INTERLOCK_CIRCUIT_COOLDOWN_SECONDS": "1",
    "INTERLOCK_OUTBOX_LEASE_MARGIN_SECONDS": "2",
    "INTERLOCK_OUTBOX_TASK_BUDGET_SECONDS": "20",
}


class PrivateRedis:
    """A redis-server of our own on a free port, stopped and started on that same port."""

    def __init__(self, var_dir: Path) -> None:
        self.port = free_port()
        self.dir = var_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise SystemExit("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


# --- the world ------------------------------------------------------------------------------
@dataclass
class World:
    """Everything a scenario acts on."""

    url: str
    key: str
    redis: PrivateRedis
    server: object
    erp: Proc
    erp_port: int
    erp_id: int
    worker_env: dict[str, str]
    log: Path
    ledger_path: Path
    worker: Proc | None = None
    notes: list[str] = field(default_factory=list)
    #: Backends of this process's ledger connection, which the faults leave alone.
    spare_pids: list[int] = field(default_factory=list)
    #: Every worker started, registered as soon as it is spawned (stopped on the way out).
    workers: list[Proc] = field(default_factory=list)
    #: Set on the way out: no fault acts after it.
    closing: threading.Event = field(default_factory=threading.Event)
    #: The thread that acts the current scenario's faults.
    fault_thread: threading.Thread | None = None
    #: Faults that could not act (the scenario then fails: it did not test its fault).
    fault_errors: list[str] = field(default_factory=list)

    def start_worker(self) -> None:
        self.worker = start_worker(self.worker_env, 2, self.log, spawned=self.workers.append)

    def close(self) -> list[Proc]:
        """Stop the faults and wait for the one being acted (a worker being replaced, the
        Redis being restarted), so that nothing starts once the stack is stopped; return
        every worker started."""
        self.closing.set()
        if self.fault_thread is not None:
            self.fault_thread.join(timeout=90)
        return list(self.workers)

    def kill_worker(self) -> None:
        assert self.worker is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.process.pid, signal.SIGKILL)
        self.worker.process.wait(10)

    def erp_control(self, **controls) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.erp_port, timeout=10)
        conn.request("POST", "/erp/_control", body=orjson.dumps(controls))
        conn.getresponse().read()
        conn.close()

    def erp_stats(self) -> dict[str, int]:
        return {k: v for k, v in erp_stats(self.erp_port).items() if isinstance(v, int)}

    def sweep(self) -> None:
        """What beat does: dispatch the outbox sweeper (best effort: Redis may be away)."""
        from celery import Celery

        client = Celery("faults-beat", broker=self.redis.url)
        client.conf.broker_connection_retry = False
        client.conf.broker_connection_max_retries = 0
        with contextlib.suppress(Exception):
            client.send_task("connectors.sweep_outbox", queue="interlock", retry=False)
        with contextlib.suppress(Exception):
            client.close()

    def recover(self) -> int:
        """The recovery sweeper (``connectors.reprocess_received_messages``)."""
        from django.db import connections

        from orchestrator.ingest.recovery import reprocess_received

        connections.close_all()  # a terminated backend must not poison this process
        try:
            return reprocess_received(older_than_seconds=2)
        except Exception as exc:  # the database may be away right now: next round
            self.notes.append(f"recovery round failed: {exc}")
            return 0
        finally:
            connections.close_all()


# --- the client -----------------------------------------------------------------------------
@dataclass
class Tally:
    answers: dict[str, str] = field(default_factory=dict)  # message_id → last status
    requests: int = 0
    retries: int = 0
    http: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_until_answered(port: int, key: str, batch: list[dict], tally: Tally) -> None:
    """Send ``batch`` until the server answers 200, as a correct client does."""
    body = orjson.dumps({"events": batch})
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    deadline = time.monotonic() + 120
    while True:
        status = 0
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", PRODUCT_BULK, body=body, headers=headers)
            response = conn.getresponse()
            status, data = response.status, response.read()
            conn.close()
        except OSError:
            data = b""
        with tally.lock:
            tally.requests += 1
            tally.http[status] = tally.http.get(status, 0) + 1
        if status == 200:
            results = orjson.loads(data)["results"]
            with tally.lock:
                for i, (event, result) in enumerate(zip(batch, results, strict=True)):
                    tally.answers[event.get("message_id", f"#{i}")] = result["status"]
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"no 200 for a batch within 120 s (last HTTP {status})")
        with tally.lock:
            tally.retries += 1
        time.sleep(0.3)


# --- the faults -----------------------------------------------------------------------------
#: A fault: ``(share of batches answered, action)`` steps, run in order in their own thread.
Steps = list[tuple[float, Callable[[World], None]]]


def _kill_and_replace(world: World) -> None:
    world.kill_worker()
    world.notes.append("worker SIGKILLed")
    world.start_worker()


def _terminate_backends(world: World) -> None:
    _, name = world.url.rsplit("/", 1)
    with _db_conn(world.url.rsplit("/", 1)[0] + "/postgres") as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND pid <> ALL(%s)",
            [name, world.spare_pids],
        ).fetchone()[0]
    world.notes.append(f"{killed} backends terminated")


def _redis_down(world: World) -> None:
    world.redis.stop()
    world.notes.append("redis stopped")
    world.closing.wait(4)


def _redis_up(world: World) -> None:
    world.redis.start()
    world.notes.append("redis started again")


FAULTS: dict[str, Steps] = {
    "worker_kill": [(0.3, _kill_and_replace), (0.7, _kill_and_replace)],
    "redis_outage": [(0.2, _redis_down), (0.0, _redis_up)],
    "db_terminate": [(share, _terminate_backends) for share in (0.2, 0.5, 0.8)],
    "erp_failing": [],
    "duplicate_storm": [],
}


#: The ERP simulator's behaviour during a scenario: slow answers while workers are killed
#: (so that a kill lands mid-request), 30% of requests answered 500.
ERP_CONTROLS: dict[str, dict[str, float]] = {
    "worker_kill": {"latency_ms": 300.0},
    "erp_failing": {"fail_rate": 0.3},
}


# --- a scenario -----------------------------------------------------------------------------
@dataclass
class Ledger:
    name: str
    sent: int = 0
    acknowledged: int = 0
    stored: int = 0
    delivered: int = 0
    applied: int = 0
    duplicates: int = 0
    lost: int = 0
    drained: bool = True
    #: False when a fault could not act: the scenario did not test what it names.
    faults_acted: bool = True
    seconds: float = 0.0
    notes: str = ""

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.drained and self.faults_acted

    def line(self) -> str:
        return (
            f"{self.name:<16} sent {self.sent:>5}  acknowledged {self.acknowledged:>5}  "
            f"stored {self.stored:>5}  delivered {self.delivered:>5}  applied {self.applied:>5}  "
            f"duplicates {self.duplicates:>3}  lost {self.lost:>3}  "
            f"{'ok' if self.ok else 'FAIL'}  {self.seconds:5.1f} s  {self.notes}"
        )


def _count(world: World, db: psycopg.Connection, message_ids: list[str]) -> dict:
    rows = db.execute(
        "SELECT m.message_id, array_agg(DISTINCT m.event_id) FILTER (WHERE m.event_id IS NOT NULL)"
        " FROM orchestrator_inboundmessage m WHERE m.message_id = ANY(%s) GROUP BY m.message_id",
        [message_ids],
    ).fetchall()
    events = {mid: set(ids or []) for mid, ids in rows}
    undecided = db.execute(
        "SELECT count(*) FROM orchestrator_inboundmessage "
        "WHERE message_id = ANY(%s) AND status = 'received'",
        [message_ids],
    ).fetchone()[0]
    event_ids = sorted({e for ids in events.values() for e in ids})
    outbox = db.execute(
        "SELECT event_id, idempotency_key, status FROM orchestrator_outboxmessage "
        "WHERE event_id = ANY(%s) AND system_id = %s",
        [event_ids, world.erp_id],
    ).fetchall()
    keys = {key: event for event, key, _ in outbox}
    with contextlib.closing(
        sqlite3.connect(f"file:{world.ledger_path}?mode=ro", uri=True, timeout=30)
    ) as erp:
        applied_keys = [
            k for (k,) in erp.execute("SELECT idempotency_key FROM ledger").fetchall() if k in keys
        ]
    effects: dict[int, int] = {}
    for key in applied_keys:
        effects[keys[key]] = effects.get(keys[key], 0) + 1
    return {
        "stored": len(event_ids),
        "stored_twice": sum(len(ids) - 1 for ids in events.values() if len(ids) > 1),
        "delivered": len({e for e, _, status in outbox if status == "delivered"}),
        "open": sum(1 for _, _, status in outbox if status in ("pending", "in_flight")),
        "undecided": undecided,
        "dead": sum(1 for _, _, status in outbox if status == "dead"),
        "applied": len(effects),
        "double": sum(n - 1 for n in effects.values() if n > 1),
    }


def _refusals(db: psycopg.Connection, message_ids: list[str]) -> list[str]:
    """Why the events answered neither ``accepted`` nor ``duplicate`` were refused: their
    stored reasons, by code and path, most frequent first."""
    rows = db.execute(
        "SELECT reasons FROM orchestrator_inboundmessage "
        "WHERE message_id = ANY(%s) AND status NOT IN ('accepted', 'duplicate')",
        [message_ids],
    ).fetchall()
    reasons = Counter(
        f"{r.get('code')} at {r.get('path')}"
        for (found,) in rows
        for r in (found if isinstance(found, list) else [])
        if isinstance(r, dict)
    )
    return [f"reason {reason} ×{n}" for reason, n in reasons.most_common(3)]


def _worker_lost(db: psycopg.Connection) -> int:
    return db.execute(
        "SELECT count(*) FROM orchestrator_deliveryattempt WHERE error LIKE 'worker lost%%'"
    ).fetchone()[0]


def run_scenario(name: str, world: World, db: psycopg.Connection, args, stream: int) -> Ledger:
    ledger = Ledger(name)
    world.notes, world.fault_errors = [], []
    started = time.monotonic()
    events = [make_event(stream, 0, i) for i in range(args.events)]
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    copies = args.storm_copies if name == "duplicate_storm" else 1
    work = [b for b in batches for _ in range(copies)]
    if ERP_CONTROLS.get(name):
        world.erp_control(**ERP_CONTROLS[name])
    erp_before = world.erp_stats()
    lost_before = _worker_lost(db)
    tally = Tally()
    done = threading.Event()
    answered = [0]

    def client() -> None:
        while True:
            with tally.lock:
                if not work:
                    return
                batch = work.pop(0)
            post_until_answered(world.server.port, world.key, batch, tally)
            with tally.lock:
                answered[0] += 1

    def faults() -> None:
        total = len(batches) * copies
        for share, action in FAULTS[name]:
            while answered[0] < share * total and not done.is_set():
                if world.closing.wait(0.05):
                    return
            if world.closing.is_set():
                return
            try:
                action(world)
            except BaseException as exc:  # SystemExit too: a thread would swallow it
                world.fault_errors.append(f"{action.__name__} failed: {exc!r}")
                return

    # Daemons: on Ctrl-C or SIGTERM the main thread stops the stack and exits without
    # waiting for clients that would retry against a stopped server.
    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients * copies)]
    fault_thread = world.fault_thread = threading.Thread(target=faults, daemon=True)
    fault_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    fault_thread.join()

    # Drain: beat's sweepers, until every acknowledged event has its effect (or timeout),
    # or until nothing is left that could still have one: no message undecided, no row
    # open, the ERP ledger still for a few rounds (the missing events are then lost).
    deadline = time.monotonic() + args.drain_timeout
    counts = _count(world, db, list(tally.answers))
    still = 0
    while time.monotonic() < deadline:
        world.recover()
        world.sweep()
        applied = counts["applied"]
        counts = _count(world, db, list(tally.answers))
        if counts["applied"] >= len(events) and counts["open"] == 0:
            break
        settled = counts["open"] == 0 and counts["undecided"] == 0
        still = still + 1 if settled and counts["applied"] == applied else 0
        if still >= 5:
            break
        time.sleep(1.0)
    else:
        ledger.drained = False
    if ERP_CONTROLS.get(name):
        world.erp_control(**dict.fromkeys(ERP_CONTROLS[name], 0.0))
    time.sleep(0.5)  # a delivery recording its outcome
    counts = _count(world, db, list(tally.answers))

    ledger.sent = len(events)
    ledger.acknowledged = sum(1 for s in tally.answers.values() if s in ("accepted", "duplicate"))
    ledger.stored = counts["stored"]
    ledger.delivered = counts["delivered"]
    ledger.applied = counts["applied"]
    ledger.duplicates = counts["double"] + counts["stored_twice"]
    ledger.lost = ledger.sent - ledger.applied
    ledger.seconds = time.monotonic() - started
    http_codes = ", ".join(f"{k or 'dropped'}×{v}" for k, v in sorted(tally.http.items()))
    extra = [f"HTTP {http_codes}"]
    if counts["dead"]:
        extra.append(f"{counts['dead']} dead-lettered")
    # Evidence that the fault bit: what the ERP refused or saw twice, leases a dead
    # worker left behind.
    erp_after = world.erp_stats()
    for stat, label in (("failed_500", "ERP 500s"), ("message_duplicate", "ERP repeats")):
        delta = erp_after.get(stat, 0) - erp_before.get(stat, 0)
        if delta:
            extra.append(f"{label} {delta}")
    if lost := _worker_lost(db) - lost_before:
        extra.append(f"{lost} deliveries re-claimed from a dead worker")
    others = {s for s in tally.answers.values() if s not in ("accepted", "duplicate")}
    if others:
        extra.append(f"answers {sorted(others)}")
        extra.extend(_refusals(db, [m for m, s in tally.answers.items() if s in others]))
    if world.fault_errors:
        ledger.faults_acted = False
        extra.extend(world.fault_errors)
    happened = Counter(world.notes)
    notes = [f"{note} ×{n}" if n > 1 else note for note, n in happened.items()]
    ledger.notes = "; ".join([*notes, *extra])
    return ledger


# --- main -----------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench faults")
    parser.add_argument("--quick", action="store_true", help="fewer events, shorter waits (CI)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--events", type=int, default=2000, help="unique events per scenario")
    parser.add_argument("--batch", type=int, default=25, help="events per bulk request")
    parser.add_argument("--clients", type=int, default=2, help="client threads")
    parser.add_argument("--storm-copies", type=int, default=20, help="copies of each batch")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument(
        "--keep", action="store_true", help="keep the database after a run that passed"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.storm_copies = min(args.events, 400), min(args.storm_copies, 10)
        args.drain_timeout = min(args.drain_timeout, 60.0)
    only = [s for s in SCENARIOS if s in args.only.split(",")]
    if not only:
        parser.error(f"--only names none of {', '.join(SCENARIOS)}")

    url = os.environ.get("DATABASE_URL", DEFAULT_DB)  # bench/__main__.py: BENCH_FAULTS_…
    started = time.monotonic()
    key = prepare_database(url)
    migrated = time.monotonic() - started
    var_dir = Path(tempfile.mkdtemp(prefix="interlock-faults-"))
    redis = PrivateRedis(var_dir)
    server = erp = None
    world: World | None = None
    db = _db_conn(url)
    ledgers: list[Ledger] = []
    # CI stops a job with SIGTERM: stop every process of ours on the way out, as on Ctrl-C.
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        redis.start()
        # This process's own wake-ups (the recovery sweeper's) go to the private Redis too.
        from interlock.celery import app

        app.conf.broker_url = redis.url
        os.environ["BENCH_REDIS_URL"] = redis.url
        server = start_server(url=url, workers=2, threads=4)
        erp, erp_port = start_erp(var_dir, server.port, nagle=False, log=var_dir / "erp.log")
        # Short request timeout, so a dead worker's lease (timeout-based) ends soon.
        system = add_erp_system(erp_port, max_attempts=20, timeout_seconds=3)
        worker_env = process_environment(
            url=url, redis_url=redis.url, cache_prefix="interlock-faults", **WORKER_TUNING
        )
        world = World(
            url=url,
            key=key,
            redis=redis,
            server=server,
            erp=erp,
            erp_port=erp_port,
            erp_id=system.pk,
            worker_env=worker_env,
            log=var_dir / "worker.log",
            ledger_path=var_dir / "sim" / "erp.sqlite3",
            spare_pids=[db.info.backend_pid],
        )
        world.start_worker()
        post_until_answered(server.port, key, order_events(), Tally())
        print(
            f"gunicorn on :{server.port}, celery worker (prefork ×2), private redis on "
            f":{redis.port}, ERP simulator on :{erp_port}; {args.events} events per scenario "
            f"(set up in {time.monotonic() - started:.0f} s, {migrated:.0f} s of it the "
            "database)",
            flush=True,
        )
        for index, name in enumerate(only):
            ledger = run_scenario(name, world, db, args, stream=70 + index)
            ledgers.append(ledger)
            print(ledger.line(), flush=True)
    except KeyboardInterrupt:
        print("interrupted; stopping everything", flush=True)
        return 130
    finally:
        left = stop_all(
            [
                *(("celery worker", w) for w in (world.close() if world is not None else [])),
                ("ERP simulator", erp),
                ("gunicorn", server),
                ("private redis", redis),
            ]
        )
        db.close()
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(OSError):
            sys.stdout.flush()
    seconds = time.monotonic() - started
    failed = [ledger.name for ledger in ledgers if not ledger.ok]
    if failed or len(ledgers) < len(only) or left:
        print(f"FAULT SUITE FAILED: {', '.join(failed) or 'incomplete'}", flush=True)
        if world is not None and world.log.exists():
            print("worker log (tail):\n" + world.log.read_text()[-3000:], flush=True)
        print(f"kept for a look: database {url}, logs in {var_dir}", flush=True)
        return 1
    shutil.rmtree(var_dir, ignore_errors=True)
    if not args.keep:
        drop_database(url)
    print(
        f"fault suite passed: {len(ledgers)} scenarios, nothing lost, no double effect "
        f"({seconds:.0f} s)",
        flush=True,
    )
    return 0
