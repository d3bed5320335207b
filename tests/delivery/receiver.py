"""A fake receiver speaking the wire contract, on a real ``ThreadingHTTPServer``: the
network is faked only at the transport level. It deduplicates by idempotency key like a
real ERP, counts effects per key, logs every request with its time, and fails on demand.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    at: float
    path: str
    keys: list[str]
    status: int


@dataclass
class Receiver:
    """``effects[key]`` counts applications (must end at 1); ``script`` is a list of
    forced answers for the next requests ((status, retry_after) or "timeout");
    ``fail_rate`` fails requests at random with 500 / 429 / a timeout; ``poison`` keys
    make any request holding them answer 500; ``reject`` keys are rejected per message;
    ``slow`` delays the answer (after applying) of the next N requests."""

    fail_rate: float = 0.0
    timeout_sleep: float = 1.5
    script: list = field(default_factory=list)
    poison: set[str] = field(default_factory=set)
    reject: set[str] = field(default_factory=set)
    down: bool = False
    slow: int = 0
    slow_seconds: float = 3.0
    effects: dict[str, int] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    duplicates: int = 0
    seed: int = 7

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(self.seed)

    # --- the ledger --------------------------------------------------------------------
    def applied(self) -> set[str]:
        return set(self.effects)

    def times_for(self, key: str) -> list[float]:
        return [r.at for r in self.requests if key in r.keys]

    # --- behaviour ---------------------------------------------------------------------
    def _decide(self, keys: list[str]):
        with self.lock:
            if self.script:
                return self.script.pop(0)
            if self.down or any(k in self.poison for k in keys):
                return (500, None)
            if self.fail_rate and self.rng.random() < self.fail_rate:
                return self.rng.choice([(500, None), (429, "0"), "timeout"])
            return None

    def _apply(self, message: dict) -> dict:
        key = message["idempotency_key"]
        with self.lock:
            if key in self.reject:
                return {
                    "idempotency_key": key,
                    "status": "rejected",
                    "reference": None,
                    "error": "material master missing",
                }
            if key in self.effects:
                self.duplicates += 1
                status = "duplicate"
            else:
                self.effects[key] = 0
                self.references[key] = f"DOC-{len(self.references) + 1:06d}"
                status = "applied"
            self.effects[key] += status == "applied"
            return {
                "idempotency_key": key,
                "status": status,
                "reference": self.references[key],
                "error": None,
            }

    def handle(self, path: str, body: dict) -> tuple[int, dict | None, dict[str, str], float]:
        messages = body.get("messages") if path.endswith("/batch") else [body]
        keys = [m["idempotency_key"] for m in messages]
        decision = self._decide(keys)
        delay = 0.0
        if decision == "timeout":
            # The receiver applies, but answers too late: the sender must not apply twice.
            results = [self._apply(m) for m in messages]
            status, headers, payload, delay = 200, {}, None, self.timeout_sleep
        elif decision is not None:
            status, retry_after = decision
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            payload, results = {"error": "forced"}, None
        else:
            results = [self._apply(m) for m in messages]
            status, headers, payload = 200, {}, None
        if results is not None:
            payload = {"results": results} if path.endswith("/batch") else results[0]
            with self.lock:
                if self.slow > 0:
                    self.slow -= 1
                    delay = max(delay, self.slow_seconds)
        with self.lock:
            self.requests.append(Request(time.monotonic(), path, keys, status))
        return status, payload, headers, delay


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        status, payload, headers, delay = self.server.receiver.handle(self.path, body)
        if delay:
            time.sleep(delay)
        raw = json.dumps(payload).encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.receiver = receiver
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ReceiverServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
