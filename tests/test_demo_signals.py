"""Stopping the demo leaves no child behind (issue 12, finding b).

The supervisor runs in a subprocess, as ``manage.py demo`` does, with children that make
stopping hard: one ignores SIGTERM, one has a child of its own. The test sends what a
terminal or a service manager sends (SIGINT to the demo's process group, SIGTERM, SIGHUP;
Ctrl-C twice) and then looks for any process left in the children's sessions. The whole
demo under ``make demo`` is ``tests/test_demo.py::test_ctrl_c_on_make_demo_stops_every_child``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from connectors.management.supervisor import ProcessSpec, RestartPolicy, Stop, Supervisor

    py = sys.executable
    sleeper = [py, "-c", "import time; time.sleep(120)"]
    stubborn = [py, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ignoring', flush=True); time.sleep(120)"]
    parent = [py, "-c", "import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              "time.sleep(120)"]
    sup = Supervisor(log_dir=Path(sys.argv[2]), env=dict(os.environ), out=print)
    with sup.signals():
        try:
            sup.start(ProcessSpec("web", sleeper))
            sup.start(ProcessSpec("worker", stubborn, restart=RestartPolicy(delay=0)))
            sup.start(ProcessSpec("beat", parent))
            print("PIDS " + json.dumps(sup.pids()), flush=True)
            while True:
                sup.dead()
                time.sleep(0.05)
        except Stop as stop:
            print("Stopping on " + str(stop), flush=True)
        finally:
            sup.stop(timeout=float(sys.argv[3]))
    print("Stopped.", flush=True)
    """
)


def sessions_alive(sessions: set[int]) -> list[int]:
    """Processes (not zombies) whose session is one of ``sessions``: a supervised child
    and everything it started, wherever it was reparented to."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) in sessions:
            alive.append(int(entry.name))
    return alive


def _ignore(*signals):
    def before_exec():
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)

    return before_exec


def _start_runner(tmp_path, stop_timeout: float, ignored=()) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    runner = subprocess.Popen(
        [sys.executable, str(script), str(ROOT), str(tmp_path), str(stop_timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own terminal-like process group
        preexec_fn=_ignore(*ignored),  # what the shell that started it ignored
    )
    line = runner.stdout.readline()
    assert line.startswith("PIDS "), line + runner.stdout.read()
    pids = json.loads(line[5:])
    # Wait until the stubborn child ignores SIGTERM and the grandchild exists.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (tmp_path / "worker.log").read_text().startswith("ignoring") and len(
            sessions_alive(set(pids))
        ) == 4:
            break
        time.sleep(0.05)
    assert len(sessions_alive(set(pids))) == 4, "children and grandchild did not start"
    return runner, pids


pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_every_child_and_grandchild(tmp_path, sig):
    runner, pids = _start_runner(tmp_path, stop_timeout=2.0)
    try:
        os.killpg(runner.pid, sig)  # Ctrl-C reaches the foreground group: the runner only
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, out
    assert f"Stopping on {signal.Signals(sig).name}" in out
    assert "worker did not stop; killing it after 2 s" in out
    assert out.rstrip().endswith("Stopped.")
    assert sessions_alive(set(pids)) == []


def test_ctrl_c_twice_kills_at_once_and_still_leaves_nothing(tmp_path):
    runner, pids = _start_runner(tmp_path, stop_timeout=60.0)
    try:
        os.killpg(runner.pid, signal.SIGINT)
        time.sleep(0.5)  # the impatient second Ctrl-C, while the worker will not stop
        started = time.monotonic()
        os.killpg(runner.pid, signal.SIGINT)
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert time.monotonic() - started < 10  # not the 60 s stop timeout
    assert runner.returncode == 0, out
    assert "worker did not stop; killing it at once (asked twice)" in out
    assert "Traceback" not in out
    assert sessions_alive(set(pids)) == []


def test_a_killed_demo_takes_its_children_along(tmp_path):
    # SIGKILL cannot be handled: the kernel's parent-death signal (SIGTERM) is what stops
    # the children then. The stubborn one ignores it; the others must go.
    runner, pids = _start_runner(tmp_path, stop_timeout=2.0)
    web, worker, beat = pids
    try:
        runner.kill()
        runner.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and {web, beat} & set(sessions_alive(set(pids))):
            time.sleep(0.05)
        left = set(sessions_alive(set(pids)))
        assert web not in left
        assert beat not in left  # (beat's own child is orphaned: only a stop reaches it)
        assert worker in left
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_sigint_stops_a_demo_started_in_the_background_by_a_script(tmp_path):
    # `make demo &` in a shell script starts it with SIGINT ignored; Python then keeps it
    # ignored, and the last session's `kill -INT` left the whole demo running.
    runner, pids = _start_runner(tmp_path, stop_timeout=2.0, ignored=(signal.SIGINT,))
    try:
        os.killpg(runner.pid, signal.SIGINT)
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert "Stopping on SIGINT" in out
    assert sessions_alive(set(pids)) == []


def test_nohup_keeps_the_demo_running_when_the_terminal_closes(tmp_path):
    runner, pids = _start_runner(tmp_path, stop_timeout=2.0, ignored=(signal.SIGHUP,))
    try:
        os.killpg(runner.pid, signal.SIGHUP)
        time.sleep(1)
        assert runner.poll() is None
        assert len(sessions_alive(set(pids))) == 4
        os.killpg(runner.pid, signal.SIGTERM)
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert "Stopping on SIGTERM" in out
    assert sessions_alive(set(pids)) == []
