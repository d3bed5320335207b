"""``manage.py demo`` (what ``make demo`` runs): the whole system on one machine.

It migrates, loads the demo world (``seed_demo``), issues fresh API keys for the demo MES
systems, then supervises the processes of :func:`demo_processes` (web server, Celery
worker, Celery beat; simulators join that list later) until Ctrl-C or SIGTERM, and stops
every child cleanly. ``--check`` starts everything, verifies that the admin, the API docs,
the schema and a Celery round trip answer, and stops again (exit code 0 when all passed).

With no environment variables it needs no server: SQLite and kombu's filesystem broker
under ``INTERLOCK_VAR_DIR``. With ``DATABASE_URL`` / ``REDIS_URL`` set, the children use
PostgreSQL and Redis just the same, because they inherit the environment.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

DEMO_KEY_NAME = "demo"
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class DemoContext:
    """What every demo process needs to know to be started."""

    host: str
    port: int
    var_dir: Path
    python: str = sys.executable

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised child: its name (also its log file), its command line, and an
    optional URL that answers once it is up."""

    name: str
    argv: list[str]
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def _web(ctx: DemoContext) -> ProcessSpec:
    # --noreload: the autoreloader forks a second process that outlives a terminate().
    return ProcessSpec(
        "web",
        [
            ctx.python,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "runserver",
            f"{ctx.host}:{ctx.port}",
            "--noreload",
        ],
        ready_url=f"{ctx.base_url}/admin/login/",
    )


def _worker(ctx: DemoContext) -> ProcessSpec:
    # Threads with low concurrency: no forked pool to clean up, and SQLite sees at most
    # two writers from the worker. Gossip/mingle/heartbeat only slow start-up on one machine.
    return ProcessSpec(
        "worker",
        [
            ctx.python,
            "-m",
            "celery",
            "-A",
            "interlock",
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"demo-{ctx.port}@%h",
        ],
    )


def _beat(ctx: DemoContext) -> ProcessSpec:
    return ProcessSpec(
        "beat",
        [
            ctx.python,
            "-m",
            "celery",
            "-A",
            "interlock",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(ctx.var_dir / "celerybeat-schedule"),
        ],
    )


#: The demo's processes, started in this order and stopped in reverse. To add one (an ERP
#: or MES simulator, say), append a function that returns its ProcessSpec.
DEMO_PROCESSES: list[Callable[[DemoContext], ProcessSpec]] = [_web, _worker, _beat]


def demo_processes(ctx: DemoContext) -> list[ProcessSpec]:
    return [make(ctx) for make in DEMO_PROCESSES]


