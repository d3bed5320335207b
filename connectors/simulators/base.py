"""What every simulator shares: a small real HTTP service with its own SQLite tables, the
wire contract Interlock delivers to, fault controls, and a client of Interlock's inbound API.

The wire contract (what Interlock's outbound delivery posts):

* ``POST {base_url}/messages`` — one message ``{"type", "idempotency_key", "plant",
  "correlation_id", "payload"}`` with the same key in the ``Idempotency-Key`` header.
  ``200 {"idempotency_key", "status": "applied"|"duplicate", "reference", "error": null}``;
  a message the simulator cannot apply is ``422`` with ``status: "rejected"`` (permanent).
* ``POST {base_url}/messages/batch`` — ``{"messages": [...]}`` → ``200 {"results": [...]}``,
  one result per message, in order, each ``applied``, ``duplicate`` or ``rejected``.
* Faults, when told to (``POST /<name>/_control``): ``500`` before anything is applied
  (``fail_rate``), ``429`` with ``Retry-After`` beyond ``throttle_rps`` requests per second,
  ``latency_ms`` before answering, and ``timeout_rate``: the message IS applied, then the
  answer is held back ``timeout_seconds`` (the client times out and retries: the retry must
  come back ``duplicate``, which is what idempotency keys are for).

Every applied message is one row of the simulator's ledger (``GET /<name>/_ledger``),
unique on its idempotency key: the same key never has two effects, whatever the client does.
A rejected message leaves no row, so a corrected replay under the same key can still apply.

Each simulator is one process, Django-free (it is a stranger to Interlock, and starts in a
fraction of a second): a ``ThreadingHTTPServer`` and one SQLite connection behind a lock —
ample for a demo and for the delivery tests, and exactly-once by construction.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import os
import random
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("interlock.simulators")

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    plant TEXT NOT NULL,
    correlation_id TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    effect TEXT NOT NULL,
    reference TEXT,
    applied_at TEXT NOT NULL
);
"""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Rejected(Exception):
    """A message the simulator will never apply as it is (a permanent error)."""


# --- fault controls -------------------------------------------------------------------------


@dataclass
class Controls:
    """Faults a test or the demo can switch on at run time (``POST /<name>/_control``)."""

    fail_rate: float = 0.0  # share of message requests answered 500, before applying
    throttle_rps: float = 0.0  # message requests per second beyond which 429 (0: no limit)
    retry_after: float = 1.0  # seconds, sent with 429
    latency_ms: float = 0.0  # added before every message request is handled
    timeout_rate: float = 0.0  # share applied, then answered only after timeout_seconds
    timeout_seconds: float = 30.0

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown controls: {', '.join(unknown)}")
        for name, value in changes.items():
            number = float(value)
            if number < 0 or (name.endswith("_rate") and number > 1):
                raise ValueError(f"{name}={value!r} out of range")
            setattr(self, name, number)


class Throttle:
    """A sliding one-second window of message requests: at most ``rps`` are let through."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stamps: collections.deque[float] = collections.deque()
        self.peak = 0

    def admit(self, rps: float) -> float | None:
        """``None`` when admitted, else the seconds to wait."""
        now = time.monotonic()
        with self.lock:
            while self.stamps and self.stamps[0] <= now - 1.0:
                self.stamps.popleft()
            if rps > 0 and len(self.stamps) >= rps:
                return max(0.0, self.stamps[0] + 1.0 - now)
            self.stamps.append(now)
            self.peak = max(self.peak, len(self.stamps))
            return None


# --- keys and Interlock's inbound API -------------------------------------------------------


def _keys_file(path: str | os.PathLike | None) -> dict:
    path = path or os.environ.get("INTERLOCK_SIM_KEYS_FILE")
    if path and Path(path).exists():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return {}


def load_keys(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Interlock API keys per system code, for the simulators' inbound calls: the demo's
    0600 JSON file (``INTERLOCK_SIM_KEYS_FILE``, ``{"ERP": "ilk_…", …}``) and
    ``INTERLOCK_SIM_KEY_<CODE>`` variables (``MES-P1`` → ``INTERLOCK_SIM_KEY_MES_P1``)."""
    keys = {k: v for k, v in _keys_file(path).items() if not k.startswith("_")}
    for name, value in os.environ.items():
        if name.startswith("INTERLOCK_SIM_KEY_") and value:
            keys[name.removeprefix("INTERLOCK_SIM_KEY_").replace("_", "-")] = value
    return keys


