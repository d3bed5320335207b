"""Interlock's single events (W2) against a Node-RED flow, same load tool, same run.

``python -m bench peer [--quick] [--json] [--rounds N] [--duration S] [--connections N]``

The peer is what an integration team would build with a low-code tool: a Node-RED flow
(``http in`` → ``function`` → ``http response``) that checks the API key, computes the
business key of the envelope (the same fields as Interlock's ``operation.confirmed`` and
``material.issued`` specs, with the one-minute bucket of the latter), dedupes through a
unique constraint (``INSERT … ON CONFLICT DO NOTHING RETURNING``, then the original's id
for a repeat) and answers ``202 {event_id, status, idempotency_key}``. It does none of
Interlock's other work (raw store, schema, site mapping and unit conversion, master-data
checks, rules, lifecycle, audit, outbox): the comparison is "the whole control path"
against "the least a flow does".

Node-RED (npm ``node-red``, pinned below, with ``pg``) is installed into
``var/node-red/`` on first use with npm; it runs with the editor off. Both servers share
one PostgreSQL database (``BENCH_PEER_DATABASE_URL``, recreated; synchronous_commit on).
Both get the same clients (``bench/ingest_load.py``: 2 processes × ``--connections``
keep-alive connections, closed loop, unique events), alternating Node-RED and Interlock
``--rounds`` times (A B A B) so drifts of the shared machine hit both; the best round of
each is reported, with the CPU of the server processes plus their PostgreSQL backends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.ingest_bench import (
    PRODUCT_SINGLE,
    CpuMeter,
    Row,
    Runner,
    Server,
    _db_conn,
    _free_port,
    post_json,
    recreate_database,
    start_server,
)

ROOT = Path(__file__).resolve().parent.parent
NODE_RED_VERSION = "4.1.8"  # the 4.x line: 5.x needs Node ≥ 22.9, Debian ships 20
PG_VERSION = "8.13.1"
NODE_DIR = ROOT / "var" / "node-red"
PEER_PATH = "/events"

PEER_TABLE = """
CREATE TABLE IF NOT EXISTS peer_event (
    id bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    source text NOT NULL,
    plant text NOT NULL,
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL
)
"""

# The function node: key, dedupe, insert. Promise style (no top-level await needed).
FUNCTION = r"""
const env = msg.payload;
const auth = msg.req.headers["authorization"] || "";
if (auth !== "Api-Key " + context.get("key")) {
    msg.statusCode = 403;
    msg.payload = {code: "permission_denied", message: "bad API key", details: []};
    return msg;
}
if (!env || typeof env !== "object" || typeof env.payload !== "object" || !env.type) {
    msg.statusCode = 400;
    msg.payload = {code: "validation_error", message: "not an envelope", details: []};
    return msg;
}
const p = env.payload;
let parts;
if (env.type === "material.issued") {
    const bucket = Math.floor(Date.parse(env.occurred_at) / 60000) * 60;
    parts = [env.type, env.plant, p.order, p.lot, p.item, p.equipment, String(bucket)];
} else {
    parts = [env.type, env.source, env.plant, p.order, p.operation, String(p.sequence)];
}
const key = parts.map(x => String(x === undefined ? "" : x).replace(/\\/g, "\\\\")
                                                          .replace(/\|/g, "\\|")).join("|");
