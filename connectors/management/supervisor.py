"""The demo's process supervisor (``manage.py demo``): children in their own process
groups, restarted under a policy, and all of them stopped however the demo is told to end.

Stopping is what this module is careful about. A Ctrl-C in the terminal reaches only the
demo (and ``make``): the children run in sessions of their own, so the demo stops them in
order. :meth:`Supervisor.signals` turns SIGINT, SIGTERM and SIGHUP (the terminal closed)
into :class:`Stop` the first time; a second one while the children are being stopped does
not interrupt the stopping, it asks to hurry (SIGKILL to every group still alive at once).
A child is recorded before any of these signals can be handled (they are blocked around
``fork``), so none is ever started without being stopped; and every child gets SIGTERM
from the kernel if the demo itself is killed (Linux's parent-death signal).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

STOP_TIMEOUT_SECONDS = 10.0
#: The signals that end the demo: Ctrl-C, ``kill`` / a service manager, the terminal closed.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RestartPolicy:
    """Restart a child that exits, like ``Restart=on-failure`` with ``StartLimitBurst`` in
    systemd: after ``delay`` seconds, at most ``burst`` times within ``window`` seconds
    (a child that keeps dying at once is a bug to show, not to hide)."""

    delay: float = 1.0
    burst: int = 5
    window: float = 60.0


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised child: its name (also its log file), its command line, an optional
    URL that answers once it is up, and an optional restart policy."""

    name: str
    argv: list[str]
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    restart: RestartPolicy | None = None


class Stop(Exception):
    """A stop signal arrived: leave what you are doing and stop the children."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _in_child() -> None:
    """In the child, before exec: take the stop signals again (the parent blocks them
    around ``fork``, and a blocked mask survives ``exec``), and on Linux get SIGTERM when
    the demo dies, even by SIGKILL, so no orphan keeps a port."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Starts children in their own process groups (so a Ctrl-C in the terminal reaches
    only us, and we stop them in order) and stops them: terminate, wait, then kill."""

    def __init__(self, *, log_dir: Path, env: dict[str, str], out: Callable[[str], None], cwd=None):
        self.log_dir, self.env, self.out, self.cwd = log_dir, env, out, cwd
        self.running: list[tuple[ProcessSpec, subprocess.Popen, IO]] = []
        #: name → monotonic times of its restarts (for the policy's burst limit)
        self.restarts: dict[str, list[float]] = {}
        #: a stop signal arrived (later ones only hurry the stopping)
        self.stopping = False
        #: a stop signal arrived while stopping: kill what is left at once
        self.hurry = False

    # --- signals ------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        if self.stopping:
            self.hurry = True
            return
        self.stopping = True
        raise Stop(signum)

    @contextmanager
    def signals(self) -> Iterator[None]:
        """Within the block, the first stop signal raises :class:`Stop`; any later one sets
        :attr:`hurry`. Only the main thread can take signals; elsewhere this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            # SIGINT is taken even when inherited as ignored (a shell script's `make demo &`
            # ignores it, and `kill -INT` then did nothing); SIGHUP ignored stays ignored,
            # so `nohup make demo` outlives its terminal.
            if sig == signal.SIGHUP and previous[sig] == signal.SIG_IGN:
                continue
            signal.signal(sig, self._on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # --- children -----------------------------------------------------------------------

    def log_path(self, spec: ProcessSpec) -> Path:
        return self.log_dir / f"{spec.name}.log"

    def start(self, spec: ProcessSpec) -> None:
        log = self.log_path(spec).open("ab")
        # No stop signal is handled between fork and recording the child: a Stop raised
        # there would leave a child nobody stops. Blocked signals wait, then arrive.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process = subprocess.Popen(  # noqa: S603 - the demo's own command lines
                spec.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.env, **spec.env},
                cwd=self.cwd,
                start_new_session=os.name == "posix",
                preexec_fn=_in_child,
            )
            self.running.append((spec, process, log))
        except BaseException:
            log.close()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def pids(self) -> list[int]:
        return [process.pid for _, process, _ in self.running]

    def dead(self) -> ProcessSpec | None:
        """The first child that exited and may not be restarted (restarting those that may)."""
        for index, (spec, process, log) in enumerate(self.running):
            code = process.poll()
            if code is None:
                continue
            if not self._may_restart(spec):
                return spec
            self.out(f"  {spec.name} exited with code {code}; restarting it (see {log.name})")
            time.sleep(spec.restart.delay)
            # Replaced in place, so the stop order stays; the dead entry is kept until the
            # new child is recorded (a stop in between still closes its log).
            self.start(spec)
            self.running[index] = self.running.pop()
            log.close()
            return self.dead()
        return None

    def _may_restart(self, spec: ProcessSpec) -> bool:
        policy = spec.restart
        if policy is None or self.stopping:
            return False
        now = time.monotonic()
        recent = [t for t in self.restarts.get(spec.name, []) if now - t < policy.window]
        if len(recent) >= policy.burst:
            self.out(
                f"  {spec.name} exited {len(recent)} times within {policy.window:.0f} s; "
                "not restarting it again"
            )
            return False
        self.restarts[spec.name] = [*recent, now]
        return True

    def tail(self, spec: ProcessSpec, lines: int = 30) -> str:
        try:
            text = self.log_path(spec).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, process, sig: int) -> None:
        try:
            if os.name == "posix":
                os.killpg(process.pid, sig)  # the whole group: a child may have children
            elif sig == signal.SIGTERM:
                process.terminate()
            else:
                process.kill()
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM to every child's group (last started first), wait up to ``timeout``
        for them all, then SIGKILL what is left. A stop signal meanwhile (Ctrl-C again)
        does not interrupt this: it kills what is left at once. Safe to call twice."""
        self.stopping = True
        for _, process, _ in reversed(self.running):
            if process.poll() is None:
                self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for spec, process, log in reversed(self.running):
            while process.poll() is None and not self.hurry and time.monotonic() < deadline:
                time.sleep(0.05)
            if process.poll() is None:
                why = "at once (asked twice)" if self.hurry else f"after {timeout:.0f} s"
                self.out(f"  {spec.name} did not stop; killing it {why}")
            log.close()
        # Every group gets SIGKILL: a grandchild may outlive its parent's clean exit.
        for _, process, _ in self.running:
            self._signal(process, signal.SIGKILL)
            process.wait()
        self.running.clear()