def load_credentials(path: str | os.PathLike | None = None) -> dict[str, dict[str, str]]:
    """What Interlock must present when it delivers, per system code (the keys file's
    ``_outbound``: ``{"ERP": {"auth": "bearer", "secret": "…"}}``). A system without an
    entry takes any caller, so the simulators also run bare for tests and by hand."""
    return _keys_file(path).get("_outbound", {})


def authorized(credential: dict[str, str] | None, headers, body: bytes) -> bool:
    """Check the caller like the real system would: bearer token, basic (the secret as
    the credentials) or an HMAC-SHA256 signature of the body (``X-Interlock-Signature``)."""
    if not credential:
        return True
    auth, secret = credential.get("auth", "bearer"), credential.get("secret", "")
    given = headers.get("Authorization") or ""
    if auth == "bearer":
        return hmac.compare_digest(given, f"Bearer {secret}")
    if auth == "basic":
        expected = "Basic " + base64.b64encode(secret.encode()).decode()
        return hmac.compare_digest(given, expected)
    if auth == "hmac":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-Interlock-Signature") or "", f"sha256={digest}")
    return False


class InboundClient:
    """Posts envelopes to Interlock's ``/api/v1/events/bulk`` with one system's key, the
    way a plant system would: a transient failure (no answer, 408, 429, 5xx) is retried
    with backoff until it goes through or the simulator stops; anything else is logged
    and counted, never retried (a 400 would be the simulator's bug)."""

    def __init__(
        self,
        *,
        base_url: str,
        keys_file: str | None,
        stats: Stats,
        stop: threading.Event,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.keys_file = keys_file
        self.stats = stats
        self.stop = stop
        self.timeout = timeout

    def key(self, system: str) -> str | None:
        return load_keys(self.keys_file).get(system)

    def post(self, system: str, envelopes: list[dict]) -> list[dict] | None:
        """Results in order, or ``None`` when Interlock refused the request for good (or
        the simulator is stopping)."""
        if not envelopes:
            return []
        body = json.dumps({"events": envelopes}).encode()
        delay = 0.5
        while not self.stop.is_set():
            key = self.key(system)
            if key is None:
                log.warning("no API key for %s yet; waiting", system)
                self.stop.wait(2.0)
                continue
            request = urllib.request.Request(  # noqa: S310 - our own http(s) URL
                f"{self.base_url}/api/v1/events/bulk",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    results = json.loads(response.read())["results"]
                for result in results:
                    self.stats.add(f"interlock_{result.get('status')}")
                return results
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:2000].decode("utf-8", "replace")
                if exc.code in (408, 429) or exc.code >= 500:
                    self.stats.add("interlock_retry")
                    wait = float(exc.headers.get("Retry-After") or delay)
                elif exc.code in (401, 403):
                    # The demo may have issued fresh keys since we read the file.
                    self.stats.add("interlock_forbidden")
                    log.warning("Interlock refused %s's key (%s): %s", system, exc.code, detail)
                    wait = delay
                else:
                    self.stats.add("interlock_refused")
                    log.error("Interlock answered %s for %s: %s", exc.code, system, detail)
                    return None
            except (urllib.error.URLError, OSError) as exc:
                self.stats.add("interlock_unreachable")
                log.info("Interlock not reachable (%s); retrying", exc)
                wait = delay
            self.stop.wait(wait * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter
            delay = min(delay * 2, 10.0)
        return None


def envelope(
    *,
    source: str,
    plant: str,
    type_: str,
    payload: dict,
    occurred_at: dt.datetime,
    correlation_id: str | None = None,
) -> dict:
    env = {
        "source": source,
        "plant": plant,
        "type": type_,
        "occurred_at": iso(occurred_at),
        "payload": payload,
    }
    if correlation_id:
        env["correlation_id"] = correlation_id
    return env


# --- counters -------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


# --- the service ----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class Simulator:
    """One simulated system: an HTTP mount (``/erp``, ``/mes/<plant>``, ``/qms/<plant>``),
    its SQLite file, its ledger, and the hooks a concrete simulator fills in:

    * :meth:`apply` — the effect of one new message inside the open transaction; returns
      ``(reference, effect)`` or raises :class:`Rejected`;
    * :meth:`extra_routes` — its own read endpoints (inventory, runs, inspections);
    * :meth:`background` — threads started with the server (release driver, MES runner).
    """

    name = "sim"
    #: ``True``: messages arrive under ``/<name>/<plant>/messages`` (one system per plant).
    plant_in_path = False
    message_types: frozenset[str] = frozenset()
    extra_schema = ""

    def __init__(
        self,
        *,
        db_path: Path,
        controls: Controls | None = None,
        interlock_url: str = "http://127.0.0.1:8000",
        keys_file: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.controls = controls or Controls()
        self.throttle = Throttle()
        self.stats = Stats()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.random = random.Random(seed)  # noqa: S311 - simulation, not security
        self.lock = threading.RLock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA + self.extra_schema)
        self.client = InboundClient(
            base_url=interlock_url, keys_file=keys_file, stats=self.stats, stop=self.stop
        )
        self.threads: list[threading.Thread] = []

    # --- hooks ------------------------------------------------------------------------------
    def apply(self, message: dict, plant: str) -> tuple[str | None, dict]:
        raise NotImplementedError

    def extra_routes(self, method: str, parts: list[str], query: dict) -> Answer | None:
        return None

    def background(self) -> list[Callable[[], None]]:
        return []

    def after_commit(self, applied: list[dict]) -> None:
        """Called with the messages just applied (outside the lock): wake runners."""
        if applied:
            self.wake.set()

    # --- storage ----------------------------------------------------------------------------
    def query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, tuple(params)).fetchall()

    def transaction(self):
        return _Transaction(self)

    def ledger(self, plant: str | None = None, since_id: int = 0) -> list[dict]:
        sql = "SELECT * FROM ledger WHERE id > ?"
        params: list = [since_id]
        if plant:
            sql += " AND plant = ?"
            params.append(plant)
        rows = self.query(sql + " ORDER BY id", params)
        return [
            {
                "id": r["id"],
                "idempotency_key": r["idempotency_key"],
                "type": r["type"],
                "plant": r["plant"],
                "correlation_id": r["correlation_id"],
                "payload": json.loads(r["payload"]),
                "effect": json.loads(r["effect"]),
                "reference": r["reference"],
                "applied_at": r["applied_at"],
            }
            for r in rows
        ]

    # --- the contract -----------------------------------------------------------------------
    def receive(self, messages: list[Any], path_plant: str | None) -> list[dict]:
        """Apply ``messages`` in one transaction; one result each, in order."""
        results, applied = [], []
        with self.transaction() as db:
            for message in messages:
                results.append(self._one(db, message, path_plant, applied))
        self.after_commit(applied)
        for result in results:
            self.stats.add(f"message_{result['status']}")
        return results

    def _one(self, db, message: Any, path_plant: str | None, applied: list) -> dict:
        key = message.get("idempotency_key") if isinstance(message, dict) else None
        result = {"idempotency_key": key, "status": "rejected", "reference": None, "error": None}
        try:
            if not isinstance(message, dict):
                raise Rejected("a message is a JSON object")
            if not key or not isinstance(key, str):
                raise Rejected("idempotency_key is required")
            type_, plant = message.get("type"), message.get("plant") or path_plant
            if type_ not in self.message_types:
                raise Rejected(
                    f"{self.name} does not take {type_!r} (takes {sorted(self.message_types)})"
                )
            if not plant or (path_plant and plant != path_plant):
                raise Rejected(f"plant {plant!r} is not this system's plant {path_plant!r}")
            if not isinstance(message.get("payload"), dict):
                raise Rejected("payload must be an object")
            row = db.execute(
                "SELECT reference FROM ledger WHERE idempotency_key = ?", (key,)
            ).fetchone()
            if row is not None:
                result.update(status="duplicate", reference=row["reference"])
                return result
            db.execute("SAVEPOINT message")
            try:
                reference, effect = self.apply(message, plant)
            except Exception:
                db.execute("ROLLBACK TO message")
                raise
            finally:
                db.execute("RELEASE message")
            db.execute(
                "INSERT INTO ledger (idempotency_key, type, plant, correlation_id, payload,"
                " effect, reference, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    type_,
                    plant,
                    str(message.get("correlation_id") or ""),
                    json.dumps(message["payload"], sort_keys=True),
                    json.dumps(effect, sort_keys=True, default=str),
                    reference,
                    iso(utcnow()),
                ),
            )
            applied.append({**message, "plant": plant, "reference": reference})
            result.update(status="applied", reference=reference)
        except Rejected as exc:
            result["error"] = str(exc)
        return result

    # --- HTTP -------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers, body: bytes) -> Answer:
        url = urlsplit(path)
        parts = [p for p in url.path.split("/") if p]
        if not parts or parts[0] != self.name:
            return Answer(404, {"error": f"not found; this is the {self.name} simulator"})
        parts = parts[1:]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if parts and parts[0].startswith("_"):
            return self._admin(method, parts, query, body)
        path_plant = None
        if self.plant_in_path:
            if not parts:
                return Answer(404, {"error": f"/{self.name}/<plant>/messages"})
            path_plant, parts = parts[0], parts[1:]
        if method == "POST" and parts in (["messages"], ["messages", "batch"]):
            return self._messages(parts, headers, body, path_plant)
        extra = self.extra_routes(method, parts, query)
        return extra or Answer(404, {"error": "not found"})

    def _admin(self, method: str, parts: list[str], query: dict, body: bytes) -> Answer:
        what = parts[0]
        if what == "_health":
            return Answer(200, {"ok": True, "name": self.name})
        if what == "_control":
            if method == "POST":
                try:
                    self.controls.update(json.loads(body or b"{}"))
                except (ValueError, TypeError, AttributeError) as exc:
                    return Answer(400, {"error": str(exc)})
                log.info("controls now %s", self.controls)
            return Answer(200, asdict(self.controls))
        if what == "_ledger":
            entries = self.ledger(query.get("plant"), int(query.get("since", 0)))
            return Answer(200, {"count": len(entries), "entries": entries})
        if what == "_stats":
            return Answer(
                200, {**self.stats.snapshot(), "peak_requests_per_second": self.throttle.peak}
            )
        extra = self.extra_routes(method, parts, query)
        return extra or Answer(404, {"error": "not found"})

    def system_code(self, path_plant: str | None) -> str:
        """The connected system a request is addressed to (``ERP``, ``MES-P1`` …)."""
        return f"{self.name.upper()}-{path_plant}" if path_plant else self.name.upper()

    def _messages(self, parts, headers, body: bytes, path_plant: str | None) -> Answer:
        batch = parts == ["messages", "batch"]
        self.stats.add("requests")
        credential = load_credentials(self.client.keys_file).get(self.system_code(path_plant))
        if not authorized(credential, headers, body):
            self.stats.add("unauthorized_401")
            return Answer(401, {"error": f"not authorized for {self.system_code(path_plant)}"})
        wait = self.throttle.admit(self.controls.throttle_rps)
        if wait is not None:
            self.stats.add("throttled_429")
            retry = max(self.controls.retry_after, math.ceil(wait))
            return Answer(429, {"error": "rate limit"}, {"Retry-After": str(int(retry))})
        if self.controls.latency_ms:
            time.sleep(self.controls.latency_ms / 1000)
        if self.random.random() < self.controls.fail_rate:
            self.stats.add("failed_500")
            return Answer(500, {"error": "simulated failure (nothing applied)"})
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return Answer(400, {"error": "body is not JSON"})
        if batch:
            messages = data.get("messages") if isinstance(data, dict) else None
            if not isinstance(messages, list):
                return Answer(400, {"error": 'expected {"messages": [...]}'})
        else:
            header_key = headers.get("Idempotency-Key")
            if isinstance(data, dict) and header_key and header_key != data.get("idempotency_key"):
                return Answer(400, {"error": "Idempotency-Key header differs from the body's"})
            messages = [data]
        results = self.receive(messages, path_plant)
        if self.random.random() < self.controls.timeout_rate:
            self.stats.add("held_back")
            time.sleep(self.controls.timeout_seconds)  # applied; the client has given up
        if batch:
            return Answer(200, {"results": results})
        result = results[0]
        return Answer(422 if result["status"] == "rejected" else 200, result)

    # --- running ----------------------------------------------------------------------------
    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Answer at once: with Nagle on, each reply waited ~43 ms for the client's
            # delayed acknowledgment on loopback, and the demo measured the socket.
            disable_nagle_algorithm = True
            server_version = f"interlock-sim-{simulator.name}"

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    answer = simulator.handle(method, self.path, self.headers, body)
                except Exception as exc:  # a bug must answer 500, not hang the client
                    log.exception("%s %s failed", method, self.path)
                    answer = Answer(500, {"error": repr(exc)})
                payload = json.dumps(answer.body, default=str).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, fmt: str, *args) -> None:
                log.debug("%s " + fmt, self.address_string(), *args)

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        return server

    def start_background(self) -> None:
        for target in self.background():
            thread = threading.Thread(target=self._guard(target), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self.stop.is_set():
                try:
                    target()
                    return
                except Exception:  # keep the simulator alive; the log says what happened
                    log.exception("%s background task failed; restarting it", self.name)
                    self.stop.wait(1.0)

        run.__name__ = getattr(target, "__name__", "background")
        return run

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=5)
        with self.lock:
            self.db.close()