const pool = context.get("pool");
pool.query(
    "INSERT INTO peer_event (idempotency_key, source, plant, event_type, occurred_at, payload) "
    + "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    [key, env.source, env.plant, env.type, env.occurred_at, p]
).then(async (r) => {
    let status = "accepted", id;
    if (r.rows.length) {
        id = r.rows[0].id;
    } else {
        status = "duplicate";
        id = (await pool.query("SELECT id FROM peer_event WHERE idempotency_key = $1", [key]))
            .rows[0].id;
    }
    msg.statusCode = 202;
    msg.payload = {event_id: Number(id), status: status, idempotency_key: key, reasons: []};
    node.send(msg);
    node.done();
}).catch((err) => {
    msg.statusCode = 500;
    msg.payload = {code: "internal_error", message: String(err), details: []};
    node.send(msg);
    node.done();
});
return null;
"""

INITIALIZE = r"""
const pg = global.get("pg");
context.set("key", env.get("PEER_API_KEY"));
context.set("pool", new pg.Pool({connectionString: env.get("PEER_DATABASE_URL"), max: 8}));
"""

SETTINGS_JS = """// Written by bench/peer_bench.py: editor and admin API off, pg for the function node.
module.exports = {
    uiPort: parseInt(process.env.PORT, 10),
    uiHost: "127.0.0.1",
    httpAdminRoot: false,
    flowFile: "flows.json",
    userDir: __dirname + "/data",
    credentialSecret: false,
    functionGlobalContext: { pg: require("pg") },
    logging: { console: { level: "warn", metrics: false, audit: false } },
};
"""


def flows() -> list[dict]:
    return [
        {"id": "peer", "type": "tab", "label": "peer"},
        {
            "id": "in",
            "type": "http in",
            "z": "peer",
            "url": PEER_PATH,
            "method": "post",
            "wires": [["key"]],
        },
        {
            "id": "key",
            "type": "function",
            "z": "peer",
            "name": "key + dedupe + insert",
            "func": FUNCTION,
            "initialize": INITIALIZE,
            "finalize": 'const p = context.get("pool"); if (p) { p.end(); }',
            "outputs": 1,
            "wires": [["out"]],
        },
        {"id": "out", "type": "http response", "z": "peer", "wires": []},
    ]


def install_node_red() -> Path:
    """``var/node-red`` with the pinned Node-RED and pg; npm runs only when they are missing."""
    installed = NODE_DIR / "node_modules" / "node-red" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != NODE_RED_VERSION:
        if not shutil.which("npm"):
            raise SystemExit("npm not found: install Node.js (Debian: apt-get install npm)")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        (NODE_DIR / "package.json").write_text(
            json.dumps(
                {
                    "name": "interlock-bench-peer",
                    "private": True,
                    "dependencies": {"node-red": NODE_RED_VERSION, "pg": PG_VERSION},
                },
                indent=2,
            )
        )
        print(f"installing node-red {NODE_RED_VERSION} into {NODE_DIR} (first use)", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            stdout=sys.stderr,
        )
    (NODE_DIR / "settings.js").write_text(SETTINGS_JS)
    (NODE_DIR / "data").mkdir(exist_ok=True)
    (NODE_DIR / "data" / "flows.json").write_text(json.dumps(flows(), indent=1))
    return NODE_DIR / "node_modules" / "node-red" / "red.js"


def start_node_red(red_js: Path, url: str, key: str) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PEER_DATABASE_URL": url.replace("postgres://", "postgresql://", 1),
        "PEER_API_KEY": key,
        "NODE_ENV": "production",
    }
    log = open(NODE_DIR / "node-red.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        ["node", str(red_js), "--settings", str(NODE_DIR / "settings.js")],
        cwd=NODE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(process, port)
    deadline = time.monotonic() + 60
    probe = {"source": "MES-P1", "plant": "P1", "type": "probe", "payload": {}}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Node-RED exited with {process.returncode}: see {log.name}")
        with contextlib.suppress(OSError, ValueError):
            status, _ = post_json(port, PEER_PATH, probe, "wrong")
            if status == 403:
                return server
        time.sleep(0.3)
    server.stop()
    raise SystemExit(f"Node-RED did not answer within 60 s: see {log.name}")


def batch_sizes(db) -> dict:
    """How many single-event requests each group-commit batch of Interlock carried: the
    messages of one batch share their ``received_at`` (the batch's clock), each under its
    own request id (the setup's bulk of order events is left out)."""
    rows = db.execute(
        "SELECT count(DISTINCT request_id) FROM orchestrator_inboundmessage "
        "WHERE event_type IN ('operation.confirmed', 'material.issued') "
        "GROUP BY system_id, received_at ORDER BY 1"
    ).fetchall()
    sizes = [n for (n,) in rows]
    if not sizes:
        return {"batches": 0}
    return {
        "batches": len(sizes),
        "mean": round(sum(sizes) / len(sizes), 1),
        "p50": sizes[len(sizes) // 2],
        "p90": sizes[int(len(sizes) * 0.9)],
        "max": sizes[-1],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench peer")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 6 s (under 3 min)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--rounds", type=int, default=3, help="A B rounds")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8, help="per client process (×2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument(
        "--server",
        default="uvicorn",
        help="Interlock's server(s), comma-separated, each measured: uvicorn (interlock.asgi, "
        "the lean single-event path, httptools), uvicorn-h11 (the same, pure-Python h11) and/or gunicorn (interlock.wsgi, gthread)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 2, 6.0

    red_js = install_node_red()
    url = os.environ["DATABASE_URL"]  # bench/__main__.py: BENCH_PEER_DATABASE_URL
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
    db.execute(PEER_TABLE)

    servers: list[Server] = []
    runners: list[Runner] = []
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    best: dict[str, Row] = {}
    rounds: list[dict] = []
    try:
        kinds = args.server.split(",")
        ours = {}
        for kind in kinds:
            ours[kind] = start_server(
                url=url, workers=args.workers, threads=args.threads, kind=kind
            )
            servers.append(ours[kind])
        peer = start_node_red(red_js, url, key)
        servers.append(peer)
        first = ours[kinds[0]]
        status, _ = post_json(first.port, "/api/v1/events/bulk", {"events": order_events()}, key)
        print(f"  setup: orders released + acknowledged → HTTP {status}", flush=True)
        node_version = subprocess.run(["node", "--version"], capture_output=True, text=True)
        sides = {
            "Node-RED": (
                peer,
                PEER_PATH,
                f"Node-RED {NODE_RED_VERSION} ({node_version.stdout.strip()}) flow: "
                "key + dedupe + insert",
            ),
        }
        for kind in kinds:
            shape = (
                f"{kind} ×{args.workers}, interlock.asgi"
                if kind.startswith("uvicorn")
                else f"gunicorn gthread {args.workers}×{args.threads}"
            )
            sides[f"Interlock {kind}"] = (
                ours[kind],
                PRODUCT_SINGLE,
                f"Interlock W2 single ({shape})",
            )
        for server, _, _ in sides.values():
            runners.append(Runner(server, CpuMeter(server, db), key))
        for r in range(args.rounds):
            for (name, (_, path, label)), runner in zip(sides.items(), runners, strict=True):
                row = runner.run(
                    "W2",
                    f"{name} round {r + 1}",
                    runner.specs(
                        path=path,
                        key=key,
                        stream=60 + 10 * r + list(sides).index(name),
                        clients=2,
                        connections=args.connections,
                        duration=args.duration,
                    ),
                )
                row.implementation = label
                rounds.append(
                    {
                        "side": name,
                        "round": r + 1,
                        "events_per_s": row.events_per_s,
                        "cpu_ms_per_event": row.cpu_per_1k,
                        "p99_ms": row.p99_ms,
                    }
                )
                if name not in best or row.events_per_s > best[name].events_per_s:
                    best[name] = row
        batches = batch_sizes(db)
    except KeyboardInterrupt:
        print("interrupted; stopping servers and clients", flush=True)
        return 130
    finally:
        for runner in runners:
            runner.close()
        for server in servers:
            server.stop()
        db.close()
        signal.signal(signal.SIGTERM, previous)

    product, baseline = best[f"Interlock {kinds[0]}"], best["Node-RED"]
    ratio = product.events_per_s / baseline.events_per_s if baseline.events_per_s else 0.0
    cpu_ratio = baseline.cpu_per_1k / product.cpu_per_1k if product.cpu_per_1k else 0.0
    print()
    print(
        "| implementation | events/s (best round) | p50 ms | p99 ms | CPU-ms / event (PostgreSQL share) | statuses |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for row in best.values():
        print(
            f"| {row.implementation} | {row.events_per_s:,.0f} | {row.p50_ms:.1f} | "
            f"{row.p99_ms:.1f} | {row.cpu_per_1k:.2f} ({row.db_share:.0%}) | {row.statuses} |"
        )
    print(
        f"\nInterlock / Node-RED: {ratio:.2f}× events/s, {cpu_ratio:.2f}× less CPU per event "
        f"(target ≥ 2×); rounds: "
        + ", ".join(f"{x['side']} {x['events_per_s']:,.0f}" for x in rounds)
    )
    print(f"Interlock group-commit batches (requests per decision): {batches}")
    if args.json:
        from bench.report import emit, figures, result

        def fig(row: Row) -> dict:
            return figures(
                row.implementation,
                events_per_s=row.events_per_s,
                p50_ms=row.p50_ms,
                p99_ms=row.p99_ms,
                cpu_ms_per_event=row.cpu_per_1k,
                postgres_share=row.db_share,
                statuses=row.statuses,
            )

        emit(
            result(
                "peer",
                fig(product),
                fig(baseline),
                command="python -m bench peer " + " ".join(argv),
                cpu_ratio=round(cpu_ratio, 3),
                others=[fig(row) for name, row in best.items() if row not in (product, baseline)],
                rounds=rounds,
                interlock_batches=batches,
            )
        )
    return 0
