"""Load generators of the ingest benchmark: run in their own processes, speak plain HTTP.

No Django here. Each client process keeps its HTTP/1.1 connections alive
(``http.client``, the lightest keep-alive client in the standard library, so the clients
take as little of the two cores as possible from the server they measure). Events are
realistic plant-native messages of the P1 world (``bench/ingest_world.py``): mapped
material and work-center codes, plant units converted (BX12 → 12 EA, LB → kg), and
business keys unique per ``(stream, client, n)``, so a stream re-sent is a duplicate storm.
"""

from __future__ import annotations

import datetime as dt
import http.client
import threading
import time
from dataclasses import dataclass, field

import orjson

BASE_TIME = dt.datetime(2026, 5, 10, 6, 0, tzinfo=dt.UTC)
ORDERS = 200
LOTS = 50


def order_number(index: int) -> str:
    return f"WO-B{index % ORDERS:05d}"


def lot_number(index: int) -> str:
    return f"L-B{index % LOTS:04d}"


def make_event(stream: int, client: int, n: int) -> dict:
    """Event ``n`` of ``client`` in ``stream``: 3 of 4 are confirmations, 1 a material issue."""
    serial = (stream * 100 + client) * 10_000_000 + n
    # The canonical schema caps an operation's sequence at 2^31 - 1 (PostgreSQL integer):
    # unique while stream < 200, client < 100 and n < 100,000 (the message id keeps serial).
    sequence = ((stream % 200) * 100 + client % 100) * 100_000 + n % 100_000
    if n % 4 != 3:
        return {
            "source": "MES-P1",
            "plant": "P1",
            "type": "operation.confirmed",
            "occurred_at": (BASE_TIME + dt.timedelta(seconds=n)).isoformat(),
            "message_id": f"conf-{serial}",
            "payload": {
                "order": order_number(n),
                "operation": "0010" if n % 2 else "0020",
                "sequence": sequence,
                "qty": 1,
                "scrap_qty": 0,
                "uom": "BX12",
                "work_center": "LINE_A" if n % 2 else "LINE_B",
            },
        }
    return {
        "source": "MES-P1",
        "plant": "P1",
        "type": "material.issued",
        # One scale per client and stream, one issue per minute on it: unique keys.
        "occurred_at": (BASE_TIME + dt.timedelta(minutes=n)).isoformat(),
        "message_id": f"issue-{serial}",
        "payload": {
            "order": order_number(n),
            "item": "000000000000002000",
            "lot": lot_number(n),
            "qty": 2.5,
            "uom": "LB",
            "operation": "0010",
            "equipment": f"SCALE-{stream}-{client}",
        },
    }


@dataclass
class ClientSpec:
    port: int
    path: str
    api_key: str | None
    stream: int
    client: int
    duration: float
    start_at: float  # time.time() at which every client starts
    batch: int = 1  # events per request; 1 = single-event endpoint
    connections: int = 1  # threads (one keep-alive connection each)
    rate: float | None = None  # requests/s of this process (open loop); None = closed loop
    first_n: int = 0
    #: Re-send events [first_n, first_n + wrap) in a loop (duplicate storm).
    wrap: int | None = None
    warmup: int = 2  # requests per connection before the clock starts


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    events: int = 0
    requests: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    first_start: float = 0.0
    last_end: float = 0.0
    next_n: int = 0


def _body(spec: ClientSpec, n: int) -> tuple[bytes, int]:
    if spec.batch == 1:
        nn = spec.first_n + (n - spec.first_n) % spec.wrap if spec.wrap else n
        return orjson.dumps(make_event(spec.stream, spec.client, nn)), n + 1
    events = []
    for i in range(n, n + spec.batch):
        nn = spec.first_n + (i - spec.first_n) % spec.wrap if spec.wrap else i
        events.append(make_event(spec.stream, spec.client, nn))
    return orjson.dumps({"events": events}), n + spec.batch


def _count(result: ClientResult, status: int, data: bytes) -> None:
    if status >= 500:
        result.errors += 1
        result.statuses[f"http_{status}"] = result.statuses.get(f"http_{status}", 0) + 1
        return
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        result.errors += 1
        return
    items = body["results"] if isinstance(body, dict) and "results" in body else [body]
    for item in items:
        if not isinstance(item, dict):
            key = "?"
        elif "status" in item:
            key = item["status"]
        elif "id" in item:
            key = "created"  # the naive baseline
        else:
            key = f"http_{status}"
        result.statuses[key] = result.statuses.get(key, 0) + 1


def _worker(spec: ClientSpec, index: int, result: ClientResult, lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=60)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    if spec.api_key:
        headers["Authorization"] = f"Api-Key {spec.api_key}"
    # Thread `index` of this process takes every `connections`-th slot of the n sequence.
    stride = spec.batch * spec.connections
    n = spec.first_n + index * spec.batch

    # Warm-up on numbers far away from the measured stream (keys still unique).
    warm = ClientSpec(**{**spec.__dict__, "stream": spec.stream + 50, "wrap": None})
    for w in range(spec.warmup):
        body, _ = _body(warm, index * 100_000 + w * spec.batch)
        conn.request("POST", spec.path, body=body, headers=headers)
        conn.getresponse().read()

    local = ClientResult()
    delay = time.time() - spec.start_at
    if delay < 0:
        time.sleep(-delay)
    started = time.perf_counter()
    deadline = started + spec.duration
    interval = spec.connections / spec.rate if spec.rate else 0.0
    scheduled = started + (index / spec.rate if spec.rate else 0.0)
    local.first_start = time.time()
    while True:
        body, _ = _body(spec, n)  # built before the clock of this request starts
        if spec.rate:
            now = time.perf_counter()
            if scheduled > now:
                time.sleep(scheduled - now)
            t0 = scheduled  # open loop: latency counts from the intended send time
            scheduled += interval
        else:
            t0 = time.perf_counter()
        if t0 >= deadline:
            break
        conn.request("POST", spec.path, body=body, headers=headers)
        response = conn.getresponse()
        status, data = response.status, response.read()
        t1 = time.perf_counter()
        local.latencies.append(t1 - t0)
        local.requests += 1
        local.events += spec.batch
        _count(local, status, data)
        n += stride
    local.last_end = time.time()
    local.next_n = n
    conn.close()
    with lock:
        result.latencies.extend(local.latencies)
        result.requests += local.requests
        result.events += local.events
        result.errors += local.errors
        for key, value in local.statuses.items():
            result.statuses[key] = result.statuses.get(key, 0) + value
        result.first_start = min(result.first_start or local.first_start, local.first_start)
        result.last_end = max(result.last_end, local.last_end)
        result.next_n = max(result.next_n, local.next_n)


def run_client(spec: ClientSpec) -> ClientResult:
    """One client process: ``spec.connections`` threads, each with its own connection."""
    result = ClientResult()
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_worker, args=(spec, i, result, lock), daemon=True)
        for i in range(spec.connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result