class _Transaction:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def __enter__(self) -> sqlite3.Connection:
        self.sim.lock.acquire()
        self.sim.db.execute("BEGIN IMMEDIATE")
        return self.sim.db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.sim.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.sim.lock.release()


# --- command line ---------------------------------------------------------------------------

DEFAULT_PORTS = {"erp": 8101, "mes": 8102, "qms": 8103, "wms": 8105}


def env_default(name: str, flag: str, default: Any) -> Any:
    """``INTERLOCK_SIM_<NAME>_<FLAG>`` (e.g. ``INTERLOCK_SIM_ERP_FAIL_RATE``) or ``default``."""
    value = os.environ.get(f"INTERLOCK_SIM_{name.upper()}_{flag.upper()}")
    if value is None or value == "":
        return default
    return type(default)(value) if default is not None else value


def parser(
    name: str, description: str, controls_cls: type[Controls] = Controls
) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"simulate {name}", description=description)
    p.add_argument("--host", default=env_default(name, "host", "127.0.0.1"))
    p.add_argument("--port", type=int, default=env_default(name, "port", DEFAULT_PORTS[name]))
    p.add_argument(
        "--var-dir",
        default=os.environ.get("INTERLOCK_VAR_DIR") or str(Path.cwd() / "var"),
        help="Its SQLite file is <var-dir>/sim/<name>.sqlite3.",
    )
    p.add_argument(
        "--interlock-url",
        default=os.environ.get("INTERLOCK_SIM_INTERLOCK_URL", "http://127.0.0.1:8000"),
        help="Where Interlock's inbound API answers.",
    )
    p.add_argument(
        "--keys-file",
        default=os.environ.get("INTERLOCK_SIM_KEYS_FILE"),
        help="JSON {system code: API key} (the demo writes var/sim/keys.json, mode 0600).",
    )
    p.add_argument("--seed", type=int, default=env_default(name, "seed", None))
    p.add_argument("--fixtures", default=None, help="Folder of the demo fixtures (YAML).")
    # One flag per control, named and defaulted after the controls' own fields.
    for f in fields(controls_cls):
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=float,
            default=env_default(name, f.name, f.default),
            help=_CONTROL_HELP.get(f.name),
        )
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return p


