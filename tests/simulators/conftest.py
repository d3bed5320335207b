"""Simulators under test: each started in this process on a free port, with its own
SQLite file in a temporary directory, and a stand-in for Interlock's inbound API that
records what the simulators post (the network boundary faked at the transport level)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.simulators import base


def call(url: str, body=None, *, headers=None, method=None, timeout=10.0):
    """``(status, json body, headers)`` of one HTTP request."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(  # noqa: S310 - local test server
        url,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers


class FakeInterlock:
    """``POST /api/v1/events/bulk``: records every envelope with the key it came with and
    answers ``accepted`` (``duplicate`` for an envelope it saw before)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Authorization", "")
                results = []
                with fake.lock:
                    for env in body["events"]:
                        seen = any(e == env for _, e in fake.received)
                        fake.received.append((key, env))
                        results.append({"status": "duplicate" if seen else "accepted"})
                payload = json.dumps({"results": results}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def envelopes(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            return [e for _, e in self.received if type_ is None or e["type"] == type_]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def interlock():
    fake = FakeInterlock()
    yield fake
    fake.close()


@pytest.fixture
def keys_file(tmp_path):
    path = tmp_path / "keys.json"
    codes = ["ERP"] + [f"{kind}-P{n}" for kind in ("MES", "QMS", "WMS") for n in (1, 2, 3)]
    path.write_text(json.dumps({code: f"key-{code}" for code in codes}))
    return path


@pytest.fixture
def start(tmp_path, interlock, keys_file):
    """``start(SimulatorClass, **kwargs)`` → ``(simulator, base URL of its mount)``."""
    running = []

    def make(cls, *, background=True, **kwargs):
        kwargs.setdefault("db_path", tmp_path / f"{cls.name}-{len(running)}.sqlite3")
        kwargs.setdefault("interlock_url", interlock.url)
        kwargs.setdefault("keys_file", str(keys_file))
        kwargs.setdefault("seed", 7)
        sim = cls(**kwargs)
        server = sim.serve("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        if background:
            sim.start_background()
        running.append((sim, server))
        return sim, f"http://127.0.0.1:{server.server_address[1]}/{sim.name}"

    yield make
    for sim, server in running:
        server.shutdown()
        server.server_close()
        sim.shutdown()


def message(type_, key, payload, plant="P1", **extra):
    return {"type": type_, "idempotency_key": key, "plant": plant, "payload": payload, **extra}


def wait_until(predicate, timeout=10.0, interval=0.05):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s")


__all__ = ["base", "call", "message", "wait_until"]
