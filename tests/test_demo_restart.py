"""The demo supervises its Celery worker under a restart policy (issue 11, finding 1): a
worker that dies is replaced, one that keeps dying at once is shown, not hidden."""

from __future__ import annotations

import os
import signal
import sys
import time

from connectors.management.commands.demo import ProcessSpec, RestartPolicy, Supervisor


def _supervisor(tmp_path, lines):
    return Supervisor(log_dir=tmp_path, env=dict(os.environ), out=lines.append)


def test_a_killed_worker_is_restarted_and_keeps_its_place(tmp_path):
    lines: list[str] = []
    supervisor = _supervisor(tmp_path, lines)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    supervisor.start(ProcessSpec("web", sleeper))
    supervisor.start(ProcessSpec("worker", sleeper, restart=RestartPolicy(delay=0)))
    supervisor.start(ProcessSpec("beat", sleeper))
    try:
        first = supervisor.running[1][1]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert supervisor.dead() is None  # replaced, not reported
        assert [spec.name for spec, _, _ in supervisor.running] == ["web", "worker", "beat"]
        second = supervisor.running[1][1]
        assert second.pid != first.pid
        assert second.poll() is None
        assert any("worker exited with code -9; restarting it" in line for line in lines)
    finally:
        supervisor.stop(timeout=5)


def test_a_child_that_keeps_dying_is_reported_after_its_burst(tmp_path):
    lines: list[str] = []
    supervisor = _supervisor(tmp_path, lines)
    crash = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor.start(ProcessSpec("worker", crash, restart=RestartPolicy(delay=0, burst=2)))
    try:
        deadline = time.monotonic() + 20
        dead = None
        while dead is None and time.monotonic() < deadline:
            dead = supervisor.dead()
            time.sleep(0.05)
        assert dead is not None
        assert dead.name == "worker"
        assert sum("; restarting it (" in line for line in lines) == 2
        assert any("not restarting it again" in line for line in lines)
    finally:
        supervisor.stop(timeout=5)


def test_children_without_a_policy_are_reported_at_once(tmp_path):
    supervisor = _supervisor(tmp_path, [])
    supervisor.start(ProcessSpec("web", [sys.executable, "-c", "pass"]))
    try:
        supervisor.running[0][1].wait(10)
        assert supervisor.dead().name == "web"
    finally:
        supervisor.stop(timeout=5)