class _Stop(Exception):
    """SIGTERM arrived: leave the wait loop and stop the children."""


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the demo process dies, even by SIGKILL,
    so no orphaned web server keeps the port (Linux only; elsewhere stop() is all we have)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Starts children in their own process groups (so a Ctrl-C in the terminal reaches
    only us, and we stop them in order) and stops them: terminate, wait, then kill."""

    def __init__(self, *, log_dir: Path, env: dict[str, str], out: Callable[[str], None]):
        self.log_dir, self.env, self.out = log_dir, env, out
        self.running: list[tuple[ProcessSpec, object, IO]] = []

    def log_path(self, spec: ProcessSpec) -> Path:
        return self.log_dir / f"{spec.name}.log"

    def start(self, spec: ProcessSpec) -> None:
        log = self.log_path(spec).open("ab")
        process = subprocess.Popen(
            spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self.env, **spec.env},
            cwd=settings.BASE_DIR,
            start_new_session=os.name == "posix",
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.running.append((spec, process, log))

    def dead(self) -> ProcessSpec | None:
        for spec, process, _ in self.running:
            if process.poll() is not None:
                return spec
        return None

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
        for _, process, _ in reversed(self.running):
            if process.poll() is None:
                self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for spec, process, log in reversed(self.running):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.out(f"  {spec.name} did not stop within {timeout:.0f} s; killing it")
                self._signal(process, signal.SIGKILL)
                process.wait()
            log.close()
        self.running.clear()


def _get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the server itself: connections in TIME_WAIT do not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Run the demo: migrate, seed, API keys, web server, Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("INTERLOCK_DEMO_PORT") or 8000),
            help="Web server port (default: INTERLOCK_DEMO_PORT or 8000).",
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Start everything, check admin, API docs, schema and a Celery round trip, stop.",
        )
        parser.add_argument(
            "--startup-timeout",
            type=float,
            default=60.0,
            help="Seconds to wait for the web server and the Celery round trip.",
        )

    def handle(self, *args, port: int, host: str, check: bool, startup_timeout: float, **options):
        if not settings.DEBUG:
            raise CommandError(
                "The demo runs with DEBUG=1 (static files, no HTTPS redirect); `make demo` sets it."
            )
        ctx = DemoContext(host=host, port=port, var_dir=Path(settings.VAR_DIR))
        if not _port_free(host, port):
            raise CommandError(
                f"{host}:{port} is in use; stop what runs there or pick another port "
                "(--port or INTERLOCK_DEMO_PORT)."
            )
        log_dir = ctx.var_dir / "logs"
        for folder in (
            log_dir,
            ctx.var_dir / "broker" / "queue",
            ctx.var_dir / "broker" / "processed",
            ctx.var_dir / "results",
        ):
            folder.mkdir(parents=True, exist_ok=True)

        self.say(
            f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker: {settings.CELERY_BROKER_URL.split('://', 1)[0]}, var: {ctx.var_dir}"
        )
        self.say("Migrating…")
        call_command("migrate", interactive=False, verbosity=0)
        self.say("Loading demo data…")
        call_command("seed_demo", verbosity=1, stdout=self.stdout)
        # The demo's behaviour comes from rule packs the board can read and change.
        call_command("load_rule_packs", verbosity=1, stdout=self.stdout)
        keys = self.issue_demo_keys()

        env = self.child_env(ctx)
        supervisor = Supervisor(log_dir=log_dir, env=env, out=self.say)
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            raise _Stop

        signal.signal(signal.SIGTERM, on_sigterm)
        failed: str | None = None
        try:
            specs = demo_processes(ctx)
            for spec in specs:
                supervisor.start(spec)
                self.say(f"Started {spec.name} (log: {supervisor.log_path(spec)})")
            failed = self.wait_until_ready(supervisor, specs, startup_timeout)
            if failed is None:
                self.print_ready(ctx, keys, supervisor, specs)
                if check:
                    failed = self.run_checks(ctx, env, startup_timeout)
                else:
                    failed = self.watch(supervisor)
        except (KeyboardInterrupt, _Stop):
            self.say("\nStopping…")
        finally:
            supervisor.stop()
            signal.signal(signal.SIGTERM, previous)
        if failed:
            raise CommandError(failed)
        self.say("Demo checks passed." if check else "Stopped.")

    # --- steps ------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def issue_demo_keys(self) -> list[tuple[str, str]]:
        """Fresh keys for the demo MES systems; the previous demo run's keys are revoked, so
        only the keys printed below work."""
        from plants.choices import SystemKind
        from plants.models import ApiKey, ConnectedSystem
        from plants.services.apikeys import api_key_issue, api_key_revoke

        issued = []
        with transaction.atomic():
            for system in ConnectedSystem.objects.filter(kind=SystemKind.MES, active=True):
                for old in ApiKey.objects.filter(
                    system=system, name=DEMO_KEY_NAME, revoked_at__isnull=True
                ):
                    api_key_revoke(key=old, actor=None)
                _, raw = api_key_issue(system=system, name=DEMO_KEY_NAME, actor=None)
                issued.append((system.code, raw))
        return issued

    def child_env(self, ctx: DemoContext) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DEBUG", "1")
        env["INTERLOCK_VAR_DIR"] = str(ctx.var_dir)
        env["PYTHONUNBUFFERED"] = "1"
        # A result store lets `--check` see a task's answer; the filesystem one needs no
        # server. Someone who configured a backend keeps theirs.
        env.setdefault("CELERY_RESULT_BACKEND", (ctx.var_dir / "results").as_uri())
        return env

    def wait_until_ready(
        self, supervisor: Supervisor, specs: list[ProcessSpec], timeout: float
    ) -> str | None:
        deadline = time.monotonic() + timeout
        for spec in specs:
            if spec.ready_url is None:
                continue
            while _get(spec.ready_url, timeout=2) != 200:
                dead = supervisor.dead()
                if dead is not None:
                    return f"{dead.name} exited during start-up:\n{supervisor.tail(dead)}"
                if time.monotonic() > deadline:
                    return f"{spec.name} did not answer {spec.ready_url} within {timeout:.0f} s"
                time.sleep(0.3)
        # Processes without a URL (worker, beat) must at least still be alive.
        dead = supervisor.dead()
        if dead is not None:
            return f"{dead.name} exited during start-up:\n{supervisor.tail(dead)}"
        return None

    def print_ready(self, ctx, keys, supervisor: Supervisor, specs) -> None:
        base = ctx.base_url
        password = settings.INTERLOCK_DEMO_PASSWORD
        lines = [
            "",
            self.style.SUCCESS("Interlock demo is ready."),
            f"  Admin        {base}/admin/",
            f"  API docs     {base}/api/docs/",
            f"  API schema   {base}/api/schema/",
            "",
            f"Demo logins (password for all: {password}):",
            *(f"  {username:<10} {roles}" for username, roles in self.demo_logins()),
            "",
            "API keys, valid until the next `make demo` (header: Authorization: Api-Key <key>):",
            *(f"  {code:<10} {raw}" for code, raw in keys),
            "",
            "Logs: " + ", ".join(str(supervisor.log_path(s)) for s in specs),
            "Press Ctrl-C to stop.",
        ]
        self.say("\n".join(lines))

    def demo_logins(self) -> list[tuple[str, str]]:
        from plants.choices import Role

        path = Path(settings.BASE_DIR) / "fixtures" / "demo" / "users.yaml"
        users = yaml.safe_load(path.read_text(encoding="utf-8"))["users"]
        labels = dict(Role.choices)
        rows = []
        for user in users:
            if user.get("superuser"):
                rows.append((user["username"], "superuser"))
                continue
            grants: dict[str, list[str]] = {}
            for grant in user.get("roles", []):
                grants.setdefault(labels[grant["role"]], []).append(
                    grant.get("plant", "all plants")
                )
            rows.append(
                (
                    user["username"],
                    "; ".join(f"{label} ({', '.join(plants)})" for label, plants in grants.items()),
                )
            )
        return rows

    def watch(self, supervisor: Supervisor) -> str | None:
        while True:
            dead = supervisor.dead()
            if dead is not None:
                return f"{dead.name} stopped unexpectedly:\n{supervisor.tail(dead)}"
            time.sleep(0.5)

    def run_checks(self, ctx: DemoContext, env: dict[str, str], timeout: float) -> str | None:
        problems = []
        static = settings.STATIC_URL.strip("/")
        paths = (
            "/admin/login/",
            "/api/docs/",
            "/api/schema/",
            # Served from our own static files, so the admin and Swagger UI work offline.
            f"/{static}/admin/css/base.css",
            f"/{static}/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        )
        for path in paths:
            status = _get(ctx.base_url + path, timeout=30)
            self.say(f"  check GET {path:<60} {status}")
            if status != 200:
                problems.append(f"GET {path} answered {status or 'nothing'}")
        try:
            answer = self.celery_round_trip(env["CELERY_RESULT_BACKEND"], timeout)
            self.say(f"  check Celery round trip (interlock.ping){'':<24} {answer}")
            if answer != "demo-check":
                problems.append(f"Celery ping answered {answer!r}")
        except Exception as exc:  # any failure is a failed check, and reported as one
            problems.append(f"Celery round trip failed: {exc!r}")
        return "; ".join(problems) or None

    def celery_round_trip(self, result_backend: str, timeout: float) -> str:
        from interlock.celery import app

        # kombu's filesystem transport warns that it has no host name; it never has one.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        app.conf.result_backend = result_backend
        return app.send_task("interlock.ping", args=["demo-check"]).get(timeout=timeout)