_CONTROL_HELP = {
    "fail_rate": "share of message requests answered 500",
    "throttle_rps": "429 beyond this many message requests per second (0: off)",
    "retry_after": "seconds sent with a 429",
    "latency_ms": "milliseconds added to every message request",
    "timeout_rate": "share applied but answered only after --timeout-seconds",
    "timeout_seconds": "how long a held-back answer waits",
}


def controls_from(args: argparse.Namespace, controls_cls: type[Controls] = Controls) -> Controls:
    return controls_cls(**{f.name: getattr(args, f.name) for f in fields(controls_cls)})


def simulator_options(
    args: argparse.Namespace, name: str, controls_cls: type[Controls] = Controls
) -> dict[str, Any]:
    """The constructor arguments every simulator takes, from its parsed command line."""
    return {
        "db_path": Path(args.var_dir) / "sim" / f"{name}.sqlite3",
        "controls": controls_from(args, controls_cls),
        "interlock_url": args.interlock_url,
        "keys_file": args.keys_file,
        "seed": args.seed,
        "fixtures": args.fixtures,
    }


def run(simulator: Simulator, host: str, port: int) -> None:
    """Serve until SIGTERM / SIGINT, then stop the background threads and the server."""
    server = simulator.serve(host, port)
    simulator.start_background()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "%s simulator listening on http://%s:%s/%s/", simulator.name, host, port, simulator.name
    )
    print(f"{simulator.name} simulator ready on http://{host}:{port}/{simulator.name}/", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        simulator.shutdown()
        server.server_close()
        log.info("%s simulator stopped", simulator.name)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
