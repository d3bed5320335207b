"""`make demo` end to end: migrate, seed, web + Celery worker + beat (+ simulators),
checks, clean stop.

Runs ``manage.py demo`` in a subprocess on the embedded defaults (SQLite, filesystem
broker) in a temporary ``INTERLOCK_VAR_DIR``: exactly what a new user gets from
``make demo`` with no environment. Takes about 20 s per run. Scenario 1 flowing through
the simulators is ``test_demo_scenario.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CACHE_URL",
)


#: Ports for the demo's servers come from below Linux's ephemeral range (32768-60999).
#: The demo binds them seconds after they are chosen (after its migrations), and a port
#: from the ephemeral range could by then be any test's outgoing connection or
#: ``bind(0)`` server on another xdist worker ("Address already in use"); nothing takes a
#: port below that range unasked. Each worker draws from its own slice.
_QUIET_PORTS = range(20000, 32000)
_handed_out: set[int] = set()


def _quiet_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports below the ephemeral range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    slices = 8
    size = len(_QUIET_PORTS) // slices
    start = _QUIET_PORTS.start + (int(worker) % slices if worker.isdigit() else 0) * size
    for _ in range(200):
        first = random.randrange(start, start + size - count)
        ports = set(range(first, first + count))
        if not ports & _handed_out and all(_port_free(port) for port in ports):
            _handed_out.update(ports)  # not bound yet: never hand them out twice
            return first
    raise RuntimeError(f"no {count} consecutive free ports in {start}-{start + size}")


def _free_port() -> int:
    return _quiet_ports(1)


def free_sim_port() -> int:
    """The first of five consecutive free ports (ERP, MES, QMS, -, WMS simulators)."""
    return _quiet_ports(5)


def _port_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS}
    env |= {
        "DEBUG": "1",
        "INTERLOCK_VAR_DIR": str(tmp_path_factory.mktemp("demo-var")),
        "PYTHONUNBUFFERED": "1",
    }
    return env


def _demo(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), "demo", *args]


def test_demo_check_starts_everything_verifies_it_and_stops(demo_env):
    port, mqtt_port = _free_port(), _free_port()
    started = time.monotonic()
    result = subprocess.run(
        _demo("--check", "--port", str(port), "--no-simulators", "--mqtt-port", str(mqtt_port)),
        env=demo_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert time.monotonic() - started < 90
    assert "Interlock demo is ready." in output
    assert f"http://127.0.0.1:{port}/admin/" in output
    assert f"http://127.0.0.1:{port}/api/docs/" in output
    for login in (
        "admin",
        "board1",
        "board2",
        "p1-admin",
        "p2-admin",
        "p3-admin",
        "operator",
        "quality",
        "auditor",
    ):
        assert f"  {login} " in output
    systems = ("ERP", "MES-P1", "MES-P2", "MES-P3", "QMS-P1", "QMS-P2", "QMS-P3")
    for system in (*systems, "WMS-P1", "WMS-P2", "WMS-P3"):
        assert f"  {system}" in output
    assert output.count("ilk_") == 10
    assert "check GET /admin/login/" in output
    assert "demo-check" in output  # the Celery round trip through the filesystem broker
    assert "Demo checks passed." in output
    # The Sparkplug B subscriber runs on a private Mosquitto, or the demo says why not.
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        assert f"MQTT: started Mosquitto on 127.0.0.1:{mqtt_port}" in output
        assert _port_free(mqtt_port), "Mosquitto outlived the demo"
    else:
        assert "MQTT: not started: no broker" in output
    assert _port_free(port), "the web server outlived the demo"
    var = Path(demo_env["INTERLOCK_VAR_DIR"])
    assert (var / "interlock.sqlite3").exists()
    assert "ready." in (var / "logs" / "worker.log").read_text()


def test_demo_stops_every_child_on_sigterm_and_exits_0(demo_env):
    port, sim_port = _free_port(), free_sim_port()
    process = subprocess.Popen(
        _demo(
            "--port",
            str(port),
            "--sim-port",
            str(sim_port),
            "--release-every",
            "0",
            "--mqtt-port",
            str(_free_port()),
        ),
        env=demo_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 90
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
                break
        assert "Interlock demo is ready.\n" in lines, "".join(lines)
        assert not _port_free(port)
        assert not any(_port_free(sim_port + n) for n in (0, 1, 2, 4)), "a simulator is not up"
        assert f"http://127.0.0.1:{sim_port}/erp/_ledger" in "".join(lines)
        # Fresh keys each run: the previous run's demo keys no longer work.
        assert sum("ilk_" in line for line in lines) == 10
        keys = Path(demo_env["INTERLOCK_VAR_DIR"]) / "sim" / "keys.json"
        assert keys.stat().st_mode & 0o777 == 0o600

        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, "".join(lines) + rest
    assert "Stopped." in rest
    assert _port_free(port)
    assert all(_port_free(sim_port + n) for n in range(5)), "a simulator outlived the demo"


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
            if int(ppid.split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(
    sys.platform != "linux" or not shutil.which("make"), reason="reads /proc; needs make"
)
def test_ctrl_c_on_make_demo_stops_every_child(demo_env):
    """Ctrl-C in the terminal: SIGINT to the foreground process group (make and the demo,
    not the children, which run in sessions of their own). Every child (web, worker, beat,
    the simulators) and everything they started must be gone when make returns."""
    from tests.test_demo_signals import sessions_alive

    port, sim_port = _free_port(), free_sim_port()
    args = f"--port {port} --sim-port {sim_port} --release-every 5 --mqtt-port {_free_port()}"
    make = subprocess.Popen(
        # -o: the venv and the Debian packages are there already (as the suite runs).
        [
            "make",
            "-s",
            "-o",
            "sysdeps",
            "-o",
            ".venv/.installed",
            "demo",
            f"PY={sys.executable}",
            f"DEMO_ARGS={args}",
        ],
        env=demo_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's foreground group of its own
    )
    lines = []
    try:
        deadline = time.monotonic() + 240
        for line in make.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
                break
        assert "Interlock demo is ready.\n" in lines, "".join(lines)
        demo = _children(make.pid)
        assert len(demo) == 1, demo
        children = set(_children(demo[0]))
        # web, worker, beat, MES, QMS, WMS, ERP (and Mosquitto + subscriber when installed)
        assert len(children) >= 7, children
        assert set(sessions_alive(children)) >= children
        time.sleep(3)  # let orders flow, so the worker is busy when the signal comes

        os.killpg(make.pid, signal.SIGINT)
        rest, _ = make.communicate(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert "Stopping…" in rest, output
    assert "Stopped." in rest, output
    assert sessions_alive(children) == [], output
    assert _port_free(port)
    assert all(_port_free(sim_port + n) for n in (0, 1, 2, 4))
